"""Loopback port-forwards that open a fresh upstream stream for every accepted connection.

The platform exposes nothing outside the cluster; people and commands reach Kafka, the Schema Registry, the
UI, etcd and Fluentd through forwards bound to 127.0.0.1 (there is deliberately no option to bind anything
else). The official client's `kubernetes.stream.portforward` gives an in-process socket per call, not a
local port, so this module owns the local side: it listens, and for each accepted connection asks an
injected *opener* for a new upstream `Stream` (the Kubernetes opener lives in `adapters/portforward.py`; tests inject
socket pairs), then pumps bytes both ways on two threads until both directions are done.

Because the opener runs per connection and resolves the Service again each time, a replaced pod costs the
connections that were open to it, never the forward: the next connection goes to the new pod, and the
change is reported on stderr. Nothing here imports `kubernetes`.

Which Service or pod each target (kafka-ui, kafka, etcd, ...) reaches, and the in-process forwards other
commands open, are the platform's: platform/forwarding.py. This module knows no platform.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from platformctl import ui
from platformctl.errors import PlatformError

LOOPBACK = "127.0.0.1"

_CHUNK = 256 * 1024
_URL_SCHEMES = {"kafka-ui": "http", "schema-registry": "http", "etcd": "http"}


@dataclass
class Stream:
    """One upstream byte stream, opened for one accepted connection.

    `peer` names what it reaches ("pod dev/kafka-0 port 9092 (uid 1a2b3c4d)"); the forward reports when it
    changes between connections. `error` returns what the remote reported once the stream has ended
    (Kubernetes' per-port error channel), `close` releases everything the opener allocated.
    """

    sock: socket.socket
    peer: str
    error: Callable[[], str | None] = field(default=lambda: None)
    close: Callable[[], None] | None = None


Opener = Callable[[], Stream]


class PortBusyError(PlatformError):
    """The local port a forward must use is taken; `holder` describes the process when it can be found."""

    def __init__(self, port: int, holder: str | None, *, hint: str | None = None) -> None:
        by = f" by {holder}" if holder else " (the process holding it is not visible to this user)"
        super().__init__(f"port {port} on {LOOPBACK} is already in use{by}", hint=hint)
        self.port = port
        self.holder = holder


def listen(port: int, *, hint: str | None = None) -> socket.socket:
    """A listening socket on 127.0.0.1:`port` (0 picks a free port); never any other address."""
    try:
        # create_server sets SO_REUSEADDR, so a forward restarted right after Ctrl-C is not refused because
        # of connections still in TIME_WAIT; on Linux it never lets two listeners share the port.
        return socket.create_server((LOOPBACK, port), family=socket.AF_INET, backlog=128)
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise PortBusyError(port, port_holder(port), hint=hint) from e
        raise PlatformError(f"cannot listen on {LOOPBACK}:{port}: {e.strerror or e}", hint=hint) from e


def _listening_inodes(port: int, proc: Path) -> set[str] | None:
    """Socket inodes listening on TCP `port` (any address), from /proc; None where /proc has no tables."""
    inodes: set[str] = set()
    readable = False
    for table in ("net/tcp", "net/tcp6"):
        try:
            lines = (proc / table).read_text().splitlines()[1:]
        except OSError:
            continue
        readable = True
        for line in lines:
            fields = line.split()
            # local_address is HEXIP:HEXPORT; state 0A is LISTEN (include/net/tcp_states.h)
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    return inodes if readable else None


def port_in_use(port: int, proc: Path = Path("/proc")) -> bool | None:
    """Whether something listens on TCP `port`, read from /proc (binds nothing); None when unknown."""
    inodes = _listening_inodes(port, proc)
    return None if inodes is None else bool(inodes)


def port_holder(port: int, proc: Path = Path("/proc")) -> str | None:
    """`pid N (command line)` of a process listening on TCP `port`, from /proc; None when not visible."""
    inodes = _listening_inodes(port, proc) or set()
    targets = {f"socket:[{inode}]" for inode in inodes}
    if not targets:
        return None
    try:
        pids = sorted((p for p in proc.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    except OSError:
        return None
    for pid_dir in pids:
        try:
            fds = list((pid_dir / "fd").iterdir())
        except OSError:
            continue  # another user's process, or it just exited
        for fd in fds:
            try:
                link = os.readlink(fd)
            except OSError:
                continue
            if link in targets:
                return f"pid {pid_dir.name} ({_command_line(pid_dir)})"
    return None


def _command_line(pid_dir: Path) -> str:
    try:
        text = (pid_dir / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        text = ""
    return (text[:117] + "...") if len(text) > 120 else (text or "?")


class Forward:
    """A listener on 127.0.0.1 relaying every accepted connection to a new stream from `opener`.

    `start()` binds and accepts on a background thread; `close()` stops accepting, shuts down every
    open connection and waits for their threads. Also a context manager.
    """

    def __init__(self, name: str, opener: Opener, port: int = 0, *, hint: str | None = None) -> None:
        self.name = name
        self._opener = opener
        self._requested_port = port
        self._hint = hint
        self._listener: socket.socket | None = None
        self._port: int | None = None
        # close() wakes the accept loop through this pair (portable, unlike shutting down a listener)
        self._wake: tuple[socket.socket, socket.socket] | None = None
        self._lock = threading.Lock()
        self._closing = False
        self._sockets: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()
        self._acceptor: threading.Thread | None = None
        self._last_peer: str | None = None
        self._failing = False

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("forward not started")
        return self._port

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def url(self) -> str:
        scheme = _URL_SCHEMES.get(self.name)
        return f"{scheme}://{self.address}" if scheme else self.address

    def active(self) -> int:
        """Connections currently being relayed (or being opened)."""
        with self._lock:
            return len(self._threads)

    def start(self) -> Forward:
        self._listener = listen(self._requested_port, hint=self._hint)
        self._port = int(self._listener.getsockname()[1])
        self._wake = socket.socketpair()
        self._acceptor = threading.Thread(target=self._accept_loop, name=f"forward {self.name}", daemon=True)
        self._acceptor.start()
        return self

    def close(self) -> None:
        with self._lock:
            if self._closing:
                return
            self._closing = True
            sockets = list(self._sockets)
        if self._wake is None:
            self._release_opener()  # built but never started (a later forward of the same command failed)
            return
        with contextlib.suppress(OSError):
            self._wake[1].send(b"x")
        if self._acceptor is not None:
            self._acceptor.join()
        for sock in sockets:
            _shutdown(sock, socket.SHUT_RDWR)
        with self._lock:
            threads = list(self._threads)
        # A thread still inside the opener (a slow API server) cannot be interrupted; it closes what it
        # opened as soon as the opener returns, because `_closing` is set. Bound the wait for those.
        deadline = time.monotonic() + 10
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        for sock in self._wake:
            sock.close()
        self._release_opener()

    def _release_opener(self) -> None:
        # An opener that holds a client (the API connection pool of portforward's openers) releases it.
        release = getattr(self._opener, "close", None)
        if callable(release):
            release()

    def __enter__(self) -> Forward:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept_loop(self) -> None:
        import selectors

        assert self._listener is not None and self._wake is not None
        listener, wake = self._listener, self._wake[0]
        with selectors.DefaultSelector() as selector:
            selector.register(listener, selectors.EVENT_READ)
            selector.register(wake, selectors.EVENT_READ)
            while True:
                ready = {key.fileobj for key, _ in selector.select()}
                if wake in ready:
                    break
                try:
                    client, _ = listener.accept()
                except OSError:
                    continue  # the client gave up before we accepted (ECONNABORTED)
                client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                with self._lock:
                    if self._closing:
                        client.close()
                        break
                    thread = threading.Thread(target=self._serve, args=(client,), daemon=True)
                    self._threads.add(thread)
                    self._sockets.add(client)
                thread.start()
        listener.close()

    def _serve(self, client: socket.socket) -> None:
        stream: Stream | None = None
        try:
            stream = self._open()
            if stream is None:
                return
            with self._lock:
                closing = self._closing
                if not closing:
                    self._sockets.add(stream.sock)
            if closing:
                return
            back = threading.Thread(target=_pump, args=(stream.sock, client), daemon=True)
            back.start()
            _pump(client, stream.sock)
            back.join()
        finally:
            client.close()
            if stream is not None:
                (stream.close or stream.sock.close)()
                error = stream.error()
                if error:
                    ui.warn(f"{self.name}: {stream.peer} reported: {error.strip()}")
            with self._lock:
                self._sockets.discard(client)
                self._threads.discard(threading.current_thread())
                if stream is not None:
                    self._sockets.discard(stream.sock)

    def _open(self) -> Stream | None:
        try:
            stream = self._opener()
        except Exception as e:  # one failed connection must not end the forward (or print a traceback)
            if not isinstance(e, PlatformError | OSError):
                e = PlatformError(f"{type(e).__name__}: {e}")
            with self._lock:
                first_failure = not self._failing
                self._failing = True
            if first_failure:
                ui.warn(f"{self.name}: cannot open a forward ({e}); dropped that connection, will retry")
            else:
                ui.detail(f"{self.name}: still cannot open a forward: {e}")
            return None
        with self._lock:
            previous, recovered = self._last_peer, self._failing
            self._last_peer, self._failing = stream.peer, False
        if stream.peer != previous and previous is not None:
            ui.info(f"{self.name}: pod changed, new connections go to {stream.peer} (was {previous})")
        elif recovered:
            ui.info(f"{self.name}: reconnected to {stream.peer}")
        elif previous is None:
            ui.detail(f"{self.name}: forwarding to {stream.peer}")
        return stream


def _pump(src: socket.socket, dst: socket.socket) -> None:
    """Copy src -> dst until src ends, then pass the end on as a half-close.

    With a Kubernetes upstream, shutting down the writing side makes the client library close the whole
    port (its channel protocol has no half-close, see kubernetes/stream/ws_client.py `_proxy`); whatever the
    pod already sent still reaches the client before it sees the end.
    """
    try:
        while True:
            data = src.recv(_CHUNK)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        # A reset or a shutdown from `close()`: nothing more can flow either way.
        _shutdown(src, socket.SHUT_RDWR)
        _shutdown(dst, socket.SHUT_RDWR)
        return
    _shutdown(dst, socket.SHUT_WR)


def _shutdown(sock: socket.socket, how: int) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(how)


def serve(forwards: Sequence[Forward], *, on_ready: Callable[[], None] | None = None) -> None:
    """Start every forward, call `on_ready`, and relay until Ctrl-C; then close every connection.

    Starting happens inside the interrupt handler, so a Ctrl-C at any moment ends in a clean close and a
    normal return (the command exits 0), never in a half-started forward.
    """
    try:
        for fwd in forwards:
            fwd.start()  # a busy port ends it here: the forwards already listening close (all or none)
        if on_ready is not None:
            on_ready()
        threading.Event().wait()
    except KeyboardInterrupt:
        ui.info("stopping: closing every forwarded connection")
    finally:
        for fwd in forwards:
            fwd.close()
