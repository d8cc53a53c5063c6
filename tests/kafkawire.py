"""Kafka requests counted on the wire: a loopback relay in front of each test broker.

"A re-apply sends no mutating request" must be checked where the request would travel, not inside the
client that would send it: a wrapper around the AdminClient sees only the calls made through it, not a
retry librdkafka sends by itself, nor a request from another client. So every test broker
(tests/plugins/kafka.py) listens behind a `Relay` on 127.0.0.1 and advertises the relay's port, so every
client connection (bootstrap and the ones metadata points to) crosses it. The relay copies bytes both
ways unchanged and reads only the client->broker stream's framing: each Kafka request starts with an
int32 size, then the request header's int16 api_key and int16 api_version
(https://kafka.apache.org/protocol#protocol_messages). Each request is recorded once, in order, in the
cluster's `Wire` and in every active tap (`tap()`, the `kafka_wire` fixture).

`Wire.before[name]` runs a function in the relay thread when a request of that kind has reached the
relay and before its last byte is passed on: a fault test can kill the broker there, so the broker never
sees a complete request (deterministically "killed while the request was in flight").
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

# The request types platformctl may send, by api_key (org.apache.kafka.common.protocol.ApiKeys).
API_NAMES = {
    0: "Produce",
    1: "Fetch",
    2: "ListOffsets",
    3: "Metadata",
    8: "OffsetCommit",
    9: "OffsetFetch",
    10: "FindCoordinator",
    11: "JoinGroup",
    12: "Heartbeat",
    13: "LeaveGroup",
    14: "SyncGroup",
    18: "ApiVersions",
    19: "CreateTopics",
    20: "DeleteTopics",
    21: "DeleteRecords",
    22: "InitProducerId",
    30: "CreateAcls",
    31: "DeleteAcls",
    32: "DescribeConfigs",
    33: "AlterConfigs",
    37: "CreatePartitions",
    43: "ElectLeaders",
    44: "IncrementalAlterConfigs",
    45: "AlterPartitionReassignments",
    60: "DescribeCluster",
    75: "DescribeTopicPartitions",
}
# Requests that change topics, configs or data placement; a no-op run must send none of them.
MUTATING = frozenset(
    {
        "CreateTopics",
        "CreatePartitions",
        "IncrementalAlterConfigs",
        "AlterConfigs",
        "DeleteTopics",
        "DeleteRecords",
        "CreateAcls",
        "DeleteAcls",
        "ElectLeaders",
        "AlterPartitionReassignments",
    }
)


@dataclass(frozen=True)
class Request:
    node_id: int
    api_key: int
    api_version: int

    @property
    def name(self) -> str:
        return API_NAMES.get(self.api_key, f"api_key={self.api_key}")


@dataclass
class Wire:
    """Requests seen by relays, in arrival order; `before[name]` hooks run as one arrives."""

    requests: list[Request] = field(default_factory=list)
    before: dict[str, Callable[[Request], None]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def names(self) -> list[str]:
        with self._lock:
            return [r.name for r in self.requests]

    @property
    def mutating(self) -> list[str]:
        """The mutating requests, in order (e.g. ["CreateTopics", "IncrementalAlterConfigs"])."""
        return [name for name in self.names() if name in MUTATING]

    def count(self, name: str) -> int:
        return self.names().count(name)

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()


_TAPS: list[Wire] = []
_TAPS_LOCK = threading.Lock()


@contextlib.contextmanager
def tap() -> Iterator[Wire]:
    """A Wire that sees every request reaching any relay while the block runs."""
    wire = Wire()
    with _TAPS_LOCK:
        _TAPS.append(wire)
    try:
        yield wire
    finally:
        with _TAPS_LOCK:
            _TAPS.remove(wire)


class _Framer:
    """Finds request headers in a client->broker byte stream, however it is split into chunks."""

    def __init__(self) -> None:
        self.head = b""
        self.skip = 0

    def feed(self, data: bytes) -> list[tuple[int, int]]:
        found: list[tuple[int, int]] = []
        i, n = 0, len(data)
        while i < n:
            if self.skip:
                take = min(self.skip, n - i)
                self.skip -= take
                i += take
                continue
            need = 8 - len(self.head)
            self.head += data[i : i + need]
            i += min(need, n - i)
            if len(self.head) == 8:
                size, api_key, api_version = struct.unpack(">ihh", self.head)
                found.append((api_key, api_version))
                self.skip = size - 4  # the size counts what follows it; api_key and api_version are read
                self.head = b""
        return found


class Relay:
    """127.0.0.1:port -> 127.0.0.1:upstream, recording each request; closed and reopened with its broker.

    The port is bound at construction and kept across `close()`/`open()`, so what the broker advertises
    stays valid across restarts. While closed, a client gets "connection refused", as from a dead broker.
    """

    def __init__(self, wire: Wire, node_id: int, upstream: int) -> None:
        self.wire = wire
        self.node_id = node_id
        self.upstream = upstream
        self._listener: socket.socket | None = None
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.port = 0
        self.open()

    def open(self) -> None:
        if self._listener is not None:
            return
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.2)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True, name=f"relay-{self.port}").start()

    def close(self) -> None:
        """Stop accepting and cut every relayed connection (the broker behind it is gone)."""
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        with self._lock:
            conns, self._conns = self._conns, set()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.upstream), timeout=5)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        client.settimeout(None)
        with self._lock:
            if self._listener is None:  # closed meanwhile
                client.close()
                upstream.close()
                return
            self._conns |= {client, upstream}
        threading.Thread(target=self._pump, args=(upstream, client, None), daemon=True).start()
        self._pump(client, upstream, _Framer())

    def _pump(self, source: socket.socket, sink: socket.socket, framer: _Framer | None) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if framer is not None:
                    for api_key, api_version in framer.feed(data):
                        self._arrived(Request(self.node_id, api_key, api_version))
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            with self._lock:
                self._conns -= {source, sink}
            source.close()

    def _arrived(self, request: Request) -> None:
        with _TAPS_LOCK:
            wires = [self.wire, *_TAPS]
        for wire in wires:
            wire.record(request)
        for wire in wires:
            hook = wire.before.get(request.name)
            if hook is not None:
                hook(request)
