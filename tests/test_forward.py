"""The relay: real TCP clients on 127.0.0.1, a fake stream at the `kubernetes.stream.portforward` boundary.

Every upstream here is a `FakePod` echo server behind a socket pair (tests/plugins/fake_portforward.py);
the listener, the clients and the bytes are real. Why a fake stream: these tests choose what the remote end
does (closes, half-closes, reports on the error channel, is replaced mid-session), which a real
port-forward cannot be made to do on demand: through the real API server and kwok the official client
does not even pass a stream's end on. The real path end to end: tests/adapters/test_portforward_real.py.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from platformctl import forward, ui
from platformctl.errors import PlatformError
from platformctl.forward import Forward, PortBusyError
from tests.plugins.fake_portforward import FakeCluster, listening_addresses


@pytest.fixture(autouse=True)
def _fresh_consoles() -> Iterator[None]:
    ui.reset()  # bind the stderr console to this test's captured stream
    yield
    ui.reset()


def wait_until(condition: Callable[[], bool], what: str, deadline: float = 20.0) -> None:
    """Poll for a state another thread reaches; the deadline only turns a hang into a failure."""
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.005)


def connect(fwd: Forward) -> socket.socket:
    return socket.create_connection(("127.0.0.1", fwd.port), timeout=30)


def roundtrip(sock: socket.socket, payload: bytes) -> bytes:
    sock.sendall(payload)
    received = b""
    while len(received) < len(payload):
        chunk = sock.recv(len(payload) - len(received))
        assert chunk, "connection ended before the echo arrived"
        received += chunk
    return received


def read_to_end(sock: socket.socket) -> bytes:
    parts = []
    while chunk := sock.recv(65536):
        parts.append(chunk)
    return b"".join(parts)


@pytest.fixture
def relay(fake_cluster: FakeCluster) -> Iterator[Forward]:
    with Forward("web", fake_cluster.opener) as fwd:
        yield fwd


@pytest.mark.fake_k8s
def test_bytes_flow_both_ways_intact_including_32_mib(relay: Forward) -> None:
    with connect(relay) as client:
        assert roundtrip(client, b"hello\x00\xff") == b"hello\x00\xff"

        payload = os.urandom(32 * 1024 * 1024)
        sender = threading.Thread(target=client.sendall, args=(payload,))
        sender.start()
        digest, total = hashlib.sha256(), 0
        while total < len(payload):
            chunk = client.recv(1 << 20)
            assert chunk
            digest.update(chunk)
            total += len(chunk)
        sender.join()
        assert total == len(payload)
        assert digest.hexdigest() == hashlib.sha256(payload).hexdigest()


@pytest.mark.fake_k8s
def test_half_close_reaches_the_remote_and_the_answer_still_comes_back(
    relay: Forward, fake_cluster: FakeCluster
) -> None:
    with connect(relay) as client:
        client.sendall(b"request-then-eof" * 1000)
        client.shutdown(socket.SHUT_WR)
        assert read_to_end(client) == b"request-then-eof" * 1000
    wait_until(lambda: fake_cluster.pod.open_streams == 0, "upstream stream closed")
    wait_until(lambda: relay.active() == 0, "connection released")


@pytest.mark.fake_k8s
def test_fifty_concurrent_connections_each_get_their_own_stream(
    relay: Forward, fake_cluster: FakeCluster
) -> None:
    clients = [connect(relay) for _ in range(50)]
    try:
        wait_until(lambda: fake_cluster.pod.open_streams == 50, "50 upstream streams open at once")
        assert relay.active() == 50
        payloads = [os.urandom(64 * 1024) + i.to_bytes(2, "big") for i in range(50)]
        results: dict[int, bytes] = {}

        def talk(i: int) -> None:
            results[i] = roundtrip(clients[i], payloads[i])

        threads = [threading.Thread(target=talk, args=(i,)) for i in range(50)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [results[i] == payloads[i] for i in range(50)] == [True] * 50
    finally:
        for c in clients:
            c.close()
    wait_until(lambda: relay.active() == 0, "all 50 connections released")
    wait_until(lambda: fake_cluster.pod.open_streams == 0, "all 50 upstream streams closed")
    assert fake_cluster.pod.accepted == 50


@pytest.mark.fake_k8s
def test_client_closing_early_releases_its_stream_and_the_forward_keeps_serving(
    relay: Forward, fake_cluster: FakeCluster
) -> None:
    client = connect(relay)
    client.sendall(os.urandom(4 * 1024 * 1024))  # echoed back, never read
    client.close()
    wait_until(lambda: fake_cluster.pod.open_streams == 0, "upstream stream of the departed client closed")
    wait_until(lambda: relay.active() == 0, "connection released")
    with connect(relay) as again:
        assert roundtrip(again, b"still here") == b"still here"


@pytest.mark.fake_k8s
def test_remote_closing_ends_the_client_connection_cleanly(relay: Forward, fake_cluster: FakeCluster) -> None:
    with connect(relay) as client:
        assert roundtrip(client, b"ping") == b"ping"
        fake_cluster.pod.kill()
        assert read_to_end(client) == b""
    wait_until(lambda: relay.active() == 0, "connection released")
    fake_cluster.replace("web-1", "uid-bbbbbbbb-2")
    with connect(relay) as again:
        assert roundtrip(again, b"pong") == b"pong"


@pytest.mark.fake_k8s
def test_remote_error_channel_is_reported(
    relay: Forward, fake_cluster: FakeCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_cluster.pod.error = "error forwarding port 8080 to pod web-0: connection refused"
    with connect(relay) as client:
        assert roundtrip(client, b"ping") == b"ping"
        fake_cluster.pod.kill()
        assert read_to_end(client) == b""
    wait_until(lambda: relay.active() == 0, "connection released")
    assert "web: pod dev/web-0 reported: error forwarding port 8080 to pod web-0: connection refused" in (
        capsys.readouterr().err
    )


@pytest.mark.fake_k8s
def test_pod_replacement_mid_session(
    relay: Forward, fake_cluster: FakeCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    old = fake_cluster.pod
    with connect(relay) as first:
        assert roundtrip(first, b"to the old pod") == b"to the old pod"
        new = fake_cluster.replace("web-1", "uid-bbbbbbbb-2")
        with connect(relay) as second:
            assert roundtrip(second, b"to the new pod") == b"to the new pod"
            assert (old.accepted, new.accepted) == (1, 1)
            # the existing connection keeps going while its pod lives ...
            assert roundtrip(first, b"still old") == b"still old"
            # ... and ends cleanly (EOF, not a hang) when it goes; the new one is untouched
            old.kill()
            assert read_to_end(first) == b""
            assert roundtrip(second, b"unaffected") == b"unaffected"
    assert (
        "web: pod changed, new connections go to pod dev/web-1 (was pod dev/web-0)" in capsys.readouterr().err
    )


@pytest.mark.fake_k8s
def test_opener_failure_costs_one_connection_and_recovery_is_reported(
    relay: Forward, fake_cluster: FakeCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_cluster.failure = PlatformError("service dev/web has no ready pod")
    with connect(relay) as refused:
        assert read_to_end(refused) == b""
    fake_cluster.failure = None
    with connect(relay) as client:
        assert roundtrip(client, b"back") == b"back"
    fake_cluster.failure = RuntimeError("Unexpected websocket opcode")  # a client-library surprise
    with connect(relay) as refused:
        assert read_to_end(refused) == b""
    fake_cluster.failure = None
    with connect(relay) as client:
        assert roundtrip(client, b"back again") == b"back again"
    err = capsys.readouterr().err
    assert "web: cannot open a forward (service dev/web has no ready pod)" in err
    assert "web: cannot open a forward (RuntimeError: Unexpected websocket opcode)" in err
    assert err.count("web: reconnected to pod dev/web-0") == 2
    assert "Traceback" not in err


@pytest.mark.fake_k8s
def test_close_ends_every_connection(fake_cluster: FakeCluster) -> None:
    fwd = Forward("web", fake_cluster.opener).start()
    clients = [connect(fwd) for _ in range(5)]
    for c in clients:
        assert roundtrip(c, b"x") == b"x"
    fwd.close()
    assert fwd.active() == 0
    assert [read_to_end(c) for c in clients] == [b""] * 5
    wait_until(lambda: fake_cluster.pod.open_streams == 0, "every upstream stream closed")
    for c in clients:
        c.close()


@pytest.mark.fake_k8s
def test_ctrl_c_closes_every_connection_and_returns_normally(
    fake_cluster: FakeCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    fwds = [Forward("web", fake_cluster.opener), Forward("api", fake_cluster.opener)]
    ready = threading.Event()
    clients: list[socket.socket] = []
    finished = threading.Event()

    def user() -> None:
        ready.wait(30)
        for fwd in fwds:
            for _ in range(3):
                c = connect(fwd)
                assert roundtrip(c, b"hi") == b"hi"
                clients.append(c)
        if not finished.is_set():
            os.kill(os.getpid(), signal.SIGINT)  # what the terminal sends on Ctrl-C

    thread = threading.Thread(target=user)
    thread.start()
    try:
        forward.serve(fwds, on_ready=ready.set)  # returns only after SIGINT
        finished.set()
        thread.join()
    except KeyboardInterrupt:  # pragma: no cover - only if serve let the interrupt escape
        pytest.fail("Ctrl-C escaped serve()")
    assert len(clients) == 6
    assert [read_to_end(c) for c in clients] == [b""] * 6
    assert [f.active() for f in fwds] == [0, 0]
    wait_until(lambda: fake_cluster.pod.open_streams == 0, "every upstream stream closed")
    for fwd in fwds:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", fwd.port), timeout=5)
    for c in clients:
        c.close()
    assert "stopping: closing every forwarded connection" in capsys.readouterr().err


@pytest.mark.fake_k8s
def test_listens_on_127_0_0_1_only(fake_cluster: FakeCluster) -> None:
    with Forward("a", fake_cluster.opener) as a, Forward("b", fake_cluster.opener) as b:
        for fwd in (a, b):
            assert fwd._listener is not None
            assert fwd._listener.family == socket.AF_INET
            assert fwd._listener.getsockname() == ("127.0.0.1", fwd.port)
            assert listening_addresses(fwd.port) == ["0100007F"]  # 127.0.0.1, little-endian hex; no tcp6
            with connect(fwd) as c:
                assert c.getpeername() == ("127.0.0.1", fwd.port)


def test_busy_port_names_the_process_holding_it() -> None:
    holder = socket.create_server(("127.0.0.1", 0))
    port = holder.getsockname()[1]
    try:
        with pytest.raises(PortBusyError) as caught:
            forward.listen(port, hint="stop it")
        message = str(caught.value)
        assert message.startswith(f"port {port} on 127.0.0.1 is already in use by pid {os.getpid()} (")
        assert "pytest" in message or "python" in message
        assert caught.value.hint == "stop it"
    finally:
        holder.close()


def test_busy_port_without_a_visible_holder_still_says_busy(tmp_path: os.PathLike[str]) -> None:
    assert forward.port_holder(9092, proc=tmp_path) is None  # type: ignore[arg-type]
    assert str(PortBusyError(9092, None)) == (
        "port 9092 on 127.0.0.1 is already in use (the process holding it is not visible to this user)"
    )
