"""Benchmark: what environment overrides from etcd cost `topics plan`, measured side by side in one run.

Against the real etcd (3.6, tests/components) and Apache Kafka (tests/plugins/kafka.py), with N topics
declared in one file and an override entry in etcd for every topic (plus topic-defaults), it measures:
  1. `platformctl --env bench topics plan FILE` reading the overrides (a subprocess, end to end);
  2. the same with `--no-overrides` (no etcd contact at all);
  3. `overrides.layers_for` alone (two range reads for the whole environment);
  4. the naive alternative: one etcd GET per topic.
Absolute times drift on shared machines; the ratios are the result.

Given `--etcd-endpoint` and `--bootstrap-server` (as `bench/run` does) it uses those; otherwise it starts
its own etcd and broker with the test suite's starters (`tests.plugins.etcd`, `tests.plugins.kafka`).

    .venv/bin/python bench/overrides_plan.py [--topics 500] [--runs 5] [--etcd-endpoint URL]
        [--bootstrap-server HOST:PORT] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.report import Row, emit_json, median_time
from platformctl.adapters import etcd
from platformctl.topics import overrides
from tests.kafkacluster import KafkaCluster
from tests.plugins.etcd import EtcdServer


@contextlib.contextmanager
def components(etcd_endpoint: str | None, bootstrap: str | None, base: Path) -> Iterator[tuple[str, str]]:
    """(etcd endpoint, bootstrap server): the ones given, or ones started here and stopped after."""
    with contextlib.ExitStack() as stack:
        if etcd_endpoint is None:
            server = EtcdServer(data_dir=base / "etcd")
            server.start()
            stack.callback(server.stop)
            etcd_endpoint = server.endpoint
        if bootstrap is None:
            broker = KafkaCluster(base / "kafka", fast_start=False, log_level="WARN")
            bootstrap = stack.enter_context(broker).bootstrap
        yield etcd_endpoint, bootstrap


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--topics", type=int, default=500)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--etcd-endpoint", help="use this etcd instead of starting one")
    parser.add_argument("--bootstrap-server", help="use this Kafka broker instead of starting one")
    parser.add_argument("--json", action="store_true", help="print one JSON object for bench/run")
    options = parser.parse_args()
    names = [f"bench-topic-{i:05d}" for i in range(options.topics)]
    platformctl = Path(sys.executable).parent / "platformctl"
    env = f"bench-{uuid.uuid4().hex[:8]}"  # a fresh environment: a shared etcd may hold earlier runs
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        with components(options.etcd_endpoint, options.bootstrap_server, base) as (endpoint, bootstrap):
            store = etcd.EtcdStore(endpoint)
            overrides.seed(store, env)
            writes = [etcd.Write(etcd.topic_key(env, n), {"config": {"retention.ms": "60000"}}, 0) for n in names]
            for start in range(0, len(writes), etcd.MAX_TXN_OPS):
                store.write(writes[start : start + etcd.MAX_TXN_OPS])
            file = base / "topics.yaml"
            lines = ["topics:"]
            for name in names:
                lines += [f"  - name: {name}", "    partitions: 1", "    replication-factor: 3"]
            file.write_text("\n".join(lines) + "\n")
            common = [str(platformctl), "--env", env, "topics", "plan", str(file), "--bootstrap-server", bootstrap]

            def plan(*extra: str) -> None:
                subprocess.run([*common, *extra], check=True, capture_output=True)

            with_etcd = median_time(lambda: plan("--etcd-endpoint", endpoint), options.runs)
            without = median_time(lambda: plan("--no-overrides", "--set", "*.replication-factor=1"), options.runs)
            layered = median_time(lambda: overrides.layers_for(store, env, names), options.runs)
            naive = median_time(lambda: [store.get(etcd.topic_key(env, n)) for n in names], options.runs)
    if options.json:
        rows = [
            Row(f"topics plan, {options.topics} topics: etcd overrides vs --no-overrides", with_etcd, without, "s"),
            Row("overrides.layers_for (2 range reads) vs one GET per topic", layered, naive, "s"),
        ]
        emit_json("overrides_plan", rows, topics=options.topics, runs=options.runs)
        return
    print(f"{options.topics} topics, median of {options.runs} runs")
    print(f"  topics plan with etcd overrides   {with_etcd * 1000:8.1f} ms")
    print(f"  topics plan --no-overrides        {without * 1000:8.1f} ms")
    print(f"  layers_for (2 range reads)        {layered * 1000:8.1f} ms")
    print(f"  one GET per topic                 {naive * 1000:8.1f} ms")
    print(f"ratio plan with / without overrides: {with_etcd / without:.2f}")
    print(f"ratio one GET per topic / layers_for: {naive / layered:.1f}")


if __name__ == "__main__":
    main()
