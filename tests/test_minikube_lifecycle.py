"""`up`/`down`/`status` in minikube mode: the command lines given to a fake `minikube`, and step order.

`up` runs with --skip-images here so the minikube calls asserted are exactly the lifecycle's; the image
step of `up` is tested in test_up_integration.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import RunCli
from tests.plugins.fake_kube import FakeKube
from tests.plugins.fake_minikube import FakeMinikube

pytestmark = [pytest.mark.fake_minikube, pytest.mark.fake_k8s]


@pytest.fixture
def cluster(
    fake_kube: FakeKube, fake_minikube: FakeMinikube, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> FakeMinikube:
    """minikube whose `start` writes a context for the fake API server; kubeconfig starts with `work` only."""
    fake_minikube.configure(api_server=fake_kube.url, token=fake_kube.token)
    monkeypatch.setenv("KUBECONFIG", str(fake_kube.kubeconfig(tmp_path / "kubeconfig", {"work": None})))
    return fake_minikube


def test_up_starts_minikube_with_pinned_arguments_then_applies(
    run_cli: RunCli, fake_kube: FakeKube, cluster: FakeMinikube
) -> None:
    result = run_cli("up", "--no-wait", "--skip-images")
    assert result.exit_code == 0, result.stderr
    assert cluster.calls == [
        ["profile", "list", "-o", "json"],
        ["start", "--kubernetes-version=v1.35.0", "--memory=8192", "--cpus=2", "-p", "minikube"],
    ]
    timeline = fake_kube.timeline
    assert timeline[:3] == ["minikube profile list", "minikube start", "GET /version"]
    first_patch = next(i for i, t in enumerate(timeline) if t.startswith("PATCH"))
    assert all(t.startswith("GET") for t in timeline[2:first_patch]), "read everything before the first write"
    assert timeline[first_patch] == "PATCH /api/v1/namespaces/dev"


def test_driver_and_resources_come_from_settings(run_cli: RunCli, cluster: FakeMinikube, tmp_path: Path) -> None:
    config = tmp_path / "platformctl.yaml"
    config.write_text(
        "minikube:\n  profile: data\n  memory: 6144\n  cpus: 4\n  driver: podman\n  kubernetes-version: v1.36.1\n"
    )
    result = run_cli("--config", str(config), "up", "--no-wait", "--skip-images")
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


def test_psp_era_version_copies_the_policies_and_enables_the_plugin(
    run_cli: RunCli, fake_kube: FakeKube, cluster: FakeMinikube, tmp_path: Path
) -> None:
    fake_kube.version = "v1.24.17"
    config = tmp_path / "platformctl.yaml"
    config.write_text("minikube:\n  kubernetes-version: v1.24.17\n")
    result = run_cli("--config", str(config), "up", "--no-wait", "--skip-images")
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


def test_running_profile_is_not_started_again(
    run_cli: RunCli, fake_kube: FakeKube, cluster: FakeMinikube, tmp_path: Path
) -> None:
    assert run_cli("up", "--no-wait", "--skip-images").exit_code == 0
    result = run_cli("up", "--no-wait", "--skip-images")
    assert result.exit_code == 0, result.stderr
    assert [c[0] for c in cluster.calls] == ["profile", "start", "profile"]


def test_a_different_kubernetes_version_stops_without_recreating(
    run_cli: RunCli, fake_kube: FakeKube, cluster: FakeMinikube
) -> None:
    cluster.set_profile("minikube", status="OK", version="v1.33.4")
    result = run_cli("up", "--no-wait", "--skip-images")
    assert result.exit_code == 2
    assert "minikube profile 'minikube' runs Kubernetes v1.33.4, but v1.35.0 is configured" in result.stderr
    assert [c[0] for c in cluster.calls] == ["profile"]
    assert fake_kube.requests == []


def test_minikube_failure_is_one_line_with_its_last_words(
    run_cli: RunCli, fake_kube: FakeKube, cluster: FakeMinikube
) -> None:
    cluster.configure(
        fail_start="RSRC_INSUFFICIENT_CORES: Requested cpu count 2 is greater than the available cpus of 1"
    )
    result = run_cli("up", "--no-wait", "--skip-images")
    assert result.exit_code == 1
    assert "`minikube start --kubernetes-version=v1.35.0 --memory=8192 --cpus=2` failed (exit 80)" in result.stderr
    assert "RSRC_INSUFFICIENT_CORES" in result.stderr
    assert fake_kube.requests == []


def test_context_mode_never_runs_minikube(run_cli: RunCli, fake_kube: FakeKube, cluster: FakeMinikube) -> None:
    assert run_cli("--context", "work", "up", "--no-wait", "--skip-images").exit_code == 0
    assert run_cli("--context", "work", "status").exit_code == 0
    assert run_cli("--context", "work", "down", "--yes").exit_code == 0
    assert cluster.calls == []


def test_down_cluster_stop_and_delete(run_cli: RunCli, fake_kube: FakeKube, cluster: FakeMinikube) -> None:
    assert run_cli("up", "--no-wait", "--skip-images").exit_code == 0
    result = run_cli("down", "--yes", "--cluster", "stop")
    assert result.exit_code == 0, result.stderr
    assert cluster.calls[-1] == ["stop", "-p", "minikube"]
    assert not [k for k in fake_kube.objects if k[1] == "dev"]
    result = run_cli("down", "--yes", "--cluster", "delete")
    assert result.exit_code == 0, result.stderr
    assert cluster.calls[-1] == ["delete", "-p", "minikube"]
    assert "minikube profile 'minikube' deleted" in result.stderr


def test_down_cluster_is_refused_with_context(run_cli: RunCli, fake_kube: FakeKube, cluster: FakeMinikube) -> None:
    result = run_cli("--context", "work", "down", "--yes", "--cluster", "delete")
    assert result.exit_code == 2
    assert "--cluster" in result.stderr
    assert cluster.calls == [] and fake_kube.requests == []


def test_status_when_minikube_is_stopped(run_cli: RunCli, fake_kube: FakeKube, cluster: FakeMinikube) -> None:
    cluster.set_profile("minikube", status="Stopped")
    result = run_cli("status")
    assert result.exit_code == 1
    assert "minikube profile 'minikube' is stopped" in result.stderr
    assert fake_kube.requests == []


@pytest.mark.parametrize(("profile_status", "expected"), [("OK", "Running"), ("Stopped", "Stopped"), (None, None)])
def test_node_status_parsing(cluster: FakeMinikube, profile_status: str | None, expected: str | None) -> None:
    """The fake answers as minikube does: JSON + exit 0, JSON + exit 7 (stopped), a message + exit 85 (no profile)."""
    from platformctl import minikube

    if profile_status is not None:
        cluster.set_profile("minikube", status=profile_status)
    node = minikube.node_status("minikube")
    assert (node or {}).get("APIServer") == expected
    assert cluster.calls[-1] == ["status", "-o", "json", "-p", "minikube"]
