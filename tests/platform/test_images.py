"""`platformctl images list/cache` and `images.ensure_images` (the step `up` runs).

minikube and Docker cannot run here: these tests drive a FAKE `minikube` executable on PATH and a FAKE
Docker SDK client at the adapter boundary (tests/plugins/fake_minikube.py, tests/plugins/fake_docker.py,
whose docstrings say what they do not model). The image list itself is checked against the real renderer.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from platformctl import config
from platformctl.errors import PlatformError
from platformctl.platform import images, render
from tests.conftest import RunCli
from tests.plugins.fake_docker import Fails, FakeDocker, Layers
from tests.plugins.fake_minikube import PLATFORM_IMAGES, SYSTEM_IMAGES, FakeMinikube

DEFAULTS = PLATFORM_IMAGES
KAFKA_LAYERS = Layers([29_000_000, 2_500_000])  # 31.5 MB in two layers

fakes = [pytest.mark.fake_minikube, pytest.mark.fake_docker]


@pytest.fixture(autouse=True)
def _running_profile(running_minikube: FakeMinikube) -> None:
    """Every test here starts from a running Docker-runtime profile holding only minikube's own images."""


def _registry(fake_docker: FakeDocker, **overrides: Layers | Fails) -> None:
    for image in DEFAULTS:
        fake_docker.host.registry[image] = Layers([1_000_000, 200_000])
    fake_docker.host.registry["apache/kafka:4.2.2"] = KAFKA_LAYERS
    fake_docker.host.registry.update({k.replace("__", "/"): v for k, v in overrides.items()})


def _present(
    fake_minikube: FakeMinikube, images_: list[str], *, node: bool = True, cache: bool = True
) -> None:
    with fake_minikube.edit() as state:
        if node:
            state["node"]["minikube"] += images_
        if cache:
            state["cache"] += images_


def _images_in(yaml_text: str) -> set[str]:
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, child in value.items():
                if key == "image" and isinstance(child, str):
                    found.add(child)
                walk(child)
        elif isinstance(value, list):
            for child in value:
                walk(child)

    for doc in yaml.safe_load_all(yaml_text):
        walk(doc)
    return found


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


# --- the list comes from the rendered manifests -------------------------------------------------------


def test_pinned_images_cover_containers_and_init_containers_of_every_pod_template() -> None:
    docs = [
        {"kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"image": "not/a-container:1"}},
        {
            "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {
                "template": {
                    "spec": {
                        "initContainers": [{"name": "init", "image": "busybox:1.37"}],
                        "containers": [
                            {"name": "a", "image": "nginx:1.27"},
                            {"name": "b", "image": "busybox:1.37"},
                        ],
                    }
                }
            },
        },
        {
            "kind": "CronJob",
            "metadata": {"name": "nightly"},
            "spec": {
                "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"image": "nginx:1.27"}]}}}}
            },
        },
        {"kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"image": "quay.io/x/y:2"}]}},
    ]
    pinned = images.pinned_images(docs)
    assert [(p.image, p.used_by) for p in pinned] == [
        ("busybox:1.37", ("Deployment/web",)),
        ("nginx:1.27", ("Deployment/web", "CronJob/nightly")),
        ("quay.io/x/y:2", ("Pod/p",)),
    ]


@pytest.mark.parametrize("flavor", ["apache", "fast-data-dev"])
def test_pinned_images_are_exactly_the_images_render_prints(
    run_cli: RunCli, tmp_path: Path, flavor: str
) -> None:
    cfg = tmp_path / "platformctl.yaml"
    cfg.write_text(f"kafka:\n  flavor: {flavor}\n")
    rendered = run_cli("--config", str(cfg), "render")
    assert rendered.exit_code == 0, rendered.stderr
    settings = config.load_settings(config.GlobalOptions(config=cfg))
    pinned = {p.image for p in images.platform_images(settings, render.parse_version("1.35"))}
    assert pinned == _images_in(rendered.stdout)
    assert ("lensesio/fast-data-dev:3.9.0" in pinned) == (flavor == "fast-data-dev")


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("apache/kafka:4.2.2", "docker.io/apache/kafka:4.2.2"),
        ("busybox", "docker.io/library/busybox:latest"),
        ("index.docker.io/library/nginx:1.27", "docker.io/library/nginx:1.27"),
        ("gcr.io/etcd-development/etcd:v3.6.16", "gcr.io/etcd-development/etcd:v3.6.16"),
        ("localhost:5000/team/app:1", "localhost:5000/team/app:1"),
        ("nginx@sha256:" + "a" * 64, "docker.io/library/nginx@sha256:" + "a" * 64),
    ],
)
def test_canonical_spells_out_registry_and_library(ref: str, expected: str) -> None:
    assert images.canonical(ref) == expected


