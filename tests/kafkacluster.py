"""Apache Kafka processes for tests and benches: `KafkaCluster`, N KRaft nodes on loopback, stopped by PID.

The pytest fixtures around it (and what each costs) are in tests/plugins/kafka.py; benches use the class
directly (`with KafkaCluster(base_dir, fast_start=False) as cluster:`). Each node is a
`java ... kafka.Kafka server.properties` process from the jars `tests.components` installed (the
`apache/kafka` image pin's version), behind a loopback relay (tests/kafkawire.py) whose port it advertises
to clients, so every request is seen on the wire; brokers talk to each other on a listener of their own.

Start time: the JVM maps a class-data-sharing archive (what the image does with its `.jsa`), dumped by the
first broker of a process that finds none and kept next to the jars; `fast_start` also limits the JIT to C1,
which halves the CPU a start costs (benches use the full JIT). Storage is formatted
(`kafka.tools.StorageTool format`, a JVM of its own) once per cluster id and node id per process and copied
for each new data directory.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import logging
import os
import resource
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests import components
from tests.kafkawire import Relay, Wire

CLUSTER_ID = "cGxhdGZvcm1jdGwtdGVzdA"  # 22 characters of base64: a KRaft cluster id
START_TIMEOUT = 120.0  # bounds a start on a loaded 2-core machine; not an assertion on speed
LOG_TAIL = 25

QUIET = logging.getLogger("tests.kafka.librdkafka")  # a `logger` for test clients: librdkafka says nothing
QUIET.addHandler(logging.NullHandler())
QUIET.propagate = False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def kafka_home() -> Path:
    return components.require("kafka")


@dataclass
class KafkaNode:
    node_id: int
    dir: Path
    client_port: int  # the broker's client listener, behind the relay
    broker_port: int  # inter-broker listener (direct)
    controller_port: int
    relay: Relay
    properties: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    dumping: Path | None = None  # the CDS archive this process writes at exit

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.relay.port}"

    @property
    def data(self) -> Path:
        return self.dir / "data"

    @property
    def log(self) -> Path:
        return self.dir / "server.log"

    @property
    def stdout(self) -> Path:
        return self.dir / "stdout.log"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


class KafkaCluster:
    """N KRaft nodes, each broker and controller; see the module docstring."""

    def __init__(
        self,
        base: Path,
        nodes: int = 1,
        *,
        properties: Mapping[str, object] | None = None,
        cluster_id: str = CLUSTER_ID,
        fast_start: bool = True,
        log_level: str = "INFO",
        heap: str = "512m",
        advertised_port: int | None = None,
    ) -> None:
        self.base = base
        self.cluster_id = cluster_id
        self.fast_start = fast_start
        self.log_level = log_level
        self.heap = heap
        self.wire = Wire()
        self.extra = {k: str(v) for k, v in (properties or {}).items()}
        self.nodes = [
            KafkaNode(i, base / f"node-{i}", client, free_port(), free_port(), Relay(self.wire, i, client))
            for i in range(1, nodes + 1)
            for client in [free_port()]
        ]
        # Tests of the port-forward path: the broker advertises a port where something else listens.
        self.advertised_port = advertised_port
        # Starting and stopping are serialised: a wire hook may kill a node from a relay thread while the
        # test, which saw the connection drop, already starts it again.
        self._lifecycle = threading.RLock()

    @property
    def bootstrap(self) -> str:
        return ",".join(n.address for n in self.nodes)

    def client(self) -> Any:
        """A confluent_kafka AdminClient for this cluster whose log lines go nowhere (a test that stops
        the broker would otherwise get librdkafka's reconnect complaints on stderr)."""
        from confluent_kafka.admin import AdminClient

        return AdminClient({"bootstrap.servers": self.bootstrap, "logger": QUIET})

    def node(self, node_id: int) -> KafkaNode:
        return next(n for n in self.nodes if n.node_id == node_id)

    # -- configuration -------------------------------------------------------------------------------

    def _properties(self, node: KafkaNode) -> dict[str, str]:
        count = len(self.nodes)
        advertised = self.advertised_port or node.relay.port
        internal_rf = str(min(count, 3))
        props = {
            "process.roles": "broker,controller",
            "node.id": str(node.node_id),
            "controller.quorum.voters": ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in self.nodes),
            "listeners": f"CLIENT://127.0.0.1:{node.client_port},BROKER://127.0.0.1:{node.broker_port},"
            f"CONTROLLER://127.0.0.1:{node.controller_port}",
            "advertised.listeners": f"CLIENT://127.0.0.1:{advertised},BROKER://127.0.0.1:{node.broker_port}",
            "listener.security.protocol.map": "CLIENT:PLAINTEXT,BROKER:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "BROKER",
            "controller.listener.names": "CONTROLLER",
            "log.dirs": str(node.data),
            # Like the platform: topics are declarative, a client never creates one by asking for it.
            "auto.create.topics.enable": "false",
            "group.initial.rebalance.delay.ms": "0",
            "offsets.topic.replication.factor": internal_rf,
            "transaction.state.log.replication.factor": internal_rf,
            "transaction.state.log.min.isr": str(min(count, 2)),
            "share.coordinator.state.topic.replication.factor": internal_rf,
            "share.coordinator.state.topic.min.isr": str(min(count, 2)),
        }
        if count >= 3:  # production's shape
            props |= {"min.insync.replicas": "2", "default.replication.factor": "3"}
        return props | self.extra

    def _log4j(self, node: KafkaNode) -> str:
        return (
            "status = warn\n"
            "appender.file.type = File\n"
            "appender.file.name = FILE\n"
            f"appender.file.fileName = {node.log}\n"
            "appender.file.layout.type = PatternLayout\n"
            "appender.file.layout.pattern = [%d] %p %m (%c)%n\n"
            f"rootLogger.level = {self.log_level}\n"
            "rootLogger.appenderRef.file.ref = FILE\n"
        )

    # -- lifecycle -----------------------------------------------------------------------------------

    def start(self) -> None:
        """Start every node that is not running and wait until all are registered brokers."""
        with self._lifecycle:
            for node in self.nodes:
                if not node.running:
                    self._launch(node)
        self.wait_ready()

    def start_node(self, node_id: int) -> None:
        with self._lifecycle:
            self._launch(self.node(node_id))
        self.wait_ready()

    def _launch(self, node: KafkaNode) -> None:
        from tests.plugins.etcd import die_with_parent  # here: pytest loads tests/plugins/ as plugins first

        node.dir.mkdir(parents=True, exist_ok=True)
        node.properties = self._properties(node)
        config = node.dir / "server.properties"
        config.write_text("".join(f"{k}={v}\n" for k, v in node.properties.items()))
        if not (node.data / "meta.properties").exists():
            _format(self.cluster_id, node.node_id, node.data, config)
        (node.dir / "log4j2.properties").write_text(self._log4j(node))
        cds, node.dumping = cds_flags(self.fast_start)
        args = [
            java(),
            f"-Xmx{self.heap}",
            *(["-XX:TieredStopAtLevel=1"] if self.fast_start else []),
            *cds,
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={node.dir / 'log4j2.properties'}",
            "-cp",
            str(kafka_home() / "libs" / "*"),
            "kafka.Kafka",
            str(config),
        ]
        with node.stdout.open("ab") as out:
            # A session of its own (a Ctrl-C to pytest is not the broker's), yet it dies with this process, even
            # by SIGKILL (a CI timeout): the kernel sends it SIGTERM. That follows the thread that started it,
            # so nodes are started from the thread that lives as long as the cluster.
            node.process = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=die_with_parent
            )
        node.relay.open()

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Until metadata (through the relays) lists every running node as a broker."""
        from confluent_kafka.admin import AdminClient

        running = [n for n in self.nodes if n.process is not None]
        client = AdminClient({"bootstrap.servers": self.bootstrap, "logger": QUIET})
        deadline = time.monotonic() + timeout
        while True:
            for node in running:
                assert node.process is not None
                if node.process.poll() is not None:
                    raise RuntimeError(
                        f"Kafka node {node.node_id} exited with {node.process.returncode} while starting\n"
                        + self.describe_logs()
                    )
            if self.advertised_port is not None:
                # The broker advertises a port nothing listens on yet (the forward a test starts later):
                # once a client has learned that address it may send its next metadata request there
                # and never get an answer, so each attempt starts from the bootstrap relay again.
                client = AdminClient({"bootstrap.servers": self.bootstrap, "logger": QUIET})
            try:
                brokers = client.list_topics(timeout=1).brokers
                if {b for b in brokers} >= {n.node_id for n in running}:
                    return
            except Exception:  # not answering yet
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kafka did not become ready within {timeout:g} s\n" + self.describe_logs())
            time.sleep(0.1)

    def stop(self, node_id: int | None = None, *, timeout: float = 20.0) -> None:
        """SIGTERM (a clean shutdown), then SIGKILL after `timeout`; the relay refuses connections."""
        nodes = self.nodes if node_id is None else [self.node(node_id)]
        with self._lifecycle:
            for node in nodes:
                if node.process is not None and node.process.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(node.process.pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            for node in nodes:
                self._reap(node, max(deadline - time.monotonic(), 0.1))

    def kill(self, node_id: int | None = None) -> None:
        """SIGKILL: the broker dies as in a crash (no clean shutdown); its data stays for a restart."""
        nodes = self.nodes if node_id is None else [self.node(node_id)]
        with self._lifecycle:
            for node in nodes:
                if node.process is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(node.process.pid, signal.SIGKILL)
            for node in nodes:
                self._reap(node, 10)

    def _reap(self, node: KafkaNode, timeout: float) -> None:
        """Wait for the process to end (SIGKILL after `timeout`), then cut its relay's connections: a
        client sees the broker gone only once it is. Safe to call from a relay thread (a wire hook)."""
        process = node.process
        if process is not None:
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGKILL)
                process.wait()
        node.relay.close()
        if process is not None and node.process is process:
            node.process = None
            if node.dumping is not None:
                _keep_archive(node.dumping)
                node.dumping = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop every node and remove the data directories; logs stay."""
        self.stop()
        for node in self.nodes:
            node.relay.close()
            shutil.rmtree(node.data, ignore_errors=True)

    def __enter__(self) -> KafkaCluster:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def describe_logs(self) -> str:
        """Each node's log files, with the last warnings and errors of server.log and the end of stdout."""
        lines = []
        for node in self.nodes:
            log = node.log.read_text(errors="replace").splitlines() if node.log.exists() else []
            lines.append(f"--- {node.log} ({len(log)} lines; its last warnings and errors:)")
            lines += [line for line in log if "] WARN " in line or "] ERROR " in line][-LOG_TAIL:]
            out = node.stdout.read_text(errors="replace").splitlines() if node.stdout.exists() else []
            lines.append(f"--- {node.stdout} ({len(out)} lines)")
            lines += out[-LOG_TAIL:]
        return "\n".join(lines)

    def wait_logs_deleted(self, timeout: float = 600.0) -> None:
        """Until every node has removed the logs of deleted topics from disk.

        DeleteTopics returns (and metadata forgets the topics) before the broker deletes their logs: it
        renames them `*-delete` and removes them `file.delete.delay.ms` later (60 s by default), keeping
        each one's segment file open meanwhile, so deleted topics still count against `partition_capacity`.
        Benches that delete and create thousands of topics set that delay to 0 and wait here.
        """
        deadline = time.monotonic() + timeout
        while any(p.name.endswith("-delete") for n in self.nodes if n.data.is_dir() for p in n.data.iterdir()):
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kafka still holds deleted logs after {timeout:g} s\n" + self.describe_logs())
            time.sleep(0.2)


