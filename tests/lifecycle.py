"""Shared by the lifecycle tests on the real control plane: running `up`, reading what it left, errors,
running `port-forward` until Ctrl-C, and an echo server for a pod's port to reach."""

from __future__ import annotations

import os
import signal
import socket
import threading
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from platformctl import forward
from platformctl.adapters import kube
from platformctl.platform import render
from platformctl.settings import Settings
from tests.conftest import RunCli
from tests.plugins.fake_portforward import listening_addresses
from tests.plugins.kube_real import RealCluster

COMPONENTS = ("kafka", "schema-registry", "kafka-ui", "etcd", "fluentd")
OBJECTS = len(render.render(Settings(), render.KubeVersion(1, 36)).documents)  # `up`'s objects, defaults, 1.36


def error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]


def up(run_cli: RunCli, cluster: RealCluster, *args: str, config: Path | None = None) -> tuple[int, str, str]:
    before = ("--config", str(config)) if config is not None else ()
    result = run_cli(*before, *cluster.args, "up", *args)
    return result.exit_code, result.stdout, result.stderr


def labelled(cluster: RealCluster) -> dict[tuple[str, str | None, str], str]:
    """resourceVersion of every object labelled for the test's platform instance (read as admin)."""
    found = {}
    selector = f"app.kubernetes.io/instance={cluster.namespace}"
    for kind in kube.KINDS:
        if kind.kind == "PodSecurityPolicy":
            continue  # not served since 1.25
        path = kind.path(cluster.namespace if kind.namespaced else None)
        for item in cluster.get(f"{path}?labelSelector={selector}")["items"]:
            meta = item["metadata"]
            found[(kind.kind, meta.get("namespace"), meta["name"])] = meta["resourceVersion"]
    return found


def config_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "platformctl.yaml"
    path.write_text(text)
    return path


class EchoServer:
    """A TCP server on 127.0.0.1 that echoes every byte back: what a pod's port "runs" in port-forward tests."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn: socket.socket) -> None:
        with conn:
            try:
                while data := conn.recv(65536):
                    conn.sendall(data)
            except OSError:
                pass

    def close(self) -> None:
        self._listener.close()


def run_until_ctrl_c(
    run_cli: RunCli, monkeypatch: pytest.MonkeyPatch, args: list[str], ports: list[int]
) -> tuple[Result, list[bytes]]:
    """Run the command; once it has printed its URLs a user connects to every port, talks, presses Ctrl-C."""
    done, announced = threading.Event(), threading.Event()
    echoes: list[bytes] = []
    listening: list[list[str]] = []
    serve = forward.serve

    def observed_serve(forwards: Any, *, on_ready: Any = None) -> None:
        def ready() -> None:
            if on_ready is not None:
                on_ready()
            announced.set()

        serve(forwards, on_ready=ready)

    monkeypatch.setattr(forward, "serve", observed_serve)

    def user() -> None:
        while not done.is_set() and not announced.wait(0.05):
            pass
        if done.is_set():
            return  # the command ended on its own (an error): nothing to interrupt
        for port in ports:
            listening.append(listening_addresses(port))
            with socket.create_connection(("127.0.0.1", port), timeout=30) as c:
                c.sendall(b"hello %d" % port)
                echoes.append(c.recv(100))
        os.kill(os.getpid(), signal.SIGINT)

    thread = threading.Thread(target=user)
    thread.start()
    try:
        result = run_cli(*args)
    finally:
        done.set()
        thread.join()
    assert listening == [["0100007F"]] * len(ports), result.stderr  # 127.0.0.1 only, while the command runs
    return result, echoes


def free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as s:
        return int(s.getsockname()[1])
