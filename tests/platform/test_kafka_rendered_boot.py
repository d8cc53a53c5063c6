"""The Kafka that `platformctl render` produces boots, and serves the clients the platform promises.

tests/renderedkafka.py turns the rendered StatefulSet into server.properties by the apache/kafka image's own
rule (its KafkaDockerWrapper, from the pinned jars) and moves only ports, cluster addresses and volume
paths onto this machine. Here: the result boots as Apache Kafka 4.2, a client through the HOST listener
(advertised as localhost, reached the way `port-forward kafka` reaches it) and one through the address the
render gives in-cluster workloads both produce and consume, for one broker and for kafka.brokers 3 (every
broker's own addresses); the reference topic file applies exactly as written on the three; and wrong
listener, quorum, storage or heap settings fail here, before a user's laptop.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]

from platformctl.adapters.kafka import Admin
from platformctl.settings import KafkaSettings, Settings
from tests import kafkacluster
from tests.conftest import RunCli
from tests.kafkacluster import QUIET
from tests.renderedkafka import Broken, Pod, RenderedKafka, booted, endpoints, in_cluster_bootstraps, prepare, rendered

REFERENCE = Path(__file__).parents[2] / "examples" / "twitter-topic.conf"

pytestmark = pytest.mark.kafka_real


def _logs(pods: list[Pod]) -> str:
    return "; ".join(f"{pod.log} ({pod.dir / 'stdout.log'})" for pod in pods)


def _round_trip(bootstrap: str, topic: str, pods: list[Pod], *, expect_advertised: set[str]) -> None:
    """Through `bootstrap`: metadata names only the expected addresses, a topic is created, a record is
    written with acks=all and read back."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, "logger": QUIET})
    deadline = time.monotonic() + kafkacluster.START_TIMEOUT
    while True:
        for pod in pods:
            assert pod.process is not None and pod.process.poll() is None, f"broker exited; logs: {_logs(pods)}"
        try:
            metadata = admin.list_topics(timeout=2)
            if len(metadata.brokers) == len(pods):
                break
        except Exception:
            pass
        assert time.monotonic() < deadline, f"no broker answered at {bootstrap}; logs: {_logs(pods)}"
        time.sleep(0.2)
    assert {f"{b.host}:{b.port}" for b in metadata.brokers.values()} == expect_advertised
    for future in admin.create_topics([NewTopic(topic, 1, len(pods))], operation_timeout=60).values():
        future.result(timeout=90)
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "logger": QUIET})
    producer.produce(topic, key=b"k", value=topic.encode())
    assert producer.flush(60) == 0, f"not delivered through {bootstrap}; logs: {_logs(pods)}"
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{topic}-reader",
                         "auto.offset.reset": "earliest", "logger": QUIET})  # fmt: skip
    consumer.subscribe([topic])
    try:
        deadline = time.monotonic() + 90
        while True:
            message = consumer.poll(1)
            if message is not None and message.error() is None:
                assert message.value() == topic.encode()
                return
            assert time.monotonic() < deadline, f"nothing read through {bootstrap}; logs: {_logs(pods)}"
    finally:
        consumer.close()


# -- the tests ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("brokers", [1, 3])
def test_rendered_kafka_boots_and_serves_host_and_in_cluster_clients(tmp_path: Path, brokers: int) -> None:
    kafka = rendered(Settings(kafka=KafkaSettings(brokers=brokers)))
    assert kafka.replicas == brokers
    with booted(kafka, tmp_path) as (loop, pods):
        # The host's clients: `port-forward kafka` delivers localhost:<advertised port> to the HOST listener.
        host_addresses = set()
        for pod in pods:
            listen = dict((n, p) for n, _, p in endpoints(pod.properties["listeners"]))
            host_addresses.add(f"localhost:{loop.port(pod.ordinal, kafka.container_port(listen[pod.listeners.host]))}")
        first = pods[0]
        listen = dict((n, p) for n, _, p in endpoints(first.properties["listeners"]))
        host_bootstrap = f"localhost:{loop.port(0, kafka.container_port(listen[first.listeners.host]))}"
        _round_trip(host_bootstrap, "through-host", pods, expect_advertised=host_addresses)

        # Clients inside the cluster: the address the render gives the platform's other workloads.
        bootstraps = in_cluster_bootstraps(kafka)
        assert bootstraps, "no workload of the render is told where Kafka is"
        internal_addresses = set()
        for pod in pods:
            advertised = dict((n, (h, p)) for n, h, p in endpoints(pod.properties["advertised.listeners"]))
            ihost, iport = advertised[pod.listeners.internal]
            internal_addresses.add(loop.endpoint(ihost, iport, pod.ordinal, bind=False))
        for host, port in sorted(set(bootstraps)):
            ordinal, container_port = loop.resolve(host, port, 0, bootstrap=True)
            reached = [p for p in pods if p.ordinal == ordinal]
            listen = dict((n, p) for n, _, p in endpoints(reached[0].properties["listeners"]))
            by_port = {kafka.container_port(p): n for n, p in listen.items()}
            assert by_port.get(container_port) == reached[0].listeners.internal, (
                f"in-cluster clients use {host}:{port}, which reaches listener {by_port.get(container_port)}, "
                f"not the INTERNAL listener {reached[0].listeners.internal}"
            )
            bootstrap = f"127.0.0.1:{loop.port(ordinal, container_port)}"
            _round_trip(bootstrap, f"through-internal-{port}", pods, expect_advertised=internal_addresses)


