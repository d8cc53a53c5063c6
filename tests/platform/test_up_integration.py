"""What `up` does around the apply: the image step (minikube only) and seeding the topic-defaults in etcd.

The cluster is the real control plane (tests/plugins/kube_real.py); the forward to the platform's etcd goes
through its API server and kwok to the session etcd (tests/plugins/etcd.py), so the seed really lands.
Fakes: minikube (tests/plugins/fake_minikube.py) and the Docker SDK (fake_docker.py), which cannot run here.
Also: the local ports `status` reports.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from platformctl.adapters import etcd
from tests.conftest import RunCli
from tests.plugins.fake_docker import FakeDocker, Layers
from tests.plugins.fake_minikube import PLATFORM_IMAGES, FakeMinikube
from tests.plugins.kube_real import RealCluster

DEFAULTS = PLATFORM_IMAGES


# --- the image step ------------------------------------------------------------------------------------


@pytest.fixture
def minikube_platform(
    running_minikube: FakeMinikube, fake_docker: FakeDocker, real_cluster: RealCluster, monkeypatch: pytest.MonkeyPatch
) -> FakeMinikube:
    """A running profile whose context `minikube` reaches the real control plane (and `lab` too)."""
    path = real_cluster.plane.write_kubeconfig(
        real_cluster.kubeconfig, {"minikube": real_cluster.credentials, "lab": real_cluster.credentials}
    )
    monkeypatch.setenv("KUBECONFIG", str(path))
    for image in DEFAULTS:
        fake_docker.host.registry[image] = Layers([1_000_000, 200_000])
    return running_minikube


@pytest.mark.fake_minikube
@pytest.mark.fake_docker
@pytest.mark.kube_real
def test_up_caches_missing_images_before_the_first_api_request(
    run_cli: RunCli, minikube_platform: FakeMinikube, fake_docker: FakeDocker, real_cluster: RealCluster
) -> None:
    result = run_cli(*real_cluster.scope, "up", "--no-wait")
    assert result.exit_code == 0, result.stderr
    assert sorted(fake_docker.pulls()) == sorted(DEFAULTS)
    # The image work (minikube's image, cache and docker-env calls) happened before the first request
    # reached the API server, and that request was GET /version.
    requests = real_cluster.requests()
    image_work = [t for t, argv in minikube_platform.timed_calls if argv[0] in ("image", "cache", "docker-env")]
    assert requests[0].uri == "/version"
    assert image_work and max(image_work) < requests[0].time
    assert "images: 5 images: 0 already present, 5 pulled" in result.stderr
    assert {canonical for canonical in minikube_platform.state["cache"]} >= {
        "docker.io/apache/kafka:4.2.2",
        "gcr.io/etcd-development/etcd:v3.6.16",
    }
    again = run_cli(*real_cluster.scope, "up", "--no-wait")
    assert again.exit_code == 0, again.stderr
    assert len(fake_docker.pulls()) == 5 and "5 already present, 0 pulled" in again.stderr


@pytest.mark.fake_minikube
@pytest.mark.fake_docker
@pytest.mark.kube_real
def test_skip_images_and_context_mode_touch_no_image(
    run_cli: RunCli, minikube_platform: FakeMinikube, fake_docker: FakeDocker, real_cluster: RealCluster
) -> None:
    result = run_cli(*real_cluster.scope, "up", "--no-wait", "--skip-images")
    assert result.exit_code == 0, result.stderr
    assert "images: skipped (--skip-images)" in result.stderr
    assert [c for c in minikube_platform.calls if c[0] in ("image", "cache", "docker-env")] == []
    before = len(minikube_platform.calls)
    result = run_cli(*real_cluster.args, "up", "--no-wait")
    assert result.exit_code == 0, result.stderr
    assert minikube_platform.calls[before:] == []  # --context: minikube is never run
    assert fake_docker.pulls() == [] and fake_docker.connects == []


@pytest.mark.fake_minikube
@pytest.mark.fake_docker
@pytest.mark.kube_real
def test_offline_fails_listing_missing_images_and_sends_nothing_to_the_api_server(
    run_cli: RunCli, minikube_platform: FakeMinikube, fake_docker: FakeDocker, real_cluster: RealCluster
) -> None:
    with minikube_platform.edit() as state:
        state["node"]["minikube"].append("docker.io/apache/kafka:4.2.2")
    result = run_cli(*real_cluster.scope, "up", "--offline")
    assert result.exit_code == 1
    error = next(line for line in result.stderr.splitlines() if line.startswith("error:"))
    assert error == (
        "error: offline, and 4 image(s) are missing from the minikube node: confluentinc/cp-schema-registry:8.2.4, "
        "kafbat/kafka-ui:v1.4.2, gcr.io/etcd-development/etcd:v3.6.16, fluent/fluentd:v1.19.3-debian-2.4"
    )
    assert real_cluster.requests() == []
    assert fake_docker.pulls() == [] and minikube_platform.mutations() == []
    by_env = run_cli(*real_cluster.scope, "up", env={"PLATFORMCTL_OFFLINE": "1"})
    assert by_env.exit_code == 1 and "offline, and 4 image(s)" in by_env.stderr


# --- seeding the topic-defaults: through a real forward to the platform's etcd ----------------------------


@pytest.fixture
def store(real_cluster: RealCluster) -> etcd.EtcdStore:
    """The etcd behind the platform's etcd pod (the real_cluster fixture routes container port 2379 there)."""
    return etcd.EtcdStore(real_cluster.etcd.endpoint)


