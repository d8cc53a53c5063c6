"""The reference topic file, unchanged, on both of the platform's shapes (Apache Kafka 4.2, real etcd).

`examples/twitter-topic.conf` is production's truth: 9 partitions, replication factor 3,
`min.insync.replicas` 2, compaction. It must apply exactly as written to production's shape (three
brokers, `--env prod`, no overrides: every value from the file), and to the dev platform's single broker
with the dev overrides from etcd (replication factor 1 and `min.insync.replicas` 1 from etcd, the rest from
the file). The file names its topic, so each direction gets a cluster where it is the only one to create
it: a broker of its own for dev, and for production the session's three-node cluster, where this module
owns `twitter-topic`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer

from platformctl.adapters import etcd
from platformctl.adapters.kafka import Admin, TopicState
from platformctl.topics.records import read as read_records
from tests.conftest import RunCli
from tests.kafkawire import Wire
from tests.plugins.kafka import QUIET, KafkaCluster

pytestmark = pytest.mark.kafka_real

TWITTER = Path(__file__).parents[2] / "examples" / "twitter-topic.conf"
TOPIC = "twitter-topic"
FILE_CONFIG = {
    "cleanup.policy": "compact",
    "min.compaction.lag.ms": "3600000",
    "min.cleanable.dirty.ratio": "0.5",
    "delete.retention.ms": "86400000",
    "min.insync.replicas": "2",
    "retention.ms": "-1",
}


def _seen(admin: Admin, name: str, settled: Callable[[TopicState], bool]) -> TopicState | None:
    """The topic as `admin` reads it once `settled` (or as it is after 60 s, for the assertions to say why).

    Each broker learns of a new topic from the metadata log a moment after the controller accepted it. The
    apply waited until the broker it asked listed the topic; this client may ask another one, which can
    still be behind (it was: KeyError 'twitter-topic' under load)."""
    deadline = time.monotonic() + 60
    while True:
        state = admin.describe([name]).topics.get(name)
        if (state is not None and settled(state)) or time.monotonic() > deadline:
            return state
        time.sleep(0.1)


def _plan_values(stdout: str) -> dict[str, Any]:
    plan = json.loads(stdout)
    return {c["key"]: c["desired"] for c in plan["topics"][0]["changes"] if c["desired"] is not None}


def test_production_shape_applies_the_file_exactly_as_written(
    run_cli: RunCli, kafka_cluster3: KafkaCluster, kafka_wire: Wire, etcd_endpoint: str
) -> None:
    store = etcd.EtcdStore(etcd_endpoint)
    assert store.get(etcd.topic_defaults_key("prod")) is None and store.get(etcd.topic_key("prod", TOPIC)) is None
    admin = Admin(kafka_cluster3.bootstrap, timeout=30)
    if TOPIC in admin.describe([TOPIC]).names:  # a re-run of this module in the same session
        assert admin.delete_topics([TOPIC]) == {}
        admin.wait_for({}, gone=[TOPIC])
    servers = ("--bootstrap-server", kafka_cluster3.bootstrap, "--etcd-endpoint", etcd_endpoint)
    args = ("--env", "prod")

    planned = run_cli(*args, "topics", "plan", str(TWITTER), *servers, "--output", "json")
    assert planned.exit_code == 0, planned.stderr
    values = _plan_values(planned.stdout)
    assert {key: v["source"]["kind"] for key, v in values.items()} == dict.fromkeys(
        ["partitions", "replication-factor", *FILE_CONFIG], "file"
    )
    assert all(v["replaced"] == [] for v in values.values())

    kafka_wire.clear()
    applied = run_cli(*args, "topics", "apply", str(TWITTER), *servers, "--yes")
    assert applied.exit_code == 0, applied.stderr
    assert kafka_wire.mutating == ["CreateTopics"]
    state = _seen(admin, TOPIC, lambda s: dict(s.config) == FILE_CONFIG)
    assert state is not None, f"no broker listed {TOPIC} within 60 s of the apply"
    assert (state.partitions, state.replication_factor) == (9, 3)
    assert dict(state.config) == FILE_CONFIG
    # Every partition on three brokers, all in sync.
    metadata = kafka_cluster3.client().list_topics(TOPIC, timeout=30).topics[TOPIC]
    assert {len(p.replicas) for p in metadata.partitions.values()} == {3}
    assert {len(set(p.replicas)) for p in metadata.partitions.values()} == {3}
    assert read_records(store, "prod")[TOPIC].spec == {"partitions": 9, "replication-factor": 3, "config": FILE_CONFIG}

    # Production's durability: a write acknowledged by all in-sync replicas (min.insync.replicas 2).
    producer = Producer({"bootstrap.servers": kafka_cluster3.bootstrap, "acks": "all", "logger": QUIET})
    delivered: list[Any] = []
    producer.produce(TOPIC, key=b"tweet-1", value=b"hello", on_delivery=lambda err, msg: delivered.append(err))
    assert producer.flush(60) == 0
    assert delivered == [None]

    kafka_wire.clear()
    again = run_cli(*args, "topics", "apply", str(TWITTER), *servers, "--yes")
    assert again.exit_code == 0, again.stderr
    assert "nothing to change" in again.stderr
    assert kafka_wire.mutating == []


def test_dev_shape_takes_replication_and_min_isr_from_etcd_and_the_rest_from_the_file(
    run_cli: RunCli, own_kafka: KafkaCluster, kafka_wire: Wire, etcd_endpoint: str, etcd_env: str
) -> None:
    store = etcd.EtcdStore(etcd_endpoint)
    assert run_cli("--env", etcd_env, "overrides", "seed", "--etcd-endpoint", etcd_endpoint).exit_code == 0
    defaults = store.get(etcd.topic_defaults_key(etcd_env))
    assert defaults is not None
    source = f"etcd {defaults.key}@{defaults.mod_revision}"
    servers = ("--bootstrap-server", own_kafka.bootstrap, "--etcd-endpoint", etcd_endpoint)
    args = ("--env", etcd_env)

    plan = run_cli(*args, "topics", "plan", str(TWITTER), *servers)
    assert plan.exit_code == 0, plan.stderr
    # "    + KEY  VALUE  SOURCE": every key of a topic to create
    rows = [line.split(None, 3) for line in plan.stdout.splitlines() if line.startswith("    + ")]
    by_key = {row[1]: row for row in rows}
    assert {key for key, row in by_key.items() if "etcd " in row[-1]} == {"replication-factor", "min.insync.replicas"}
    assert by_key["replication-factor"][2:] == ["1", f"{source} (replaces 3 from {TWITTER}:8)"]
    assert by_key["min.insync.replicas"][2:] == ["1", f"{source} (replaces 2 from {TWITTER}:14)"]
    assert by_key["partitions"][2:] == ["9", f"{TWITTER}:7"]

    as_json = run_cli(*args, "topics", "plan", str(TWITTER), *servers, "--output", "json")
    values = _plan_values(as_json.stdout)
    etcd_keys = {key for key, value in values.items() if value["source"]["kind"] == "etcd"}
    assert etcd_keys == {"replication-factor", "min.insync.replicas"}
    for key, file_value, line in (("replication-factor", 3, 8), ("min.insync.replicas", "2", 14)):
        assert values[key]["source"] == {
            "kind": "etcd", "ref": defaults.key, "revision": defaults.mod_revision, "note": None,
        }  # fmt: skip
        file_source = {"kind": "file", "ref": f"{TWITTER}:{line}", "revision": None, "note": None}
        assert values[key]["replaced"] == [{"value": file_value, "source": file_source}]
    assert {v["source"]["kind"] for k, v in values.items() if k not in etcd_keys} == {"file"}

    digest = json.loads(as_json.stdout)["digest"]
    kafka_wire.clear()
    applied = run_cli(*args, "topics", "apply", str(TWITTER), *servers, "--yes")
    assert applied.exit_code == 0, applied.stderr
    assert kafka_wire.mutating == ["CreateTopics"]
    state = Admin(own_kafka.bootstrap, timeout=10).describe([TOPIC]).topics[TOPIC]
    assert (state.partitions, state.replication_factor) == (9, 1)
    dev_config = FILE_CONFIG | {"min.insync.replicas": "1"}
    assert dict(state.config) == dev_config
    record = read_records(store, etcd_env)[TOPIC]
    assert record.spec == {"partitions": 9, "replication-factor": 1, "config": dict(sorted(dev_config.items()))}
    assert record.plan_digest == digest  # the plan that was applied
    assert store.get(etcd.lock_key(etcd_env)) is None  # released on success

    # The one broker takes writes with acks=all (in-sync replicas 1 >= min.insync.replicas 1) and reads them.
    producer = Producer({"bootstrap.servers": own_kafka.bootstrap, "acks": "all", "logger": QUIET})
    producer.produce(TOPIC, key=b"tweet-1", value=b"hello")
    assert producer.flush(60) == 0
    consumer = Consumer({"bootstrap.servers": own_kafka.bootstrap, "group.id": "reference",
                         "auto.offset.reset": "earliest", "logger": QUIET})  # fmt: skip
    consumer.subscribe([TOPIC])
    try:
        message = None
        for _ in range(60):
            message = consumer.poll(1)
            if message is not None and message.error() is None:
                break
        assert message is not None and message.error() is None and message.value() == b"hello"
    finally:
        consumer.close()

    kafka_wire.clear()
    again = run_cli(*args, "topics", "apply", str(TWITTER), *servers, "--yes")
    assert again.exit_code == 0
    assert "nothing to change" in again.stderr
    assert kafka_wire.mutating == []
    assert read_records(store, etcd_env)[TOPIC].mod_revision == record.mod_revision
