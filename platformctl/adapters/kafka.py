"""The Kafka adapter: the only module that imports confluent_kafka.

Every call is batched over all topics of a run (one metadata request plus DescribeConfigs to read the
cluster, then CreateTopics, CreatePartitions, IncrementalAlterConfigs and DeleteTopics), and waits are
metadata polls, never fixed sleeps. A batch too large for one request goes in chunks (`DESCRIBE_CHUNK`,
`CHUNK_TOPICS`, `CHUNK_RECORDS`), each with its own deadline (creates with a progress line on stderr): a
KRaft controller refuses a request that would write more than 10,000 metadata records (KAFKA-14996,
KAFKA-17870), and thousands of topics in one request outlive any sensible request timeout, leaving the set
half-created.

Config changes go through IncrementalAlterConfigs only: the legacy AlterConfigs replaces a topic's whole
config and silently resets every key it does not name (https://cwiki.apache.org/confluence/display/KAFKA/KIP-339).

Client errors become `PlatformError`s here, naming the broker or the topic. Per-topic refusals (policy
violation, invalid config, throttling) are returned as `{topic: message}` so the caller can finish what
succeeded and report the rest; a broker that cannot be reached at all raises at once.

The client is configured with short socket/connection timeouts so a dead broker fails in seconds, and
librdkafka's own log lines go to `ui.debug` (-vv) instead of stderr.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from confluent_kafka import KafkaError, KafkaException

# confluent_kafka.admin re-exports these without `__all__`, which mypy --strict reads as private.
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
    ResourceType,
)

from platformctl import ui
from platformctl.errors import PlatformError

T = TypeVar("T")

# DescribeConfigs lists every config of a topic with its source; only DYNAMIC_TOPIC_CONFIG was set on the
# topic. Everything else is inherited and never drift from the files: Kafka's own defaults, server.properties
# (STATIC_BROKER_CONFIG), a broker's or the cluster's dynamic config (Kafka 4's controller itself sets a
# cluster-wide min.insync.replicas, KIP-966, so a fresh cluster already reports DYNAMIC_DEFAULT_BROKER_CONFIG).
_TOPIC_SOURCE = ConfigSource.DYNAMIC_TOPIC_CONFIG.value


@dataclass(frozen=True)
class TopicState:
    """One topic as the cluster reports it."""

    name: str
    partitions: int
    replication_factor: int
    config: Mapping[str, str]  # keys set on the topic itself (not inherited defaults)
    inherited: Mapping[str, str] = field(default_factory=dict)  # broker/static defaults, for display


@dataclass(frozen=True)
class ClusterState:
    """What a plan is computed against."""

    cluster_id: str | None
    brokers: int
    topics: Mapping[str, TopicState]  # the topics asked about that exist
    names: frozenset[str]  # every topic name on the cluster (collisions, prune)


@dataclass(frozen=True)
class NewTopicRequest:
    name: str
    partitions: int
    replication_factor: int
    config: Mapping[str, str]


@dataclass(frozen=True)
class ConfigChange:
    key: str
    value: str | None  # None: delete the key (back to the inherited default)


# At most this many topics, and this many metadata records (a topic, its partitions and its configs: one
# record each), per CreateTopics request; the controller's own limit is 10,000 records. Small enough that
# a chunk completes within the request timeout on a loaded broker; large enough that 10,000 topics take
# ten requests.
CHUNK_TOPICS = 1000
CHUNK_RECORDS = 5000
# How long the metadata wait after a change may see no topic become ready before it gives up. A broker
# making thousands of partitions shows them a chunk at a time, after creating every log of the chunk (on a
# slow disk, tens of seconds per 1,000): it is busy, not stuck. A dead broker fails at once regardless.
METADATA_STALL = 60.0
# Topics per DescribeConfigs request. Kafka lists every config of a topic (~35), so one request for 10,000
# topics is a 350,000-entry answer: Apache Kafka 4.2 took 13.5 s for it on a loaded 2-core machine, past
# the 10 s default request timeout, where 500-topic requests take ~0.5 s each (and 9.7-11.3 s for all).
DESCRIBE_CHUNK = 500
# librdkafka refuses socket.timeout.ms above 300,000 ms (its CONFIGURATION.md): the settings' ceiling for
# kafka.request-timeout comes from here.
MAX_REQUEST_TIMEOUT = 300.0


def create_chunks(topics: Sequence[NewTopicRequest]) -> Iterator[Sequence[NewTopicRequest]]:
    """Consecutive chunks of at most `CHUNK_TOPICS` topics and `CHUNK_RECORDS` records (a topic that alone
    exceeds the record budget goes alone: the broker says whether it takes it)."""
    start, records = 0, 0
    for i, topic in enumerate(topics):
        cost = 1 + topic.partitions + len(topic.config)
        if i > start and (i - start >= CHUNK_TOPICS or records + cost > CHUNK_RECORDS):
            yield topics[start:i]
            start, records = i, 0
        records += cost
    if start < len(topics):
        yield topics[start:]


class _Log(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        ui.debug(f"librdkafka: {record.getMessage()}")


def _logger() -> logging.Logger:
    logger = logging.getLogger("platformctl.librdkafka")
    if not logger.handlers:
        logger.addHandler(_Log())
        logger.propagate = False
        logger.setLevel(logging.DEBUG)
    return logger


class Admin:
    """Batched admin operations against one Kafka cluster.

    `client` is for tests only: an object with AdminClient's methods (a stand-in for faults).
    """

    def __init__(self, bootstrap_server: str, *, timeout: float = 10.0, client: Any = None) -> None:
        self.bootstrap_server = bootstrap_server
        self.timeout = timeout
        ms = min(max(int(timeout * 1000), 1000), int(MAX_REQUEST_TIMEOUT * 1000))
        config: dict[str, Any] = {
            "bootstrap.servers": bootstrap_server,
            "socket.timeout.ms": ms,
            "socket.connection.setup.timeout.ms": ms,
            "reconnect.backoff.max.ms": 1000,
            "logger": _logger(),
        }
        self._client: Any = client or AdminClient(config)

    # -- reading -------------------------------------------------------------------------------------

    def _metadata(self) -> Any:
        try:
            return _interruptible(lambda: self._client.list_topics(timeout=self.timeout))
        except KafkaException as e:
            raise self._unreachable(e) from e

    def _unreachable(self, e: KafkaException) -> PlatformError:
        error = e.args[0] if e.args else None
        reason = error.str() if isinstance(error, KafkaError) else str(e)
        return PlatformError(
            f"cannot reach Kafka at {self.bootstrap_server}: {reason}",
            hint="is the broker running? check --bootstrap-server / PLATFORMCTL_BOOTSTRAP_SERVER",
        )

    def describe(self, names: Collection[str]) -> ClusterState:
        """The cluster's view of these topics: one metadata request, then DescribeConfigs in chunks of
        `DESCRIBE_CHUNK` topics, one after the other, each with the full request timeout."""
        metadata = self._metadata()
        all_names = frozenset(metadata.topics)
        existing = sorted(n for n in names if n in metadata.topics)
        configs: dict[str, tuple[dict[str, str], dict[str, str]]] = {}
        for start in range(0, len(existing), DESCRIBE_CHUNK):
            resources = [ConfigResource(ResourceType.TOPIC, n) for n in existing[start : start + DESCRIBE_CHUNK]]
            try:
                futures = self._client.describe_configs(resources, request_timeout=self.timeout)
            except KafkaException as e:
                raise self._unreachable(e) from e
            for resource, future in futures.items():
                entries = self._result(future, f"reading the config of topic {resource.name!r}")
                configs[resource.name] = _split_config(entries)
        topics: dict[str, TopicState] = {}
        for name in existing:
            topic = metadata.topics[name]
            if topic.error is not None:
                raise PlatformError(f"Kafka cannot describe topic {name!r}: {_reason(topic.error)}")
            partitions = topic.partitions
            replicas = max((len(p.replicas) for p in partitions.values()), default=0)
            own, inherited = configs.get(name, ({}, {}))
            topics[name] = TopicState(name, len(partitions), replicas, own, inherited)
        return ClusterState(
            cluster_id=metadata.cluster_id,
            brokers=len(metadata.brokers),
            topics=topics,
            names=all_names,
        )

    def _result(self, future: Any, what: str) -> Any:
        try:
            return future.result(timeout=self.timeout + 5)
        except KafkaException as e:
            raise PlatformError(f"Kafka failed {what}: {_reason(e)}") from e
        except TimeoutError as e:
            raise PlatformError(f"Kafka did not answer {what} within {self.timeout:g}s") from e

    # -- writing (each returns {topic: why it failed}) ---------------------------------------------------

    def create_topics(
        self,
        topics: Sequence[NewTopicRequest],
        *,
        before_request: Callable[[], None] | None = None,
        validate_only: bool = False,
    ) -> dict[str, str]:
        """Create the topics in chunks (`create_chunks`), each request with the full request timeout;
        `before_request` runs before each one (it may raise to stop: the environment lock was lost).
        `validate_only`: Kafka checks every topic as for a create and creates nothing (a dry run)."""
        if not topics:
            return {}
        failures: dict[str, str] = {}
        chunks = list(create_chunks(topics))
        sent = 0
        for chunk in chunks:
            if before_request is not None:
                before_request()
            requests = [
                NewTopic(
                    t.name,
                    num_partitions=t.partitions,
                    replication_factor=t.replication_factor,
                    config=dict(t.config),
                )
                for t in chunk
            ]
            failures |= self._each(
                lambda requests=requests: self._client.create_topics(
                    requests,
                    operation_timeout=self.timeout,
                    request_timeout=self.timeout,
                    validate_only=validate_only,
                ),
                "creating",
            )
            sent += len(chunk)
            if len(chunks) > 1 and not validate_only:
                refused = f" ({len(failures):,} refused)" if failures else ""
                ui.info(f"creating topics: {sent:,} of {len(topics):,} sent{refused}")
        return failures

    def create_partitions(self, totals: Mapping[str, int], *, validate_only: bool = False) -> dict[str, str]:
        """Raise each topic's partition count to the total given (Kafka cannot lower it)."""
        if not totals:
            return {}
        requests = [NewPartitions(name, total) for name, total in totals.items()]
        return self._each(
            lambda: self._client.create_partitions(
                requests,
                operation_timeout=self.timeout,
                request_timeout=self.timeout,
                validate_only=validate_only,
            ),
            "adding partitions to",
        )

    def alter_configs(
        self, changes: Mapping[str, Sequence[ConfigChange]], *, validate_only: bool = False
    ) -> dict[str, str]:
        """One IncrementalAlterConfigs for every topic: SET named keys, DELETE removed ones, nothing else."""
        resources = []
        for name, topic_changes in changes.items():
            if not topic_changes:
                continue
            entries = [
                ConfigEntry(
                    c.key,
                    c.value,
                    incremental_operation=AlterConfigOpType.SET
                    if c.value is not None
                    else AlterConfigOpType.DELETE,
                )
                for c in topic_changes
            ]
            resources.append(ConfigResource(ResourceType.TOPIC, name, incremental_configs=entries))
        if not resources:
            return {}
        return self._each(
            lambda: self._client.incremental_alter_configs(
                resources, request_timeout=self.timeout, validate_only=validate_only
            ),
            "changing the config of",
        )

    def delete_topics(self, names: Collection[str]) -> dict[str, str]:
        if not names:
            return {}
        return self._each(
            lambda: self._client.delete_topics(
                sorted(names), operation_timeout=self.timeout, request_timeout=self.timeout
            ),
            "deleting",
        )

    def _each(self, call: Any, verb: str) -> dict[str, str]:
        try:
            futures = call()
        except KafkaException as e:
            raise self._unreachable(e) from e
        except ValueError as e:  # librdkafka refused to build the request (topicspec's limits prevent it)
            raise PlatformError(f"the Kafka client refused {verb} topics: {e}; nothing was sent") from e
        failures: dict[str, str] = {}
        for key, future in futures.items():
            name = key.name if isinstance(key, ConfigResource) else str(key)
            try:
                future.result(timeout=self.timeout + 5)
            except KafkaException as e:
                error = e.args[0] if e.args else None
                if isinstance(error, KafkaError) and error.code() in _TRANSPORT_CODES:
                    raise PlatformError(
                        f"lost Kafka at {self.bootstrap_server} while {verb} topic {name!r}: {_reason(e)}",
                        hint="re-run the same command when the broker is back: it resumes where this stopped",
                    ) from e
                failures[name] = f"{verb} topic {name!r}: {_reason(e)}"
            except TimeoutError:
                raise PlatformError(
                    f"Kafka did not answer within {self.timeout:g}s while {verb} topic {name!r}",
                    hint="re-run the same command: it continues where this stopped",
                ) from None
        return failures

    # -- waiting ---------------------------------------------------------------------------------------

    def wait_for(self, partitions: Mapping[str, int], gone: Collection[str] = ()) -> None:
        """Poll metadata until each topic has (at least) its partitions and `gone` topics are absent.

        CreateTopics returns when the controller has accepted the topics; brokers learn of them a moment
        later, and a client that produces right away can still get UNKNOWN_TOPIC_OR_PART. The deadline
        is for progress, not for the whole set: it fails only when `METADATA_STALL` (or the request timeout,
        if longer) passes with no topic becoming ready.
        """
        if not partitions and not gone:
            return
        total = len(partitions) + len(gone)
        stall = max(self.timeout, METADATA_STALL)
        deadline = time.monotonic() + stall
        delay = 0.02
        best = total
        while True:
            polled = time.monotonic()
            metadata = self._metadata()
            # A metadata response for 10,000 topics costs the broker (and this client) a good fraction of a
            # second: never spend more than a third of the wait polling.
            spent = time.monotonic() - polled
            missing = [
                name
                for name, count in partitions.items()
                if name not in metadata.topics
                or metadata.topics[name].error is not None
                or len(metadata.topics[name].partitions) < count
            ]
            lingering = [name for name in gone if name in metadata.topics]
            left = len(missing) + len(lingering)
            if not left:
                return
            if left < best:
                if total > CHUNK_TOPICS:
                    ui.info(f"waiting for Kafka's metadata: {total - left:,} of {total:,} topics ready")
                best, deadline, delay = left, time.monotonic() + stall, 0.02
            if time.monotonic() >= deadline:
                pending = ", ".join(sorted(missing + lingering)[:5])
                raise PlatformError(
                    f"Kafka accepted the changes but its metadata still disagrees after {stall:g}s "
                    f"without progress ({left:,} of {total:,} topics not ready: {pending})",
                    hint="re-run the same command; it sends only what is still missing",
                )
            time.sleep(max(delay, 2 * spent))
            delay = min(delay * 2, 0.5)