def _with_script(kafka: RenderedKafka, old: str, new: str) -> RenderedKafka:
    """The container's command (the per-pod part of the render) with `old` replaced by `new`."""
    for c in kafka.statefulset["spec"]["template"]["spec"]["containers"]:
        if c["name"] == kafka.container["name"]:
            assert any(old in word for word in c["command"]), f"{old!r} is not in the command"
            c["command"] = [word.replace(old, new) for word in c["command"]]
    return kafka


def _with_env(kafka: RenderedKafka, name: str, value: str) -> RenderedKafka:
    container = kafka.container
    env = [v for v in container["env"] if v["name"] != name] + [{"name": name, "value": value}]
    for c in kafka.statefulset["spec"]["template"]["spec"]["containers"]:
        if c["name"] == container["name"]:
            c["env"] = env
    return kafka


@pytest.mark.parametrize(
    ("mistake", "message"),
    [
        (lambda k: _with_env(k, "HOST_PORT_BASE", "9094"), "but `port-forward kafka` listens on 9092"),
        (lambda k: _with_env(k, "KAFKA_CONTROLLER_QUORUM_VOTERS", f"{k.env(0)['KAFKA_NODE_ID']}@localhost:9092"),
         "is not this node's controller listener"),
        (lambda k: _with_env(k, "KAFKA_LOG_DIRS", "/opt/kafka/data"), "is on no volume"),
        (lambda k: _with_script(k, "HOST://localhost:$((HOST_PORT_BASE + ordinal))",
                                "HOST://localhost:$((HOST_PORT_BASE + ordinal)),CONTROLLER://localhost:9093"),
         "is advertised to clients"),
        (lambda k: _with_env(k, "KAFKA_HEAP_OPTS", "-Xms1200m -Xmx1200m"), "leaves too little"),
    ],
    ids=["host-advertised-port", "quorum-port", "storage-off-volume", "controller-advertised", "heap"],
)
def test_a_wrong_listener_quorum_or_storage_setting_fails_here(
    mistake: Any, message: str, tmp_path: Path
) -> None:
    kafka = mistake(rendered(Settings()))
    with pytest.raises(Broken, match=re.escape(message)):
        prepare(kafka, tmp_path)


def test_a_setting_only_kafka_itself_refuses_fails_the_image_setup(tmp_path: Path) -> None:
    """What the checks above do not look at, Kafka's own config validation (run by the image's setup) does."""
    kafka = _with_env(rendered(Settings()), "KAFKA_PROCESS_ROLES", "broker")  # a broker among the voters
    with pytest.raises(Broken, match="the image's setup failed") as caught:
        prepare(kafka, tmp_path)
    assert "voters" in str(caught.value), caught.value


def test_the_reference_topic_file_applies_exactly_as_written_on_the_rendered_three_brokers(
    run_cli: RunCli, tmp_path: Path, etcd_endpoint: str, etcd_env: str
) -> None:
    """kafka.brokers 3: `overrides seed` (what `up` runs) seeds nothing, and examples/twitter-topic.conf
    (replication 3, min ISR 2) lands on the rendered cluster with every value from the file."""
    config = tmp_path / "platformctl.yaml"
    config.write_text("kafka:\n  brokers: 3\n")
    scope = ("--config", str(config), "--env", etcd_env)
    seeded = run_cli(*scope, "overrides", "seed", "--etcd-endpoint", etcd_endpoint)
    assert seeded.exit_code == 0, seeded.stderr
    assert "nothing to seed: 3 brokers replicate topics as production does" in seeded.stderr
    kafka = rendered(Settings(kafka=KafkaSettings(brokers=3)))
    with booted(kafka, tmp_path / "pods") as (loop, pods):
        bootstrap = ",".join(
            f"localhost:{loop.port(p.ordinal, kafka.container_port(_listen(p)[p.listeners.host]))}" for p in pods
        )
        _round_trip(bootstrap, "ready", pods, expect_advertised=set(bootstrap.split(",")))
        servers = ("--bootstrap-server", bootstrap, "--etcd-endpoint", etcd_endpoint)
        applied = run_cli(*scope, "topics", "apply", str(REFERENCE), *servers, "--yes")
        assert applied.exit_code == 0, applied.stderr
        state = Admin(bootstrap, timeout=30).describe(["twitter-topic"]).topics["twitter-topic"]
        assert (state.partitions, state.replication_factor) == (9, 3)
        assert dict(state.config) == {
            "cleanup.policy": "compact",
            "min.compaction.lag.ms": "3600000",
            "min.cleanable.dirty.ratio": "0.5",
            "delete.retention.ms": "86400000",
            "min.insync.replicas": "2",
            "retention.ms": "-1",
        }
        # Production's durability on the local replica: acks=all with min.insync.replicas 2 of 3.
        producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "logger": QUIET})
        producer.produce("twitter-topic", key=b"tweet-1", value=b"hello")
        assert producer.flush(60) == 0, f"not delivered; logs: {_logs(pods)}"


def _listen(pod: Pod) -> dict[str, int]:
    return {name: port for name, _, port in endpoints(pod.properties["listeners"])}
