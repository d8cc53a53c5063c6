"""What the test suite's Apache Kafka costs: start time, CPU and memory of 1 and 3 KRaft nodes.

Starts `tests.plugins.kafka.KafkaCluster` as the test fixtures do (C1 JIT, the class-data-sharing archive,
512 MiB heap) and measures, per start: wall time from launch to every node registered as a broker (storage
formatting included), the CPU seconds the JVMs used by then, and their resident memory (RSS) then. Shapes
alternate; medians with min-max. Not a ratio: the README's Testing section quotes it.

    .venv/bin/python bench/kafka_start.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests import kafkacluster as plugin

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def one_start(nodes: int, base: Path) -> tuple[float, float, float]:
    plugin._FORMAT_CACHE.clear()  # a session's first start formats its storage: count it
    cluster = plugin.KafkaCluster(base, nodes=nodes)
    started = time.perf_counter()
    with cluster:
        ready = time.perf_counter() - started
        pids = [n.process.pid for n in cluster.nodes if n.process is not None]
        return ready, sum(cpu_seconds(p) for p in pids), sum(rss_mib(p) for p in pids)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    options = parser.parse_args()
    samples: dict[int, list[tuple[float, float, float]]] = {1: [], 3: []}
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(options.runs):
            for nodes in samples:
                samples[nodes].append(one_start(nodes, Path(tmp) / f"{nodes}-{run}"))
    load = os.getloadavg()[0]
    print(f"Apache Kafka as the tests start it, median of {options.runs} starts (min-max), load {load:.1f}")
    for nodes, values in samples.items():
        cells = []
        for i, (what, unit) in enumerate((("ready in", "s"), ("CPU", "s"), ("RSS", "MiB"))):
            column = [v[i] for v in values]
            digits = 0 if unit == "MiB" else 1
            cells.append(f"{what} {statistics.median(column):.{digits}f} {unit} "
                         f"({min(column):.{digits}f}-{max(column):.{digits}f})")  # fmt: skip
        print(f"  {nodes} node(s): " + ", ".join(cells))


if __name__ == "__main__":
    main()
