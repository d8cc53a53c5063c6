"""Commands that work without minikube when they can, and fail like `up` when they cannot (exact output).

The machine's PATH is replaced by a directory of this test's own: minikube is not installed, and `docker`
is there or not as each test says. The API server that does not answer is a kubeconfig pointing at a port
nothing listens on (a real refused connection); the Docker daemon that does not answer is the real Docker
SDK pointed at a socket that does not exist. No fake stands in for either.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from platformctl.platform import doctor
from platformctl.platform import status as statusreport
from platformctl.platform.doctor import Check
from tests.conftest import RunCli
from tests.plugins.fake_docker import FakeDocker

NO_MINIKUBE = (
    "error: minikube is not installed (not found on PATH)\n"
    "hint: install it (https://minikube.sigs.k8s.io/docs/start/) or use an existing cluster with --context\n"
)
IMAGES = [
    ("apache/kafka:4.2.2", "StatefulSet/kafka"),
    ("confluentinc/cp-schema-registry:8.2.4", "Deployment/schema-registry"),
    ("kafbat/kafka-ui:v1.4.2", "Deployment/kafka-ui"),
    ("gcr.io/etcd-development/etcd:v3.6.16", "StatefulSet/etcd"),
    ("fluent/fluentd:v1.19.3-debian-2.4", "Deployment/fluentd"),
]


@pytest.fixture
def bare_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """PATH is one empty directory of this test's: no minikube, no docker, until a test puts one there."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    return bin_dir


@pytest.fixture
def dead_context(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A kubeconfig whose context `dead` names an API server on a port nothing listens on."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    path = tmp_path / "kubeconfig"
    path.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters: [{{name: c, cluster: {{server: 'https://127.0.0.1:{port}'}}}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: dead, context: {cluster: c, user: u}}]\n"
    )
    monkeypatch.setenv("KUBECONFIG", str(path))
    return f"https://127.0.0.1:{port}"


# --- images list -------------------------------------------------------------------------------------------


def test_images_list_without_minikube_lists_the_images_with_presence_unknown(
    run_cli: RunCli, bare_path: Path
) -> None:
    result = run_cli("images", "list")
    assert result.exit_code == 0
    assert result.stdout == "".join(
        f"{image:<37}  {'unknown':<7}  {'unknown':<7}  {user}\n"
        for image, user in [("IMAGE", "USED BY"), *IMAGES]
    ).replace("unknown  unknown  USED BY", "NODE     CACHE    USED BY")
    assert result.stderr == (
        "warning: presence unknown: minikube is not installed (not found on PATH) (install it "
        "(https://minikube.sigs.k8s.io/docs/start/) or use an existing cluster with --context)\n"
    )
    as_json = json.loads(run_cli("images", "list", "-o", "json").stdout)
    assert as_json == [{"image": i, "used_by": [u], "in_node": None, "in_cache": None} for i, u in IMAGES]


def test_images_list_with_a_context_does_not_ask_minikube(run_cli: RunCli, bare_path: Path) -> None:
    result = run_cli("--context", "realk8s", "images", "list")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[1] == f"{IMAGES[0][0]:<37}  unknown  unknown  {IMAGES[0][1]}"
    assert result.stderr == "presence unknown: --context realk8s pulls its own images; minikube is not asked\n"


# --- status ------------------------------------------------------------------------------------------------


def test_status_without_minikube_says_so_in_its_table(run_cli: RunCli, bare_path: Path) -> None:
    result = run_cli("status")
    assert result.exit_code == 1
    assert result.stdout == (
        "platformctl status: namespace dev\n"
        "cluster          none     minikube is not installed (not found on PATH)\n"
        "kafka            unknown  no cluster\n"
        "schema-registry  unknown  no cluster\n"
        "kafka-ui         unknown  no cluster\n"
        "etcd             unknown  no cluster\n"
        "fluentd          unknown  no cluster\n"
    )
    assert result.stderr == NO_MINIKUBE
    report = json.loads(run_cli("status", "-o", "json").stdout)
    assert report["cluster"] == {
        "context": "minikube",
        "server": None,
        "version": None,
        "minikube_profile": "minikube",
        "reachable": False,
        "problem": "minikube is not installed (not found on PATH)",
    }
    assert {c["state"] for c in report["components"]} == {"unknown"} and report["ready"] is False


