"""Ctrl-C stops a command at once, even while Kafka does not answer, and how long Kafka may take is settable
(`--broker-timeout`, PLATFORMCTL_BROKER_TIMEOUT, `kafka.request-timeout`).

The broker is Apache Kafka 4.2 (tests/plugins/kafka.py) frozen with SIGSTOP: it accepts connections (its
listener's backlog, and the test relay in front of it) and answers nothing, as a broker stuck in a long GC
pause or on a dead host behind a live proxy does. The command runs as a real process, so SIGINT is a real
signal. The waits below are generous bounds, far below the broker timeout the command was given: the old
behaviour (Ctrl-C honoured only when librdkafka's metadata call returned) cannot meet them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.plugins.kafka import KafkaCluster


@pytest.fixture
def frozen_kafka(own_kafka: KafkaCluster) -> Iterator[KafkaCluster]:
    """A broker that accepted this test's topics once, then froze (SIGSTOP); thawed again at the end."""
    [node] = own_kafka.nodes
    assert node.process is not None
    os.kill(node.process.pid, signal.SIGSTOP)
    try:
        yield own_kafka
    finally:
        os.kill(node.process.pid, signal.SIGCONT)


def _plan(kafka: KafkaCluster, tmp_path: Path, *extra: str) -> subprocess.Popen[str]:
    path = tmp_path / "t.yaml"
    path.write_text("topic: {name: frozen, partitions: 1, replication-factor: 1}\n")
    argv = [sys.executable, "-m", "platformctl", "topics", "plan", str(path), "--no-overrides",
            "--bootstrap-server", kafka.bootstrap, *extra]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLATFORMCTL_")}
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)


def test_ctrl_c_while_kafka_does_not_answer_stops_at_once(frozen_kafka: KafkaCluster, tmp_path: Path) -> None:
    command = _plan(frozen_kafka, tmp_path, "--broker-timeout", "300")
    assert command.stderr is not None
    # The command is waiting for Kafka once it said so (the line is printed before the request).
    while "reading 1 topic(s) from Kafka" not in command.stderr.readline():
        assert command.poll() is None
    command.send_signal(signal.SIGINT)
    try:
        code = command.wait(timeout=60)
    finally:
        command.kill()
    assert code == 130
    rest = command.stderr.read()  # progress lines may still precede it
    assert rest.endswith("error: interrupted\n") and "Traceback" not in rest
    assert command.stdout is not None and command.stdout.read() == ""


def test_the_broker_timeout_flag_wins_over_the_settings(frozen_kafka: KafkaCluster, tmp_path: Path) -> None:
    (tmp_path / "platformctl.yaml").write_text("kafka:\n  request-timeout: 300\n")
    command = _plan(frozen_kafka, tmp_path, "--broker-timeout", "1")
    try:
        out, err = command.communicate(timeout=60)
    finally:
        command.kill()
    assert (command.returncode, out) == (1, "")
    assert f"error: cannot reach Kafka at {frozen_kafka.bootstrap}: " in err


def test_a_bad_broker_timeout_is_bad_input(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from platformctl.cli import app

    path = tmp_path / "t.yaml"
    path.write_text("topic: {name: t, partitions: 1, replication-factor: 1}\n")
    bounds = (("0", "Input should be greater than 0"), ("301", "Input should be less than or equal to 300"))
    for value, message in bounds:
        result = CliRunner().invoke(app, ["topics", "plan", str(path), "--no-overrides", "--broker-timeout", value])
        assert result.exit_code == 2
        assert result.stderr.splitlines()[0] == (
            f"error: command line: --broker-timeout / PLATFORMCTL_BROKER_TIMEOUT: {message}"
        )
