"""What `up` does around the apply: the image step (minikube only) and seeding the topic-defaults in etcd.

Fakes: minikube (tests/plugins/fake_minikube.py), the Docker SDK (fake_docker.py), the API server
(fake_kube.py) and the Kubernetes side of the etcd forward (`Upstreams`, fake_portforward.py), which
connects the real in-process forward to the real etcd (tests/plugins/etcd.py), so the seed really lands.
Also: what `down` says goes with the namespace, and the local ports `status` reports.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from platformctl import etcd
from tests.conftest import RunCli
from tests.plugins.fake_docker import FakeDocker, Layers
from tests.plugins.fake_kube import FakeKube
from tests.plugins.fake_minikube import PLATFORM_IMAGES, FakeMinikube
from tests.plugins.fake_portforward import Upstreams
from tests.plugins.tansu import free_port

DEFAULTS = PLATFORM_IMAGES


# --- the image step ------------------------------------------------------------------------------------


@pytest.fixture
def minikube_platform(
    running_minikube: FakeMinikube, fake_docker: FakeDocker, fake_kube: FakeKube, kubeconfig: Path
) -> FakeMinikube:
    """A running profile whose context reaches the fake API server; minikube calls join its timeline."""
    running_minikube.configure(api_server=fake_kube.url, token=fake_kube.token)
    for image in DEFAULTS:
        fake_docker.host.registry[image] = Layers([1_000_000, 200_000])
    return running_minikube


@pytest.mark.fake_minikube
@pytest.mark.fake_docker
@pytest.mark.fake_k8s
def test_up_caches_missing_images_before_the_first_api_request(
    run_cli: RunCli, minikube_platform: FakeMinikube, fake_docker: FakeDocker, fake_kube: FakeKube
) -> None:
    result = run_cli("up", "--no-wait")
    assert result.exit_code == 0, result.stderr
    assert sorted(fake_docker.pulls()) == sorted(DEFAULTS)
    timeline = fake_kube.timeline
    first_request = next(i for i, t in enumerate(timeline) if not t.startswith("minikube "))
    assert timeline[first_request] == "GET /version"
    image_work = [i for i, t in enumerate(timeline) if t in ("minikube image", "minikube cache", "minikube docker-env")]
    assert image_work and max(image_work) < first_request
    assert "images: 5 images: 0 already present, 5 pulled" in result.stderr
    assert {canonical for canonical in minikube_platform.state["cache"]} >= {
        "docker.io/apache/kafka:4.2.0",
        "gcr.io/etcd-development/etcd:v3.6.8",
    }
    again = run_cli("up", "--no-wait")
    assert again.exit_code == 0, again.stderr
    assert len(fake_docker.pulls()) == 5 and "5 already present, 0 pulled" in again.stderr


@pytest.mark.fake_minikube
@pytest.mark.fake_docker
@pytest.mark.fake_k8s
def test_skip_images_and_context_mode_touch_no_image(
    run_cli: RunCli, minikube_platform: FakeMinikube, fake_docker: FakeDocker
) -> None:
    result = run_cli("up", "--no-wait", "--skip-images")
    assert result.exit_code == 0, result.stderr
    assert "images: skipped (--skip-images)" in result.stderr
    assert [c for c in minikube_platform.calls if c[0] in ("image", "cache", "docker-env")] == []
    before = len(minikube_platform.calls)
    result = run_cli("--context", "lab", "up", "--no-wait")
    assert result.exit_code == 0, result.stderr
    assert minikube_platform.calls[before:] == []  # --context: minikube is never run
    assert fake_docker.pulls() == [] and fake_docker.connects == []


@pytest.mark.fake_minikube
@pytest.mark.fake_docker
@pytest.mark.fake_k8s
def test_offline_fails_listing_missing_images_and_sends_nothing_to_the_api_server(
    run_cli: RunCli, minikube_platform: FakeMinikube, fake_docker: FakeDocker, fake_kube: FakeKube
) -> None:
    with minikube_platform.edit() as state:
        state["node"]["minikube"].append("docker.io/apache/kafka:4.2.0")
    result = run_cli("up", "--offline")
    assert result.exit_code == 1
    error = next(line for line in result.stderr.splitlines() if line.startswith("error:"))
    assert error == (
        "error: offline, and 4 image(s) are missing from the minikube node: confluentinc/cp-schema-registry:8.2.0, "
        "kafbat/kafka-ui:v1.4.2, gcr.io/etcd-development/etcd:v3.6.8, fluent/fluentd:v1.19.1-debian-2.0"
    )
    assert fake_kube.requests == []
    assert fake_docker.pulls() == [] and minikube_platform.mutations() == []
    by_env = run_cli("up", env={"PLATFORMCTL_OFFLINE": "1"})
    assert by_env.exit_code == 1 and "offline, and 4 image(s)" in by_env.stderr


# --- seeding the topic-defaults ------------------------------------------------------------------------


@pytest.fixture
def ready_platform(
    fake_kube: FakeKube, kubeconfig: Path, upstreams: Upstreams, etcd_endpoint: str
) -> Upstreams:
    """`up --context lab` sees every workload ready; the etcd forward reaches the real etcd."""
    fake_kube.auto_ready = True
    upstreams.routes["etcd"] = int(etcd_endpoint.rsplit(":", 1)[1])
    return upstreams


@pytest.fixture
def store(etcd_endpoint: str) -> etcd.EtcdStore:
    return etcd.EtcdStore(etcd_endpoint)


pytestmark_seed = pytest.mark.fake_k8s  # the seeding tests use the fake API server only


@pytestmark_seed
def test_up_seeds_the_topic_defaults_through_a_forward_to_the_platforms_etcd(
    run_cli: RunCli, ready_platform: Upstreams, store: etcd.EtcdStore, etcd_env: str
) -> None:
    result = run_cli("--context", "lab", "--env", etcd_env, "up", "--timeout", "60")
    assert result.exit_code == 0, result.stderr
    assert (
        f"topic-defaults of environment '{etcd_env}': seeded (replication-factor=1, min.insync.replicas=1)"
        in result.stdout
    )
    entry = store.get(etcd.topic_defaults_key(etcd_env))
    assert entry is not None
    assert entry.value == {"replication-factor": 1, "config": {"min.insync.replicas": "1"}}
    assert ready_platform.built == [("lab", "dev", "etcd", 2379)]
    again = run_cli("--context", "lab", "--env", etcd_env, "up", "--timeout", "60")
    assert again.exit_code == 0, again.stderr
    assert f"topic-defaults of environment '{etcd_env}': already present, left as they are" in again.stdout


@pytestmark_seed
def test_topic_defaults_a_user_set_are_left_untouched(
    run_cli: RunCli, ready_platform: Upstreams, store: etcd.EtcdStore, etcd_env: str
) -> None:
    key = etcd.topic_defaults_key(etcd_env)
    assert store.create(key, {"replication-factor": 2})
    before = store.get(key)
    result = run_cli("--context", "lab", "--env", etcd_env, "up", "--timeout", "60")
    assert result.exit_code == 0, result.stderr
    assert "already present, left as they are" in result.stdout
    assert store.get(key) == before


@pytestmark_seed
def test_no_wait_skips_the_seeding_and_says_how_to_run_it_later(
    run_cli: RunCli, ready_platform: Upstreams, store: etcd.EtcdStore, etcd_env: str
) -> None:
    result = run_cli("--context", "lab", "--env", etcd_env, "up", "--no-wait")
    assert result.exit_code == 0, result.stderr
    command = f"platformctl --context lab --env {etcd_env} overrides seed"
    assert (
        f"topic-defaults of environment '{etcd_env}': skipped (etcd was not waited for: --no-wait); "
        f"run `{command}` once etcd is ready"
    ) in result.stdout
    assert f"  {command}   # once etcd is ready" in result.stdout
    assert store.get(etcd.topic_defaults_key(etcd_env)) is None
    assert ready_platform.built == []  # not even a forward


@pytestmark_seed
def test_an_unreachable_etcd_skips_the_seeding_without_failing_up(
    run_cli: RunCli, ready_platform: Upstreams, store: etcd.EtcdStore, etcd_env: str
) -> None:
    ready_platform.routes["etcd"] = free_port()  # the forward opens; nothing answers behind it
    result = run_cli("--context", "lab", "--env", etcd_env, "up", "--timeout", "60")
    assert result.exit_code == 0, result.stderr
    assert f"warning: topic-defaults of environment '{etcd_env}': skipped (etcd at http://127.0.0.1:" in (
        result.stderr
    )
    assert "is unreachable); run `platformctl --context lab" in " ".join(result.stderr.split())
    assert store.get(etcd.topic_defaults_key(etcd_env)) is None


# --- down's confirmation and status's local ports -------------------------------------------------------


@pytest.mark.fake_k8s
def test_down_says_the_topics_data_and_the_overrides_go_with_the_namespace(
    run_cli: RunCli, fake_kube: FakeKube, kubeconfig: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from platformctl.commands import base

    monkeypatch.setattr(base, "interactive", lambda: True)
    assert run_cli("--context", "lab", "up", "--no-wait").exit_code == 0
    result = run_cli("--context", "lab", "down", input="n\n")
    assert result.exit_code == 1  # declined: an answer, not an interruption
    assert (
        "namespace 'dev' goes with everything in it: every topic and its data in Kafka, and the environment "
        "overrides and applied records in the platform's etcd. Continue?"
    ) in " ".join(result.stderr.split())


@pytest.mark.fake_k8s
def test_status_shows_whether_each_forwards_local_port_is_taken(
    run_cli: RunCli, fake_kube: FakeKube, kubeconfig: Path
) -> None:
    import json
    import os
    import socket

    from platformctl import statusreport

    assert run_cli("--context", "lab", "up", "--no-wait").exit_code == 0
    result = run_cli("--context", "lab", "status", "--output", "json")
    assert result.exit_code == 0, result.stderr
    ui_ports = next(c for c in json.loads(result.stdout)["components"] if c["name"] == "kafka-ui")["local_ports"]
    assert set(ui_ports) == {"kafka-ui"} and ui_ports["kafka-ui"]["address"] == "127.0.0.1:8080"
    assert isinstance(ui_ports["kafka-ui"]["in_use"], bool)
    with socket.create_server(("127.0.0.1", 0)) as held:
        port = held.getsockname()[1]
        taken = statusreport.local_port(port)
        assert taken["in_use"] is True and str(taken["holder"]).startswith(f"pid {os.getpid()} (")
    assert statusreport.local_port(port) == {"address": f"127.0.0.1:{port}", "in_use": False, "holder": None}