def test_digest_pinned_image_matches_by_digest_not_tag() -> None:
    digest = "sha256:" + "b" * 64
    pinned = [images.PinnedImage(f"apache/kafka:4.2.2@{digest}", ("StatefulSet/kafka",))]
    by_tag_only = images.states(pinned, ["docker.io/apache/kafka:4.2.2"], [])
    by_digest = images.states(pinned, [f"docker.io/apache/kafka@{digest}"], [f"apache/kafka:4.2.2@{digest}"])
    assert (by_tag_only[0].in_node, by_digest[0].in_node, by_digest[0].in_cache) == (False, True, True)


# --- images list ---------------------------------------------------------------------------------------


@pytest.mark.fake_minikube
def test_list_shows_node_and_cache_flags_as_json(run_cli: RunCli, fake_minikube: FakeMinikube) -> None:
    _present(fake_minikube, ["apache/kafka:4.2.2"], cache=False)
    _present(fake_minikube, ["docker.io/confluentinc/cp-schema-registry:8.2.4"])
    _present(fake_minikube, ["gcr.io/etcd-development/etcd:v3.6.16"], node=False)
    result = run_cli("images", "list", "--output", "json")
    assert result.exit_code == 0, result.stderr
    listed = json.loads(result.stdout)
    assert [(i["image"], i["in_node"], i["in_cache"]) for i in listed] == [
        ("apache/kafka:4.2.2", True, False),
        ("confluentinc/cp-schema-registry:8.2.4", True, True),
        ("kafbat/kafka-ui:v1.4.2", False, False),
        ("gcr.io/etcd-development/etcd:v3.6.16", False, True),
        ("fluent/fluentd:v1.19.3-debian-2.4", False, False),
    ]
    assert listed[0]["used_by"] == ["StatefulSet/kafka"]
    assert fake_minikube.mutations() == []


@pytest.mark.fake_minikube
def test_list_text_table(run_cli: RunCli, fake_minikube: FakeMinikube) -> None:
    _present(fake_minikube, ["apache/kafka:4.2.2"])
    result = run_cli("images", "list")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["IMAGE", "NODE", "CACHE", "USED", "BY"]
    assert lines[1].split() == ["apache/kafka:4.2.2", "yes", "yes", "StatefulSet/kafka"]
    assert lines[3].split() == ["kafbat/kafka-ui:v1.4.2", "no", "no", "Deployment/kafka-ui"]


@pytest.mark.fake_minikube
def test_list_follows_an_image_tag_changed_in_config(
    run_cli: RunCli, fake_minikube: FakeMinikube, tmp_path: Path
) -> None:
    cfg = tmp_path / "platformctl.yaml"
    cfg.write_text(
        "kafka:\n  image: apache/kafka:4.1.2\nkafka-ui:\n  image: ghcr.io/kafbat/kafka-ui:v1.3.0\n"
    )
    result = run_cli("--config", str(cfg), "images", "list", "-o", "json")
    assert result.exit_code == 0, result.stderr
    listed = [i["image"] for i in json.loads(result.stdout)]
    rendered = run_cli("--config", str(cfg), "render")
    assert set(listed) == _images_in(rendered.stdout)
    assert "apache/kafka:4.1.2" in listed and "ghcr.io/kafbat/kafka-ui:v1.3.0" in listed
    assert "apache/kafka:4.2.2" not in listed and "kafbat/kafka-ui:v1.4.2" not in listed


