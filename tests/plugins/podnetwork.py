"""Where the test control plane's pods "listen": one loopback relay per container port, pointed by tests.

kwok answers the API server's `pods/portforward` as the kubelet would and connects each stream to the
target its ClusterPortForward config names for the container port: one of these relays (a listener on a
free 127.0.0.1 port). A relay connects every accepted connection to whatever a test routed that container
port to (`PodNetwork.route(2379, etcd_port)`: a real etcd, a real Kafka broker), or closes it at once
when nothing is routed, as a pod with nothing listening would. So `platformctl port-forward` and the
forwards `up`/`topics`/`overrides` open run the whole way: client -> API server -> kwok -> relay -> server.

It does NOT model which pod a stream was for: every pod's port P reaches the same routed server.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterable


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(64 * 1024):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


def _splice(client: socket.socket, target: int | None) -> None:
    """Carry one connection to the routed server and back; both sockets are closed when both sides end."""
    with client:
        if target is None:
            return
        try:
            upstream = socket.create_connection(("127.0.0.1", target), timeout=5)
        except OSError:
            return
        with upstream:
            upstream.settimeout(None)
            back = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
            back.start()
            _pump(client, upstream)
            back.join()


class PodNetwork:
    """A relay per container port; `route` points one at a local server, `unroute` takes it away."""

    def __init__(self, container_ports: Iterable[int]) -> None:
        self._routes: dict[int, int] = {}
        self._listeners: dict[int, socket.socket] = {}
        self._lock = threading.Lock()
        self._closed = threading.Event()
        for port in sorted(set(container_ports)):
            listener = socket.create_server(("127.0.0.1", 0))
            self._listeners[port] = listener
            threading.Thread(target=self._accept, args=(port, listener), daemon=True, name=f"pod-port-{port}").start()

    @property
    def relays(self) -> dict[int, int]:
        """container port -> the loopback port kwok forwards it to."""
        return {port: int(listener.getsockname()[1]) for port, listener in self._listeners.items()}

    def route(self, container_port: int, local_port: int) -> None:
        if container_port not in self._listeners:
            raise KeyError(f"no relay for container port {container_port} (have {sorted(self._listeners)})")
        with self._lock:
            self._routes[container_port] = local_port

    def unroute(self, container_port: int) -> None:
        with self._lock:
            self._routes.pop(container_port, None)

    def clear(self) -> None:
        with self._lock:
            self._routes.clear()

    def _accept(self, container_port: int, listener: socket.socket) -> None:
        while not self._closed.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            with self._lock:
                target = self._routes.get(container_port)
            threading.Thread(target=_splice, args=(client, target), daemon=True).start()

    def close(self) -> None:
        self._closed.set()
        for listener in self._listeners.values():
            with contextlib.suppress(OSError):
                listener.close()
