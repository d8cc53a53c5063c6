"""Benchmark: `platformctl topics apply` of N new topics on Apache Kafka vs raw CreateTopics, side by side.

For each N (default 1,000 and 10,000) it starts two one-node Apache Kafka 4.2 clusters (the test suite's
`KafkaCluster`, full JIT, logs on tmpfs like bench/topics_scale.py: a partition's log costs an fsync, which
on a loaded VM disk would drown what is measured): one empty, one already holding N other topics. On each,
every run measures, in turn:
  1. `platformctl -q topics apply FILE --yes --no-overrides` (a fresh process: startup, reading and
     validating the file, describe, Kafka's dry run (validate_only), the creates in chunks, the metadata
     wait);
  2. raw batched CreateTopics from a fresh process (bench/raw_create.py `batched`: as few requests as the
     controller accepts, nothing else);
  3. one CreateTopics per topic from a fresh process (bench/raw_create.py `each`), up to `--each-up-to`
     topics (1,000: each request takes ~33 ms here, so 10,000 take ~6 min a measurement);
  4. the no-op re-apply of the same file (a fresh process), with the mutating requests that reached the
     broker counted on the wire (the cluster's relay, tests/kafkawire.py): it must be 0.
Each run creates N topics of its own name (1 partition, 2 configs) and they are deleted afterwards,
untimed, logs included, so every run meets the same cluster. A broker here holds at most ~19,000
partitions (tests.kafkacluster.partition_capacity: 20,000 open files, one per partition): a cluster that
must hold more (10,000 existing and 10,000 new) gets a second broker, and its rows say so.
Sides alternate within a run; each figure is the median of
`--runs` runs, with its spread (min-max). Absolute times drift on a shared machine; the ratios are the
result, and how they change from 1,000 to 10,000 topics.

    .venv/bin/python bench/topics_apply.py [--topics 1000 --topics 10000] [--runs 3] [--json]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]  # re-exported without __all__

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.report import Row, emit_json
from tests.kafkacluster import KafkaCluster, partition_capacity

QUIET = logging.getLogger("bench.librdkafka")
QUIET.addHandler(logging.NullHandler())
QUIET.propagate = False
HERE = Path(__file__).resolve().parent
BATCH = 1000  # topics per admin request when the bench itself prefills or cleans up
SIDES = ("apply", "batched", "each")
# Deleted topics' logs go at once (the default waits 60 s, holding each one's open file meanwhile), and
# `delete` waits until they are gone, so every run meets the same broker.
BROKER = {"log.segment.delete.delay.ms": 0}


def topic_file(path: Path, names: list[str]) -> Path:
    lines = ["topics:"]
    for name in names:
        lines += [f"  - name: {name}", "    partitions: 1", "    replication-factor: 1",
                  "    config: {retention.ms: 86400000, cleanup.policy: delete}"]  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    return path


def timed(command: list[str], cwd: Path, cluster: KafkaCluster | None = None) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=cwd)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        logs = cluster.describe_logs() if cluster is not None else ""
        raise SystemExit(f"{' '.join(command[:5])} failed ({done.returncode}):\n{done.stderr}\n{logs}")
    return elapsed


def create(bootstrap: str, names: list[str]) -> None:
    client = AdminClient({"bootstrap.servers": bootstrap, "logger": QUIET})  # type: ignore[dict-item]  # librdkafka takes a logger
    for start in range(0, len(names), BATCH):
        topics = [NewTopic(n, num_partitions=1, replication_factor=1) for n in names[start : start + BATCH]]
        for future in client.create_topics(topics, operation_timeout=300, request_timeout=300).values():
            future.result()


def delete(cluster: KafkaCluster, names: list[str]) -> None:
    client = AdminClient({"bootstrap.servers": cluster.bootstrap, "logger": QUIET})  # type: ignore[dict-item]  # librdkafka takes a logger
    for start in range(0, len(names), BATCH):
        for future in client.delete_topics(names[start : start + BATCH], operation_timeout=300).values():
            future.result()
    deadline = time.monotonic() + 600
    while set(names) & set(client.list_topics(timeout=60).topics) and time.monotonic() < deadline:
        time.sleep(0.5)
    cluster.wait_logs_deleted()


def brokers_for(partitions: int) -> int:
    """Brokers a cluster needs to hold this many partitions (one replica each) on this machine: one, unless
    its open-files limit says otherwise (tests.kafkacluster.partition_capacity: 10,000 topics and 10,000
    more do not fit one broker with 20,000 open files)."""
    return -(-partitions // partition_capacity())


class Sizes:
    """One N: two clusters (empty, N existing), the samples of each side on each."""

    def __init__(self, count: int, runs: int, base: Path, sides: tuple[str, ...] = SIDES) -> None:
        self.count, self.runs, self.base, self.sides = count, runs, base, sides
        self.samples: dict[tuple[str, str], list[float]] = {}
        self.noop_mutating: list[int] = []
        self.platformctl = str(Path(sys.executable).parent / "platformctl")

    def measure(self) -> None:
        # The full cluster holds N existing and N new topics during a run; each side's topics are deleted
        # (and their logs gone) before the next side creates its own.
        self.nodes = {"empty": brokers_for(self.count), "full": brokers_for(2 * self.count)}
        with (
            KafkaCluster(self.base / "empty", self.nodes["empty"], fast_start=False, heap="1g", log_level="WARN",
                         properties=BROKER) as empty,
            KafkaCluster(self.base / "full", self.nodes["full"], fast_start=False, heap="1g", log_level="WARN",
                         properties=BROKER) as full,
        ):  # fmt: skip
            create(full.bootstrap, [f"existing-{i:05d}" for i in range(self.count)])
            clusters = {"empty": empty, "full": full}
            for name, cluster in clusters.items():  # untimed warm-up: the broker's JIT and caches
                warm = [f"warm-{name}-{i:05d}" for i in range(self.count)]
                self.side("apply", cluster, warm)
                delete(cluster, warm)
            for run in range(self.runs):
                for name, cluster in clusters.items():
                    for side in self.sides:
                        names = [f"{side}-{run}-{i:05d}" for i in range(self.count)]
                        self.samples.setdefault((name, side), []).append(self.side(side, cluster, names))
                        if side == "apply":
                            self.noop(name, cluster, names)
                        delete(cluster, names)

    def noop(self, name: str, cluster: KafkaCluster, names: list[str]) -> None:
        """The same apply again: timed, and its mutating requests counted where the broker receives them."""
        path = self.base / f"{names[0]}.yaml"
        cluster.wire.clear()
        command = [self.platformctl, "-q", "topics", "apply", str(path), "--yes", "--no-overrides",
                   "--bootstrap-server", cluster.bootstrap]  # fmt: skip
        self.samples.setdefault((name, "noop"), []).append(timed(command, self.base, cluster))
        self.noop_mutating.append(len(cluster.wire.mutating))

    def side(self, side: str, cluster: KafkaCluster, names: list[str]) -> float:
        if side == "apply":
            path = topic_file(self.base / f"{names[0]}.yaml", names)
            return timed([self.platformctl, "-q", "topics", "apply", str(path), "--yes", "--no-overrides",
                          "--bootstrap-server", cluster.bootstrap], self.base, cluster)  # fmt: skip
        names_file = self.base / f"{names[0]}.names"
        names_file.write_text("\n".join(names))
        raw = [sys.executable, str(HERE / "raw_create.py"), cluster.bootstrap, str(names_file), side]
        return timed(raw, self.base, cluster)

    def median(self, cluster: str, side: str) -> float:
        return statistics.median(self.samples[(cluster, side)])

    def spread(self, cluster: str, side: str) -> tuple[float, float]:
        values = self.samples[(cluster, side)]
        return (min(values), max(values))

    def rows(self) -> list[Row]:
        n = f"{self.count:,}"
        rows = []
        for cluster, where in (("empty", "empty cluster"), ("full", f"{n} already there")):
            if self.nodes[cluster] > 1:
                where += f" ({self.nodes[cluster]} brokers)"
            for side, what in (("batched", "raw batched CreateTopics"), ("each", "one CreateTopics per topic")):
                if side not in self.sides:
                    continue
                rows.append(
                    Row(
                        f"apply {n} new topics, {where}, vs {what}",
                        self.median(cluster, "apply"),
                        self.median(cluster, side),
                        "s",
                        self.spread(cluster, "apply"),
                        self.spread(cluster, side),
                    )
                )
        mutating = max(self.noop_mutating)
        rows.append(
            Row(
                f"no-op re-apply of {n} topics ({mutating} mutating requests on the wire) vs the first apply",
                self.median("full", "noop"),
                self.median("full", "apply"),
                "s",
                self.spread("full", "noop"),
                self.spread("full", "apply"),
            )
        )
        return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--topics", type=int, action="append", help="N (repeatable; default 1,000 and 10,000)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--each-up-to",
        type=int,
        default=1000,
        help="measure one CreateTopics per topic only up to this N (~33 ms a request here: 10,000 take minutes)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object for bench/run")
    options = parser.parse_args()
    counts = options.topics or [1000, 10000]
    rows: list[Row] = []
    shm = Path("/dev/shm")
    mutating = 0
    for count in counts:
        with tempfile.TemporaryDirectory(dir=shm if shm.is_dir() else None) as tmp:
            sides = SIDES if count <= options.each_up_to else ("apply", "batched")
            sizes = Sizes(count, options.runs, Path(tmp), sides)
            sizes.measure()
            rows += sizes.rows()
            mutating = max(mutating, *sizes.noop_mutating)
    if options.json:
        emit_json("topics_apply", rows, topics=counts, runs=options.runs)
    else:
        print(f"topics apply on Apache Kafka, median of {options.runs} runs (min-max)")
        for row in rows:
            print(f"  {row.measurement}: {row.ours:.2f} s vs {row.baseline:.2f} s = {row.ratio:.2f}x")
    if mutating:
        sys.exit(f"a no-op re-apply sent {mutating} mutating request(s)")


if __name__ == "__main__":
    main()
