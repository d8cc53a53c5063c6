"""The request counter of the Kafka test plugin: it must see every request, however the bytes arrive."""

from __future__ import annotations

import random
import struct

import pytest
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
    ResourceType,
)

from tests.kafkawire import MUTATING, Wire, _Framer
from tests.plugins.kafka import KafkaCluster


def _frame(api_key: int, api_version: int, body: bytes) -> bytes:
    payload = struct.pack(">hhi", api_key, api_version, 7) + body
    return struct.pack(">i", len(payload)) + payload


def test_framer_finds_every_header_however_the_stream_is_split() -> None:
    rng = random.Random(11)
    sent = [(rng.choice([3, 19, 32, 44]), rng.randrange(8), bytes(rng.randrange(0, 300))) for _ in range(200)]
    stream = b"".join(_frame(*request) for request in sent)
    framer = _Framer()
    found: list[tuple[int, int]] = []
    i = 0
    while i < len(stream):
        step = rng.choice([1, 2, 3, 7, 64, 1000])
        found += framer.feed(stream[i : i + step])
        i += step
    assert [event for event in found if isinstance(event, tuple)] == [(key, version) for key, version, _ in sent]
    assert [event for event in found if isinstance(event, bytes)] == [_frame(*request)[-2:] for request in sent]


@pytest.mark.kafka_real
def test_clients_reach_the_broker_only_through_the_relay(kafka: KafkaCluster, kafka_wire: Wire) -> None:
    client = AdminClient({"bootstrap.servers": kafka.bootstrap})
    metadata = client.list_topics(timeout=10)
    # The broker advertises the relay's port: every connection a client opens from metadata crosses it.
    assert {(b.host, b.port) for b in metadata.brokers.values()} == {("127.0.0.1", kafka.nodes[0].relay.port)}
    assert kafka.nodes[0].relay.port != kafka.nodes[0].client_port
    assert "Metadata" in kafka_wire.names()
    assert kafka_wire.mutating == []
    futures = client.create_topics([NewTopic("wire-one", 1, 1), NewTopic("wire-two", 1, 1)])
    for future in futures.values():
        future.result()
    assert kafka_wire.mutating == ["CreateTopics"]  # one request for both topics
    # A dry run (validate_only) is a request of the same kind that changes nothing: told apart on the wire.
    kafka_wire.clear()
    for future in client.create_topics([NewTopic("wire-three", 1, 1)], validate_only=True).values():
        future.result()
    assert (kafka_wire.mutating, kafka_wire.validations) == ([], ["CreateTopics"])
    partitions = client.create_partitions([NewPartitions("wire-one", 2)], validate_only=True)
    for future in partitions.values():
        future.result()
    alter = ConfigResource(ResourceType.TOPIC, "wire-one", incremental_configs=[
        ConfigEntry("retention.ms", "1000", incremental_operation=AlterConfigOpType.SET)])  # fmt: skip
    for future in client.incremental_alter_configs([alter], validate_only=True).values():
        future.result()
    for future in client.incremental_alter_configs([alter]).values():
        future.result()
    assert kafka_wire.validations == ["CreateTopics", "CreatePartitions", "IncrementalAlterConfigs"]
    assert kafka_wire.mutating == ["IncrementalAlterConfigs"]
    assert "CreateTopics" in MUTATING and "Metadata" not in MUTATING
