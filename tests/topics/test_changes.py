"""Plan and apply against Apache Kafka 4.2: partition increases, refusals, config sources, prune.

These once ran against a fake AdminClient because the broker the tests used could not do them (no CreatePartitions,
no broker-side validation, every config reported as a default). Apache Kafka does all of it, so every
refusal here is Kafka's own, and where platformctl refuses something before sending it, the test also
asks Kafka (a `validate_only` request, which changes nothing) to show it is what Kafka would refuse.
Requests are counted on the wire (`kafka_wire`). Each test uses topic names of its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
    ResourceType,
)

from platformctl.adapters.kafka import Admin, NewTopicRequest
from platformctl.errors import InputError, PlatformError
from platformctl.topics import dryrun as topicdryrun
from platformctl.topics import execute
from platformctl.topics import plan as topicplan
from platformctl.topics.provenance import Layer, Source
from tests.conftest import RunCli
from tests.kafkawire import Wire
from tests.plugins.kafka import KafkaCluster

pytestmark = pytest.mark.kafka_real


def _specs(tmp_path: Path, body: str) -> list[topicplan.TopicSpec]:
    path = tmp_path / "topics.yaml"
    path.write_text(body)
    return topicplan.load_files([path])


def _plan(admin: Admin, specs: list[topicplan.TopicSpec], **kwargs: Any) -> topicplan.Plan:
    return topicplan.plan(specs, admin.describe([s.name for s in specs]), **kwargs)


def _orders(name: str, partitions: int = 6, rf: int = 1) -> str:
    return (
        f"topics:\n  - name: {name}\n    partitions: {partitions}\n    replication-factor: {rf}\n"
        "    config:\n      retention.ms: 86400000\n"
    )


T = TypeVar("T")


def _settled(read: Callable[[], T], settled: Callable[[T], bool]) -> T:
    """`read()` once `settled` by it (or as it is after 60 s, for the assertions to say why).

    A config change returns once the controller committed it; the broker applies it to what it serves a
    moment later, from the metadata log, and under load a read right after can still see the old value.
    """
    deadline = time.monotonic() + 60
    while not settled(value := read()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return value


def _refusal(future: Any) -> KafkaError:
    with pytest.raises(KafkaException) as caught:
        future.result(timeout=30)
    error = caught.value.args[0]
    assert isinstance(error, KafkaError)
    return error


def test_partition_increase_is_one_create_partitions_request(
    kafka: KafkaCluster, kafka_wire: Wire, tmp_path: Path
) -> None:
    admin = Admin(kafka.bootstrap, timeout=10)
    admin.create_topics([NewTopicRequest("grow-orders", 3, 1, {"retention.ms": "86400000"})])
    admin.wait_for({"grow-orders": 3})
    plan = _plan(admin, _specs(tmp_path, _orders("grow-orders")))
    (orders,) = plan.topics
    assert orders.action == "change"
    assert [(c.key, c.action, c.current) for c in orders.changes] == [
        ("partitions", "add-partitions", 3),
        ("replication-factor", "unchanged", 1),
        ("retention.ms", "unchanged", "86400000"),
    ]
    kafka_wire.clear()
    done = execute.apply(plan, admin)
    assert done.partitions == {"grow-orders": 6}
    assert kafka_wire.mutating == ["CreatePartitions"]
    assert admin.describe(["grow-orders"]).topics["grow-orders"].partitions == 6
    assert not _plan(admin, _specs(tmp_path, _orders("grow-orders"))).mutating


def test_fewer_partitions_and_replication_change_are_refused_before_sending(
    run_cli: RunCli, kafka: KafkaCluster, kafka_wire: Wire, tmp_path: Path
) -> None:
    admin = Admin(kafka.bootstrap, timeout=10)
    admin.create_topics([NewTopicRequest("shrink-orders", 12, 1, {"retention.ms": "86400000"})])
    admin.wait_for({"shrink-orders": 12})
    plan = _plan(admin, _specs(tmp_path, _orders("shrink-orders", partitions=6, rf=2)))
    reasons = {c.key: c.reason for c in plan.topics[0].changes if c.action == "impossible"}
    assert plan.topics[0].action == "impossible"
    assert reasons["partitions"] == (
        "Kafka cannot remove partitions (12 -> 6): set partitions to 12, or delete and recreate the topic "
        "(its data is lost)"
    )
    assert str(reasons["replication-factor"]).startswith("replication factor is 1 on the cluster")
    with pytest.raises(InputError, match="impossible changes for: shrink-orders"):
        execute.apply(plan, admin)

    # The command: exit 2, the reason, and nothing sent.
    path = tmp_path / "shrink.yaml"
    path.write_text(_orders("shrink-orders", partitions=6))
    kafka_wire.clear()
    result = run_cli("topics", "apply", str(path), "--bootstrap-server", kafka.bootstrap, "--yes")
    assert result.exit_code == 2
    assert "Kafka cannot remove partitions (12 -> 6)" in result.stderr
    assert kafka_wire.mutating == []
    # ...and it is what Kafka itself refuses.
    client = kafka.client()
    [future] = client.create_partitions([NewPartitions("shrink-orders", 6)], validate_only=True).values()
    error = _refusal(future)
    assert error.code() == KafkaError.INVALID_PARTITIONS, error
    assert "12" in error.str() and "6" in error.str()
    assert admin.describe(["shrink-orders"]).topics["shrink-orders"].partitions == 12


def test_compacted_topic_needs_allow_repartition(kafka: KafkaCluster, kafka_wire: Wire, tmp_path: Path) -> None:
    admin = Admin(kafka.bootstrap, timeout=10)
    admin.create_topics([NewTopicRequest("grow-tweets", 3, 1, {"cleanup.policy": "compact"})])
    admin.wait_for({"grow-tweets": 3})
    specs = _specs(
        tmp_path,
        "topic: {name: grow-tweets, partitions: 9, replication-factor: 1, config: {cleanup.policy: compact}}\n",
    )
    blocked = _plan(admin, specs)
    assert blocked.topics[0].action == "impossible"
    assert "pass --allow-repartition" in str(blocked.topics[0].changes[0].reason)
    allowed = _plan(admin, specs, allow_repartition=True)
    kafka_wire.clear()
    execute.apply(allowed, admin)
    assert kafka_wire.mutating == ["CreatePartitions"]
    assert admin.describe(["grow-tweets"]).topics["grow-tweets"].partitions == 9


def test_broker_defaults_are_not_drift_but_topic_overrides_are(
    own_kafka: KafkaCluster, kafka_wire: Wire, tmp_path: Path
) -> None:
    # Kafka lists every config of a topic with its source: Kafka's own default, server.properties
    # (static), a broker's dynamic config, or the topic's own setting. Only the last is the topic's.
    client = own_kafka.client()
    cluster_default = ConfigResource(ResourceType.BROKER, "1", incremental_configs=[
        ConfigEntry("log.retention.ms", "3600000", incremental_operation=AlterConfigOpType.SET)])  # fmt: skip
    for future in client.incremental_alter_configs([cluster_default]).values():
        future.result(timeout=30)
    admin = Admin(own_kafka.bootstrap, timeout=10)
    admin.create_topics([NewTopicRequest("sources", 1, 1, {"segment.ms": "1000"})])
    admin.wait_for({"sources": 1})
    [entries] = _settled(
        lambda: [f.result(timeout=30) for f in client.describe_configs(
            [ConfigResource(ResourceType.TOPIC, "sources")]).values()],
        lambda read: read[0]["retention.ms"].value == "3600000",
    )  # fmt: skip
    assert entries["retention.ms"].source == ConfigSource.DYNAMIC_BROKER_CONFIG.value
    assert entries["cleanup.policy"].source == ConfigSource.DEFAULT_CONFIG.value
    # Kafka 4's controller writes a cluster-wide min.insync.replicas when it enables eligible leader
    # replicas (KIP-966): a fresh cluster reports it as a dynamic cluster default, not as Kafka's default.
    assert entries["min.insync.replicas"].source == ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value
    assert entries["segment.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value

    state = admin.describe(["sources"]).topics["sources"]
    assert state.config == {"segment.ms": "1000"}
    assert state.inherited["retention.ms"] == "3600000"
    assert state.inherited["cleanup.policy"] == "delete"
    body = "topic: {name: sources, partitions: 1, replication-factor: 1}\n"
    plan = _plan(admin, _specs(tmp_path, body))
    assert [(c.key, c.action) for c in plan.topics[0].changes] == [
        ("partitions", "unchanged"),
        ("replication-factor", "unchanged"),
        ("segment.ms", "extra"),
    ]
    assert not plan.mutating
    destructive = _plan(admin, _specs(tmp_path, body), destructive=True)
    kafka_wire.clear()
    execute.apply(destructive, admin)
    assert kafka_wire.mutating == ["IncrementalAlterConfigs"]
    after = _settled(lambda: admin.describe(["sources"]).topics["sources"], lambda t: not t.config)
    assert after.config == {}  # the defaults stay inherited
    assert not _plan(admin, _specs(tmp_path, body), destructive=True).mutating


def test_static_broker_config_is_not_drift_on_production_shape(
    kafka_cluster3: KafkaCluster, kafka_wire: Wire, tmp_path: Path
) -> None:
    # Production's brokers set min.insync.replicas=2 in server.properties (STATIC_BROKER_CONFIG).
    admin = Admin(kafka_cluster3.bootstrap, timeout=15)
    body = "topic: {name: static-default, partitions: 3, replication-factor: 3}\n"
    kafka_wire.clear()
    execute.apply(_plan(admin, _specs(tmp_path, body)), admin)
    assert kafka_wire.mutating == ["CreateTopics"]
    state = admin.describe(["static-default"]).topics["static-default"]
    assert (state.partitions, state.replication_factor, dict(state.config)) == (3, 3, {})
    assert state.inherited["min.insync.replicas"] == "2"
    assert not _plan(admin, _specs(tmp_path, body), destructive=True).mutating


def test_kafka_refusal_names_the_topic_and_the_rest_is_applied(
    kafka: KafkaCluster, kafka_wire: Wire, tmp_path: Path
) -> None:
    # A config Kafka does not know, let through by --allow-unknown-config: Kafka refuses that topic only.
    admin = Admin(kafka.bootstrap, timeout=10)
    body = (
        "topics:\n"
        "  - {name: refuse-a, partitions: 1, replication-factor: 1}\n"
        "  - {name: refuse-b, partitions: 1, replication-factor: 1, config: {no.such.config: 1}}\n"
    )
    specs = topicplan.load_files([_write(tmp_path, body)], allow_unknown_config=True)
    applied: list[str] = []
    kafka_wire.clear()
    with pytest.raises(PlatformError) as caught:
        execute.apply(
            _plan(admin, specs, allow_unknown_config=True),
            admin,
            on_applied=lambda topic, digest: applied.append(topic.name),
        )
    assert str(caught.value) == (
        "Kafka refused creating topic 'refuse-b': INVALID_CONFIG: Unknown topic config name: no.such.config"
    )
    assert caught.value.exit_code == 1
    assert kafka_wire.mutating == ["CreateTopics"]  # one batched request for both
    assert {"refuse-a"} == set(admin.describe(["refuse-a", "refuse-b"]).topics)
    assert applied == ["refuse-a"]
    fixed = topicplan.load_files([_write(tmp_path, body.replace(", config: {no.such.config: 1}", ""))])
    execute.apply(_plan(admin, fixed), admin)  # the re-run converges
    assert set(admin.describe(["refuse-a", "refuse-b"]).topics) == {"refuse-a", "refuse-b"}


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "topics.yaml"
    path.write_text(body)
    return path


def test_replication_factor_above_the_broker_count_is_refused_as_kafka_would(
    run_cli: RunCli, kafka: KafkaCluster, kafka_wire: Wire, tmp_path: Path
) -> None:
    admin = Admin(kafka.bootstrap, timeout=10)
    body = _orders("rf-orders", rf=3)
    plan = _plan(admin, _specs(tmp_path, body))
    assert plan.topics[0].action == "impossible"
    assert plan.topics[0].changes[0].reason == (
        "the cluster has 1 broker(s), fewer than replication-factor 3: lower it for this environment with an "
        "override (e.g. --set rf-orders.replication-factor=1)"
    )
    kafka_wire.clear()
    result = run_cli("topics", "apply", str(_write(tmp_path, body)), "--bootstrap-server", kafka.bootstrap, "--yes")
    assert result.exit_code == 2
    assert "the cluster has 1 broker(s), fewer than replication-factor 3" in result.stderr
    assert kafka_wire.mutating == []  # refused before anything was sent
    # Kafka's own answer to the same request (a dry run: nothing is created).
    client = kafka.client()
    [future] = client.create_topics([NewTopic("rf-orders", 6, 3)], validate_only=True).values()
    error = _refusal(future)
    assert error.code() == KafkaError.INVALID_REPLICATION_FACTOR, error
    assert "only 1 broker(s) are registered" in error.str()
    assert "rf-orders" not in admin.describe(["rf-orders"]).names

    layered = _plan(
        admin,
        _specs(tmp_path, body),
        layers={"rf-orders": [Layer(Source("etcd", "/x", 1), {"replication-factor": 1})]},
    )
    execute.apply(layered, admin)
    assert admin.describe(["rf-orders"]).topics["rf-orders"].replication_factor == 1


def test_prune_deletes_only_managed_topics_absent_from_the_files(
    kafka: KafkaCluster, kafka_wire: Wire, tmp_path: Path
) -> None:
    admin = Admin(kafka.bootstrap, timeout=10)
    for name in ("prune2-orders", "prune2-old", "prune2-someone-elses"):
        admin.create_topics([NewTopicRequest(name, 1, 1, {"retention.ms": "86400000"})])
    admin.wait_for(dict.fromkeys(("prune2-orders", "prune2-old", "prune2-someone-elses"), 1))
    specs = _specs(tmp_path, _orders("prune2-orders", partitions=1))
    assert not _plan(admin, specs, managed={"prune2-old"}).mutating  # no --prune: nothing
    plan = _plan(admin, specs, prune=True, managed={"prune2-old", "prune2-orders", "prune2-never-existed"})
    assert [(t.name, t.action) for t in plan.topics] == [("prune2-orders", "unchanged"), ("prune2-old", "prune")]
    kafka_wire.clear()
    execute.apply(plan, admin)
    assert kafka_wire.mutating == ["DeleteTopics"]
    names = admin.describe([]).names
    assert "prune2-old" not in names
    assert {"prune2-orders", "prune2-someone-elses"} <= names


def test_a_partial_apply_carries_what_kafka_did_accept(kafka: KafkaCluster, tmp_path: Path) -> None:
    # What Kafka accepted (here: the prune) must reach the records even though the apply failed.
    admin = Admin(kafka.bootstrap, timeout=10)
    admin.create_topics([NewTopicRequest("partial-gone", 1, 1, {})])
    admin.wait_for({"partial-gone": 1})
    body = "topics:\n  - {name: partial-b, partitions: 1, replication-factor: 1, config: {no.such.config: 1}}\n"
    specs = topicplan.load_files([_write(tmp_path, body)], allow_unknown_config=True)
    applied: list[str] = []
    with pytest.raises(execute.PartialApply) as caught:
        execute.apply(
            _plan(admin, specs, prune=True, managed={"partial-gone"}, allow_unknown_config=True),
            admin,
            on_applied=lambda topic, digest: applied.append(topic.name),
        )
    assert caught.value.done.pruned == ["partial-gone"]
    assert caught.value.done.created == []
    assert applied == []
    assert not {"partial-gone", "partial-b"} & admin.describe([]).names


def test_what_kafka_would_refuse_is_impossible_in_the_plan_and_apply_sends_nothing(
    run_cli: RunCli, kafka: KafkaCluster, kafka_wire: Wire, tmp_path: Path
) -> None:
    # platformctl lets an unknown config through on request; Kafka refuses it. Asked first with
    # validate_only, Kafka's answer blocks the whole apply instead of half-applying it.
    admin = Admin(kafka.bootstrap, timeout=10)
    admin.create_topics([NewTopicRequest("dry-c", 1, 1, {})])
    admin.wait_for({"dry-c": 1})
    path = _write(
        tmp_path,
        "topics:\n"
        "  - {name: dry-a, partitions: 1, replication-factor: 1}\n"
        "  - {name: dry-b, partitions: 1, replication-factor: 1, config: {no.such.config: 1}}\n"
        "  - {name: dry-c, partitions: 2, replication-factor: 1, config: {also.unknown: x}}\n",
    )
    args = (str(path), "--bootstrap-server", kafka.bootstrap, "--allow-unknown-config", "--no-overrides")
    kafka_wire.clear()
    plan = run_cli("topics", "plan", *args)
    assert plan.exit_code == 2, plan.stderr
    assert (
        "Kafka refuses creating topic 'dry-b': INVALID_CONFIG: Unknown topic config name: no.such.config "
        "(asked with validate_only; nothing was changed)" in plan.stdout
    )
    assert "Kafka refuses changing the config of topic 'dry-c': INVALID_CONFIG" in plan.stdout
    assert sorted(kafka_wire.validations) == ["CreatePartitions", "CreateTopics", "IncrementalAlterConfigs"]
    assert kafka_wire.mutating == []

    kafka_wire.clear()
    applied = run_cli("topics", "apply", *args, "--yes")
    assert applied.exit_code == 2
    assert "impossible change(s), nothing applied: dry-b: kafka: Kafka refuses creating topic 'dry-b'" in applied.stderr
    assert kafka_wire.mutating == []  # nothing half-applied: dry-a was not created either
    state = admin.describe(["dry-a", "dry-b", "dry-c"])
    assert set(state.topics) == {"dry-c"} and state.topics["dry-c"].partitions == 1

    # Without the refused topics, the rest applies; a plan with nothing to change asks Kafka nothing.
    path.write_text("topics:\n  - {name: dry-a, partitions: 1, replication-factor: 1}\n")
    assert run_cli("topics", "apply", *args, "--yes").exit_code == 0
    kafka_wire.clear()
    again = run_cli("topics", "plan", *args)
    assert again.exit_code == 0
    assert kafka_wire.validations == [] and kafka_wire.mutating == []


def test_the_config_catalogue_is_kafkas(kafka: KafkaCluster, tmp_path: Path) -> None:
    """platformctl validates topic configs itself (topicspec.KAFKA_TOPIC_CONFIGS); Kafka 4.2 is the judge.

    Names: what DescribeConfigs lists for a topic. Values: every bound (at it and just past it), every
    choice and a bogus one, sent to Kafka in one CreateTopics dry run (validate_only), one topic per probe;
    Kafka and platformctl must agree on each. The one value platformctl cannot judge is broker-dependent:
    `remote.storage.enable=true` needs tiered storage enabled on the broker (it is not here), which is what
    the dry run before every plan is for.
    """
    from platformctl.topics.spec import KAFKA_TOPIC_CONFIGS, validate_value

    admin = Admin(kafka.bootstrap, timeout=10)
    admin.create_topics([NewTopicRequest("catalogue", 1, 1, {})])
    admin.wait_for({"catalogue": 1})
    client = kafka.client()  # kept: its futures die with it
    [entries] = [f.result(timeout=30) for f in client.describe_configs(
        [ConfigResource(ResourceType.TOPIC, "catalogue")]).values()]  # fmt: skip
    assert set(KAFKA_TOPIC_CONFIGS) == set(entries)

    probes: list[tuple[str, str]] = []
    for name, key in KAFKA_TOPIC_CONFIGS.items():
        values: list[object] = []
        if key.minimum is not None:
            values += [key.minimum, key.minimum - 1]
        if key.maximum is not None:
            values += [key.maximum, key.maximum + 1]
        if key.choices:
            values += [*key.choices, "bogus"]
        if key.type == "boolean":
            values += ["true", "false", "TRUE", "yes"]
        probes += [(name, str(value)) for value in values]
    futures = client.create_topics(
        [NewTopic(f"probe-{i}", 1, 1, config={name: value}) for i, (name, value) in enumerate(probes)],
        validate_only=True,
    )
    disagree = []
    for i, (name, value) in enumerate(probes):
        try:
            futures[f"probe-{i}"].result(timeout=60)
            kafka_accepts = True
        except KafkaException:
            kafka_accepts = False
        try:
            validate_value(name, value)
            ours = True
        except ValueError:
            ours = False
        if kafka_accepts != ours:
            disagree.append((name, value, kafka_accepts))
    assert len(probes) > 80
    assert disagree == [("remote.storage.enable", "true", False), ("remote.storage.enable", "TRUE", False)]

    # That one is caught by the dry run: impossible in the plan, with Kafka's reason.
    path = _write(tmp_path, "topic: {name: tiered, partitions: 1, replication-factor: 1, "
                  "config: {remote.storage.enable: true}}\n")  # fmt: skip
    plan = topicdryrun.checked(topicplan.plan(topicplan.load_files([path]), admin.describe(["tiered"])), admin)
    assert plan.topics[0].action == "impossible"
    assert "Tiered Storage functionality is disabled in the broker" in str(plan.topics[0].changes[0].reason)


def test_values_as_kafka_spells_them_back_are_not_drift(
    run_cli: RunCli, kafka: KafkaCluster, kafka_wire: Wire, tmp_path: Path
) -> None:
    # Kafka stores a config as sent and may describe it in its own spelling (order of a list, case of a
    # boolean, a double's digits): a re-apply must find nothing to change.
    path = _write(
        tmp_path,
        "topic:\n  name: spelling\n  partitions: 1\n  replication-factor: 1\n  config:\n"
        "    cleanup.policy: delete,compact\n    min.cleanable.dirty.ratio: 0.50\n"
        "    unclean.leader.election.enable: 'TRUE'\n    preallocate: false\n    compression.type: zstd\n"
        "    compression.zstd.level: -5\n    retention.bytes: -1\n    retention.ms: -1\n"
        "    message.timestamp.type: LogAppendTime\n    max.message.bytes: 2097152\n"
        "    follower.replication.throttled.replicas: '*'\n    segment.bytes: 1048576\n",
    )
    args = ("topics", "apply", str(path), "--bootstrap-server", kafka.bootstrap, "--yes", "--no-overrides")
    first = run_cli(*args)
    assert first.exit_code == 0, first.stderr
    kafka_wire.clear()
    again = run_cli(*args)
    assert again.exit_code == 0, again.stderr
    assert "nothing to change" in again.stderr, again.stdout
    assert kafka_wire.mutating == [] and kafka_wire.validations == []


def test_describe_reads_configs_in_chunks(
    kafka: KafkaCluster, kafka_wire: Wire, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One DescribeConfigs for 10,000 topics outlived the request timeout on Kafka 4.2 (bench/topics_apply.py's
    # no-op re-apply): requests of DESCRIBE_CHUNK topics, one after the other.
    monkeypatch.setattr("platformctl.adapters.kafka.DESCRIBE_CHUNK", 2)
    admin = Admin(kafka.bootstrap, timeout=10)
    names = [f"chunked-describe-{i}" for i in range(5)]
    admin.create_topics([NewTopicRequest(n, 1, 1, {"retention.ms": str(1000 + i)}) for i, n in enumerate(names)])
    admin.wait_for(dict.fromkeys(names, 1))
    kafka_wire.clear()
    state = admin.describe(names)
    assert kafka_wire.count("DescribeConfigs") == 3
    retention = {n: t.config["retention.ms"] for n, t in state.topics.items()}
    assert retention == {n: str(1000 + i) for i, n in enumerate(names)}


def test_a_name_colliding_on_dot_and_underscore_is_refused_as_kafka_would(
    run_cli: RunCli, kafka: KafkaCluster, kafka_wire: Wire, tmp_path: Path
) -> None:
    admin = Admin(kafka.bootstrap, timeout=10)
    admin.create_topics([NewTopicRequest("metrics.clash", 1, 1, {})])
    admin.wait_for({"metrics.clash": 1})
    path = _write(tmp_path, "topic: {name: metrics_clash, partitions: 1, replication-factor: 1}\n")
    kafka_wire.clear()
    result = run_cli("topics", "apply", str(path), "--bootstrap-server", kafka.bootstrap, "--yes", "--no-overrides")
    assert result.exit_code == 2
    assert "collides with existing topic 'metrics.clash'" in result.stderr
    assert kafka_wire.mutating == [] and kafka_wire.validations == []  # refused before asking Kafka
    client = kafka.client()
    [future] = client.create_topics([NewTopic("metrics_clash", 1, 1)], validate_only=True).values()
    error = _refusal(future)
    assert error.code() == KafkaError.TOPIC_EXCEPTION, error  # InvalidTopicException
    assert error.str() == "Topic 'metrics_clash' collides with existing topic: metrics.clash"