@pytest.mark.fake_minikube
def test_list_when_minikube_is_not_running_lists_them_with_presence_unknown(
    run_cli: RunCli, fake_minikube: FakeMinikube
) -> None:
    fake_minikube.set_profile(status="Stopped")
    result = run_cli("images", "list")
    assert result.exit_code == 0
    assert result.stderr.startswith(
        "warning: presence unknown: minikube profile 'minikube' is not running (status: Stopped) (start it with "
    )
    assert result.stdout.splitlines()[1] == "apache/kafka:4.2.2                     unknown  unknown  StatefulSet/kafka"


@pytest.mark.fake_minikube
def test_list_when_the_profile_does_not_exist(run_cli: RunCli, fake_minikube: FakeMinikube) -> None:
    with fake_minikube.edit() as state:
        state["profiles"] = {}
    result = run_cli("images", "list")
    assert result.exit_code == 0
    assert result.stderr.startswith("warning: presence unknown: minikube profile 'minikube' does not exist (")


# --- images cache, Docker runtime ---------------------------------------------------------------------


@pytest.mark.fake_minikube
@pytest.mark.fake_docker
def test_nothing_to_do_when_every_image_is_present(
    run_cli: RunCli, fake_minikube: FakeMinikube, fake_docker: FakeDocker
) -> None:
    _present(fake_minikube, DEFAULTS)
    result = run_cli("images", "cache")
    assert result.exit_code == 0, result.stderr
    assert fake_docker.connects == []  # not even a connection to a daemon
    assert fake_docker.pulls() == [] and fake_docker.loads() == []
    assert fake_minikube.mutations() == []
    assert "5 images: 5 already present, 0 pulled, 0 loaded into the node, 0 added" in result.stderr


@pytest.mark.fake_minikube
@pytest.mark.fake_docker
def test_only_missing_images_are_pulled_and_a_second_run_does_nothing(
    run_cli: RunCli, fake_minikube: FakeMinikube, fake_docker: FakeDocker
) -> None:
    _registry(fake_docker)
    _present(
        fake_minikube, [i for i in DEFAULTS if i not in ("apache/kafka:4.2.2", "kafbat/kafka-ui:v1.4.2")]
    )
    result = run_cli("images", "cache")
    assert result.exit_code == 0, result.stderr
    assert sorted(fake_docker.pulls()) == ["apache/kafka:4.2.2", "kafbat/kafka-ui:v1.4.2"]
    assert sorted(fake_docker.loads()) == ["apache/kafka:4.2.2", "kafbat/kafka-ui:v1.4.2"]
    assert sorted(fake_minikube.mutations()) == [
        ["cache", "add", "docker.io/apache/kafka:4.2.2"],
        ["cache", "add", "docker.io/kafbat/kafka-ui:v1.4.2"],
    ]
    node_env_calls = [c for c in fake_minikube.calls if c[0] == "docker-env"]
    assert node_env_calls == [["docker-env", "--shell", "none", "-p", "minikube"]]

    listed = json.loads(run_cli("images", "list", "-o", "json").stdout)
    assert all(i["in_node"] and i["in_cache"] for i in listed)

    before = (len(fake_docker.host.calls), len(fake_docker.node.calls), len(fake_minikube.mutations()))
    again = run_cli("images", "cache")
    assert again.exit_code == 0, again.stderr
    assert (
        len(fake_docker.host.calls),
        len(fake_docker.node.calls),
        len(fake_minikube.mutations()),
    ) == before
    assert (
        "5 already present, 0 pulled, 0 loaded into the node, 0 added to the minikube cache" in again.stderr
    )


