"""A real etcd for the tests: etcd 3.6, the version the platform deploys (its image pin, v3.6.8), built from
the Go module proxy by `python -m tests.components.install etcd` (tests/components/).

One server per test session on free 127.0.0.1 ports with a temporary data dir, started with the flags
CONTRIBUTING.md describes (fast elections, no fsync) and stopped by its PID. Tests isolate themselves by using a
fresh environment name (`etcd_env`), so they never see each other's keys. `etcd_server.stop()` and
`.start()` let fault tests take etcd away and bring it back on the same port and data.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests import components


def etcd_binary() -> Path:
    """The installed etcd 3.6 (a test failure saying how to install it when it is not)."""
    return components.require("etcd") / "bin" / "etcd"


def die_with_parent() -> None:
    """In the child before exec: the kernel sends it SIGTERM when the test process dies, even by SIGKILL,
    so a killed pytest (a CI timeout) leaves no server behind (prctl PR_SET_PDEATHSIG, Linux)."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class EtcdServer:
    data_dir: Path
    client_port: int = field(default_factory=free_port)
    peer_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.client_port}"

    def start(self) -> None:
        assert self.process is None, "etcd is already running"
        peer = f"http://127.0.0.1:{self.peer_port}"
        args = [
            str(etcd_binary()),
            "--name", "t",
            "--data-dir", str(self.data_dir),
            "--listen-client-urls", self.endpoint,
            "--advertise-client-urls", self.endpoint,
            "--listen-peer-urls", peer,
            "--initial-advertise-peer-urls", peer,
            "--initial-cluster", f"t={peer}",
            "--heartbeat-interval", "10",
            "--election-timeout", "50",
            "--unsafe-no-fsync",
            "--log-level", "warn",
        ]  # fmt: skip
        with (self.data_dir.parent / "etcd.log").open("ab") as log:
            self.process = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=die_with_parent
            )
        self._wait_ready()

    def _wait_ready(self) -> None:
        import etcd3gw

        client = etcd3gw.Etcd3Client(host="127.0.0.1", port=self.client_port, timeout=2, api_path="/v3/")
        deadline = time.monotonic() + 30
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                log = self.data_dir.parent / "etcd.log"
                raise RuntimeError(f"etcd exited with {self.process.returncode}; see {log}")
            try:
                client.status()
                client.put("/platformctl-test/ready", "1")  # a leader exists: writes work
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None

    @contextlib.contextmanager
    def stopped(self) -> Iterator[None]:
        """etcd is down inside the block and back (same port, same data) after it."""
        self.stop()
        try:
            yield
        finally:
            self.start()


@pytest.fixture(scope="session")
def etcd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdServer]:
    base = tmp_path_factory.mktemp("etcd")
    server = EtcdServer(data_dir=base / "data")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def etcd_endpoint(etcd_server: EtcdServer) -> str:
    """The endpoint of the running session etcd (restarted first if a fault test left it down)."""
    if etcd_server.process is None:
        etcd_server.start()
    return etcd_server.endpoint


@pytest.fixture
def etcd_env() -> str:
    """A fresh environment name, so each test starts with no overrides, records or lock."""
    return f"t{uuid.uuid4().hex[:12]}"