def test_status_lists_one_local_port_per_kafka_broker(run_cli: RunCli, bare_path: Path, tmp_path: Path) -> None:
    config = tmp_path / "platformctl.yaml"
    config.write_text("kafka:\n  brokers: 3\n")
    report = json.loads(run_cli("--config", str(config), "status", "-o", "json").stdout)
    [kafka] = [c for c in report["components"] if c["name"] == "kafka"]
    assert kafka["forwards"] == {"kafka": "127.0.0.1:9092", "kafka-1": "127.0.0.1:9093", "kafka-2": "127.0.0.1:9094"}
    assert [state["address"] for state in kafka["local_ports"].values()] == list(kafka["forwards"].values())


def test_status_of_a_context_kubeconfig_lacks_is_bad_input(run_cli: RunCli, bare_path: Path) -> None:
    result = run_cli("--context", "nope", "status")
    assert result.exit_code == 2
    row = result.stdout.splitlines()[1]
    assert row.startswith("cluster          none     --context: kube context 'nope' not found")


def test_status_when_the_api_server_does_not_answer(run_cli: RunCli, bare_path: Path, dead_context: str) -> None:
    result = run_cli("--context", "dead", "status")
    problem = (
        f"cannot reach the API server at {dead_context} (context 'dead') while reading the server version: "
        "Connection refused"
    )
    assert result.exit_code == 1
    assert result.stdout.splitlines()[1] == f"cluster          none     {problem}"
    assert result.stderr == (
        f"error: {problem}\n"
        "hint: is the cluster running? `minikube status`, or check the context with "
        "`kubectl cluster-info --context dead`\n"
    )


# --- port-forward: one line, a hint, and up's exit code ----------------------------------------------------


def test_port_forward_without_minikube_fails_as_up_does(run_cli: RunCli, bare_path: Path) -> None:
    forward = run_cli("port-forward", "kafka-ui")
    up = run_cli("up")
    assert (forward.exit_code, forward.stdout, forward.stderr) == (1, "", NO_MINIKUBE)
    assert (up.exit_code, up.stderr) == (forward.exit_code, forward.stderr)


def test_port_forward_to_an_api_server_that_does_not_answer(
    run_cli: RunCli, bare_path: Path, dead_context: str
) -> None:
    forward = run_cli("--context", "dead", "port-forward", "kafka-ui")
    up = run_cli("--context", "dead", "up")
    assert (forward.exit_code, forward.stdout) == (1, "")
    assert forward.stderr == (
        f"error: cannot reach the API server at {dead_context} (context 'dead') while resolving service "
        "dev/kafka-ui: Connection refused\n"
        "hint: is the cluster running? `minikube status`, or check the context with "
        "`kubectl cluster-info --context dead`\n"
    )
    assert up.exit_code == forward.exit_code
    assert up.stderr.splitlines()[-1] == forward.stderr.splitlines()[-1]  # the same hint


def test_port_forward_refusing_a_missing_context_has_a_hint_without_names_above(
    run_cli: RunCli, bare_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty-kubeconfig"
    empty.write_text("apiVersion: v1\nkind: Config\ncontexts: []\n")
    monkeypatch.setenv("KUBECONFIG", str(empty))
    result = run_cli("--context", "prod", "port-forward", "kafka-ui")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: --context: kube context 'prod' not found in kubeconfig {empty} (have: none)",
        "hint: this kubeconfig has no contexts: point KUBECONFIG at the one that has the cluster, or drop --context",
    ]


# --- doctor ------------------------------------------------------------------------------------------------


def _docker_binary(bin_dir: Path) -> None:
    docker = bin_dir / "docker"
    docker.write_text("#!/bin/sh\nexit 0\n")
    docker.chmod(0o755)