@pytest.mark.fake_minikube
@pytest.mark.fake_docker
def test_image_already_on_the_host_is_loaded_without_pulling(
    run_cli: RunCli, fake_minikube: FakeMinikube, fake_docker: FakeDocker
) -> None:
    _registry(fake_docker)
    _present(fake_minikube, DEFAULTS[1:])
    fake_docker.host.store.add("apache/kafka:4.2.2")
    result = run_cli("images", "cache")
    assert result.exit_code == 0, result.stderr
    assert fake_docker.pulls() == []
    assert fake_docker.loads() == ["apache/kafka:4.2.2"]


@pytest.mark.fake_minikube
@pytest.mark.fake_docker
def test_image_in_node_but_not_cached_is_only_added_to_the_cache(
    run_cli: RunCli, fake_minikube: FakeMinikube, fake_docker: FakeDocker
) -> None:
    _registry(fake_docker)
    _present(fake_minikube, DEFAULTS)
    with fake_minikube.edit() as state:
        state["cache"].remove("fluent/fluentd:v1.19.3-debian-2.4")
    fake_docker.host.store.add("fluent/fluentd:v1.19.3-debian-2.4")
    result = run_cli("images", "cache")
    assert result.exit_code == 0, result.stderr
    assert fake_docker.pulls() == [] and fake_docker.loads() == []
    assert fake_minikube.mutations() == [["cache", "add", "docker.io/fluent/fluentd:v1.19.3-debian-2.4"]]
    assert not any(c[0] == "docker-env" for c in fake_minikube.calls)  # the node is not needed


# --- progress -------------------------------------------------------------------------------------------


@pytest.mark.fake_minikube
@pytest.mark.fake_docker
def test_plain_progress_lines_when_not_a_terminal(
    run_cli: RunCli, fake_minikube: FakeMinikube, fake_docker: FakeDocker
) -> None:
    _registry(fake_docker)
    _present(fake_minikube, DEFAULTS[1:])
    result = run_cli("images", "cache")
    assert result.exit_code == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("apache/kafka:4.2.2")]
    assert lines == [
        "apache/kafka:4.2.2: pulling",
        "apache/kafka:4.2.2: pulled 2 layers, 31.5 MB",  # summed from the daemon's layer totals
        "apache/kafka:4.2.2: loading into the minikube node",
        "apache/kafka:4.2.2: adding to the minikube cache",
        "apache/kafka:4.2.2: done",
    ]
    assert "\x1b[" not in result.stderr


@pytest.mark.fake_minikube
@pytest.mark.fake_docker
def test_quiet_prints_no_progress(
    run_cli: RunCli, fake_minikube: FakeMinikube, fake_docker: FakeDocker
) -> None:
    _registry(fake_docker)
    result = run_cli("-q", "images", "cache")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert len(fake_docker.pulls()) == 5


@pytest.mark.fake_minikube
@pytest.mark.fake_docker
def test_progress_bars_on_a_terminal_follow_layer_events(
    run_cli: RunCli, fake_minikube: FakeMinikube, fake_docker: FakeDocker
) -> None:
    _registry(fake_docker)
    _present(fake_minikube, DEFAULTS[1:])
    result = run_cli("images", "cache", env={"FORCE_COLOR": "1", "COLUMNS": "160"})
    assert result.exit_code == 0, result.stderr
    assert "\x1b[" in result.stderr  # a live display, not plain lines
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", result.stderr)
    final = [line for line in text.splitlines() if line.startswith("apache/kafka:4.2.2")][-1]
    assert "31.5/31.5 MB" in final and final.rstrip().endswith("done")
    assert "apache/kafka:4.2.2: pulling" not in text


