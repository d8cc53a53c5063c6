"""Benchmark: `platformctl topics apply` of 1,000 new topics vs raw confluent_kafka calls, in one run.

Against the real Tansu broker (a fresh one per measurement, storage in memory), it measures:
  1. `platformctl topics apply FILE --yes` (a subprocess: startup, file validation, describe, one
     CreateTopics, metadata poll);
  2. one raw batched `AdminClient.create_topics` with the same 1,000 topics;
  3. the same topics created one by one (one request each, waiting for each);
  4. a no-op re-apply of the same file (describe only; no mutating request).
Absolute times drift on shared machines; the ratios, measured side by side, are the result.

Each measurement gets a fresh, empty broker (started with the test suite's `tests.plugins.tansu` code):
on a shared broker, later measurements would pay for the topics earlier ones created.

    .venv/bin/python bench/topics_apply.py [--topics 1000] [--json]
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from confluent_kafka.admin import AdminClient, NewTopic

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.report import Row, emit_json
from tests.plugins.tansu import Tansu, free_port

QUIET = logging.getLogger("bench.librdkafka")
QUIET.addHandler(logging.NullHandler())
QUIET.propagate = False
CONFIG = {"retention.ms": "86400000", "cleanup.policy": "delete"}


def topic_file(path: Path, names: list[str]) -> None:
    lines = ["topics:"]
    for name in names:
        lines.append(f"  - name: {name}")
        lines.append("    partitions: 1")
        lines.append("    replication-factor: 1")
        lines.append("    config: {retention.ms: 86400000, cleanup.policy: delete}")
    path.write_text("\n".join(lines) + "\n")


def timed(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--topics", type=int, default=1000)
    parser.add_argument("--json", action="store_true", help="print one JSON object for bench/run")
    options = parser.parse_args()
    count = options.topics
    names = [f"bench-topic-{i:05d}" for i in range(count)]
    platformctl = Path(sys.executable).parent / "platformctl"
    broker = Tansu(free_port())

    def new_topics() -> list[NewTopic]:
        return [NewTopic(n, num_partitions=1, replication_factor=1, config=CONFIG) for n in names]

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "topics.yaml"
        topic_file(path, names)
        apply = [str(platformctl), "-q", "topics", "apply", str(path), "--yes", "--no-overrides", "--bootstrap-server"]

        def run_apply() -> None:
            subprocess.run([*apply, broker.bootstrap], check=True, stdout=subprocess.DEVNULL)

        results: dict[str, float] = {}
        try:
            broker.start()
            results["platformctl topics apply"] = timed(run_apply)
            results["no-op re-apply"] = timed(run_apply)

            broker.restart()
            client = AdminClient({"bootstrap.servers": broker.bootstrap, "logger": QUIET})

            def raw_batched() -> None:
                for future in client.create_topics(new_topics(), operation_timeout=30).values():
                    future.result()

            results["raw batched"] = timed(raw_batched)

            broker.restart()
            client = AdminClient({"bootstrap.servers": broker.bootstrap, "logger": QUIET})

            def one_by_one() -> None:
                for topic in new_topics():
                    for future in client.create_topics([topic], operation_timeout=30).values():
                        future.result()

            results["one by one"] = timed(one_by_one)
        finally:
            broker.stop()

    apply_s = results["platformctl topics apply"]
    if options.json:
        rows = [
            Row(f"apply {count:,} new topics vs raw batched create_topics", apply_s, results["raw batched"], "s"),
            Row(f"apply {count:,} new topics vs one create_topics per topic", apply_s, results["one by one"], "s"),
            Row("no-op re-apply vs the first apply", results["no-op re-apply"], apply_s, "s"),
        ]
        emit_json("topics_apply", rows, topics=count)
        return
    print(f"{count} topics against Tansu at 127.0.0.1 (one run, side by side)")
    for label, seconds in results.items():
        print(f"  {label:28s} {seconds:8.3f} s")
    print(f"  ratio apply / raw batched:    {apply_s / results['raw batched']:.2f}x")
    print(f"  ratio one-by-one / apply:     {results['one by one'] / apply_s:.2f}x")
    print(f"  ratio no-op re-apply / apply: {results['no-op re-apply'] / apply_s:.2f}x")


if __name__ == "__main__":
    main()