def test_doctor_fails_the_driver_when_the_docker_daemon_does_not_answer(
    run_cli: RunCli, bare_path: Path, tmp_path: Path
) -> None:
    _docker_binary(bare_path)
    result = run_cli("doctor", env={"DOCKER_HOST": f"unix://{tmp_path}/docker.sock"})
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "platformctl doctor"
    assert lines[3:5] == [
        "driver         FAIL  docker is installed, but cannot reach the Docker daemon of the host: no daemon is "
        "listening (its socket does not exist)",
        "                     fix: start Docker (Docker Desktop, or `sudo systemctl start docker`), or set "
        "minikube.driver to another driver you have",
    ]
    assert result.stderr == "error: 2 of 13 checks failed: minikube, driver\n"


@pytest.mark.fake_docker
def test_doctor_passes_the_driver_when_the_daemon_answers(
    run_cli: RunCli, bare_path: Path, fake_docker: FakeDocker
) -> None:
    """The fake Docker client stands in for a daemon that answers (no Docker engine runs here)."""
    _docker_binary(bare_path)
    checks = {c["check"]: c for c in json.loads(run_cli("doctor", "-o", "json").stdout)}
    assert checks["driver"] == {"check": "driver", "ok": True, "detail": "docker (the daemon answers)", "fix": None}
    fake_docker.host_running = False
    checks = {c["check"]: c for c in json.loads(run_cli("doctor", "-o", "json").stdout)}
    assert not checks["driver"]["ok"]


def test_doctor_text_keeps_urls_whole_and_colours_fail() -> None:
    checks = [
        Check("minikube", False, "not found on PATH", "install it: https://minikube.sigs.k8s.io/docs/start/"),
        Check("memory", True, "host 24105 MB >= minikube.memory 8192 MB"),
    ]
    assert doctor.checks_text(checks) == (
        "platformctl doctor\n"
        "minikube  FAIL  not found on PATH\n"
        "                fix: install it: https://minikube.sigs.k8s.io/docs/start/\n"
        "memory    ok    host 24105 MB >= minikube.memory 8192 MB"
    )
    coloured = doctor.checks_text(checks, colour=True).splitlines()
    assert coloured[1] == "minikube  \x1b[1;31mFAIL\x1b[0m  not found on PATH"
    assert coloured[3] == "memory    \x1b[32mok  \x1b[0m  host 24105 MB >= minikube.memory 8192 MB"


def test_status_text_names_the_clusterip_policy_and_keeps_urls_whole() -> None:
    ports = {"kafka-ui": {"address": "127.0.0.1:8080", "in_use": False, "holder": None}}
    report = {
        "cluster": {"context": "minikube", "server": "https://192.168.49.2:8443", "version": "v1.35.0",
                    "reachable": True, "problem": None},
        "namespace": "dev",
        "security": {"in_force": "pod-security-admission (restricted)", "clusterip_policy": True,
                     "expected": "pod-security-admission (restricted) + ClusterIP-only admission policy"},
        "components": [{"name": "kafka-ui", "state": "ready", "ready": "1/1", "detail": "", "local_ports": ports}],
    }  # fmt: skip
    policy = "pod-security-admission (restricted) + ClusterIP-only admission policy"
    assert statusreport.status_text(report).splitlines() == [
        "platformctl status: namespace dev",
        f"cluster     {'minikube':<{len(policy)}}  https://192.168.49.2:8443",
        "kubernetes  v1.35.0",
        f"security    {policy}  as expected",
        f"kafka-ui    {'ready 1/1':<{len(policy)}}  kafka-ui -> 127.0.0.1:8080",
    ]
    report["security"]["clusterip_policy"] = False
    text = statusreport.status_text(report)
    assert "security    pod-security-admission (restricted)  expected: pod-security-admission (restricted) + " in text
    coloured = statusreport.status_text(report, colour=True).splitlines()[-1]
    assert coloured.startswith("kafka-ui    \x1b[32mready 1/1")
