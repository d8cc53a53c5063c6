"""`port-forward kafka` with three brokers on exactly 127.0.0.1:9092-9094, run in a network namespace of its own.

The Kafka forwards cannot move (each broker advertises localhost:9092+i), so these tests bind the real ports.
On a shared machine something else may hold them, so `test_forward_kube.py` runs this file in a fresh
network namespace (`unshare --user --net`, loopback brought up), where 127.0.0.1 is the tests' alone; the
file refuses to run anywhere else (PLATFORMCTL_TEST_NETNS). Clients, listeners and bytes are real TCP; the
API server (pod resolution) is `FakeApiServer` and every stream comes from a fake
`kubernetes.stream.portforward` (no kubelet can run here), each pod an echo server.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import pytest

from platformctl import config, forward
from tests.conftest import RunCli
from tests.plugins.fake_portforward import FakeApiServer, FakePod, listening_addresses
from tests.test_forward_kube import broker_pod, platform, publish_pod, run_until_ctrl_c, streams

__all__ = ["platform", "streams"]  # fixtures, imported for this file's tests

NETNS = "PLATFORMCTL_TEST_NETNS"
if not os.environ.get(NETNS):
    pytest.skip("binds 127.0.0.1:9092-9094: run only in its own network namespace", allow_module_level=True)

pytestmark = pytest.mark.fake_k8s

PORTS = [9092, 9093, 9094]


@pytest.fixture
def three_brokers(platform: dict[str, Any], fake_api: FakeApiServer, tmp_path: Path) -> dict[str, Any]:
    """The platform with kafka.brokers 3: pods kafka-0..2 ready, each an echo server of its own."""
    for i, uid in ((1, "u4"), (2, "u5")):
        publish_pod(fake_api, broker_pod(f"kafka-{i}", uid))
        platform["streams"].pods[f"kafka-{i}"] = FakePod(f"kafka-{i}", uid)
    (tmp_path / "platformctl.yaml").write_text("kafka:\n  brokers: 3\n")
    return platform


def test_three_brokers_get_9092_to_9094_on_loopback_each_to_its_own_pod(
    run_cli: RunCli, three_brokers: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert all(listening_addresses(port) == [] for port in PORTS)
    result, echoes = run_until_ctrl_c(
        run_cli, monkeypatch, ["--config", str(tmp_path / "platformctl.yaml"), "port-forward", "kafka"], PORTS
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "127.0.0.1:9092\n127.0.0.1:9093\n127.0.0.1:9094\n"
    assert echoes == [b"hello %d" % port for port in PORTS]
    for i, port in enumerate(PORTS):
        assert f"kafka: 127.0.0.1:{port} -> pod dev/kafka-{i}:host" in result.stderr
    # One stream per connection, each to its own broker's HOST listener (container port 39092 in the pods).
    calls = [(pod, port) for _, pod, _, port in three_brokers["streams"].calls]
    assert calls == [("kafka-0", "39092"), ("kafka-1", "39092"), ("kafka-2", "39092")]
    assert [three_brokers["streams"].pods[f"kafka-{i}"].accepted for i in range(3)] == [1, 1, 1]
    assert all(listening_addresses(port) == [] for port in PORTS)  # Ctrl-C closed every listener


def test_one_busy_broker_port_opens_none_and_names_its_holder(
    run_cli: RunCli, three_brokers: dict[str, Any], tmp_path: Path
) -> None:
    with socket.create_server(("127.0.0.1", 9093)):
        result = run_cli("--config", str(tmp_path / "platformctl.yaml"), "port-forward", "kafka")
        assert listening_addresses(9092) == []  # the forward already opened on 9092 was closed again
        assert listening_addresses(9094) == []
    assert result.exit_code == 1
    assert result.stdout == ""
    first = result.stderr.splitlines()[0]
    assert first.startswith(f"error: port 9093 on 127.0.0.1 is already in use by pid {os.getpid()} (")
    assert "sent to localhost:9093 after bootstrap" in result.stderr


def test_commands_reach_all_three_brokers_in_process_and_close_after(
    three_brokers: dict[str, Any], tmp_path: Path
) -> None:
    settings = config.load_settings(config.GlobalOptions(config=tmp_path / "platformctl.yaml"))
    with forward.open_forward(settings, "kafka") as bootstrap:
        assert bootstrap == "127.0.0.1:9092"
        assert [listening_addresses(port) for port in PORTS] == [["0100007F"]] * 3
        for port in PORTS:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
                client.sendall(b"broker?")
                assert client.recv(7) == b"broker?"
    assert all(listening_addresses(port) == [] for port in PORTS)