def test_layer_tally_sums_bytes_and_counts_layers() -> None:
    from platformctl.adapters.dockerhost import _LayerTally
    from tests.plugins.fake_docker import layer_messages

    tally = _LayerTally("apache/kafka:4.2.2")
    events = [
        e
        for m in layer_messages("apache/kafka:4.2.2", Layers([300, 600, 900], already=1))
        if (e := tally.feed(m)) is not None
    ]
    downloading = [e for e in events if e.status == "Downloading"]
    assert [(e.current, e.total) for e in downloading[:3]] == [(200, 600), (400, 600), (600, 600)]
    last = events[-1]
    assert (last.current, last.total, last.layers_done, last.layers) == (1500, 1500, 3, 3)
    assert last.status == "Status"


# --- errors ---------------------------------------------------------------------------------------------


@pytest.mark.fake_minikube
@pytest.mark.fake_docker
def test_no_docker_daemon_is_one_line_and_nothing_is_changed(
    run_cli: RunCli, fake_minikube: FakeMinikube, fake_docker: FakeDocker
) -> None:
    fake_docker.host_running = False
    result = run_cli("images", "cache")
    assert result.exit_code == 1
    errors = _error_lines(result.stderr)
    assert len(errors) == 1
    assert errors[0] == (
        "error: cannot reach the Docker daemon of the host: no daemon is listening (its socket does not exist)"
    )
    assert "Traceback" not in result.stderr
    assert fake_minikube.mutations() == []


@pytest.mark.fake_minikube
@pytest.mark.fake_docker
@pytest.mark.parametrize(
    ("image", "failure", "expected"),
    [
        (
            "kafbat/kafka-ui:v1.4.2",
            Fails("denied"),
            "kafbat/kafka-ui:v1.4.2: pull denied: registry docker.io refused kafbat/kafka-ui:v1.4.2: "
            "pull access denied for kafbat/kafka-ui, repository does not exist or may require 'docker login'",
        ),
        (
            "gcr.io/etcd-development/etcd:v3.6.16",
            Fails("private-denied"),
            "gcr.io/etcd-development/etcd:v3.6.16: pull denied: registry gcr.io refused "
            "gcr.io/etcd-development/etcd:v3.6.16: Head",
        ),
        (
            "gcr.io/etcd-development/etcd:v3.6.16",
            Fails("not-found"),
            "gcr.io/etcd-development/etcd:v3.6.16: image not found: registry gcr.io has no "
            "gcr.io/etcd-development/etcd:v3.6.16: manifest for gcr.io/etcd-development/etcd:v3.6.16 not found",
        ),
        (
            "apache/kafka:4.2.2",
            Fails("disk-full"),
            "apache/kafka:4.2.2: disk full: cannot pull apache/kafka:4.2.2 into the Docker daemon of the "
            "host: failed to register layer: write /var/lib/docker/",
        ),
    ],
)
def test_a_failing_image_is_one_line_and_the_others_still_load(
    run_cli: RunCli,
    fake_minikube: FakeMinikube,
    fake_docker: FakeDocker,
    image: str,
    failure: Fails,
    expected: str,
) -> None:
    _registry(fake_docker)
    fake_docker.host.registry[image] = failure
    result = run_cli("images", "cache")
    assert result.exit_code == 1
    assert "Traceback" not in result.stderr
    stderr = result.stderr.splitlines()
    start = stderr.index("error: 1 of 5 images could not be made present in minikube:")
    assert stderr[start + 1].strip().startswith(expected)
    others = [i for i in DEFAULTS if i != image]
    assert sorted(fake_docker.loads()) == sorted(others)
    assert sorted(c[2] for c in fake_minikube.mutations()) == sorted(images.canonical(i) for i in others)
    assert f"{image}: failed: " in result.stderr  # reported as it happened, too


