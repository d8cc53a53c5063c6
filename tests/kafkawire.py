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

`Wire.before[name]` runs a function in the relay thread when a whole request of that kind has reached
the relay, before its last byte is passed on (its `validate_only` is known by then): a fault test can kill
the broker there, so the broker never sees a complete request (deterministically "killed while the
request was in flight").
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


# Requests that carry `validate_only` (a dry run: the broker checks and changes nothing), by api_key: the
# first version with the field, and the first flexible version (tagged fields after the body).
_VALIDATE_ONLY = {19: (1, 5), 37: (0, 2), 44: (0, 1), 33: (0, 2)}


@dataclass
class Request:
    node_id: int
    api_key: int
    api_version: int
    # For the requests in _VALIDATE_ONLY: set once the request's last byte passed (None until then, or
    # when the request never completed).
    validate_only: bool | None = None

    @property
    def name(self) -> str:
        return API_NAMES.get(self.api_key, f"api_key={self.api_key}")

    def finish(self, tail: bytes) -> None:
        """The request's last two bytes: `validate_only` is the body's last field (followed, in flexible
        versions, by the tagged-field count, 0 from librdkafka)."""
        versions = _VALIDATE_ONLY.get(self.api_key)
        if versions is None or self.api_version < versions[0] or len(tail) < 2:
            return
        if self.api_version < versions[1]:
            self.validate_only = tail[-1] == 1
        elif tail[-1] == 0:
            self.validate_only = tail[-2] == 1


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
        """The mutating requests, in order (e.g. ["CreateTopics", "IncrementalAlterConfigs"]); a dry run
        (`validate_only`) is not one: see `validations`."""
        with self._lock:
            return [r.name for r in self.requests if r.name in MUTATING and r.validate_only is not True]

    @property
    def validations(self) -> list[str]:
        """The dry runs (`validate_only` requests), in order."""
        with self._lock:
            return [r.name for r in self.requests if r.validate_only is True]

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
    """Finds requests in a client->broker byte stream, however it is split into chunks: each request's
    header as it arrives, and its last two bytes when it is complete."""

    def __init__(self) -> None:
        self.head = b""
        self.skip = 0
        self.tail = b""

    def feed(self, data: bytes) -> list[tuple[int, int] | bytes]:
        """(api_key, api_version) for each header found, the last two bytes for each request completed."""
        found: list[tuple[int, int] | bytes] = []
        i, n = 0, len(data)
        while i < n:
            if self.skip:
                take = min(self.skip, n - i)
                self.tail = (self.tail + data[i : i + take])[-2:]
                self.skip -= take
                i += take
                if not self.skip:
                    found.append(self.tail)
                continue
            need = 8 - len(self.head)
            self.head += data[i : i + need]
            i += min(need, n - i)
            if len(self.head) == 8:
                size, api_key, api_version = struct.unpack(">ihh", self.head)
                found.append((api_key, api_version))
                self.skip = size - 4  # the size counts what follows it; api_key and api_version are read
                self.tail = self.head[-2:]
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
        with self._lock:
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
        with self._lock:
            listener, self._listener = self._listener, None
            if listener is not None:
                # shutdown() wakes the thread blocked in accept(); close() alone leaves the port listening
                # until that accept() returns, and a restart could not bind it.
                with contextlib.suppress(OSError):
                    listener.shutdown(socket.SHUT_RDWR)
                listener.close()
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
        current = Request(self.node_id, -1, -1)
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if framer is not None:
                    for event in framer.feed(data):
                        if isinstance(event, tuple):
                            current = Request(self.node_id, *event)
                            self._record(current)
                        else:
                            current.finish(event)
                            self._hooks(current)  # complete here, its last byte not yet passed on
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

    def _wires(self) -> list[Wire]:
        with _TAPS_LOCK:
            return [self.wire, *_TAPS]

    def _record(self, request: Request) -> None:
        for wire in self._wires():
            wire.record(request)

    def _hooks(self, request: Request) -> None:
        for wire in self._wires():
            hook = wire.before.get(request.name)
            if hook is not None:
                hook(request)
