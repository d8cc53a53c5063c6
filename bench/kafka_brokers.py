"""What kafka.brokers 3 costs against 1: the rendered Kafka booted on this machine, start time, memory, CPU.

Each round boots the Kafka StatefulSet `platformctl render` produces, at kafka.brokers 1 and at 3 in turn
(alternating, so machine noise hits both alike), the way tests/platform/test_kafka_rendered_boot.py does: each pod's
environment from the render (the container's command run for the per-pod values), server.properties by the
apache/kafka image's own rule from the pinned jars (storage formatted), addresses moved onto loopback.
Unlike that test, the JVMs start with the image's flags (the rendered heap, the full JIT, a class-data
sharing archive as the image's own), not the test's C1-only start. Measured per cluster:

- start: launching the JVMs until metadata, read through broker 0's HOST listener, lists every broker;
- memory: the brokers' resident set (VmRSS) once registered, summed and per broker;
- CPU: user+system seconds the brokers' JVMs used until then (on a 2-core machine, what a cold
  `minikube --cpus=2` node pays while the platform comes up).

Medians of the rounds with their range; the ratios (3 brokers / 1) are the result.

    .venv/bin/python bench/kafka_brokers.py [--rounds 3] [--json]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.report import Row, emit_json
from platformctl.settings import KafkaSettings, Settings
from tests import kafkacluster as kafka_plugin
from tests.plugins.etcd import die_with_parent
from tests.renderedkafka import endpoints, prepare, rendered

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def boot(brokers: int, base: Path) -> dict[str, float]:
    """One cold boot of the rendered cluster: start seconds, RSS MiB (sum, per broker), CPU seconds."""
    from confluent_kafka.admin import AdminClient

    kafka = rendered(Settings(kafka=KafkaSettings(brokers=brokers)))
    loop, pods = prepare(kafka, base)
    cds, _ = kafka_plugin.cds_flags(False, dump=False)
    processes = []
    start = time.monotonic()
    try:
        for pod in pods:
            log4j = pod.dir / "log4j2.properties"
            log4j.write_text("rootLogger.level = WARN\n")
            command = [
                kafka_plugin.java(), *pod.heap, *cds, f"-Dlog4j2.configurationFile={log4j}",
                "-cp", str(kafka_plugin.kafka_home() / "libs" / "*"), "kafka.Kafka", str(pod.dir / "server.properties"),
            ]  # fmt: skip
            with (pod.dir / "stdout.log").open("ab") as out:
                started = subprocess.Popen(  # the brokers go with the bench if it is killed, as the tests' do
                    command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=die_with_parent
                )
            processes.append(started)
        first = pods[0]
        listen = {name: port for name, _, port in endpoints(first.properties["listeners"])}
        bootstrap = f"localhost:{loop.port(0, kafka.container_port(listen[first.listeners.host]))}"
        admin = AdminClient({"bootstrap.servers": bootstrap, "logger": kafka_plugin.QUIET})  # type: ignore[dict-item]  # librdkafka takes a logger
        while True:
            if any(p.poll() is not None for p in processes):
                raise RuntimeError(f"a broker exited; see {base}")
            try:
                if len(admin.list_topics(timeout=1).brokers) == brokers:
                    break
            except Exception:
                pass
            if time.monotonic() - start > 300:
                raise RuntimeError(f"not ready in 300 s; see {base}")
            time.sleep(0.05)
        elapsed = time.monotonic() - start
        rss = [_rss_mib(p.pid) for p in processes]
        cpu = sum(_cpu_seconds(p.pid) for p in processes)
        return {"start": elapsed, "rss": sum(rss), "rss_each": max(rss), "cpu": cpu}
    finally:
        for p in processes:
            p.terminate()
        for p in processes:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="cold boots of each size, alternating")
    parser.add_argument("--json", action="store_true", help="print one JSON object for bench/run")
    args = parser.parse_args()

    samples: dict[int, list[dict[str, float]]] = {1: [], 3: []}
    with tempfile.TemporaryDirectory(prefix="platformctl-bench-kafka-") as tmp:
        for round_ in range(args.rounds):
            for brokers in (1, 3):
                samples[brokers].append(boot(brokers, Path(tmp) / f"r{round_}-n{brokers}"))

    def median(brokers: int, key: str) -> float:
        return statistics.median(s[key] for s in samples[brokers])

    def spread(brokers: int, key: str) -> str:
        values = [s[key] for s in samples[brokers]]
        return f"{min(values):.1f}-{max(values):.1f}"

    rows = [
        Row("start to every broker registered: 3 brokers vs 1", median(3, "start"), median(1, "start"), "s"),
        Row("resident memory, all brokers (MiB): 3 vs 1", median(3, "rss"), median(1, "rss"), "MiB"),
        Row("resident memory per broker (MiB): 3 vs 1", median(3, "rss_each"), median(1, "rss_each"), "MiB"),
        Row("CPU seconds until registered: 3 brokers vs 1", median(3, "cpu"), median(1, "cpu"), "s"),
    ]
    if args.json:
        emit_json("kafka_brokers", rows, rounds=args.rounds, cpus=os.cpu_count())
        return
    print(f"the rendered Kafka, cold boots on {os.cpu_count()} CPUs; medians of {args.rounds} rounds (range)")
    for key, label, unit in (
        ("start", "start to registered", "s"),
        ("rss", "RSS, all brokers", "MiB"),
        ("rss_each", "RSS, largest broker", "MiB"),
        ("cpu", "CPU until registered", "s"),
    ):
        print(
            f"  {label:22} 1 broker {median(1, key):7.1f} {unit} ({spread(1, key)})   "
            f"3 brokers {median(3, key):7.1f} {unit} ({spread(3, key)})   ratio {median(3, key) / median(1, key):.2f}x"
        )


if __name__ == "__main__":
    main()
