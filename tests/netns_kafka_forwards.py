"""`port-forward kafka` with three brokers on exactly 127.0.0.1:9092-9094, run in a network namespace of its own.

The Kafka forwards cannot move (each broker advertises localhost:9092+i), so these tests bind the real ports.
On a shared machine something else may hold them, so `test_forward_kube.py` runs this file in a fresh
network namespace (`unshare --user --net`, loopback brought up), where 127.0.0.1 is the tests' alone; the
file refuses to run anywhere else (PLATFORMCTL_TEST_NETNS). Everything else is the real thing, started
inside that namespace: the control plane (tests/plugins/kube_real.py: `up` with kafka.brokers 3, the streams
through the API server and kwok), real TCP clients, and an echo server behind every broker's HOST listener
(kwok cannot say which pod a stream was for: the API server's audit log does).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from platformctl import config, ui
from platformctl.platform import forwarding
from tests.conftest import RunCli
from tests.lifecycle import EchoServer, run_until_ctrl_c, up
from tests.plugins.fake_portforward import listening_addresses
from tests.plugins.kube_real import RealCluster

if not os.environ.get("PLATFORMCTL_TEST_NETNS"):
    pytest.skip("binds 127.0.0.1:9092-9094: run only in its own network namespace", allow_module_level=True)

pytestmark = pytest.mark.kube_real

PORTS = [9092, 9093, 9094]


@pytest.fixture
def three_brokers(run_cli: RunCli, real_cluster: RealCluster, tmp_path: Path) -> Iterator[Path]:
    """The platform up with kafka.brokers 3, each broker's HOST listener answered by an echo server."""
    real_cluster.plane.add_persistent_volumes(2)  # with the fixture's two: three brokers and etcd
    config_path = tmp_path / "platformctl.yaml"
    config_path.write_text("kafka:\n  brokers: 3\n")
    code, _, err = up(run_cli, real_cluster, "--timeout", "180", config=config_path)
    assert code == 0, err
    echo = EchoServer()
    real_cluster.route(29092, echo.port)
    yield config_path
    echo.close()


def broker_streams(cluster: RealCluster, since: int) -> list[tuple[str | None, int]]:
    return [(e.name, e.code) for e in cluster.requests()[since:] if e.uri.endswith("/portforward?ports=29092")]


def test_three_brokers_get_9092_to_9094_on_loopback_each_to_its_own_pod(
    run_cli: RunCli, real_cluster: RealCluster, three_brokers: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert all(listening_addresses(port) == [] for port in PORTS)
    seen = len(real_cluster.requests())
    result, echoes = run_until_ctrl_c(
        run_cli, monkeypatch, ["--config", str(three_brokers), *real_cluster.args, "port-forward", "kafka"], PORTS
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "127.0.0.1:9092\n127.0.0.1:9093\n127.0.0.1:9094\n"
    assert echoes == [b"hello %d" % port for port in PORTS]
    ns = real_cluster.namespace
    for i, port in enumerate(PORTS):
        assert f"kafka: 127.0.0.1:{port} -> pod {ns}/kafka-{i}:host" in result.stderr
    assert broker_streams(real_cluster, seen) == [("kafka-0", 101), ("kafka-1", 101), ("kafka-2", 101)]
    assert all(listening_addresses(port) == [] for port in PORTS)  # Ctrl-C closed every listener


def test_one_busy_broker_port_opens_none_and_names_its_holder(
    run_cli: RunCli, real_cluster: RealCluster, three_brokers: Path
) -> None:
    with socket.create_server(("127.0.0.1", 9093)):
        result = run_cli("--config", str(three_brokers), *real_cluster.args, "port-forward", "kafka")
        assert listening_addresses(9092) == []  # the forward already listening on 9092 was closed again
        assert listening_addresses(9094) == []
    assert result.exit_code == 1
    assert result.stdout == ""
    first = result.stderr.splitlines()[0]
    assert first.startswith(f"error: port 9093 on 127.0.0.1 is already in use by pid {os.getpid()} (")
    assert "sent to localhost:9093 after bootstrap" in result.stderr


def test_commands_reach_all_three_brokers_in_process_and_close_after(
    real_cluster: RealCluster, three_brokers: Path
) -> None:
    ui.reset()
    settings = config.load_settings(
        config.GlobalOptions(config=three_brokers, context=real_cluster.context, namespace=real_cluster.namespace)
    )
    seen = len(real_cluster.requests())
    with forwarding.open_forward(settings, "kafka") as bootstrap:
        assert bootstrap == "127.0.0.1:9092"
        assert [listening_addresses(port) for port in PORTS] == [["0100007F"]] * 3
        for port in PORTS:
            with socket.create_connection(("127.0.0.1", port), timeout=30) as client:
                client.sendall(b"broker?")
                assert client.recv(7) == b"broker?"
    assert all(listening_addresses(port) == [] for port in PORTS)
    assert broker_streams(real_cluster, seen) == [("kafka-0", 101), ("kafka-1", 101), ("kafka-2", 101)]
