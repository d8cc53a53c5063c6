"""`up`/`down`/`status` in minikube mode: the command lines given to a fake `minikube`, and step order.

minikube is the fake executable (tests/plugins/fake_minikube.py); the cluster its `start` writes a context
for is the real control plane (tests/plugins/kube_real.py), and the order of minikube calls against API
requests comes from their times and the API server's audit log. `up` runs with --skip-images here so the
minikube calls asserted are exactly the lifecycle's; the image step of `up` is tested in
test_up_integration.py. Each test runs in a namespace and environment of its own (`real_cluster.scope`).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import RunCli
from tests.lifecycle import labelled
from tests.plugins.fake_minikube import FakeMinikube
from tests.plugins.kube_real import RealCluster

pytestmark = pytest.mark.fake_minikube


@pytest.fixture
def cluster(
    real_cluster: RealCluster, fake_minikube: FakeMinikube, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> FakeMinikube:
    """minikube whose `start` writes a context for the real control plane; kubeconfig starts with `work` only."""
    real_cluster.minikube_writes_contexts_here(fake_minikube)
    work = real_cluster.plane.write_kubeconfig(
        tmp_path / "kubeconfig", {"work": real_cluster.credentials}, current="work"
    )
    monkeypatch.setenv("KUBECONFIG", str(work))
    return fake_minikube


@pytest.mark.kube_real
def test_up_starts_minikube_with_pinned_arguments_then_applies(
    run_cli: RunCli, real_cluster: RealCluster, cluster: FakeMinikube
) -> None:
    result = run_cli(*real_cluster.scope, "up", "--no-wait", "--skip-images")
    assert result.exit_code == 0, result.stderr
    assert cluster.calls == [
        ["profile", "list", "-o", "json"],
        ["start", "--kubernetes-version=v1.35.0", "--memory=8192", "--cpus=2", "-p", "minikube"],
    ]
    # minikube ran first (profile list, then start), and only then did the first request reach the server:
    # GET /version, then reads only until the first write, the namespace.
    requests = real_cluster.requests()
    last_minikube = max(t for t, _ in cluster.timed_calls)
    assert requests[0].uri == "/version" and requests[0].time > last_minikube
    first_write = next(i for i, e in enumerate(requests) if e.is_write)
    assert all(e.verb in ("get", "list") for e in requests[:first_write]), "read everything before the first write"
    assert (requests[first_write].resource, requests[first_write].name) == ("namespaces", real_cluster.namespace)


@pytest.mark.kube_real
def test_driver_and_resources_come_from_settings(
    run_cli: RunCli, real_cluster: RealCluster, cluster: FakeMinikube, tmp_path: Path
) -> None:
    config = tmp_path / "platformctl.yaml"
    config.write_text(
        "minikube:\n  profile: data\n  memory: 6144\n  cpus: 4\n  driver: podman\n  kubernetes-version: v1.36.1\n"
    )
    result = run_cli("--config", str(config), *real_cluster.scope, "up", "--no-wait", "--skip-images")
    assert result.exit_code == 0, result.stderr
    assert cluster.calls[-1] == [
        "start",
        "--kubernetes-version=v1.36.1",
        "--memory=6144",
        "--cpus=4",
        "--driver=podman",
        "-p",
        "data",
    ]


@pytest.mark.kube_real
def test_psp_era_version_copies_the_policies_and_enables_the_plugin(
    run_cli: RunCli, real_cluster: RealCluster, cluster: FakeMinikube, tmp_path: Path
) -> None:
    config = tmp_path / "platformctl.yaml"
    config.write_text("minikube:\n  kubernetes-version: v1.24.17\n")
    result = run_cli("--config", str(config), *real_cluster.scope, "up", "--no-wait", "--skip-images")
    assert result.exit_code == 0, result.stderr
    assert cluster.calls[-1] == [
        "start",
        "--kubernetes-version=v1.24.17",
        "--memory=8192",
        "--cpus=2",
        "--extra-config=apiserver.enable-admission-plugins=PodSecurityPolicy",
        "-p",
        "minikube",
    ]
    copied = tmp_path / "minikube-home" / ".minikube" / "files" / "etc" / "kubernetes" / "addons" / "psp.yaml"
    docs = list(yaml.safe_load_all(copied.read_text()))
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert {("PodSecurityPolicy", "privileged"), ("PodSecurityPolicy", "restricted")} <= names
    binding = next(d for d in docs if d["kind"] == "RoleBinding")
    assert binding["metadata"]["namespace"] == "kube-system"
    assert {s["name"] for s in binding["subjects"]} >= {"system:nodes", "system:serviceaccounts:kube-system"}


@pytest.mark.kube_real
def test_running_profile_is_not_started_again(
    run_cli: RunCli, real_cluster: RealCluster, cluster: FakeMinikube, tmp_path: Path
) -> None:
    assert run_cli(*real_cluster.scope, "up", "--no-wait", "--skip-images").exit_code == 0
    result = run_cli(*real_cluster.scope, "up", "--no-wait", "--skip-images")
    assert result.exit_code == 0, result.stderr
    assert [c[0] for c in cluster.calls] == ["profile", "start", "profile"]


@pytest.mark.kube_real
def test_a_different_kubernetes_version_stops_without_recreating(
    run_cli: RunCli, real_cluster: RealCluster, cluster: FakeMinikube
) -> None:
    cluster.set_profile("minikube", status="OK", version="v1.33.4")
    result = run_cli(*real_cluster.scope, "up", "--no-wait", "--skip-images")
    assert result.exit_code == 2
    assert "minikube profile 'minikube' runs Kubernetes v1.33.4, but v1.35.0 is configured" in result.stderr
    assert [c[0] for c in cluster.calls] == ["profile"]
    assert real_cluster.requests() == []


@pytest.mark.kube_real
def test_minikube_failure_is_one_line_with_its_last_words(
    run_cli: RunCli, real_cluster: RealCluster, cluster: FakeMinikube
) -> None:
    cluster.configure(
        fail_start="RSRC_INSUFFICIENT_CORES: Requested cpu count 2 is greater than the available cpus of 1"
    )
    result = run_cli(*real_cluster.scope, "up", "--no-wait", "--skip-images")
    assert result.exit_code == 1
    assert "`minikube start --kubernetes-version=v1.35.0 --memory=8192 --cpus=2` failed (exit 80)" in result.stderr
    assert "RSRC_INSUFFICIENT_CORES" in result.stderr
    assert real_cluster.requests() == []


@pytest.mark.kube_real
def test_context_mode_never_runs_minikube(run_cli: RunCli, real_cluster: RealCluster, cluster: FakeMinikube) -> None:
    assert run_cli("--context", "work", *real_cluster.scope, "up", "--no-wait", "--skip-images").exit_code == 0
    assert run_cli("--context", "work", *real_cluster.scope, "status").exit_code == 0
    assert run_cli("--context", "work", *real_cluster.scope, "down", "--yes").exit_code == 0
    assert cluster.calls == []


@pytest.mark.kube_real
def test_down_cluster_stop_and_delete(run_cli: RunCli, real_cluster: RealCluster, cluster: FakeMinikube) -> None:
    assert run_cli(*real_cluster.scope, "up", "--no-wait", "--skip-images").exit_code == 0
    result = run_cli(*real_cluster.scope, "down", "--yes", "--cluster", "stop")
    assert result.exit_code == 0, result.stderr
    assert cluster.calls[-1] == ["stop", "-p", "minikube"]
    assert labelled(real_cluster) == {}
    result = run_cli(*real_cluster.scope, "down", "--yes", "--cluster", "delete")
    assert result.exit_code == 0, result.stderr
    assert cluster.calls[-1] == ["delete", "-p", "minikube"]
    assert "minikube profile 'minikube' deleted" in result.stderr


@pytest.mark.kube_real
def test_down_cluster_is_refused_with_context(
    run_cli: RunCli, real_cluster: RealCluster, cluster: FakeMinikube
) -> None:
    result = run_cli("--context", "work", *real_cluster.scope, "down", "--yes", "--cluster", "delete")
    assert result.exit_code == 2
    assert "--cluster" in result.stderr
    assert cluster.calls == [] and real_cluster.requests() == []


@pytest.mark.kube_real
def test_status_when_minikube_is_stopped(run_cli: RunCli, real_cluster: RealCluster, cluster: FakeMinikube) -> None:
    cluster.set_profile("minikube", status="Stopped")
    result = run_cli(*real_cluster.scope, "status")
    assert result.exit_code == 1
    assert "error: minikube profile 'minikube' is not running (status: Stopped)\n" in result.stderr
    assert "cluster          none     minikube profile 'minikube' is not running (status: Stopped)\n" in result.stdout
    assert real_cluster.requests() == []


@pytest.mark.parametrize(("profile_status", "expected"), [("OK", "Running"), ("Stopped", "Stopped"), (None, None)])
def test_node_status_parsing(fake_minikube: FakeMinikube, profile_status: str | None, expected: str | None) -> None:
    """The fake answers as minikube does: JSON + exit 0, JSON + exit 7 (stopped), a message + exit 85 (no profile)."""
    from platformctl.adapters import minikube

    if profile_status is not None:
        fake_minikube.set_profile("minikube", status=profile_status)
    node = minikube.node_status("minikube")
    assert (node or {}).get("APIServer") == expected
    assert fake_minikube.calls[-1] == ["status", "-o", "json", "-p", "minikube"]
