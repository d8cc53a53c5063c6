"""Fakes at the `kubernetes.stream.portforward` boundary, and a fake API server for Service resolution.

`FakePod` stands in for a pod's port as the official client hands it out: every stream is one end of a
`socket.socketpair()` (exactly what `kubernetes.stream.ws_client.PortForward.socket()` returns), and the
other end is served by an echo thread that plays the container's server. It does NOT model the websocket
framing, kubelet, the client library's proxy thread or its buffering; `error` (the per-port error channel)
is whatever a test sets. `Upstreams` replaces `portforward.service_opener` (the whole Kubernetes side of a
forward) with openers that connect each stream to a real local server (Apache Kafka, etcd) named per
Service, so in-process forwards carry real Kafka and etcd traffic; it does NOT model Service -> pod
resolution (see FakeApiServer for that), pod replacement, or the API server.
`FakeApiServer` is a real HTTP server answering the two GETs the opener makes
(the Service, its EndpointSlices) from dicts the test controls; it does not model authentication,
watches, label-selector semantics beyond the one query, or any write.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from platformctl.errors import PlatformError
from platformctl.forward import Stream


class FakePod:
    """A pod whose port echoes every byte back, counting the streams it was given."""

    def __init__(self, name: str, uid: str, namespace: str = "dev") -> None:
        self.name = name
        self.uid = uid
        self.namespace = namespace
        self.accepted = 0
        self.finished = 0
        self.error: str | None = None
        self._lock = threading.Lock()
        self._ends: list[socket.socket] = []
        self._threads: list[threading.Thread] = []

    @property
    def open_streams(self) -> int:
        with self._lock:
            return self.accepted - self.finished

    def attach(self) -> socket.socket:
        """A new stream into this pod: the caller's end of a socket pair."""
        ours, theirs = socket.socketpair()
        with self._lock:
            self.accepted += 1
            self._ends.append(theirs)
        thread = threading.Thread(target=self._echo, args=(theirs,), daemon=True)
        self._threads.append(thread)
        thread.start()
        return ours

    def _echo(self, sock: socket.socket) -> None:
        try:
            while data := sock.recv(256 * 1024):
                sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finally:
            sock.close()
            with self._lock:
                self.finished += 1

    def kill(self) -> None:
        """The container goes away: every stream into it ends from the remote side."""
        with self._lock:
            ends = list(self._ends)
        for end in ends:
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def join(self) -> None:
        for thread in self._threads:
            thread.join(timeout=30)


class FakeCluster:
    """Routes new streams to the current pod; `replace()` is a pod replacement (old pod keeps running)."""

    def __init__(self) -> None:
        self.pod = FakePod("web-0", "uid-aaaaaaaa-1")
        self.pods = [self.pod]
        self.failure: Exception | None = None

    def replace(self, name: str, uid: str) -> FakePod:
        self.pod = FakePod(name, uid)
        self.pods.append(self.pod)
        return self.pod

    def opener(self) -> Stream:
        """Fake at the portforward boundary: what `portforward.ServiceOpener` returns, minus Kubernetes."""
        if self.failure is not None:
            raise self.failure
        pod = self.pod
        return Stream(sock=pod.attach(), peer=f"pod {pod.namespace}/{pod.name}", error=lambda: pod.error)


class FakePortForward:
    """What `kubernetes.stream.portforward(...)` returns: `.socket(port)`, `.error(port)`, `.close()`."""

    def __init__(self, pod: FakePod, port: int) -> None:
        self._port = port
        self._pod = pod
        self._sock = pod.attach()

    def socket(self, port: int) -> socket.socket:
        if port != self._port:
            raise ValueError("Invalid port number")
        return self._sock

    def error(self, port: int) -> str | None:
        return self._pod.error

    def close(self) -> None:
        self._sock.close()


class FakeApiServer:
    """GET-only Kubernetes API over HTTP on 127.0.0.1: `objects["/path?query"] = (status, body)`."""

    def __init__(self) -> None:
        self.objects: dict[str, tuple[int, dict[str, Any]]] = {}
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                key = parts.path + (f"?{unquote(parts.query)}" if parts.query else "")
                server.requests.append(key)
                status, body = server.objects.get(
                    key, (404, {"kind": "Status", "reason": "NotFound", "message": f"{key} not found"})
                )
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def api_client(self) -> Any:
        from kubernetes import client

        configuration = client.Configuration()
        configuration.host = self.url
        return client.ApiClient(configuration)

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def listening_addresses(port: int) -> list[str]:
    """Local addresses of LISTEN sockets on `port`, from /proc/net/tcp and tcp6 (hex, as the kernel shows)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                address, hex_port = fields[1].rsplit(":", 1)
                if fields[3] == "0A" and int(hex_port, 16) == port:
                    found.append(address)
    return found


@pytest.fixture
def fake_cluster() -> Iterator[FakeCluster]:
    cluster = FakeCluster()
    yield cluster
    for pod in cluster.pods:
        pod.kill()
        pod.join()


@pytest.fixture
def fake_api() -> Iterator[FakeApiServer]:
    server = FakeApiServer()
    yield server
    server.close()


class Upstreams:
    """Fake `portforward.service_opener` and `pod_opener`: a Service or pod name -> a real 127.0.0.1 address.

    `routes[name] = port` sends the streams of that Service (or, for Kafka's per-broker forwards, that pod)
    to 127.0.0.1:port; a name with no route has no ready pod (the error `portforward` gives). `opened`
    records (context, name) per stream.
    """

    def __init__(self) -> None:
        self.routes: dict[str, int] = {}
        self.opened: list[tuple[str, str]] = []
        self.built: list[tuple[str, str, str, int | str]] = []
        self._lock = threading.Lock()

    def service_opener(self, context: str, namespace: str, service: str, service_port: int) -> Any:
        self.built.append((context, namespace, service, service_port))
        return self._opener(
            context, namespace, service, f"pod {namespace}/{service}-0 port {service_port}",
            f"service {namespace}/{service} has no ready pod",
        )

    def pod_opener(self, context: str, namespace: str, pod: str, port_name: str) -> Any:
        self.built.append((context, namespace, pod, port_name))
        return self._opener(
            context, namespace, pod, f"pod {namespace}/{pod} port {port_name}", f"pod {namespace}/{pod} is not ready"
        )

    def _opener(self, context: str, namespace: str, name: str, peer: str, absent: str) -> Any:
        upstreams = self

        class Opener:
            def resolve(self) -> str:
                if name not in upstreams.routes:
                    raise PlatformError(absent)
                return peer

            def describe(self, pod: str) -> str:
                return pod

            def __call__(self) -> Stream:
                found = self.resolve()
                with upstreams._lock:
                    upstreams.opened.append((context, name))
                sock = socket.create_connection(("127.0.0.1", upstreams.routes[name]), timeout=10)
                sock.settimeout(None)
                return Stream(sock=sock, peer=found)

        return Opener()

    def services_opened(self) -> set[str]:
        """The Services (and pods) streams were opened to."""
        with self._lock:
            return {name for _, name in self.opened}


@pytest.fixture
def upstreams(monkeypatch: pytest.MonkeyPatch) -> Upstreams:
    """In-process forwards of this test reach the real servers a test routes to (`upstreams.routes`)."""
    from platformctl.adapters import portforward

    fake = Upstreams()
    monkeypatch.setattr(portforward, "service_opener", fake.service_opener)
    monkeypatch.setattr(portforward, "pod_opener", fake.pod_opener)
    return fake
