"""Plan and apply against a fake AdminClient, for what the Tansu broker cannot do.

Tansu has no CreatePartitions, lists only explicitly set configs (every one marked DEFAULT_CONFIG) and
validates nothing; these tests cover partition increases, broker-side refusals and the `source` filtering
of inherited configs with `tests/fake_admin.FakeAdminClient` (its docstring says what it does not model).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka import KafkaError

from platformctl import topics
from platformctl.errors import InputError, PlatformError
from platformctl.kafka import Admin
from platformctl.topicspec import Layer, Source
from tests.fake_admin import FakeAdminClient

pytestmark = pytest.mark.fake_admin


def _specs(tmp_path: Path, body: str) -> list[topics.TopicSpec]:
    path = tmp_path / "topics.yaml"
    path.write_text(body)
    return topics.load_files([path])


def _plan(admin: Admin, specs: list[topics.TopicSpec], **kwargs: object) -> topics.Plan:
    return topics.plan(specs, admin.describe([s.name for s in specs]), **kwargs)  # type: ignore[arg-type]


ORDERS = """\
topics:
  - name: orders
    partitions: 6
    replication-factor: 3
    config:
      retention.ms: 86400000
"""


def test_partition_increase_is_one_create_partitions_call(tmp_path: Path) -> None:
    fake = FakeAdminClient()
    fake.add("orders", 3, 3, {"retention.ms": "86400000"})
    admin = Admin("fake:9092", client=fake, timeout=2)
    plan = _plan(admin, _specs(tmp_path, ORDERS))
    (orders,) = plan.topics
    assert orders.action == "change"
    assert [(c.key, c.action, c.current) for c in orders.changes] == [
        ("partitions", "add-partitions", 3),
        ("replication-factor", "unchanged", 3),
        ("retention.ms", "unchanged", "86400000"),
    ]
    done = topics.apply(plan, admin)
    assert done.partitions == {"orders": 6}
    assert fake.calls == [("create_partitions", ["orders"])]
    assert fake.topics["orders"].partitions == 6
    assert not _plan(admin, _specs(tmp_path, ORDERS)).mutating


def test_fewer_partitions_and_replication_change_are_impossible(tmp_path: Path) -> None:
    fake = FakeAdminClient()
    fake.add("orders", 12, 2, {"retention.ms": "86400000"})
    admin = Admin("fake:9092", client=fake, timeout=2)
    plan = _plan(admin, _specs(tmp_path, ORDERS))
    reasons = {c.key: c.reason for c in plan.topics[0].changes if c.action == "impossible"}
    assert plan.topics[0].action == "impossible"
    assert reasons["partitions"] == (
        "Kafka cannot remove partitions (12 -> 6): set partitions to 12, or delete and recreate the topic "
        "(its data is lost)"
    )
    assert reasons["replication-factor"].startswith("replication factor is 2 on the cluster")
    with pytest.raises(InputError, match="impossible changes for: orders"):
        topics.apply(plan, admin)
    assert fake.calls == []


def test_compacted_topic_needs_allow_repartition(tmp_path: Path) -> None:
    fake = FakeAdminClient()
    fake.add("tweets", 3, 3, {"cleanup.policy": "compact"})
    admin = Admin("fake:9092", client=fake, timeout=2)
    specs = _specs(
        tmp_path,
        "topic: {name: tweets, partitions: 9, replication-factor: 3, config: {cleanup.policy: compact}}\n",
    )
    blocked = _plan(admin, specs)
    assert blocked.topics[0].action == "impossible"
    assert "pass --allow-repartition" in str(blocked.topics[0].changes[0].reason)
    allowed = _plan(admin, specs, allow_repartition=True)
    topics.apply(allowed, admin)
    assert fake.topics["tweets"].partitions == 9


def test_inherited_defaults_are_not_drift_but_topic_overrides_are(tmp_path: Path) -> None:
    # A real broker lists every config: Kafka defaults, server.properties values, and the topic's own.
    fake = FakeAdminClient(static={"min.insync.replicas": "2", "retention.ms": "3600000"})
    fake.add("orders", 6, 3, {"retention.ms": "86400000", "segment.ms": "1000"})
    admin = Admin("fake:9092", client=fake, timeout=2)
    state = admin.describe(["orders"])
    assert state.topics["orders"].config == {"retention.ms": "86400000", "segment.ms": "1000"}
    assert state.topics["orders"].inherited["min.insync.replicas"] == "2"
    plan = topics.plan(_specs(tmp_path, ORDERS), state)
    assert [(c.key, c.action) for c in plan.topics[0].changes] == [
        ("partitions", "unchanged"),
        ("replication-factor", "unchanged"),
        ("retention.ms", "unchanged"),
        ("segment.ms", "extra"),
    ]
    assert not plan.mutating
    destructive = topics.plan(_specs(tmp_path, ORDERS), state, destructive=True)
    topics.apply(destructive, admin)
    assert fake.calls == [("incremental_alter_configs", ["orders"])]
    assert fake.topics["orders"].config == {"retention.ms": "86400000"}


def test_broker_refusal_names_the_topic_and_the_rest_is_applied(tmp_path: Path) -> None:
    fake = FakeAdminClient()
    fake.refuse["b"] = (KafkaError.POLICY_VIOLATION, "Topic creation is not allowed by the policy")
    admin = Admin("fake:9092", client=fake, timeout=2)
    specs = _specs(
        tmp_path,
        "topics:\n"
        "  - {name: a, partitions: 1, replication-factor: 1}\n"
        "  - {name: b, partitions: 1, replication-factor: 1}\n",
    )
    applied: list[str] = []
    with pytest.raises(PlatformError) as caught:
        topics.apply(_plan(admin, specs), admin, on_applied=lambda topic, digest: applied.append(topic.name))
    assert str(caught.value) == (
        "Kafka refused creating topic 'b': POLICY_VIOLATION: Topic creation is not allowed by the policy"
    )
    assert caught.value.exit_code == 1
    assert fake.calls == [("create_topics", ["a", "b"])]  # one batched call for both
    assert set(fake.topics) == {"a"}
    assert applied == ["a"]
    fake.refuse.clear()
    topics.apply(_plan(admin, specs), admin)  # the re-run converges
    assert set(fake.topics) == {"a", "b"}


def test_replication_factor_above_the_broker_count_is_caught_before_sending(tmp_path: Path) -> None:
    fake = FakeAdminClient(brokers=1)
    admin = Admin("fake:9092", client=fake, timeout=2)
    plan = _plan(admin, _specs(tmp_path, ORDERS))
    assert plan.topics[0].action == "impossible"
    assert plan.topics[0].changes[0].reason == (
        "the cluster has 1 broker(s), fewer than replication-factor 3: lower it for this environment with an "
        "override (e.g. --set orders.replication-factor=1)"
    )
    layered = _plan(
        admin,
        _specs(tmp_path, ORDERS),
        layers={"orders": [Layer(Source("etcd", "/x", 1), {"replication-factor": 1})]},
    )
    topics.apply(layered, admin)
    assert fake.topics["orders"].replication_factor == 1


def test_prune_deletes_only_managed_topics_absent_from_the_files(tmp_path: Path) -> None:
    fake = FakeAdminClient()
    fake.add("orders", 6, 3, {"retention.ms": "86400000"})
    fake.add("old-managed", 1, 3)
    fake.add("someone-elses", 1, 3)
    admin = Admin("fake:9092", client=fake, timeout=2)
    specs = _specs(tmp_path, ORDERS)
    assert not _plan(admin, specs, managed={"old-managed"}).mutating  # no --prune: nothing
    plan = _plan(admin, specs, prune=True, managed={"old-managed", "orders", "never-existed"})
    assert [(t.name, t.action) for t in plan.topics] == [("orders", "unchanged"), ("old-managed", "prune")]
    topics.apply(plan, admin)
    assert fake.calls == [("delete_topics", ["old-managed"])]
    assert set(fake.topics) == {"orders", "someone-elses"}


def test_a_partial_apply_carries_what_kafka_did_accept(tmp_path: Path) -> None:
    # What Kafka accepted (here: the prune) must reach the records even though the apply failed.
    fake = FakeAdminClient()
    fake.add("gone", 1, 1)
    fake.refuse["b"] = (KafkaError.POLICY_VIOLATION, "Topic creation is not allowed by the policy")
    admin = Admin("fake:9092", client=fake, timeout=2)
    specs = _specs(tmp_path, "topics:\n  - {name: b, partitions: 1, replication-factor: 1}\n")
    applied: list[str] = []
    with pytest.raises(topics.PartialApply) as caught:
        topics.apply(
            _plan(admin, specs, prune=True, managed={"gone"}),
            admin,
            on_applied=lambda topic, digest: applied.append(topic.name),
        )
    assert caught.value.done.pruned == ["gone"]
    assert caught.value.done.created == []
    assert applied == []
    assert set(fake.topics) == set()