@pytest.mark.fake_minikube
@pytest.mark.fake_docker
def test_summary_lists_every_failure_in_manifest_order(
    run_cli: RunCli, fake_minikube: FakeMinikube, fake_docker: FakeDocker
) -> None:
    _registry(fake_docker)
    fake_docker.host.registry["fluent/fluentd:v1.19.3-debian-2.4"] = Fails("not-found")
    fake_docker.host.registry["apache/kafka:4.2.2"] = Fails("disk-full")
    fake_docker.host.registry["kafbat/kafka-ui:v1.4.2"] = Fails("denied")
    result = run_cli("images", "cache")
    assert result.exit_code == 1
    stderr = result.stderr.splitlines()
    start = stderr.index("error: 3 of 5 images could not be made present in minikube:")
    assert [line.split(":")[0].strip() for line in stderr[start + 1 : start + 4]] == [
        "apache/kafka",
        "kafbat/kafka-ui",
        "fluent/fluentd",
    ]
    assert sorted(fake_docker.loads()) == [
        "confluentinc/cp-schema-registry:8.2.4",
        "gcr.io/etcd-development/etcd:v3.6.16",
    ]
    assert (
        "5 images: 0 already present, 2 pulled, 2 loaded into the node, 2 added to the minikube cache, "
        "3 failed" in result.stderr
    )


@pytest.mark.fake_minikube
@pytest.mark.fake_docker
def test_load_into_the_node_failing_with_a_full_disk(
    run_cli: RunCli, fake_minikube: FakeMinikube, fake_docker: FakeDocker
) -> None:
    _registry(fake_docker)
    _present(fake_minikube, DEFAULTS[1:])
    fake_docker.node.load_error = "write /var/lib/docker/tmp/docker-import-1234: no space left on device"
    result = run_cli("images", "cache")
    assert result.exit_code == 1
    assert (
        "  apache/kafka:4.2.2: disk full: cannot load apache/kafka:4.2.2 into the Docker daemon of the "
        "minikube node (minikube): write /var/lib/docker/tmp/docker-import-1234: no space left on device"
    ) in result.stderr.splitlines()
    assert fake_minikube.mutations() == []  # not cached: the node does not have it


@pytest.mark.fake_minikube
@pytest.mark.fake_docker
def test_minikube_not_running_stops_before_any_pull(
    run_cli: RunCli, fake_minikube: FakeMinikube, fake_docker: FakeDocker
) -> None:
    _registry(fake_docker)
    fake_minikube.set_profile(status="Stopped")
    result = run_cli("images", "cache")
    assert result.exit_code == 1
    assert _error_lines(result.stderr) == [
        "error: minikube profile 'minikube' is not running (status: Stopped)"
    ]
    assert fake_docker.connects == [] and fake_minikube.mutations() == []


# --- offline --------------------------------------------------------------------------------------------


@pytest.mark.fake_minikube
@pytest.mark.fake_docker
def test_offline_fails_early_listing_missing_images(
    run_cli: RunCli, fake_minikube: FakeMinikube, fake_docker: FakeDocker
) -> None:
    _registry(fake_docker)
    _present(fake_minikube, DEFAULTS[:3])
    result = run_cli("images", "cache", "--offline")
    assert result.exit_code == 1
    assert _error_lines(result.stderr) == [
        "error: offline, and 2 image(s) are missing from the minikube node: "
        "gcr.io/etcd-development/etcd:v3.6.16, fluent/fluentd:v1.19.3-debian-2.4"
    ]
    assert fake_docker.connects == [] and fake_minikube.mutations() == []


@pytest.mark.fake_minikube
@pytest.mark.fake_docker
def test_offline_with_everything_in_the_node_succeeds_without_touching_anything(
    run_cli: RunCli, fake_minikube: FakeMinikube, fake_docker: FakeDocker
) -> None:
    _present(fake_minikube, DEFAULTS, cache=False)
    result = run_cli("images", "cache", env={"PLATFORMCTL_OFFLINE": "1"})
    assert result.exit_code == 0, result.stderr
    assert fake_docker.connects == [] and fake_minikube.mutations() == []


# --- containerd / CRI-O: minikube does the fetching -----------------------------------------------------