def etcd_forwards(cluster: RealCluster) -> list[tuple[str | None, int]]:
    return [(e.name, e.code) for e in cluster.requests() if e.uri.endswith("/portforward?ports=2379")]


@pytest.mark.kube_real
def test_up_seeds_the_topic_defaults_through_a_forward_to_the_platforms_etcd(
    run_cli: RunCli, real_cluster: RealCluster, store: etcd.EtcdStore
) -> None:
    env = real_cluster.env
    result = run_cli(*real_cluster.args, "up", "--timeout", "120")
    assert result.exit_code == 0, result.stderr
    assert (
        f"topic-defaults of environment '{env}': seeded (replication-factor=1, min.insync.replicas=1)" in result.stdout
    )
    entry = store.get(etcd.topic_defaults_key(env))
    assert entry is not None
    assert entry.value == {"replication-factor": 1, "config": {"min.insync.replicas": "1"}}
    assert etcd_forwards(real_cluster) == [("etcd-0", 101)]
    again = run_cli(*real_cluster.args, "up", "--timeout", "120")
    assert again.exit_code == 0, again.stderr
    assert f"topic-defaults of environment '{env}': already present, left as they are" in again.stdout


@pytest.mark.kube_real
@pytest.mark.parametrize(
    ("brokers", "seeded"),
    [
        (2, {"replication-factor": 2, "config": {"min.insync.replicas": "1"}}),
        (3, None),  # production's replication: the topic files apply exactly as written
    ],
)
def test_up_seeds_only_what_the_broker_count_needs(
    run_cli: RunCli,
    real_cluster: RealCluster,
    store: etcd.EtcdStore,
    tmp_path: Path,
    brokers: int,
    seeded: dict[str, object] | None,
) -> None:
    env = real_cluster.env
    real_cluster.plane.add_persistent_volumes(brokers - 1)  # with the fixture's two: the brokers and etcd
    config = tmp_path / "platformctl.yaml"
    config.write_text(f"kafka:\n  brokers: {brokers}\n")
    result = run_cli("--config", str(config), *real_cluster.args, "up", "--timeout", "180")
    assert result.exit_code == 0, result.stderr
    entry = store.get(etcd.topic_defaults_key(env))
    if seeded is None:
        assert entry is None
        assert (
            f"topic-defaults of environment '{env}': not needed ({brokers} brokers replicate topics as "
            "production does)"
        ) in result.stdout
        assert etcd_forwards(real_cluster) == []  # etcd not even reached
        manual = run_cli("--config", str(config), *real_cluster.args, "overrides", "seed")
        assert manual.exit_code == 0, manual.stderr
        assert f"nothing to seed: {brokers} brokers replicate topics as production does" in manual.stderr
        assert store.get(etcd.topic_defaults_key(env)) is None
    else:
        assert entry is not None and entry.value == seeded
        assert "seeded (replication-factor=2, min.insync.replicas=1)" in result.stdout


