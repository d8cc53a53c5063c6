"""The write-ahead records of `topics apply` (real etcd and Apache Kafka).

Under the environment lock, before anything is sent to Kafka, `topics apply` writes an intent record for
every topic it is about to create or change (one etcd transaction per 128); once Kafka accepted a topic
its record is marked applied. A record left as an intent is completed by a later run that finds the topic
on Kafka as planned (even with nothing to change on Kafka), replaced by the next apply's intent when the
topic was never created, or removed once such a topic left the files. `--prune` treats intent and applied
records alike as managed, and never touches a topic with no record.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from platformctl.adapters import etcd
from platformctl.adapters.kafka import Admin, NewTopicRequest
from platformctl.errors import PlatformError
from platformctl.topics import lock as etcdlock
from platformctl.topics.records import APPLIED, INTENT, Record, intent_record
from platformctl.topics.records import read as read_records
from tests.conftest import RunCli
from tests.kafkawire import Wire
from tests.plugins.etcd import EtcdServer
from tests.plugins.kafka import KafkaCalls, KafkaCluster


class Env:
    """One test's environment: a fresh etcd env, topic names of its own on the session broker."""

    def __init__(self, run_cli: RunCli, kafka: KafkaCluster, endpoint: str, env: str, tmp_path: Path) -> None:
        self.run_cli = run_cli
        self.kafka = kafka
        self.endpoint = endpoint
        self.env = env
        self.tmp_path = tmp_path
        self.store = etcd.EtcdStore(endpoint)

    def name(self, suffix: str) -> str:
        return f"{self.env}-{suffix}"

    def file(self, *suffixes: str, retention: int = 60000) -> Path:
        path = self.tmp_path / f"{'-'.join(suffixes)}-{retention}.yaml"
        body = "".join(
            f"  - {{name: {self.name(s)}, partitions: 1, replication-factor: 1, "
            f"config: {{retention.ms: {retention}}}}}\n"
            for s in suffixes
        )
        path.write_text("topics:\n" + body)
        return path

    def cli(self, command: str, path: Path, *extra: str) -> Result:
        return self.run_cli(
            "--env", self.env, "topics", command, str(path), "--bootstrap-server", self.kafka.bootstrap,
            "--etcd-endpoint", self.endpoint, *extra,
        )  # fmt: skip

    def apply(self, path: Path, *extra: str) -> Result:
        return self.cli("apply", path, "--yes", *extra)

    def states(self) -> dict[str, str]:
        return {name: r.state for name, r in read_records(self.store, self.env).items()}

    def on_kafka(self) -> frozenset[str]:
        names = Admin(self.kafka.bootstrap, timeout=5).describe([]).names
        return frozenset(n for n in names if n.startswith(f"{self.env}-"))

    def intent(self, suffix: str) -> None:
        """An intent record exactly as `topics apply` writes it, as if the run had stopped right after."""
        name = self.name(suffix)
        spec = {"partitions": 1, "replication-factor": 1, "config": {"retention.ms": "60000"}}
        record = intent_record(name, spec, "0123456789abcdef")
        self.store.put(etcd.applied_key(self.env, name), record, expect_revision=0)


@pytest.fixture
def env(run_cli: RunCli, kafka: KafkaCluster, etcd_endpoint: str, etcd_env: str, tmp_path: Path) -> Env:
    return Env(run_cli, kafka, etcd_endpoint, etcd_env, tmp_path)


def errors(result: Result) -> list[str]:
    assert "Traceback" not in result.stderr, result.stderr
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