def partition_capacity() -> int:
    """How many partitions one broker started here can hold (one replica each), from this machine's limits.

    A broker keeps its partitions' active segment files open (one descriptor each) and maps two index files
    per segment. Past the open-files hard limit (RLIMIT_NOFILE: the JVM raises its soft limit to it, and an
    unprivileged process cannot raise it) or half of vm.max_map_count, it fails with "Too many open files"
    or "Map failed" (its metadata publisher faults, its acceptor cannot take connections) and clients see
    "Broker transport failure". With 20,000 open files on the 2-core CI machine, 10,000 topics plus 10,000
    more on one broker are past it. The headroom is for the JVM's jars, sockets and checkpoint files.
    """
    _, files = resource.getrlimit(resource.RLIMIT_NOFILE)
    files = files if files != resource.RLIM_INFINITY else 1 << 20
    try:
        maps = int(Path("/proc/sys/vm/max_map_count").read_text()) // 2
    except (OSError, ValueError):
        maps = 1 << 20
    return min(files, maps) - 1000


# -- process helpers -----------------------------------------------------------------------------------


def java() -> str:
    java = shutil.which("java")
    if java is None:
        pytest.fail("java (17) is not on PATH: Apache Kafka needs it", pytrace=False)
    return java


_FORMAT_LOCK = threading.Lock()
_FORMAT_CACHE: dict[tuple[str, int], Path] = {}


