"""Faults with the real components: Apache Kafka or etcd killed (SIGKILL) or frozen before, during or after a run.

Each fault must end the command with ONE `error:` line, exit code 1 and no traceback, leave no lock
behind that outlives its lease, and a re-run once the component is back must converge: every topic with
its configs, every applied record, nothing twice, and a further re-run that sends nothing (requests are
counted on the wire, `kafka_wire`).

Kafka keeps its log directory across a restart, as a broker does: after a broker fault the re-run finds
what Kafka accepted before it died and sends only the rest. etcd keeps its data dir too, so after an etcd
fault the re-run finds what was written before the kill.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from platformctl.adapters import etcd
from platformctl.adapters.kafka import Admin
from platformctl.topics import lock as etcdlock
from platformctl.topics.records import APPLIED, INTENT
from platformctl.topics.records import read as read_records
from tests.conftest import RunCli
from tests.kafkawire import Request, Wire
from tests.plugins.etcd import EtcdServer
from tests.plugins.kafka import KafkaCalls, KafkaCluster

TOPICS = """\
topics:
  - {name: fault-a, partitions: 2, replication-factor: 1, config: {retention.ms: 60000, cleanup.policy: delete}}
  - {name: fault-b, partitions: 3, replication-factor: 1, config: {cleanup.policy: compact}}
