"""`up` where the real control plane (tests/test_*_real.py) cannot go, and its step order.

The fake API server (tests/plugins/fake_kube.py) stands in for what the real one cannot be made to be: a
PodSecurityPolicy-era server (< 1.25: no such API server is built here). An unreachable server needs no
server at all; a real one frozen or killed mid-apply: tests/platform/test_up_faults_real.py.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from platformctl.platform import up as lifecycle
from tests.conftest import RunCli
from tests.plugins.fake_kube import FakeKube


def error_line(err: str) -> str:
    """The one error line (progress lines may precede it on stderr; a hint may follow)."""
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]


def up(run_cli: RunCli, *args: str) -> tuple[int, str, str]:
    result = run_cli("--context", "lab", "up", *args)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.fake_k8s
def test_psp_era_server_gets_a_pod_security_policy_instead_of_labels(
    run_cli: RunCli, fake_kube: FakeKube, kubeconfig: Path
) -> None:
    # Why the fake: the real control plane here is 1.36; PodSecurityPolicy left the API in 1.25.
    fake_kube.version = "v1.24.17"
    code, _, err = up(run_cli, "--no-wait")
    assert code == 0, err
    assert fake_kube.get("PodSecurityPolicy", None, "platformctl-dev-restricted") is not None
    assert fake_kube.get("ClusterRole", None, "platformctl-dev-psp") is not None
    ns = fake_kube.get("Namespace", None, "dev")
    assert ns is not None and "pod-security.kubernetes.io/enforce" not in ns["metadata"]["labels"]


def test_unreachable_api_server(run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    path = tmp_path / "kc"
    path.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters: [{{name: lab, cluster: {{server: 'https://127.0.0.1:{port}'}}}}]\n"
        "users: [{name: lab, user: {token: t}}]\n"
        "contexts: [{name: lab, context: {cluster: lab, user: lab}}]\n"
    )
    monkeypatch.setenv("KUBECONFIG", str(path))
    code, _, err = up(run_cli, "--no-wait")
    assert code == 1
    assert error_line(err).startswith(
        f"error: cannot reach the API server at https://127.0.0.1:{port} (context 'lab') "
        "while reading the server version"
    )
    assert "Traceback" not in err


def test_up_steps_are_in_order() -> None:
    assert [s.name for s in lifecycle.UP_STEPS] == [
        "minikube",
        "target",
        "images",
        "version",
        "render",
        "apply",
        "wait",
        "seed",
        "summary",
    ]
    assert lifecycle.index("apply") == 5