@pytest.mark.fake_minikube
@pytest.mark.fake_docker
def test_other_runtimes_use_minikube_cache_add_and_image_load(
    run_cli: RunCli, fake_minikube: FakeMinikube, fake_docker: FakeDocker
) -> None:
    fake_minikube.set_profile(runtime="containerd")
    _present(fake_minikube, DEFAULTS[:3])
    _present(fake_minikube, ["gcr.io/etcd-development/etcd:v3.6.16"], node=False)
    result = run_cli("images", "cache")
    assert result.exit_code == 0, result.stderr
    assert fake_docker.connects == []  # no Docker on this path
    # The two images are processed concurrently: compare without order.
    assert sorted(fake_minikube.mutations()) == [
        ["cache", "add", "docker.io/fluent/fluentd:v1.19.3-debian-2.4"],
        ["image", "load", "gcr.io/etcd-development/etcd:v3.6.16", "-p", "minikube"],
    ]
    assert fake_minikube.node()[: len(SYSTEM_IMAGES)] == SYSTEM_IMAGES
    again = run_cli("images", "cache")
    assert again.exit_code == 0 and len(fake_minikube.mutations()) == 2


@pytest.mark.fake_minikube
def test_other_runtimes_a_failing_cache_add_does_not_stop_the_rest(
    run_cli: RunCli, fake_minikube: FakeMinikube
) -> None:
    fake_minikube.set_profile(runtime="crio")
    fake_minikube.fail(
        "cache add docker.io/kafbat/kafka-ui:v1.4.2",
        "X Exiting due to MK_CACHE_LOAD: Failed to cache and load images: save to dir: caching images: "
        "caching image: write: no space left on device",
    )
    result = run_cli("images", "cache")
    assert result.exit_code == 1
    assert (
        "  kafbat/kafka-ui:v1.4.2: `minikube cache add docker.io/kafbat/kafka-ui:v1.4.2` failed (exit 1): "
        "X Exiting due to MK_CACHE_LOAD: Failed to cache and load images: save to dir: caching images: "
        "caching image: write: no space left on device"
    ) in result.stderr.splitlines()
    assert len(fake_minikube.state["cache"]) == 4


# --- the function `up` calls ----------------------------------------------------------------------------


@pytest.mark.fake_minikube
@pytest.mark.fake_docker
def test_ensure_images_returns_a_report_or_raises_one_error(
    fake_minikube: FakeMinikube, fake_docker: FakeDocker
) -> None:
    settings = config.load_settings(config.GlobalOptions())
    version = render.parse_version("1.35")
    _registry(fake_docker, **{"fluent__fluentd:v1.19.3-debian-2.4": Fails("not-found")})
    with pytest.raises(PlatformError) as failed:
        images.ensure_images(settings, version, offline=False)
    assert (
        str(failed.value).splitlines()[1].startswith("  fluent/fluentd:v1.19.3-debian-2.4: image not found")
    )
    _registry(fake_docker)
    report = images.ensure_images(settings, version, offline=False)
    assert (report.pulled, report.failed) == (["fluent/fluentd:v1.19.3-debian-2.4"], [])
    assert images.ensure_images(settings, version, offline=True).missing == []


@pytest.mark.fake_docker
def test_a_digest_pinned_image_is_pulled_by_digest() -> None:
    from platformctl.adapters.dockerhost import Daemon
    from tests.plugins.fake_docker import FakeDockerClient, MemoryStore

    digest = "sha256:" + "c" * 64
    client = FakeDockerClient(store=MemoryStore(), registry={f"apache/kafka@{digest}": Layers([10])})
    daemon = Daemon(client, "the host")
    assert not daemon.has_image(f"apache/kafka:4.2.2@{digest}")
    daemon.pull(f"apache/kafka:4.2.2@{digest}")
    assert client.calls == [("get", f"apache/kafka@{digest}"), ("pull", f"apache/kafka@{digest}")]
    assert daemon.has_image(f"apache/kafka:4.2.2@{digest}")