"""
EXPECTED = {
    "fault-a": (2, {"retention.ms": "60000", "cleanup.policy": "delete"}),
    "fault-b": (3, {"cleanup.policy": "compact"}),
}


def kill_etcd(server: EtcdServer) -> None:
    assert server.process is not None
    os.kill(server.process.pid, signal.SIGKILL)
    server.process.wait()
    server.process = None


@contextlib.contextmanager
def etcd_back(server: EtcdServer) -> Iterator[None]:
    """Whatever the test does, the session etcd runs again afterwards (same port, same data)."""
    try:
        yield
    finally:
        if server.process is None:
            server.start()


def errors(result: Result) -> list[str]:
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def cluster(broker: KafkaCluster) -> dict[str, tuple[int, dict[str, str]]]:
    state = Admin(broker.bootstrap, timeout=5).describe(list(EXPECTED))
    return {name: (t.partitions, dict(t.config)) for name, t in state.topics.items()}


@pytest.fixture
def apply(run_cli: RunCli, own_kafka: KafkaCluster, etcd_endpoint: str, etcd_env: str, tmp_path: Path) -> Any:
    """`platformctl --env <fresh> topics apply TOPICS --yes` against this test's broker and the session etcd,
    with a 2 s Kafka request timeout so a dead broker fails fast."""
    settings = tmp_path / "platformctl.yaml"
    settings.write_text("kafka:\n  request-timeout: 2\n")
    path = tmp_path / "topics.yaml"
    path.write_text(TOPICS)

    def run() -> Result:
        return run_cli(
            "--config", str(settings), "--env", etcd_env, "topics", "apply", str(path), "--yes",
            "--bootstrap-server", own_kafka.bootstrap, "--etcd-endpoint", etcd_endpoint,
        )  # fmt: skip

    return run


def converged(
    apply: Any, broker: KafkaCluster, store: etcd.EtcdStore, env: str, wire: Wire, resent: list[str]
) -> None:
    """The re-run sends exactly `resent` (what Kafka had not accepted) and converges; the next sends nothing."""
    broker.wire.before.clear()
    wire.clear()
    rerun = apply()
    assert rerun.exit_code == 0, rerun.stderr
    assert wire.mutating == resent
    assert cluster(broker) == EXPECTED
    assert {name: r.state for name, r in read_records(store, env).items()} == {n: APPLIED for n in EXPECTED}
    assert store.get(etcd.lock_key(env)) is None
    wire.clear()
    again = apply()
    assert again.exit_code == 0, again.stderr
    assert wire.mutating == []


def test_broker_down_before_apply(
    apply: Any, own_kafka: KafkaCluster, kafka_wire: Wire, etcd_endpoint: str, etcd_env: str
) -> None:
    store = etcd.EtcdStore(etcd_endpoint)
    own_kafka.kill()
    result = apply()
    assert result.exit_code == 1
    [line] = errors(result)
    assert line.startswith(f"error: cannot reach Kafka at {own_kafka.bootstrap}: ")
    assert kafka_wire.names() == []  # nothing reached a broker
    assert read_records(store, etcd_env) == {} and store.get(etcd.lock_key(etcd_env)) is None

    own_kafka.start()
    converged(apply, own_kafka, store, etcd_env, kafka_wire, ["CreateTopics"])


def test_broker_killed_while_the_create_is_in_flight(
    apply: Any, own_kafka: KafkaCluster, kafka_wire: Wire, etcd_endpoint: str, etcd_env: str
) -> None:
    store = etcd.EtcdStore(etcd_endpoint)

    # Killed when the CreateTopics request (not the dry run before it) reached the wire, before the broker
    # had all of it (once).
    def kill(request: Request) -> None:
        if request.validate_only:
            return
        own_kafka.wire.before.clear()
        own_kafka.kill()

    own_kafka.wire.before["CreateTopics"] = kill
    result = apply()
    assert result.exit_code == 1
    [line] = errors(result)
    assert line.startswith(f"error: lost Kafka at {own_kafka.bootstrap} while creating topic "), line
    assert kafka_wire.mutating == ["CreateTopics"]
    # Every topic was recorded ahead as an intent, and stays one: Kafka never had the request.
    assert {name: r.state for name, r in read_records(store, etcd_env).items()} == dict.fromkeys(EXPECTED, INTENT)
    assert store.get(etcd.lock_key(etcd_env)) is None  # the lock was released

    own_kafka.start()
    assert cluster(own_kafka) == {}
    converged(apply, own_kafka, store, etcd_env, kafka_wire, ["CreateTopics"])


def test_broker_killed_after_it_accepted_the_create(
    apply: Any, own_kafka: KafkaCluster, kafka_calls: KafkaCalls, kafka_wire: Wire, etcd_endpoint: str,
    etcd_env: str,
) -> None:  # fmt: skip
    store = etcd.EtcdStore(etcd_endpoint)

    def accepted_then_killed(futures: Any) -> None:
        for future in futures.values():
            future.result()
        own_kafka.kill()

    kafka_calls.after["create_topics"] = accepted_then_killed
    result = apply()
    assert result.exit_code == 1
    [line] = errors(result)
    assert own_kafka.bootstrap in line, line
    assert store.get(etcd.lock_key(etcd_env)) is None

    # Kafka kept the topics it acknowledged (its log survived the SIGKILL): the re-run sends nothing to
    # Kafka and completes the records.
    kafka_calls.after.clear()
    own_kafka.start()
    assert cluster(own_kafka) == EXPECTED
    converged(apply, own_kafka, store, etcd_env, kafka_wire, [])

    # And once more after a successful apply: the broker dies between two runs.
    own_kafka.kill()
    down = apply()
    assert down.exit_code == 1 and len(errors(down)) == 1
    own_kafka.start()
    converged(apply, own_kafka, store, etcd_env, kafka_wire, [])


def test_broker_frozen_mid_apply_times_out_in_one_line(
    apply: Any, own_kafka: KafkaCluster, kafka_wire: Wire, etcd_endpoint: str, etcd_env: str
) -> None:
    """A broker that stops answering (SIGSTOP: alive, port open, silent) costs the request timeout, once."""
    store = etcd.EtcdStore(etcd_endpoint)
    [node] = own_kafka.nodes
    assert node.process is not None
    pid = node.process.pid

    def freeze(request: Request) -> None:
        if request.validate_only:
            return
        own_kafka.wire.before.clear()
        os.kill(pid, signal.SIGSTOP)

    own_kafka.wire.before["CreateTopics"] = freeze
    try:
        started = time.monotonic()
        result = apply()
        took = time.monotonic() - started
    finally:
        os.kill(pid, signal.SIGCONT)
    assert result.exit_code == 1
    [line] = errors(result)
    assert line.startswith(f"error: lost Kafka at {own_kafka.bootstrap} while creating topic "), line
    assert "Timed out" in line, line
    assert took < 60, took  # bounded by the 2 s request timeout, not by librdkafka's defaults
    assert store.get(etcd.lock_key(etcd_env)) is None
    # The frozen broker got the whole request and acts on it once it runs again: the re-run finds
    # whatever it did and sends only the rest.
    own_kafka.wire.before.clear()
    own_kafka.wait_ready()
    kafka_wire.clear()
    rerun = apply()
    assert rerun.exit_code == 0, rerun.stderr
    assert set(kafka_wire.mutating) <= {"CreateTopics"}
    assert cluster(own_kafka) == EXPECTED
    kafka_wire.clear()
    assert apply().exit_code == 0
    assert kafka_wire.mutating == []


def test_etcd_killed_during_overrides_set(
    run_cli: RunCli, etcd_server: EtcdServer, etcd_endpoint: str, etcd_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = etcd.EtcdStore(etcd_endpoint)
    key = etcd.topic_key(etcd_env, "fault-a")
    args = ("--env", etcd_env, "overrides", "set", "fault-a", "partitions=4", "retention.ms=60000",
            "--etcd-endpoint", etcd_endpoint)  # fmt: skip
    write = etcd.EtcdStore.write

    def killed_before_the_write(self: etcd.EtcdStore, writes: Any) -> int:
        kill_etcd(etcd_server)  # after the read, before the compare-and-swap
        return write(self, writes)

    with etcd_back(etcd_server):
        monkeypatch.setattr(etcd.EtcdStore, "write", killed_before_the_write)
        result = run_cli(*args)
        monkeypatch.undo()
        assert result.exit_code == 1
        assert errors(result) == [f"error: etcd at {etcd_endpoint} is unreachable"]

    assert store.get(key) is None  # the write never happened
    rerun = run_cli(*args)
    assert rerun.exit_code == 0, rerun.stderr
    entry = store.get(key)
    assert entry is not None and entry.value == {"partitions": 4, "config": {"retention.ms": "60000"}}
    again = run_cli(*args)
    assert again.exit_code == 0 and "nothing to change" in again.stderr
    assert store.get(key) == entry  # same revision: not written twice


def _short_lock(monkeypatch: pytest.MonkeyPatch, ttl: int) -> None:
    """The environment lock with a short lease, so a lock orphaned by the fault expires within the test."""
    lock = etcdlock.hold

    def short(self: etcd.EtcdStore, env: str, **kwargs: Any) -> Any:
        return lock(self, env, **{**kwargs, "ttl": ttl})

    monkeypatch.setattr(etcdlock, "hold", short)


def test_etcd_killed_during_apply_holding_the_lock(
    apply: Any, own_kafka: KafkaCluster, kafka_calls: KafkaCalls, kafka_wire: Wire, etcd_server: EtcdServer,
    etcd_endpoint: str,
    etcd_env: str, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    store = etcd.EtcdStore(etcd_endpoint)
    _short_lock(monkeypatch, ttl=2)
    held: list[Any] = []

    def kill_etcd_mid_apply(futures: Any) -> None:
        held.append(store.get(etcd.lock_key(etcd_env)))
        kill_etcd(etcd_server)

    with etcd_back(etcd_server):
        kafka_calls.after["create_topics"] = kill_etcd_mid_apply
        result = apply()
        assert result.exit_code == 1
        [line] = errors(result)
        assert line.startswith(
            "error: applied to Kafka, but could not update the applied records in etcd for fault-a "
            f"(etcd at {etcd_endpoint} is unreachable) and 1 more"
        ), line
    assert held[0] is not None and held[0].value["purpose"] == "topics apply"
    assert cluster(own_kafka) == EXPECTED  # Kafka's part was done and is kept

    # The lock could not be released while etcd was down; its lease runs out on its own (TTL 2 s here,
    # 30 s by default), so no lock is left behind for good. (The re-run needs it: it has nothing to change
    # on Kafka, but the records left as intents to complete in etcd.)
    deadline = time.monotonic() + 30
    while store.get(etcd.lock_key(etcd_env)) is not None:
        assert time.monotonic() < deadline, "the orphaned lock never expired"
        time.sleep(0.2)
    kafka_calls.after.clear()
    kafka_wire.clear()
    rerun = apply()
    assert rerun.exit_code == 0, rerun.stderr
    assert kafka_wire.mutating == []  # nothing left to do on Kafka, nothing done twice
    assert cluster(own_kafka) == EXPECTED
    assert {name: r.state for name, r in read_records(store, etcd_env).items()} == {n: APPLIED for n in EXPECTED}
    assert store.get(etcd.lock_key(etcd_env)) is None


def test_applied_records_lost_to_an_etcd_outage_come_back_on_rerun(
    apply: Any, own_kafka: KafkaCluster, kafka_calls: KafkaCalls, kafka_wire: Wire, etcd_server: EtcdServer,
    etcd_endpoint: str,
    etcd_env: str, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    store = etcd.EtcdStore(etcd_endpoint)
    _short_lock(monkeypatch, ttl=2)
    with etcd_back(etcd_server):
        kafka_calls.after["create_topics"] = lambda futures: kill_etcd(etcd_server)
        assert apply().exit_code == 1
    # The intents written before Kafka was contacted survived the outage; the applied marks did not.
    intents = read_records(store, etcd_env)
    assert {name: r.state for name, r in intents.items()} == {n: INTENT for n in EXPECTED}
    deadline = time.monotonic() + 30
    while store.get(etcd.lock_key(etcd_env)) is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    kafka_calls.after.clear()
    kafka_wire.clear()
    rerun = apply()
    assert rerun.exit_code == 0, rerun.stderr
    assert kafka_wire.mutating == []  # nothing to change on Kafka: only the records are completed
    assert "nothing to change on Kafka" in rerun.stderr
    for name in EXPECTED:
        assert (
            f"recorded {name} as applied (its record was left as an intent by an earlier run; the topic is on "
            "Kafka as planned)" in rerun.stdout
        )
    records = read_records(store, etcd_env)
    assert sorted(records) == sorted(EXPECTED)
    for name, record in records.items():
        assert record.state == APPLIED
        assert record.spec == intents[name].spec
        assert record.plan_digest == intents[name].plan_digest  # the plan that made the change
        assert record.intended_at == intents[name].intended_at
    assert store.get(etcd.lock_key(etcd_env)) is None

    # Settled: a further run has nothing to do on Kafka or in etcd.
    again = apply()
    assert again.exit_code == 0 and "recorded" not in again.stdout
    assert read_records(store, etcd_env) == records
