"""`down` removes only what carries platformctl's labels; `status` and `doctor` report without changing anything."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from platformctl.commands import base
from tests.conftest import RunCli
from tests.plugins.fake_kube import FakeKube
from tests.plugins.fake_minikube import FakeMinikube

pytestmark = pytest.mark.fake_k8s

OURS = {
    "app.kubernetes.io/managed-by": "platformctl",
    "app.kubernetes.io/instance": "dev",
    "app.kubernetes.io/part-of": "platformctl",
}


def seed_bystanders(fake: FakeKube) -> list[tuple[str, str | None, str]]:
    """Objects `down` must never touch: unlabelled, or labelled for another platform namespace."""
    fake.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}})
    fake.put({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "team"}})
    fake.put(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "viewer"},
            "rules": [],
        }
    )
    fake.put(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "prod", "labels": {**OURS, "app.kubernetes.io/instance": "prod"}},
        }
    )
    fake.put(
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {
                "name": "platformctl-prod-clusterip-only",
                "labels": {**OURS, "app.kubernetes.io/instance": "prod"},
            },
            "spec": {},
        }
    )
    return [
        ("Namespace", None, "team"),
        ("ConfigMap", "team", "settings"),
        ("ClusterRole", None, "viewer"),
        ("Namespace", None, "prod"),
        ("ValidatingAdmissionPolicy", None, "platformctl-prod-clusterip-only"),
    ]


def test_down_deletes_only_labelled_objects_cluster_scoped_too(
    run_cli: RunCli, fake_kube: FakeKube, kubeconfig: Path
) -> None:
    bystanders = seed_bystanders(fake_kube)
    assert run_cli("--context", "lab", "up", "--no-wait").exit_code == 0
    assert fake_kube.get("ValidatingAdmissionPolicy", None, "platformctl-dev-clusterip-only") is not None
    result = run_cli("--context", "lab", "down", "--yes")
    assert result.exit_code == 0, result.stderr
    deletes = [r for r in fake_kube.requests if r.method == "DELETE"]
    assert deletes[-1].path == "/api/v1/namespaces/dev", "the namespace goes last"
    assert {r.path for r in deletes} >= {
        "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies/platformctl-dev-clusterip-only",
        "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings/platformctl-dev-clusterip-only",
    }
    assert all("team" not in r.path and "prod" not in r.path and "viewer" not in r.path for r in deletes)
    for kind, ns, name in bystanders:
        assert fake_kube.get(kind, ns, name) is not None, (kind, ns, name)
    left = [
        key
        for key, obj in fake_kube.objects.items()
        if obj["metadata"].get("labels", {}).get("app.kubernetes.io/instance") == "dev"
    ]
    assert left == []
    # `down` waited: the namespace was Terminating for a while and is gone now.
    assert fake_kube.get("Namespace", None, "dev") is None
    assert "removed 17 objects" in result.stderr


def test_down_on_psp_era_cluster_removes_the_policy_and_cluster_role(
    run_cli: RunCli, fake_kube: FakeKube, kubeconfig: Path
) -> None:
    fake_kube.version = "v1.24.17"
    assert run_cli("--context", "lab", "up", "--no-wait").exit_code == 0
    assert run_cli("--context", "lab", "down", "--yes").exit_code == 0
    assert fake_kube.get("PodSecurityPolicy", None, "platformctl-dev-restricted") is None
    assert fake_kube.get("ClusterRole", None, "platformctl-dev-psp") is None


def test_down_refuses_without_confirmation_when_not_interactive(
    run_cli: RunCli, fake_kube: FakeKube, kubeconfig: Path
) -> None:
    result = run_cli("--context", "lab", "down")
    assert result.exit_code == 2
    assert "--yes" in result.stderr
    assert fake_kube.requests == []


def test_down_asks_when_interactive(
    run_cli: RunCli, fake_kube: FakeKube, kubeconfig: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(base, "interactive", lambda: True)
    assert run_cli("--context", "lab", "up", "--no-wait").exit_code == 0
    result = run_cli("--context", "lab", "down", input="n\n")
    assert result.exit_code == 1  # an answer, not an interruption (130)
    assert "nothing deleted" in result.stderr
    assert "delete 17 objects labelled by platformctl" in result.stderr
    assert [r for r in fake_kube.requests if r.method == "DELETE"] == []
    result = run_cli("--context", "lab", "down", input="y\n")
    assert result.exit_code == 0, result.stderr
    assert fake_kube.get("Namespace", None, "dev") is None


def test_down_with_nothing_to_delete(run_cli: RunCli, fake_kube: FakeKube, kubeconfig: Path) -> None:
    result = run_cli("--context", "lab", "down", "--yes")
    assert result.exit_code == 0
    assert "nothing to delete" in result.stderr
    assert fake_kube.writes == []


def test_status_json(run_cli: RunCli, fake_kube: FakeKube, kubeconfig: Path) -> None:
    fake_kube.auto_ready = True
    assert run_cli("--context", "lab", "up", "--no-wait").exit_code == 0
    fake_kube.get("StatefulSet", "dev", "etcd")["status"]["readyReplicas"] = 0  # type: ignore[index]
    result = run_cli("--context", "lab", "status", "--output", "json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["cluster"] == {
        "context": "lab",
        "server": fake_kube.url,
        "version": "v1.36.0",
        "minikube_profile": None,
    }
    assert report["security"]["in_force"] == "pod-security-admission (restricted)"
    assert report["security"]["clusterip_policy"] is True
    states = {c["name"]: c["state"] for c in report["components"]}
    assert states == {
        "kafka": "ready",
        "schema-registry": "ready",
        "kafka-ui": "ready",
        "etcd": "not ready",
        "fluentd": "ready",
    }
    assert report["ready"] is False
    assert fake_kube.writes == [w for w in fake_kube.writes if w.method == "PATCH"]  # status wrote nothing


def test_status_before_up_shows_components_missing(run_cli: RunCli, fake_kube: FakeKube, kubeconfig: Path) -> None:
    result = run_cli("--context", "lab", "status")
    assert result.exit_code == 0, result.stderr
    assert "missing" in result.stdout and "security" in result.stdout
    assert fake_kube.writes == []


@pytest.mark.fake_minikube
def test_doctor_reports_each_check_and_fails_on_a_busy_port(
    run_cli: RunCli, fake_kube: FakeKube, fake_minikube: FakeMinikube, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docker = fake_minikube.bin_dir / "docker"
    docker.write_text("#!/bin/sh\nexit 0\n")
    docker.chmod(0o755)
    monkeypatch.setenv("KUBECONFIG", str(fake_kube.kubeconfig(tmp_path / "kc", {"work": None})))
    config = tmp_path / "platformctl.yaml"
    config.write_text("minikube:\n  memory: 2048\n  cpus: 2\n")
    from platformctl import doctor

    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    monkeypatch.setattr(doctor, "forward_ports", lambda settings: [("kafka", port)])
    monkeypatch.setattr(doctor.os, "cpu_count", lambda: 4)
    try:
        result = run_cli("--config", str(config), "doctor", "--output", "json")
    finally:
        busy.close()
    checks = {c["check"]: c for c in json.loads(result.stdout)}
    assert result.exit_code == 1
    assert checks["minikube"]["ok"] and checks["minikube"]["detail"].endswith("/minikube")
    assert checks["driver"] == {"check": "driver", "ok": True, "detail": "docker", "fix": None}
    assert checks["cpus"]["ok"]
    assert checks["kube context"]["ok"] and "will be created" in checks["kube context"]["detail"]
    assert not checks[f"port {port}"]["ok"] and "ss -ltnp" in checks[f"port {port}"]["fix"]
    assert f"by pid {os.getpid()} (" in checks[f"port {port}"]["detail"]  # the holder, read from /proc
    assert checks["pinned images"]["ok"]
    assert "1 of" in result.stderr and f"port {port}" in result.stderr
    assert fake_kube.requests == [], "minikube is not running: doctor does not reach for a cluster"


def test_doctor_with_context_checks_the_server_version(
    run_cli: RunCli, fake_kube: FakeKube, kubeconfig: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from platformctl import doctor

    monkeypatch.setattr(doctor, "forward_ports", lambda settings: [])
    result = run_cli("--context", "lab", "doctor", "--output", "json")
    assert result.exit_code == 0, result.stderr
    checks = {c["check"]: c for c in json.loads(result.stdout)}
    assert "minikube" not in checks, "not needed with --context"
    assert checks["security mode"]["detail"].startswith("server v1.36.0: pod-security-admission (restricted)")
    assert [r.path for r in fake_kube.requests] == ["/version"]
