"""`down` on a PodSecurityPolicy-era server (the fake API server: no such server is built here), and `doctor`.

`down` and `status` on a real server: tests/platform/test_policy_status_real.py. `doctor` reads the real control
plane (tests/plugins/kube_real.py) when it has a context to check, and minikube is the fake executable.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from tests.conftest import RunCli
from tests.plugins.fake_docker import FakeDocker
from tests.plugins.fake_kube import FakeKube
from tests.plugins.fake_minikube import FakeMinikube
from tests.plugins.kube_real import RealCluster


@pytest.mark.fake_k8s
def test_down_on_psp_era_cluster_removes_the_policy_and_cluster_role(
    run_cli: RunCli, fake_kube: FakeKube, kubeconfig: Path
) -> None:
    # Why the fake: PodSecurityPolicy left the API in 1.25; the real control plane here is 1.36.
    fake_kube.version = "v1.24.17"
    assert run_cli("--context", "lab", "up", "--no-wait").exit_code == 0
    assert run_cli("--context", "lab", "down", "--yes").exit_code == 0
    assert fake_kube.get("PodSecurityPolicy", None, "platformctl-dev-restricted") is None
    assert fake_kube.get("ClusterRole", None, "platformctl-dev-psp") is None


@pytest.mark.fake_minikube
@pytest.mark.fake_docker
@pytest.mark.kube_real
def test_doctor_reports_each_check_and_fails_on_a_busy_port(
    run_cli: RunCli,
    real_cluster: RealCluster,
    fake_minikube: FakeMinikube,
    fake_docker: FakeDocker,  # no Docker engine here: the host daemon that answers doctor's ping
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    docker = fake_minikube.bin_dir / "docker"
    docker.write_text("#!/bin/sh\nexit 0\n")
    docker.chmod(0o755)
    work = real_cluster.plane.write_kubeconfig(tmp_path / "kc", {"work": real_cluster.credentials}, current="work")
    monkeypatch.setenv("KUBECONFIG", str(work))
    config = tmp_path / "platformctl.yaml"
    config.write_text("minikube:\n  memory: 2048\n  cpus: 2\n")
    from platformctl.platform import doctor

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
    assert checks["driver"] == {"check": "driver", "ok": True, "detail": "docker (the daemon answers)", "fix": None}
    assert checks["cpus"]["ok"]
    assert checks["kube context"]["ok"] and "will be created" in checks["kube context"]["detail"]
    assert not checks[f"port {port}"]["ok"] and "ss -ltnp" in checks[f"port {port}"]["fix"]
    assert f"by pid {os.getpid()} (" in checks[f"port {port}"]["detail"]  # the holder, read from /proc
    assert checks["pinned images"]["ok"]
    assert "1 of" in result.stderr and f"port {port}" in result.stderr
    assert real_cluster.requests() == [], "minikube is not running: doctor does not reach for a cluster"


@pytest.mark.kube_real
def test_doctor_with_context_checks_the_server_version(
    run_cli: RunCli, real_cluster: RealCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    from platformctl.platform import doctor

    monkeypatch.setattr(doctor, "forward_ports", lambda settings: [])
    result = run_cli(*real_cluster.args, "doctor", "--output", "json")
    assert result.exit_code == 0, result.stderr
    checks = {c["check"]: c for c in json.loads(result.stdout)}
    assert "minikube" not in checks, "not needed with --context"
    assert checks["security mode"]["detail"].startswith("server v1.36.3: pod-security-admission (restricted)")
    assert [(e.verb, e.uri) for e in real_cluster.requests()] == [("get", "/version")]


@pytest.mark.fake_minikube
def test_down_keep_data_cannot_delete_the_cluster(run_cli: RunCli, fake_minikube: FakeMinikube) -> None:
    result = run_cli("down", "--keep-data", "--cluster", "delete", "--yes")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == (
        "error: --keep-data: --keep-data keeps the claims in the cluster, and --cluster delete deletes the "
        "cluster with them"
    )
    assert fake_minikube.calls == [], "refused before minikube was asked anything"
