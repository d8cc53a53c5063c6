"""A fake confluent_kafka AdminClient for the paths the Tansu broker cannot exercise.

It answers with confluent_kafka's own types (ClusterMetadata, ConfigEntry with a ConfigSource,
KafkaError/KafkaException inside futures), so `platformctl.kafka.Admin` runs unchanged against it. It
models, like Apache Kafka 4.x:
- CreatePartitions (Tansu: _UNSUPPORTED_FEATURE), refusing to lower a count (INVALID_PARTITIONS);
- DescribeConfigs listing every config, defaults included, each with its `source` (Tansu lists only
  the keys that were set and marks them all DEFAULT_CONFIG);
- broker-side validation: unknown config keys (INVALID_CONFIG), replication factor above the broker count
  (INVALID_REPLICATION_FACTOR), existing topics (TOPIC_ALREADY_EXISTS), and per-topic refusals a test
  injects (`refuse`, e.g. POLICY_VIOLATION from a CreateTopicPolicy or THROTTLING_QUOTA_EXCEEDED).

It does not model: config synonyms, read-only or sensitive entries, validate_only, controller
propagation delay (metadata is up to date at once), ACLs, quotas' back-off timing, or anything about
records. Every mutating call is recorded in `calls` (method name, the names it touched).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AlterConfigOpType,
    BrokerMetadata,
    ClusterMetadata,
    ConfigEntry,
    ConfigSource,
    PartitionMetadata,
    TopicMetadata,
)

from platformctl.topicspec import KAFKA_TOPIC_CONFIGS

# A few of Apache Kafka's defaults, listed the way DescribeConfigs lists them.
KAFKA_DEFAULTS = {
    "cleanup.policy": "delete",
    "min.insync.replicas": "1",
    "retention.ms": "604800000",
    "segment.bytes": "1073741824",
    "segment.ms": "604800000",
}


@dataclass
class FakeTopic:
    partitions: int
    replication_factor: int
    config: dict[str, str] = field(default_factory=dict)  # DYNAMIC_TOPIC_CONFIG entries


def _done(value: Any = None) -> Future[Any]:
    future: Future[Any] = Future()
    future.set_result(value)
    return future


def _failed(code: int, message: str) -> Future[Any]:
    future: Future[Any] = Future()
    future.set_exception(KafkaException(KafkaError(code, message)))
    return future


class FakeAdminClient:
    def __init__(
        self,
        *,
        brokers: int = 3,
        cluster_id: str = "fake-cluster-id-000001",
        static: Mapping[str, str] | None = None,
    ) -> None:
        self.brokers = brokers
        self.cluster_id = cluster_id
        self.topics: dict[str, FakeTopic] = {}
        self.static = dict(static or {})  # STATIC_BROKER_CONFIG (server.properties), e.g. min.insync.replicas
        self.refuse: dict[str, tuple[int, str]] = {}  # topic -> error for any mutation of it
        self.calls: list[tuple[str, list[str]]] = []

    def add(
        self, name: str, partitions: int, replication_factor: int, config: Mapping[str, str] = {}
    ) -> None:
        self.topics[name] = FakeTopic(partitions, replication_factor, dict(config))

    # -- reads ------------------------------------------------------------------------------------------

    def list_topics(self, timeout: float = -1) -> ClusterMetadata:
        metadata = ClusterMetadata()
        metadata.cluster_id = self.cluster_id
        metadata.controller_id = 1
        for broker_id in range(1, self.brokers + 1):
            broker = BrokerMetadata()
            broker.id, broker.host, broker.port = broker_id, "fake", 9092
            metadata.brokers[broker_id] = broker
        for name, topic in self.topics.items():
            meta = TopicMetadata()
            meta.topic = name
            for index in range(topic.partitions):
                partition = PartitionMetadata()
                partition.id = index
                partition.leader = 1
                partition.replicas = list(range(1, topic.replication_factor + 1))
                partition.isrs = list(partition.replicas)
                meta.partitions[index] = partition
            metadata.topics[name] = meta
        return metadata

    def describe_configs(self, resources: Iterable[Any], **kwargs: Any) -> dict[Any, Future[Any]]:
        answers: dict[Any, Future[Any]] = {}
        for resource in resources:
            topic = self.topics.get(resource.name)
            if topic is None:
                answers[resource] = _failed(KafkaError.UNKNOWN_TOPIC_OR_PART, "unknown topic")
                continue
            entries: dict[str, ConfigEntry] = {}
            for key, value in KAFKA_DEFAULTS.items():
                entries[key] = ConfigEntry(key, value, source=ConfigSource.DEFAULT_CONFIG, is_default=True)
            for key, value in self.static.items():
                entries[key] = ConfigEntry(key, value, source=ConfigSource.STATIC_BROKER_CONFIG)
            for key, value in topic.config.items():
                entries[key] = ConfigEntry(key, value, source=ConfigSource.DYNAMIC_TOPIC_CONFIG)
            answers[resource] = _done(entries)
        return answers

    # -- writes -----------------------------------------------------------------------------------------

    def create_topics(self, new_topics: list[Any], **kwargs: Any) -> dict[str, Future[Any]]:
        self.calls.append(("create_topics", [t.topic for t in new_topics]))
        answers: dict[str, Future[Any]] = {}
        for new in new_topics:
            name = new.topic
            unknown = [k for k in new.config if k not in KAFKA_TOPIC_CONFIGS]
            if name in self.refuse:
                answers[name] = _failed(*self.refuse[name])
            elif name in self.topics:
                answers[name] = _failed(KafkaError.TOPIC_ALREADY_EXISTS, f"Topic '{name}' already exists.")
            elif new.replication_factor > self.brokers:
                answers[name] = _failed(
                    KafkaError.INVALID_REPLICATION_FACTOR,
                    f"Unable to replicate the partition {new.replication_factor} time(s): "
                    f"The target replication factor of {new.replication_factor} cannot be reached because "
                    f"only {self.brokers} broker(s) are registered.",
                )
            elif unknown:
                answers[name] = _failed(KafkaError.INVALID_CONFIG, f"Unknown topic config name: {unknown[0]}")
            else:
                self.topics[name] = FakeTopic(new.num_partitions, new.replication_factor, dict(new.config))
                answers[name] = _done()
        return answers

    def create_partitions(self, new_partitions: list[Any], **kwargs: Any) -> dict[str, Future[Any]]:
        self.calls.append(("create_partitions", [p.topic for p in new_partitions]))
        answers: dict[str, Future[Any]] = {}
        for request in new_partitions:
            topic = self.topics.get(request.topic)
            if request.topic in self.refuse:
                answers[request.topic] = _failed(*self.refuse[request.topic])
            elif topic is None:
                answers[request.topic] = _failed(KafkaError.UNKNOWN_TOPIC_OR_PART, "unknown topic")
            elif request.new_total_count <= topic.partitions:
                answers[request.topic] = _failed(
                    KafkaError.INVALID_PARTITIONS,
                    f"Topic currently has {topic.partitions} partitions, which is higher than the requested "
                    f"{request.new_total_count}.",
                )
            else:
                topic.partitions = request.new_total_count
                answers[request.topic] = _done()
        return answers

    def incremental_alter_configs(self, resources: list[Any], **kwargs: Any) -> dict[Any, Future[Any]]:
        self.calls.append(("incremental_alter_configs", [r.name for r in resources]))
        answers: dict[Any, Future[Any]] = {}
        for resource in resources:
            topic = self.topics.get(resource.name)
            if resource.name in self.refuse:
                answers[resource] = _failed(*self.refuse[resource.name])
                continue
            if topic is None:
                answers[resource] = _failed(KafkaError.UNKNOWN_TOPIC_OR_PART, "unknown topic")
                continue
            for entry in resource.incremental_configs:
                if entry.incremental_operation == AlterConfigOpType.SET:
                    topic.config[entry.name] = entry.value
                elif entry.incremental_operation == AlterConfigOpType.DELETE:
                    topic.config.pop(entry.name, None)
            answers[resource] = _done()
        return answers

    def alter_configs(self, resources: list[Any], **kwargs: Any) -> dict[Any, Future[Any]]:
        # The legacy call resets every key it does not name; platformctl must never use it.
        self.calls.append(("alter_configs", [r.name for r in resources]))
        raise AssertionError("legacy AlterConfigs called")

    def delete_topics(self, topics: list[str], **kwargs: Any) -> dict[str, Future[Any]]:
        self.calls.append(("delete_topics", list(topics)))
        answers: dict[str, Future[Any]] = {}
        for name in topics:
            if self.topics.pop(name, None) is None:
                answers[name] = _failed(KafkaError.UNKNOWN_TOPIC_OR_PART, "unknown topic")
            else:
                answers[name] = _done()
        return answers