def _format(cluster_id: str, node_id: int, data: Path, config: Path) -> None:
    """`StorageTool format` once per (cluster id, node id) in this process, copied for later ones.

    A formatted directory holds meta.properties (cluster id, node id, a directory id) and the bootstrap
    metadata checkpoint; none of it depends on ports or paths, so a copy is what a format would write.
    """
    from tests.plugins.etcd import die_with_parent

    with _FORMAT_LOCK:
        template = _FORMAT_CACHE.get((cluster_id, node_id))
        if template is not None:
            shutil.copytree(template, data)
            return
        subprocess.run(
            [java(), "-XX:TieredStopAtLevel=1", *cds_flags(True, dump=False)[0], "-cp",
             str(kafka_home() / "libs" / "*"), "kafka.tools.StorageTool", "format",
             "-t", cluster_id, "-c", str(config)],
            check=True, capture_output=True, preexec_fn=die_with_parent,
        )  # fmt: skip
        root = tempfile.mkdtemp(prefix="platformctl-kafka-format-")
        atexit.register(shutil.rmtree, root, ignore_errors=True)
        template = Path(root) / "data"
        shutil.copytree(data, template)
        _FORMAT_CACHE[(cluster_id, node_id)] = template


_CDS_LOCK = threading.Lock()
_CDS_DUMPING = False


