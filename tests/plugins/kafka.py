"""Apache Kafka for the tests: the broker the platform deploys (the `apache/kafka` image pin's version).

The jars come from `tests.components` (Maven Central, installed once by `python -m tests.components.install
kafka`); each broker is a `java ... kafka.Kafka server.properties` process in KRaft mode on 127.0.0.1 free
ports, stopped by its PID. Three fixtures:

- `kafka` (session): one node that is broker and controller, the dev platform's shape. Started at the first
  test that asks for it; tests use topic names of their own. A test that stops or kills it leaves it to be
  restarted by the next test's fixture.
- `kafka_cluster3` (session): three broker+controller nodes, production's shape (`min.insync.replicas` 2,
  default and internal-topic replication factor 3). Started only when a test asks for it.
- `own_kafka` (per test): a fresh one-node cluster for tests that kill, stop, freeze or restart the broker
  (its data stays across a restart, as a broker's does).

Every test that takes one of them is marked `kafka_real` at collection.

Each fixture gives a `KafkaCluster`:

    cluster.bootstrap            "127.0.0.1:P1[,127.0.0.1:P2,...]", for --bootstrap-server / AdminClient
    cluster.cluster_id           the KRaft cluster id the nodes were formatted with
    cluster.nodes                [KafkaNode]: node_id, address, process, log (its server.log), properties
    cluster.wire                 every request any client sent this cluster (tests/kafkawire.py);
                                 `wire.before["CreateTopics"] = fn` runs fn(request) once a whole request
                                 arrived, before the broker has its last byte (kill it there: in flight)
    cluster.client()             a confluent_kafka AdminClient for it (quiet)
    cluster.kill(node_id=None)   SIGKILL one node (default: all); its relay refuses connections meanwhile
    cluster.stop() / start()     SIGTERM and wait (then SIGKILL) / start again on the same ports and data
    cluster.restart()
    KafkaCluster(base_dir, nodes=1, properties={...}, fast_start=True, log_level="INFO")   (benches:
                                 `with KafkaCluster(...) as cluster:`; fast_start=False for full JIT)

Requests are counted on the wire: each node listens behind a loopback relay (tests/kafkawire.py) and
advertises the relay's port for client connections, so no client bypasses it; brokers talk to each other
on a separate listener. The `kafka_wire` fixture is a `Wire` seeing every request to any test broker
during one test: `kafka_wire.mutating == []` proves a run sent no CreateTopics, CreatePartitions,
IncrementalAlterConfigs, AlterConfigs, DeleteTopics (...); Kafka's dry runs (`validate_only`, which change
nothing) are listed apart in `kafka_wire.validations`. `kafka_calls` wraps the AdminClient that
platformctl creates, to run code right after a call returned (`after["create_topics"]`, e.g. Ctrl-C);
its `calls` are what the client was asked (dry runs left out), not what reached the broker.

Logs: each node logs (log4j2, INFO) to `<tmp>/.../node-N/server.log`, and its stdout/stderr to
`stdout.log`. They stay in pytest's temporary directory; a failing test that used a cluster lists their
paths, last warnings and errors in its report. Data directories are removed when a cluster stops.

The cluster class, and how a start is made cheap, are in tests/kafkacluster.py (re-exported here).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.kafkacluster import (  # noqa: F401 (re-exported: tests import them from the plugin)
    CLUSTER_ID,
    QUIET,
    START_TIMEOUT,
    KafkaCluster,
    KafkaNode,
    free_port,
    kafka_home,
)
from tests.kafkawire import Wire, tap

# -- fixtures --------------------------------------------------------------------------------------------

_USED = pytest.StashKey[list[KafkaCluster]]()


def _used_by(request: pytest.FixtureRequest, cluster: KafkaCluster) -> KafkaCluster:
    """Remember that this test used `cluster`, so a failure report names its logs."""
    request.node.stash.setdefault(_USED, []).append(cluster)
    return cluster


@pytest.fixture(scope="session")
def _kafka_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    with KafkaCluster(tmp_path_factory.mktemp("kafka")) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def _kafka_cluster3_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    with KafkaCluster(tmp_path_factory.mktemp("kafka3"), nodes=3) as cluster:
        yield cluster


@pytest.fixture
def kafka(request: pytest.FixtureRequest, _kafka_session: KafkaCluster) -> KafkaCluster:
    """The session's one-node broker+controller (the dev platform's shape), running."""
    if not all(n.running for n in _kafka_session.nodes):
        _kafka_session.start()
    return _used_by(request, _kafka_session)


@pytest.fixture
def kafka_cluster3(request: pytest.FixtureRequest, _kafka_cluster3_session: KafkaCluster) -> KafkaCluster:
    """The session's three-node cluster (production's shape: min.insync.replicas 2, RF 3), running."""
    if not all(n.running for n in _kafka_cluster3_session.nodes):
        _kafka_cluster3_session.start()
    return _used_by(request, _kafka_cluster3_session)


@pytest.fixture
def own_kafka(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KafkaCluster]:
    """A one-node cluster of this test's own, for tests that kill, stop or restart the broker."""
    with KafkaCluster(tmp_path / "kafka") as cluster:
        yield _used_by(request, cluster)


@pytest.fixture
def kafka_wire() -> Iterator[Wire]:
    """Every request that reaches any test broker during this test, counted on the wire."""
    with tap() as wire:
        yield wire


KAFKA_FIXTURES = frozenset({"kafka", "kafka_cluster3", "own_kafka"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that uses a Kafka fixture is marked `kafka_real` (`-m kafka_real` selects them)."""
    for item in items:
        if KAFKA_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.kafka_real)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.failed:
        for cluster in item.stash.get(_USED, []):
            report.sections.append((f"Kafka logs ({cluster.base})", cluster.describe_logs()))


# -- the AdminClient platformctl creates, for code that must run right after a call -------------------

ADMIN_METHODS = frozenset(
    {"create_topics", "create_partitions", "incremental_alter_configs", "alter_configs", "delete_topics"}
)


class HookedAdminClient:
    """The real AdminClient; `after[name](futures)` runs right after that call returned its futures (dry
    runs, `validate_only=True`, pass through unrecorded)."""

    def __init__(self, inner: Any, calls: list[str], after: dict[str, Callable[[Any], None]]) -> None:
        self._inner = inner
        self._calls = calls
        self._after = after

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name not in ADMIN_METHODS:
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            if kwargs.get("validate_only"):  # a dry run (platformctl.topics.dryrun): not the call to hook
                return attr(*args, **kwargs)
            self._calls.append(name)
            futures = attr(*args, **kwargs)
            hook = self._after.get(name)
            if hook is not None:
                hook(futures)
            return futures

        return call


@dataclass
class KafkaCalls:
    """Hooks run after platformctl's AdminClient calls (`after`), and the calls made (`calls`, client
    side: count requests with `kafka_wire`, which sees the wire)."""

    calls: list[str] = field(default_factory=list)
    after: dict[str, Callable[[Any], None]] = field(default_factory=dict)


@pytest.fixture
def kafka_calls(monkeypatch: pytest.MonkeyPatch) -> KafkaCalls:
    from confluent_kafka.admin import AdminClient

    import platformctl.adapters.kafka

    record = KafkaCalls()
    monkeypatch.setattr(
        platformctl.adapters.kafka,
        "AdminClient",
        lambda config: HookedAdminClient(AdminClient(config), record.calls, record.after),
    )
    return record
