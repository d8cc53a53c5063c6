"""Benchmark: `topics apply` and `topics plan` at 10,000 topics on Apache Kafka, what etcd and a full
cluster add, measured side by side in one run.

Against real Apache Kafka (the test suite's `KafkaCluster`, full JIT) and a real etcd, every measurement is
the `platformctl` command end to end (a fresh process: both sides of each ratio pay the same start):
  1. `topics apply` of N new topics recording them in etcd (overrides read, the lock, intents and applied
     marks) vs the same apply with `--no-overrides` (no etcd at all). Runs alternate; each creates N topics
     of its own (1 partition, 2 configs) in a fresh etcd environment, and the topics are deleted
     afterwards, untimed, so every run meets the same cluster and an environment with no records.
  2. `topics plan` of N new topics against a cluster that already has M other topics vs against an empty
     cluster (two brokers, queried in turn; `--no-overrides`: only Kafka and the planning differ).
Each figure is the median of `--runs` runs; the spread (min-max) is printed beside it.

The brokers keep their logs on tmpfs (/dev/shm): creating a partition's log costs an fsync, and on a
loaded VM disk 1,000 partitions took ~27 s of broker time, which would drown what platformctl does (and
flatter every ratio). A faster broker makes the ratios stricter, not looser.

    .venv/bin/python bench/topics_scale.py [--topics 10000] [--existing 10000] [--runs 4]
        [--etcd-endpoint URL] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]  # re-exported without __all__

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.report import Row, emit_json
from tests.kafkacluster import KafkaCluster, partition_capacity
from tests.plugins.etcd import EtcdServer

QUIET = logging.getLogger("bench.librdkafka")
QUIET.addHandler(logging.NullHandler())
QUIET.propagate = False
BATCH = 1000  # topics per admin request when the bench itself creates or deletes
# Deleted topics' logs go at once (the default waits 60 s, holding each one's open file meanwhile: with the
# next run's 10,000 topics, past the 20,000 open files a broker gets here), and `delete` waits until they
# are gone, so every run meets the same broker.
BROKER = {"log.segment.delete.delay.ms": 0}


def topic_file(path: Path, names: list[str]) -> Path:
    lines = ["topics:"]
    for name in names:
        lines += [f"  - name: {name}", "    partitions: 1", "    replication-factor: 1",
                  "    config: {retention.ms: 86400000, cleanup.policy: delete}"]  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    return path


def admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap, "logger": QUIET})  # type: ignore[dict-item]  # librdkafka takes a logger


def create(bootstrap: str, names: list[str]) -> None:
    client = admin(bootstrap)
    for start in range(0, len(names), BATCH):
        topics = [NewTopic(n, num_partitions=1, replication_factor=1) for n in names[start : start + BATCH]]
        for future in client.create_topics(topics, operation_timeout=120, request_timeout=120).values():
            future.result()


def delete(cluster: KafkaCluster, names: list[str]) -> None:
    client = admin(cluster.bootstrap)
    for start in range(0, len(names), BATCH):
        for future in client.delete_topics(names[start : start + BATCH], operation_timeout=120).values():
            future.result()
    deadline = time.monotonic() + 300
    while set(names) & set(client.list_topics(timeout=30).topics) and time.monotonic() < deadline:
        time.sleep(0.5)
    cluster.wait_logs_deleted()


def timed(command: list[str], cwd: Path, *clusters: KafkaCluster) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=cwd)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        logs = "\n".join(cluster.describe_logs() for cluster in clusters)
        raise SystemExit(f"{' '.join(command[1:4])} failed ({done.returncode}):\n{done.stderr}\n{logs}")
    return elapsed


@contextlib.contextmanager
def etcd_at(given: str | None, base: Path) -> Iterator[str]:
    if given:
        yield given
        return
    server = EtcdServer(data_dir=base / "etcd")
    server.start()
    try:
        yield server.endpoint
    finally:
        server.stop()


def summary(samples: list[float]) -> str:
    return f"{statistics.median(samples):7.2f} s (min {min(samples):.2f}, max {max(samples):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--topics", type=int, default=10000)
    parser.add_argument("--existing", type=int, default=10000)
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--etcd-endpoint", help="use this etcd instead of starting one")
    parser.add_argument("--json", action="store_true", help="print one JSON object for bench/run")
    options = parser.parse_args()
    count = options.topics
    if max(count, options.existing) > partition_capacity():
        sys.exit(f"one broker here holds at most {partition_capacity():,} partitions (open files, map count)")
    platformctl = str(Path(sys.executable).parent / "platformctl")
    samples: dict[str, list[float]] = {k: [] for k in ("etcd", "no-etcd", "plan-full", "plan-empty")}
    shm = Path("/dev/shm")
    with tempfile.TemporaryDirectory(dir=shm if shm.is_dir() else None) as tmp:
        base = Path(tmp)
        with (
            etcd_at(options.etcd_endpoint, base) as endpoint,
            KafkaCluster(base / "kafka-a", fast_start=False, heap="1g", properties=BROKER) as kafka,
            KafkaCluster(base / "kafka-b", fast_start=False, heap="1g", properties=BROKER) as empty,
        ):
            common = ["topics", "apply", "--yes", "--bootstrap-server", kafka.bootstrap]
            # Untimed warm-up at full size: the broker's JIT and page cache, not platformctl, would
            # otherwise make whichever side runs first look slow.
            warm = [f"warm-{i:05d}" for i in range(count)]
            warm_file = topic_file(base / "warm.yaml", warm)
            timed([platformctl, "-q", *common, str(warm_file), "--no-overrides"], base, kafka)
            delete(kafka, warm)
            for run in range(options.runs):
                # ABBA order: a drifting machine load (or a broker still deleting the last run's logs)
                # weighs on both sides alike.
                for side in ("etcd", "no-etcd") if run % 2 == 0 else ("no-etcd", "etcd"):
                    names = [f"{side}-{run}-{i:05d}" for i in range(count)]
                    path = topic_file(base / f"{side}-{run}.yaml", names)
                    extra = ["--etcd-endpoint", endpoint] if side == "etcd" else ["--no-overrides"]
                    env = f"bench-{uuid.uuid4().hex[:8]}"  # no records yet, like the broker has no topics
                    command = [platformctl, "-q", "--env", env, *common, str(path), *extra]
                    samples[side].append(timed(command, base, kafka))
                    delete(kafka, names)
            # Planning: the same N new names against M existing topics, and against none.
            create(kafka.bootstrap, [f"existing-{i:05d}" for i in range(options.existing)])
            path = topic_file(base / "plan.yaml", [f"new-{i:05d}" for i in range(count)])
            plan = [platformctl, "-q", "topics", "plan", str(path), "--no-overrides", "--bootstrap-server"]
            for run in range(options.runs):
                for which in ("plan-full", "plan-empty") if run % 2 == 0 else ("plan-empty", "plan-full"):
                    cluster = kafka if which == "plan-full" else empty
                    samples[which].append(timed([*plan, cluster.bootstrap], base, cluster))
    med = {k: statistics.median(v) for k, v in samples.items()}
    spread = {k: [round(min(v), 3), round(max(v), 3)] for k, v in samples.items()}
    if options.json:
        rows = [
            Row(
                f"apply {count:,} new topics: etcd records vs --no-overrides",
                med["etcd"],
                med["no-etcd"],
                "s",
                (min(samples["etcd"]), max(samples["etcd"])),
                (min(samples["no-etcd"]), max(samples["no-etcd"])),
            ),
            Row(
                f"plan {count:,} new topics: {options.existing:,} existing vs empty cluster",
                med["plan-full"],
                med["plan-empty"],
                "s",
                (min(samples["plan-full"]), max(samples["plan-full"])),
                (min(samples["plan-empty"]), max(samples["plan-empty"])),
            ),
        ]
        emit_json("topics_scale", rows, topics=count, existing=options.existing, runs=options.runs, spread=spread)
        return
    print(f"{count:,} topics on Apache Kafka, median of {options.runs} runs (min, max)")
    print(f"  apply, etcd records      {summary(samples['etcd'])}")
    print(f"  apply, --no-overrides    {summary(samples['no-etcd'])}")
    print(f"  plan, {options.existing:,} existing   {summary(samples['plan-full'])}")
    print(f"  plan, empty cluster      {summary(samples['plan-empty'])}")
    print(f"ratio apply with etcd / without: {med['etcd'] / med['no-etcd']:.2f}x (target <= 1.3x)")
    print(f"ratio plan full / empty:         {med['plan-full'] / med['plan-empty']:.2f}x (target <= 1.5x)")


if __name__ == "__main__":
    main()