def _archive(fast_start: bool) -> Path:
    """Where the class-data-sharing archive for this JVM and these flags lives, next to the jars."""
    binary = Path(os.path.realpath(java()))
    key = f"{binary}:{binary.stat().st_mtime_ns}:{fast_start}"
    return kafka_home() / "cds" / f"broker-{hashlib.sha256(key.encode()).hexdigest()[:12]}.jsa"


def cds_flags(fast_start: bool, dump: bool = True) -> tuple[list[str], Path | None]:
    """(JVM flags, archive being dumped by this process or None).

    With an archive: map it (-Xshare:auto falls back silently if it does not fit this JVM). Without:
    the first broker of this process dumps one when it exits cleanly, to a temporary name renamed
    into place, so concurrent sessions never read a half-written archive.
    """
    global _CDS_DUMPING
    archive = _archive(fast_start)
    if archive.is_file():
        return [f"-XX:SharedArchiveFile={archive}", "-Xshare:auto"], None
    with _CDS_LOCK:
        if not dump or _CDS_DUMPING:
            return [], None
        _CDS_DUMPING = True
    archive.parent.mkdir(exist_ok=True)
    partial = archive.with_name(f"{archive.name}.partial-{os.getpid()}")
    return [f"-XX:ArchiveClassesAtExit={partial}"], partial


def _keep_archive(partial: Path) -> None:
    global _CDS_DUMPING
    final = partial.with_name(partial.name.rsplit(".partial-", 1)[0])
    if partial.is_file() and partial.stat().st_size > 0:
        partial.rename(final)
    else:
        partial.unlink(missing_ok=True)
    with _CDS_LOCK:
        _CDS_DUMPING = False