_TRANSPORT_CODES = frozenset(
    {
        # librdkafka fails a request in flight with _DESTROY_BROKER when the connection to the broker that
        # had it is torn down (the broker died): the outcome is unknown, as with a transport error.
        KafkaError._DESTROY_BROKER,
        KafkaError._TRANSPORT,
        KafkaError._TIMED_OUT,
        KafkaError._ALL_BROKERS_DOWN,
        KafkaError.REQUEST_TIMED_OUT,
        KafkaError.NETWORK_EXCEPTION,
    }
)


def _interruptible(call: Callable[[], T]) -> T:
    """`call()` in a worker thread, waited for here: Ctrl-C then interrupts at once.

    librdkafka's metadata request blocks the calling thread in C for up to the request timeout, and Python
    runs its SIGINT handler only when the C call returns, so a frozen broker used to hold Ctrl-C for the
    whole timeout. Waiting on a future is interruptible; the worker (a daemon) is abandoned with the process.
    """
    done: concurrent.futures.Future[T] = concurrent.futures.Future()

    def run(future: concurrent.futures.Future[T]) -> None:
        try:
            future.set_result(call())
        except BaseException as e:  # handed to the waiting thread as it is
            future.set_exception(e)
            # This frame stays in the exception's traceback: holding the future that holds the exception, it
            # would make a cycle keeping the client (the Admin in `call`) alive, and reconnecting, until the
            # next garbage collection rather than until the exception goes.
            del future

    threading.Thread(target=run, args=(done,), name="kafka-metadata", daemon=True).start()
    try:
        return done.result()
    finally:
        del done  # the same for this frame, which the exception passes through


def _reason(error: Any) -> str:
    if isinstance(error, KafkaException) and error.args:
        error = error.args[0]
    if isinstance(error, KafkaError):
        message = error.str()
        name = error.name()
        return f"{name}: {message}" if message and name not in message else (message or name)
    return str(error)


def _split_config(entries: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """(keys set on the topic, inherited keys) from a DescribeConfigs answer; see `_TOPIC_SOURCE`."""
    own: dict[str, str] = {}
    inherited: dict[str, str] = {}
    for name, entry in entries.items():
        if entry.value is None or entry.is_sensitive:
            continue
        source = getattr(entry.source, "value", entry.source)
        (own if source == _TOPIC_SOURCE else inherited)[name] = entry.value
    return own, inherited