@pytest.fixture
def txns(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The keys of every etcd transaction `EtcdStore.write` sends, in order; a key written without the
    lock's fence (none of platformctl's records may be) is marked `unfenced:`."""
    sent: list[list[str]] = []
    write = etcd.EtcdStore.write

    def recording(self: etcd.EtcdStore, writes: Any, *, fence: etcd.Fence | None = None) -> int:
        fenced = fence is not None and fence.key == etcd.lock_key(fence.env)
        sent.append([w.key if fenced else f"unfenced:{w.key}" for w in writes])
        return write(self, writes, fence=fence)

    monkeypatch.setattr(etcd.EtcdStore, "write", recording)
    return sent


def _leave_intents(env: Env, path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Apply `path` with etcd failing every applied mark: Kafka has the topics, their records stay intents."""

    def etcd_fails(*args: Any, **kwargs: Any) -> None:
        raise PlatformError(f"etcd at {env.endpoint} failed: injected")

    write = etcd.EtcdStore.write

    def marks_fail(self: etcd.EtcdStore, writes: Any, **kwargs: Any) -> int:
        if all(w.value is not None and w.value.get("state") == APPLIED for w in writes):
            etcd_fails()
        return write(self, writes, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(etcd.EtcdStore, "write", marks_fail)
        result = env.apply(path)
    assert result.exit_code == 1
    [line] = errors(result)
    assert line.startswith("error: applied to Kafka, but could not update the applied records in etcd"), line


def test_intents_are_in_etcd_before_kafka_is_asked_then_marked_applied(
    env: Env, kafka_calls: KafkaCalls, txns: list[list[str]]
) -> None:
    path = env.file("a", "b", "c")
    names = [env.name(s) for s in ("a", "b", "c")]
    seen: list[dict[str, Record]] = []
    kafka_calls.after["create_topics"] = lambda futures: seen.append(read_records(env.store, env.env))
    digest = json.loads(env.cli("plan", path, "--output", "json").stdout)["digest"]

    result = env.apply(path)
    assert result.exit_code == 0, result.stderr
    # When CreateTopics went out, every topic's intent was already in etcd, with the spec and the plan.
    [at_create] = seen
    assert {n: r.state for n, r in at_create.items()} == dict.fromkeys(names, INTENT)
    assert at_create[names[0]].spec == {"partitions": 1, "replication-factor": 1, "config": {"retention.ms": "60000"}}
    assert {r.plan_digest for r in at_create.values()} == {digest}
    # All the intents in one transaction, compare-and-swap as absent; then the applied marks in another.
    keys = [etcd.applied_key(env.env, n) for n in names]
    assert txns == [keys, keys]

    records = read_records(env.store, env.env)
    assert {n: r.state for n, r in records.items()} == dict.fromkeys(names, APPLIED)
    for name in names:
        assert records[name].spec == at_create[name].spec
        assert records[name].plan_digest == digest
        assert records[name].intended_at == at_create[name].intended_at
        assert records[name].applied_at >= records[name].intended_at

    # A change writes an intent over the applied record too (compare-and-swap on its revision).
    txns.clear()
    seen.clear()
    kafka_calls.after["incremental_alter_configs"] = lambda futures: seen.append(read_records(env.store, env.env))
    changed = env.apply(env.file("a", retention=120000))
    assert changed.exit_code == 0, changed.stderr
    assert txns == [[etcd.applied_key(env.env, names[0])]] * 2
    [at_alter] = seen
    assert at_alter[names[0]].state == INTENT
    assert at_alter[names[0]].spec["config"] == {"retention.ms": "120000"}
    assert env.states() == dict.fromkeys(names, APPLIED)
    assert read_records(env.store, env.env)[names[0]].spec["config"] == {"retention.ms": "120000"}


def test_intents_and_applied_marks_beyond_etcd_max_txn_ops_go_in_chunks(
    env: Env, txns: list[list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Three operations per transaction: the fence's comparison and two records. (Before, the applied
    # marks went one PUT per topic: 10,000 topics, 10,000 requests.)
    monkeypatch.setattr(etcd, "MAX_TXN_OPS", 3)
    names = [env.name(s) for s in ("a", "b", "c")]
    result = env.apply(env.file("a", "b", "c"))
    assert result.exit_code == 0, result.stderr
    keys = [etcd.applied_key(env.env, n) for n in names]
    # Intents, then applied marks; within each step the transactions go side by side (either may be sent first).
    assert len(txns) == 4
    assert sorted(txns[:2]) == sorted(txns[2:]) == [keys[:2], keys[2:]]
    assert env.states() == dict.fromkeys(names, APPLIED)


@pytest.mark.parametrize("how", ["stopped", "killed"])
def test_etcd_gone_before_the_intents_are_written_nothing_reaches_kafka(
    env: Env, how: str, kafka_wire: Wire, etcd_server: EtcdServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The lock is taken (so etcd was there after the plan); etcd goes away right before the intents.
    lock = etcdlock.hold
    monkeypatch.setattr(etcdlock, "hold", lambda store, name, **kw: lock(store, name, **{**kw, "ttl": 2}))
    write_chunked = etcd.EtcdStore.write_chunked

    def etcd_goes_away(self: etcd.EtcdStore, writes: Any, **kwargs: Any) -> list[int]:
        if how == "stopped":
            etcd_server.stop()
        else:
            assert etcd_server.process is not None
            etcd_server.process.kill()
            etcd_server.process.wait()
            etcd_server.process = None
        return write_chunked(self, writes, **kwargs)

    path = env.file("a", "b")
    try:
        with monkeypatch.context() as patch:
            patch.setattr(etcd.EtcdStore, "write_chunked", etcd_goes_away)
            result = env.apply(path)
    finally:
        if etcd_server.process is None:
            etcd_server.start()
    assert result.exit_code == 1
    assert errors(result) == [
        f"error: could not write the intent records to etcd, so nothing was sent to Kafka: etcd at "
        f"{env.endpoint} is unreachable"
    ]
    assert kafka_wire.mutating == []
    assert env.on_kafka() == frozenset()
    assert env.states() == {}

    # Once the orphaned lock expired, a re-run applies everything and records it.
    rerun = _apply_when_unlocked(env, path)
    assert rerun.exit_code == 0, rerun.stderr
    assert kafka_wire.mutating == ["CreateTopics"]
    assert env.states() == {env.name("a"): APPLIED, env.name("b"): APPLIED}


def _apply_when_unlocked(env: Env, path: Path, *extra: str) -> Result:
    import time

    deadline = time.monotonic() + 30
    while env.store.get(etcd.lock_key(env.env)) is not None:
        assert time.monotonic() < deadline, "the orphaned lock never expired"
        time.sleep(0.2)
    return env.apply(path, *extra)


def test_a_rerun_with_nothing_to_change_on_kafka_completes_the_intents(
    env: Env, kafka_wire: Wire, etcd_server: EtcdServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = env.file("a", "b")
    names = [env.name("a"), env.name("b")]
    _leave_intents(env, path, monkeypatch)
    assert env.on_kafka() == frozenset(names)
    intents = read_records(env.store, env.env)
    assert {n: r.state for n, r in intents.items()} == dict.fromkeys(names, INTENT)

    # `plan` says what apply will complete, and writes nothing.
    before = read_records(env.store, env.env)
    plan = env.cli("plan", path)
    assert plan.exit_code == 0, plan.stderr
    assert (
        f"etcd: 2 record(s) left as intents by an earlier run ({', '.join(names)}); `topics apply` "
        "completes or removes them" in plan.stderr
    )
    assert read_records(env.store, env.env) == before

    kafka_wire.clear()
    rerun = env.cli("apply", path, "--output", "json")  # no --yes: nothing for Kafka, so nothing to confirm
    assert rerun.exit_code == 0, rerun.stderr
    assert kafka_wire.mutating == []
    out = json.loads(rerun.stdout)
    assert out["records"] == {"completed": names, "removed": []}
    assert out["applied"]["created"] == []
    records = read_records(env.store, env.env)
    assert {n: r.state for n, r in records.items()} == dict.fromkeys(names, APPLIED)
    for name in names:
        assert records[name].spec == intents[name].spec
        assert records[name].plan_digest == intents[name].plan_digest
        assert records[name].intended_at == intents[name].intended_at
    raw = env.store.get(etcd.applied_key(env.env, names[0]))
    assert raw is not None and raw.value["recovered"] is True
    assert env.store.get(etcd.lock_key(env.env)) is None  # taken for the write, released

    again = env.apply(path)
    assert again.exit_code == 0
    assert "nothing to change" in again.stderr and "recorded" not in again.stdout
    assert read_records(env.store, env.env) == records  # same revisions: nothing written


def test_an_intent_whose_topic_was_never_created_is_replaced_or_removed(
    env: Env, kafka_wire: Wire, txns: list[list[str]]
) -> None:
    env.intent("again")  # still in the files: the next apply's intent replaces it
    env.intent("gone")  # no longer in the files: removed
    path = env.file("again")
    txns.clear()

    result = env.apply(path)
    assert result.exit_code == 0, result.stderr
    assert kafka_wire.mutating == ["CreateTopics"]
    assert f"created {env.name('again')}" in result.stdout
    assert (
        f"removed the intent record of {env.name('gone')} (never created on Kafka, no longer in the files)"
        in result.stdout
    )
    assert env.states() == {env.name("again"): APPLIED}
    assert env.on_kafka() == frozenset({env.name("again")})
    # Before Kafka, in one transaction: the new intent (compare-and-swap on the orphan's revision) and the
    # removal; after it, the applied mark.
    again = etcd.applied_key(env.env, env.name("again"))
    assert txns == [[again, etcd.applied_key(env.env, env.name("gone"))], [again]]

    # With nothing to change on Kafka, an orphan is still removed (under the lock), and said so.
    env.intent("later")
    kafka_wire.clear()
    quiet = env.apply(path)
    assert quiet.exit_code == 0, quiet.stderr
    assert kafka_wire.mutating == []
    assert "nothing to change on Kafka" in quiet.stderr
    assert f"removed the intent record of {env.name('later')}" in quiet.stdout
    assert env.states() == {env.name("again"): APPLIED}


def test_prune_treats_an_intent_record_as_managed(
    env: Env, kafka_wire: Wire, monkeypatch: pytest.MonkeyPatch
) -> None:
    keep, doomed, foreign = env.name("keep"), env.name("doomed"), env.name("foreign")
    env.apply(env.file("keep"))
    _leave_intents(env, env.file("doomed"), monkeypatch)  # on Kafka, its record an intent
    Admin(env.kafka.bootstrap, timeout=5).create_topics([NewTopicRequest(foreign, 1, 1, {})])  # no record
    env.intent("orphan")  # an intent for a topic that is not on Kafka
    assert env.states() == {keep: APPLIED, doomed: INTENT, env.name("orphan"): INTENT}

    plan = env.cli("plan", env.file("keep"), "--prune")
    assert f"- {doomed}  delete: platformctl applied it, and it is no longer in the files (--prune)\n" in plan.stdout
    assert foreign not in plan.stdout

    kafka_wire.clear()
    pruned = env.apply(env.file("keep"), "--prune")
    assert pruned.exit_code == 0, pruned.stderr
    assert kafka_wire.mutating == ["DeleteTopics"]
    assert f"deleted {doomed}" in pruned.stdout
    assert f"removed the intent record of {env.name('orphan')}" in pruned.stdout
    assert env.on_kafka() == frozenset({keep, foreign})  # the topic with no record is never touched
    assert env.states() == {keep: APPLIED}


def test_a_record_without_a_state_is_applied(env: Env) -> None:
    """Records written before intents existed have no `state`: they are applied, and stay as they are."""
    path = env.file("old")
    assert env.apply(path).exit_code == 0
    name = env.name("old")
    key = etcd.applied_key(env.env, name)
    entry = env.store.get(key)
    assert entry is not None
    legacy = {k: v for k, v in entry.value.items() if k not in ("state", "intended-at")}
    env.store.put(key, legacy, expect_revision=entry.mod_revision)
    record = read_records(env.store, env.env)[name]
    assert (record.state, record.intended_at) == (APPLIED, "")

    again = env.apply(path)
    assert again.exit_code == 0 and "nothing to change" in again.stderr
    assert read_records(env.store, env.env)[name] == record  # not rewritten


@pytest.fixture(autouse=True)
def _etcd_running(etcd_server: EtcdServer) -> Iterator[None]:
    yield
    if etcd_server.process is None:
        etcd_server.start()