@pytest.mark.kube_real
def test_topic_defaults_a_user_set_are_left_untouched(
    run_cli: RunCli, real_cluster: RealCluster, store: etcd.EtcdStore
) -> None:
    key = etcd.topic_defaults_key(real_cluster.env)
    assert store.create(key, {"replication-factor": 2})
    before = store.get(key)
    result = run_cli(*real_cluster.args, "up", "--timeout", "120")
    assert result.exit_code == 0, result.stderr
    assert "already present, left as they are" in result.stdout
    assert store.get(key) == before


@pytest.mark.kube_real
def test_no_wait_skips_the_seeding_and_says_how_to_run_it_later(
    run_cli: RunCli, real_cluster: RealCluster, store: etcd.EtcdStore
) -> None:
    env, ns = real_cluster.env, real_cluster.namespace
    result = run_cli(*real_cluster.args, "up", "--no-wait")
    assert result.exit_code == 0, result.stderr
    command = f"platformctl --context lab -n {ns} --env {env} overrides seed"
    assert (
        f"topic-defaults of environment '{env}': skipped (etcd was not waited for: --no-wait); "
        f"run `{command}` once etcd is ready"
    ) in result.stdout
    assert f"  {command}   # once etcd is ready" in result.stdout
    assert store.get(etcd.topic_defaults_key(env)) is None
    assert etcd_forwards(real_cluster) == []  # not even a forward


@pytest.mark.kube_real
def test_an_etcd_that_does_not_answer_skips_the_seeding_without_failing_up(
    run_cli: RunCli, real_cluster: RealCluster, store: etcd.EtcdStore
) -> None:
    assert real_cluster.plane.network is not None
    real_cluster.plane.network.unroute(2379)  # the pod is Ready, nothing answers on its port
    result = run_cli(*real_cluster.args, "up", "--timeout", "120")
    assert result.exit_code == 0, result.stderr
    assert f"warning: topic-defaults of environment '{real_cluster.env}': skipped (etcd at http://127.0.0.1:" in (
        result.stderr
    )
    assert f"run `platformctl --context lab -n {real_cluster.namespace}" in " ".join(result.stderr.split())
    assert store.get(etcd.topic_defaults_key(real_cluster.env)) is None


# --- status's local ports -------------------------------------------------------------------------------


@pytest.mark.kube_real
def test_status_shows_whether_each_forwards_local_port_is_taken(run_cli: RunCli, real_cluster: RealCluster) -> None:
    import json
    import os
    import socket

    from platformctl.platform import status as statusreport

    assert run_cli(*real_cluster.args, "up", "--no-wait").exit_code == 0
    result = run_cli(*real_cluster.args, "status", "--output", "json")
    assert result.exit_code == 0, result.stderr
    ui_ports = next(c for c in json.loads(result.stdout)["components"] if c["name"] == "kafka-ui")["local_ports"]
    assert set(ui_ports) == {"kafka-ui"} and ui_ports["kafka-ui"]["address"] == "127.0.0.1:8080"
    assert isinstance(ui_ports["kafka-ui"]["in_use"], bool)
    with socket.create_server(("127.0.0.1", 0)) as held:
        port = held.getsockname()[1]
        taken = statusreport.local_port(port)
        assert taken["in_use"] is True and str(taken["holder"]).startswith(f"pid {os.getpid()} (")
    assert statusreport.local_port(port) == {"address": f"127.0.0.1:{port}", "in_use": False, "holder": None}
