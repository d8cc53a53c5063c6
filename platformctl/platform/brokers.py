"""Kafka's shape on the platform: N combined broker/controller nodes, their listeners and the addresses
each advertises, as the templates render them and `port-forward kafka` reaches them.

Apps in the cluster bootstrap from `kafka-service:9092` (the INTERNAL listener); each broker advertises
its own pod's name there, through the headless Service. Host clients reach broker i as localhost:9092+i,
the HOST listener each broker advertises, which only `port-forward kafka` exposes (no Service does). What
differs per node is derived from the pod's ordinal when it starts (`BROKER_SCRIPT`), because a
StatefulSet gives every pod the same spec. The render (render.py) and the forwards (forwarding.py) both
read this one description, so the addresses a broker advertises and the ports that reach it cannot
disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from platformctl.settings import Settings

KAFKA_SERVICE = "kafka-service"  # what apps bootstrap from: port 9092 is the INTERNAL listener
KAFKA_HEADLESS = "kafka-brokers"  # per-broker DNS: kafka-<i>.kafka-brokers.<ns>.svc.cluster.local
INTERNAL_PORT = 9092
HOST_LISTENER_PORT = 29092  # container port of the HOST listener; no Service exposes it
CONTROLLER_PORT = 9093
# Broker i is advertised to host clients as localhost:HOST_PORT_BASE+i; `port-forward kafka` listens there.
HOST_PORT_BASE = 9092
HOST_PORT_NAME = "host"  # the container port `port-forward kafka` reaches, in both flavors
# What differs per node, derived from the pod's ordinal at start (a StatefulSet gives every pod the same
# spec). The script is constant text: every value it uses comes from the environment, none is pasted in.
BROKER_SCRIPT = """set -eu
ordinal="${POD_NAME##*-}"
export KAFKA_NODE_ID="$ordinal"
export KAFKA_ADVERTISED_LISTENERS="INTERNAL://${POD_NAME}.${BROKER_DNS_SUFFIX}:${INTERNAL_PORT},\
HOST://localhost:$((HOST_PORT_BASE + ordinal))"
exec "$@"
"""
# The apache/kafka image's own start script (its CMD): KAFKA_* -> server.properties, format, start.
IMAGE_START = "/etc/kafka/docker/run"


@dataclass(frozen=True)
class Broker:
    """One Kafka node: its pod, and the addresses it advertises inside the cluster and to the host."""

    index: int  # the pod's ordinal, also its KRaft node id
    pod: str
    internal: str  # host:port in-cluster clients are sent to
    host_port: int  # localhost port host clients are sent to (the forward's local port)


@dataclass(frozen=True)
class KafkaLayout:
    """Kafka's listeners, addresses and replication for this many brokers, as the templates render them.

    Combined nodes (each broker and controller, every node a voter) rather than separate controllers: a
    local platform pays one JVM per node, so N=3 is three JVMs, not six, and a 3-node cluster still has a
    3-voter quorum that survives one node, as production's does. Production's separate controller pool
    changes nothing a client or a topic can see.
    """

    namespace: str
    brokers: int
    flavor: str = "apache"
    service: str = KAFKA_SERVICE
    headless_service: str = KAFKA_HEADLESS
    internal_port: int = INTERNAL_PORT
    host_listener_port: int = HOST_LISTENER_PORT
    controller_port: int = CONTROLLER_PORT
    host_port_base: int = HOST_PORT_BASE

    @property
    def dns_suffix(self) -> str:
        return f"{self.headless_service}.{self.namespace}.svc.cluster.local"

    @property
    def bootstrap(self) -> str:
        """What in-cluster clients configure: the Service, port 9092 (the INTERNAL listener)."""
        return f"{self.service}.{self.namespace}.svc.cluster.local:{self.internal_port}"

    @property
    def replication(self) -> int:
        """Internal topics (offsets, transactions, share state, schemas): production's 3, or every broker."""
        from platformctl.settings import PRODUCTION_REPLICATION

        return min(PRODUCTION_REPLICATION, self.brokers)

    @property
    def min_isr(self) -> int:
        """Kafka's default min ISR of its internal topics (2), never more than their replication."""
        return min(2, self.replication)

    def broker(self, index: int) -> Broker:
        pod = f"kafka-{index}"
        return Broker(index, pod, f"{pod}.{self.dns_suffix}:{self.internal_port}", self.host_port_base + index)

    def all(self) -> list[Broker]:
        return [self.broker(i) for i in range(self.brokers)]

    @property
    def quorum_voters(self) -> str:
        return ",".join(f"{b.index}@{b.pod}.{self.dns_suffix}:{self.controller_port}" for b in self.all())

    @property
    def command(self) -> list[str]:
        return ["/bin/bash", "-c", BROKER_SCRIPT, "kafka-node"]

    @property
    def args(self) -> list[str]:
        return [IMAGE_START]

    @property
    def env(self) -> dict[str, str]:
        """The container's environment besides POD_NAME and the heap: the script's inputs, then KAFKA_*."""
        rf, isr = str(self.replication), str(self.min_isr)
        return {
            "BROKER_DNS_SUFFIX": self.dns_suffix,
            "INTERNAL_PORT": str(self.internal_port),
            "HOST_PORT_BASE": str(self.host_port_base),
            "KAFKA_PROCESS_ROLES": "broker,controller",
            "KAFKA_CONTROLLER_QUORUM_VOTERS": self.quorum_voters,
            "KAFKA_LISTENERS": (
                f"INTERNAL://:{self.internal_port},HOST://:{self.host_listener_port},"
                f"CONTROLLER://:{self.controller_port}"
            ),
            "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "INTERNAL:PLAINTEXT,HOST:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "KAFKA_INTER_BROKER_LISTENER_NAME": "INTERNAL",
            "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
            "KAFKA_LOG_DIRS": "/var/lib/kafka/data/logs",
            "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",
            "KAFKA_DEFAULT_REPLICATION_FACTOR": rf,
            "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": rf,
            "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": rf,
            "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": isr,
            "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR": rf,
            "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR": isr,
            "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
        }


def kafka_layout(settings: Settings) -> KafkaLayout:
    return KafkaLayout(settings.namespace, settings.kafka.brokers, settings.kafka.flavor)
