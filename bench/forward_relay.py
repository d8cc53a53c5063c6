"""Relay cost: throughput and added latency of `forward.Forward` against a direct local connection.

One run, side by side, against the same local TCP echo server: the "direct" client connects to the
echo server; the "relay" client connects to a Forward whose opener dials that echo server per accepted
connection (in place of `kubernetes.stream.portforward`, which needs a cluster). Rounds alternate so
machine noise hits both alike; the script prints medians and ratios, never asserts on time.

With `--etcd-endpoint` it also relays a real etcd (what `overrides` commands reach through a forward):
platformctl's own `EtcdStore.get` against etcd directly and through a Forward dialling it.

    .venv/bin/python bench/forward_relay.py [--mib 128] [--round-trips 2000] [--rounds 5]
        [--etcd-endpoint http://127.0.0.1:2379] [--json]
"""

from __future__ import annotations

import argparse
import functools
import os
import socket
import statistics
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.report import Row, emit_json, median_time
from platformctl.forward import Forward, Stream


class EchoServer:
    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.address = self.sock.getsockname()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(256 * 1024):
                conn.sendall(data)


def dial(address: tuple[str, int]) -> socket.socket:
    sock = socket.create_connection(address)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def throughput(address: tuple[str, int], payload: bytes) -> float:
    """MiB/s of payload echoed back (sent and received concurrently)."""
    with dial(address) as sock:
        start = time.perf_counter()
        sender = threading.Thread(target=sock.sendall, args=(payload,))
        sender.start()
        received = 0
        while received < len(payload):
            chunk = sock.recv(1 << 20)
            if not chunk:
                raise RuntimeError("connection ended early")
            received += len(chunk)
        sender.join()
        elapsed = time.perf_counter() - start
    return len(payload) / elapsed / (1 << 20)


def round_trip_us(address: tuple[str, int], count: int) -> float:
    """Median microseconds for a 64-byte message to come back."""
    message = b"x" * 64
    samples = []
    with dial(address) as sock:
        for _ in range(count):
            start = time.perf_counter()
            sock.sendall(message)
            got = 0
            while got < len(message):
                got += len(sock.recv(len(message) - got))
            samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e6


def connect_us(address: tuple[str, int], count: int) -> float:
    """Median microseconds from connect to the first echoed byte (the relay opens a stream per connection)."""
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        with dial(address) as sock:
            sock.sendall(b"!")
            sock.recv(1)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=128)
    parser.add_argument("--round-trips", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--etcd-endpoint", help="also relay this etcd (http://HOST:PORT)")
    parser.add_argument("--json", action="store_true", help="print one JSON object for bench/run")
    args = parser.parse_args()

    echo = EchoServer()
    payload = os.urandom(args.mib << 20)

    def opener() -> Stream:
        return Stream(sock=dial(echo.address), peer="local echo server")

    results: dict[str, dict[str, list[float]]] = {
        "direct": {"tput": [], "rtt": [], "conn": []},
        "relay": {"tput": [], "rtt": [], "conn": []},
    }
    with Forward("bench", opener) as fwd:
        paths = {"direct": echo.address, "relay": ("127.0.0.1", fwd.port)}
        for _ in range(args.rounds):
            for name, address in paths.items():
                results[name]["tput"].append(throughput(address, payload))
                results[name]["rtt"].append(round_trip_us(address, args.round_trips))
                results[name]["conn"].append(connect_us(address, 200))

    med = {name: {k: statistics.median(v) for k, v in r.items()} for name, r in results.items()}
    d, r = med["direct"], med["relay"]
    etcd_get = relay_etcd(args.etcd_endpoint, args.rounds) if args.etcd_endpoint else None
    if args.json:
        rows = [
            Row(f"throughput, {args.mib} MiB echoed: relay vs direct", r["tput"], d["tput"], "MiB/s"),
            Row("64 B round trip: relay vs direct", r["rtt"], d["rtt"], "us"),
            Row("connect + first byte: relay vs direct", r["conn"], d["conn"], "us"),
        ]
        if etcd_get is not None:
            rows.append(Row("etcd GET (EtcdStore.get): relay vs direct", etcd_get[1], etcd_get[0], "us"))
        emit_json("forward_relay", rows, rounds=args.rounds, mib=args.mib, round_trips=args.round_trips)
        return
    print(f"rounds={args.rounds} payload={args.mib} MiB round-trips={args.round_trips} (medians)")
    print(f"{'':22}{'direct':>12}{'relay':>12}{'relay/direct':>14}")
    print(f"{'throughput MiB/s':22}{d['tput']:12.0f}{r['tput']:12.0f}{r['tput'] / d['tput']:14.2f}")
    print(f"{'64 B round trip us':22}{d['rtt']:12.1f}{r['rtt']:12.1f}{r['rtt'] / d['rtt']:14.2f}")
    print(f"{'connect+first byte us':22}{d['conn']:12.1f}{r['conn']:12.1f}{r['conn'] / d['conn']:14.2f}")
    if etcd_get is not None:
        direct_us, relay_us = etcd_get
        print(f"{'etcd GET us':22}{direct_us:12.1f}{relay_us:12.1f}{relay_us / direct_us:14.2f}")
    print(f"added latency per round trip: {r['rtt'] - d['rtt']:.1f} us")


def relay_etcd(endpoint: str, rounds: int) -> tuple[float, float]:
    """Median microseconds of one `EtcdStore.get` directly and through a relay: (direct, relay)."""
    from platformctl.adapters.etcd import EtcdStore

    parts = urlsplit(endpoint)
    upstream = (parts.hostname or "127.0.0.1", parts.port or 2379)
    direct = EtcdStore(endpoint)
    direct.get("/platformctl-bench/relay")  # connect before timing: both clients keep their connection
    with Forward("etcd", lambda: Stream(sock=dial(upstream), peer="etcd")) as fwd:
        relayed = EtcdStore(f"http://127.0.0.1:{fwd.port}")
        relayed.get("/platformctl-bench/relay")
        samples: dict[str, list[float]] = {"direct": [], "relay": []}
        for _ in range(rounds):
            for name, store in (("direct", direct), ("relay", relayed)):
                samples[name].append(median_time(functools.partial(store.get, "/platformctl-bench/relay"), 200))
    return statistics.median(samples["direct"]) * 1e6, statistics.median(samples["relay"]) * 1e6


if __name__ == "__main__":
    main()
