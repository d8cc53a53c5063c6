"""What keeps `topics plan/apply` linear in the number of topics, and its requests within what the
systems accept (real etcd and Kafka broker; the planning counts are pure code).

Costs are checked by counting the work (calls, requests), never by timing: bench/topics_scale.py
measures the times.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from platformctl.adapters import etcd
from platformctl.adapters import kafka as adapter
from platformctl.adapters.kafka import ClusterState, NewTopicRequest, TopicState
from platformctl.errors import PlatformError
from platformctl.topics import lock as etcdlock
from platformctl.topics import plan as topicplan
from platformctl.topics import spec as topicspec
from platformctl.topics.provenance import Source
from platformctl.topics.spec import TopicSpec
from tests.conftest import RunCli
from tests.plugins.kafka import KafkaCalls, KafkaCluster


def spec(name: str) -> TopicSpec:
    source = Source("file", "t.yaml:1")
    return TopicSpec(
        name=name,
        partitions=1,
        replication_factor=1,
        config={},
        sources={"partitions": source, "replication-factor": source},
        path="t.yaml",
        line=1,
    )


def test_planning_new_topics_looks_each_name_up_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # 200 new topics against 300 on the cluster: the collision check used to compare every new name with
    # every cluster name (2 x 200 x 300 collision keys); now each name is keyed once.
    existing = [f"old.{i}" for i in range(300)]
    cluster = ClusterState("c", 1, {}, frozenset(existing))
    calls: list[str] = []
    key = topicspec.collision_key

    def counting(name: str) -> str:
        calls.append(name)
        return key(name)

    monkeypatch.setattr(topicspec, "collision_key", counting)
    plan = topicplan.plan([spec(f"new-{i}") for i in range(199)] + [spec("old_7")], cluster)
    assert len(calls) == 300 + 200
    assert plan.counts()["create"] == 199
    [clash] = plan.blocked  # and a collision is still found
    assert clash.name == "old_7" and "collides with existing topic 'old.7'" in (clash.changes[0].reason or "")


def test_existing_topics_need_no_collision_index(monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = ClusterState("c", 1, {"a": TopicState("a", 1, 1, {})}, frozenset({"a", *[f"x{i}" for i in range(50)]}))
    monkeypatch.setattr(topicspec, "collision_key", lambda name: pytest.fail("keyed a name"))
    assert topicplan.plan([spec("a")], cluster).counts()["unchanged"] == 1


def test_create_chunks_stay_within_the_controllers_record_limit() -> None:
    # A KRaft controller refuses a CreateTopics that would write more than 10,000 metadata records
    # (a topic, each partition, each config).
    many = [NewTopicRequest(f"t{i}", 3, 1, {"retention.ms": "1"}) for i in range(2600)]
    chunks = list(adapter.create_chunks(many))
    assert [t.name for c in chunks for t in c] == [t.name for t in many]  # all, once, in order
    assert all(sum(1 + t.partitions + len(t.config) for t in c) <= adapter.CHUNK_RECORDS for c in chunks)
    assert [len(c) for c in chunks] == [1000, 1000, 600]
    wide = [NewTopicRequest("w", 9000, 1, {}), NewTopicRequest("x", 1, 1, {})]
    assert [[t.name for t in c] for c in adapter.create_chunks(wide)] == [["w"], ["x"]]


@pytest.mark.kafka_real
def test_a_large_create_goes_in_chunks_with_progress_on_stderr(
    run_cli: RunCli, kafka: KafkaCluster, kafka_calls: KafkaCalls, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(adapter, "CHUNK_TOPICS", 2)
    names = [f"chunked-{i}" for i in range(5)]
    path = tmp_path / "t.yaml"
    path.write_text("topics:\n" + "".join(f"  - {{name: {n}, partitions: 1, replication-factor: 1}}\n" for n in names))
    result = run_cli("topics", "apply", str(path), "--yes", "--no-overrides", "--bootstrap-server", kafka.bootstrap)
    assert result.exit_code == 0, result.stderr
    assert kafka_calls.calls == ["create_topics"] * 3
    progress = [line for line in result.stderr.splitlines() if line.startswith("creating topics:")]
    assert progress == ["creating topics: 2 of 5 sent", "creating topics: 4 of 5 sent", "creating topics: 5 of 5 sent"]
    assert result.stdout.count("created chunked-") == 5


# 16 configs Kafka accepts on any topic; with the topic and its partition, 18 metadata records each.
WIDE_CONFIG = {
    "retention.ms": 86400000, "cleanup.policy": '"compact,delete"', "segment.ms": 3600000,
    "max.message.bytes": 1048588, "min.insync.replicas": 1, "retention.bytes": -1, "segment.bytes": 1073741824,
    "delete.retention.ms": 86400000, "file.delete.delay.ms": 60000, "index.interval.bytes": 4096,
    "max.compaction.lag.ms": 9223372036854775807, "message.timestamp.type": "CreateTime",
    "min.cleanable.dirty.ratio": 0.5, "preallocate": "false", "segment.index.bytes": 10485760, "segment.jitter.ms": 0,
}  # fmt: skip


@pytest.mark.kafka_real
def test_a_create_beyond_the_controllers_record_limit_succeeds_in_chunks(
    run_cli: RunCli, kafka: KafkaCluster, kafka_calls: KafkaCalls, etcd_env: str, tmp_path: Path
) -> None:
    # 600 topics x 18 records = 10,800 > 10,000: in one CreateTopics, Apache Kafka refuses every topic
    # (POLICY_VIOLATION "Unable to perform excessively large batch operation."), as it did here before.
    names = [f"{etcd_env}-wide-{i:03d}" for i in range(600)]
    config = ", ".join(f"{k}: {v}" for k, v in WIDE_CONFIG.items())
    path = tmp_path / "wide.yaml"
    entries = [f"  - {{name: {n}, partitions: 1, replication-factor: 1, config: {{{config}}}}}\n" for n in names]
    path.write_text("topics:\n" + "".join(entries))
    result = run_cli("topics", "apply", str(path), "--yes", "--no-overrides", "--bootstrap-server", kafka.bootstrap)
    assert result.exit_code == 0, result.stderr
    assert kafka_calls.calls == ["create_topics"] * 3  # 277 + 277 + 46 topics: at most 5,000 records each
    state = adapter.Admin(kafka.bootstrap, timeout=30).describe(names)
    assert set(state.topics) == set(names)
    assert state.topics[names[-1]].config["segment.ms"] == "3600000"


@pytest.mark.parametrize("timeout", [301, 600])
def test_a_request_timeout_above_librdkafkas_cap_is_bad_input(run_cli: RunCli, tmp_path: Path, timeout: int) -> None:
    # librdkafka refuses socket.timeout.ms above 300,000: the settings used to accept up to 600 s and the
    # command then crashed creating the client ("internal error: KafkaException").
    settings = tmp_path / "platformctl.yaml"
    settings.write_text(f"kafka:\n  request-timeout: {timeout}\n")
    path = tmp_path / "t.yaml"
    path.write_text("topic: {name: t, partitions: 1, replication-factor: 1}\n")
    result = run_cli("--config", str(settings), "topics", "plan", str(path), "--no-overrides",
                     "--bootstrap-server", "127.0.0.1:9")  # fmt: skip
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == (
        f"error: {settings}:2: kafka.request-timeout: Input should be less than or equal to 300"
    )


@pytest.mark.kafka_real
def test_the_largest_request_timeout_is_one_librdkafka_accepts(
    run_cli: RunCli, kafka: KafkaCluster, tmp_path: Path
) -> None:
    settings = tmp_path / "platformctl.yaml"
    settings.write_text("kafka:\n  request-timeout: 300\n")
    path = tmp_path / "t.yaml"
    path.write_text("topic: {name: slow-timeout, partitions: 1, replication-factor: 1}\n")
    result = run_cli("--config", str(settings), "topics", "plan", str(path), "--no-overrides",
                     "--bootstrap-server", kafka.bootstrap)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "plan: 1 to create" in result.stdout


@pytest.mark.kafka_real
def test_no_overrides_never_imports_the_etcd_client(kafka: KafkaCluster, tmp_path: Path) -> None:
    # etcd3gw and requests cost ~120 ms of a small plan; a run that does not read etcd must not load them.
    path = tmp_path / "t.yaml"
    path.write_text("topic: {name: no-etcd, partitions: 1, replication-factor: 1}\n")
    probe = (
        "import sys\n"
        f"sys.argv = ['platformctl', 'topics', 'plan', {str(path)!r}, '--no-overrides', "
        f"'--bootstrap-server', {kafka.bootstrap!r}]\n"
        "from platformctl.cli import main\n"
        "try:\n    main()\nexcept SystemExit as e:\n    code = e.code\n"
        "print('\\n' + __import__('json').dumps([code, sorted(m for m in "
        "('etcd3gw', 'requests', 'platformctl.adapters.etcd') "
        "if m in sys.modules)]))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False, cwd=tmp_path)
    code, loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert code in (0, None), done.stderr
    assert loaded == []


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How many times each run planned, and read the topics from Kafka."""
    counts = {"plan": 0, "describe": 0}
    plan, describe = topicplan.plan, adapter.Admin.describe

    def counting_plan(*args: Any, **kwargs: Any) -> Any:
        counts["plan"] += 1
        return plan(*args, **kwargs)

    def counting_describe(self: adapter.Admin, *args: Any, **kwargs: Any) -> Any:
        counts["describe"] += 1
        return describe(self, *args, **kwargs)

    monkeypatch.setattr(topicplan, "plan", counting_plan)
    monkeypatch.setattr(adapter.Admin, "describe", counting_describe)
    return counts


@pytest.mark.kafka_real
def test_apply_plans_once_unless_etcd_moved_or_a_person_confirmed(
    run_cli: RunCli, kafka: KafkaCluster, etcd_endpoint: str, etcd_env: str, tmp_path: Path, counted: dict[str, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    def apply(name: str, *extra: str) -> None:
        path = tmp_path / f"{name}.yaml"
        path.write_text(f"topic: {{name: {etcd_env}-{name}, partitions: 1, replication-factor: 1}}\n")
        counted.update(plan=0, describe=0)
        result = run_cli("--env", etcd_env, "topics", "apply", str(path), "--bootstrap-server", kafka.bootstrap,
                         "--etcd-endpoint", etcd_endpoint, *extra)  # fmt: skip
        assert result.exit_code == 0, result.stderr

    apply("once", "--yes")
    assert counted == {"plan": 1, "describe": 1}  # the plan made before the lock stands: etcd did not move

    # etcd moved between the plan and the lock (another run recorded a topic): plan again under the lock.
    store = etcd.EtcdStore(etcd_endpoint)
    lock = etcdlock.hold

    def someone_wrote_first(self: etcd.EtcdStore, env: str, **kwargs: Any) -> Any:
        store.put(etcd.applied_key(env, f"{env}-other"), {"topic": "other"}, expect_revision=0)
        return lock(self, env, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(etcdlock, "hold", someone_wrote_first)
        apply("moved", "--yes")
    assert counted == {"plan": 2, "describe": 2}

    # A person confirmed a plan shown on a terminal: time passed, so it is made again under the lock.
    monkeypatch.setattr("platformctl.commands.base.interactive", lambda: True)
    monkeypatch.setattr("typer.confirm", lambda *args, **kwargs: True)
    apply("asked")
    assert counted == {"plan": 2, "describe": 2}


class _Revealing:
    """A stand-in AdminClient whose metadata shows `step` more of the topics at each poll (what a broker
    creating thousands of partitions' logs does, a chunk at a time, on a slow disk). Only `list_topics`;
    it models nothing else. Used because making a real broker that slow on demand takes ~10,000 partitions."""

    def __init__(self, names: list[str], step: int) -> None:
        self.names, self.step, self.shown = names, step, 0

    def list_topics(self, timeout: float) -> Any:
        from types import SimpleNamespace

        self.shown = min(self.shown + self.step, len(self.names))
        topic = SimpleNamespace(error=None, partitions={0: object()})
        return SimpleNamespace(topics=dict.fromkeys(self.names[: self.shown], topic))


@pytest.mark.fake_admin
def test_the_metadata_wait_gives_up_only_without_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(adapter, "METADATA_STALL", 0.3)
    names = [f"t{i}" for i in range(40)]
    # 40 polls, each revealing one topic: longer in all than the stall window, and it completes.
    slow = _Revealing(names, step=1)
    adapter.Admin("127.0.0.1:9", timeout=0.01, client=slow).wait_for(dict.fromkeys(names, 1))
    assert slow.shown == 40
    # Stuck at 10 of 40: it gives up once the window passes with no topic becoming ready.
    stuck = _Revealing(names, step=10)
    stuck.step = 0
    stuck.shown = 10
    with pytest.raises(PlatformError) as caught:
        adapter.Admin("127.0.0.1:9", timeout=0.01, client=stuck).wait_for(dict.fromkeys(names, 1))
    assert str(caught.value).startswith(
        "Kafka accepted the changes but its metadata still disagrees after 0.3s without progress (30 of 40 topics "
        "not ready: t10, t11, t12, t13, t14)"
    )
