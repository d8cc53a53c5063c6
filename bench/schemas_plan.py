"""Benchmark: what declaring schemas costs `topics plan`, and what reading subjects concurrently saves.

Against a real Schema Registry (Apicurio Registry from tests/components, started here with the test
suite's starter) with N subjects already registered, and a Kafka broker, it measures side by side:
  1. `platformctl topics plan FILE` where each of the N topics declares a value schema (all unchanged: one
     lookup, one latest-version read and one level read per subject) against the same topics without
     schemas (a subprocess each, end to end, interleaved);
  2. `schemaplan.plan` in-process reading the subjects a few at a time (schemaregistry.PARALLEL) against
     one subject at a time.
The registry answers each request in about a millisecond on loopback; a remote registry's round trip
makes (2) matter more, not less.

    .venv/bin/python bench/schemas_plan.py [--subjects 200] [--runs 5] [--bootstrap-server HOST:PORT] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.report import Row, alternating, emit_json
from platformctl.adapters import schemaregistry
from platformctl.adapters.schemaregistry import Registry
from platformctl.topics import files as topicfile
from platformctl.topics.schemas import plan as schemaplan
from tests.components import ALL
from tests.kafkacluster import KafkaCluster
from tests.plugins.etcd import free_port
from tests.plugins.schema_registry import SchemaRegistryServer


@contextlib.contextmanager
def components(bootstrap: str | None, base: Path) -> Iterator[tuple[str, str]]:
    """(registry URL, bootstrap server): a registry started here, and the broker given or one started here."""
    component = ALL["schema-registry"]()
    if not component.installed:
        sys.exit("the Schema Registry is not installed: run `python -m tests.components.install schema-registry`")
    with contextlib.ExitStack() as stack:
        registry = SchemaRegistryServer(component.home, base / "registry.log", free_port())
        registry.start()
        stack.callback(registry.stop)
        if bootstrap is None:
            broker = KafkaCluster(base / "kafka", fast_start=False, log_level="WARN")
            bootstrap = stack.enter_context(broker).bootstrap
        yield registry.url, bootstrap


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subjects", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--bootstrap-server", help="use this Kafka broker instead of starting one")
    parser.add_argument("--json", action="store_true", help="print one JSON object for bench/run")
    options = parser.parse_args()
    prefix = f"b{uuid.uuid4().hex[:6]}"
    parallel = schemaregistry.PARALLEL
    platformctl = Path(sys.executable).parent / "platformctl"
    with tempfile.TemporaryDirectory() as tmp, components(options.bootstrap_server, Path(tmp)) as (url, bootstrap):
        base = Path(tmp)
        with_schemas, without = ["topics:"], ["topics:"]
        for i in range(options.subjects):
            name = f"{prefix}-{i:05d}"
            schema = {"type": "record", "name": f"R{i}", "fields": [{"name": "a", "type": "long"}]}
            (base / f"{name}.avsc").write_text(json.dumps(schema))
            topic = f"  - {{name: {name}, partitions: 1, replication-factor: 1"
            with_schemas.append(f"{topic}, value-schema: {name}.avsc}}")
            without.append(f"{topic}}}")
        (base / "with.yaml").write_text("\n".join(with_schemas) + "\n")
        (base / "without.yaml").write_text("\n".join(without) + "\n")
        decls = [d for spec in topicfile.load([base / "with.yaml"]) for d in spec.schemas]
        registry = Registry(url)
        for decl in decls:
            registry.register(decl.subject, decl.text)

        def cli(file: str) -> None:
            subprocess.run(
                [str(platformctl), "topics", "plan", str(base / file), "--no-overrides",
                 "--bootstrap-server", bootstrap, "--schema-registry", url],
                check=True, capture_output=True,
            )  # fmt: skip

        def plan(parallel: int) -> None:
            schemaregistry.PARALLEL = parallel
            fresh = Registry(url)  # no client cache carried over from the previous call
            result = schemaplan.plan(decls, fresh)
            assert all(s.action == "unchanged" for s in result.subjects)
            fresh.close()

        # Warm the registry's JIT (C1 only) and the page cache before anything is timed.
        cli("with.yaml")
        plan(parallel)
        plan(1)
        ends = alternating({"with": lambda: cli("with.yaml"), "without": lambda: cli("without.yaml")}, options.runs)
        reads = alternating({"parallel": lambda: plan(parallel), "serial": lambda: plan(1)}, options.runs)
        schemaregistry.PARALLEL = parallel
    n = options.subjects
    rows = [
        Row(f"topics plan, {n} topics: with a value schema each vs without", ends["with"], ends["without"], "s"),
        Row(
            f"schemaplan.plan, {n} subjects: {parallel} at a time vs one at a time",
            reads["parallel"],
            reads["serial"],
            "s",
        ),
    ]
    if options.json:
        emit_json("schemas_plan", rows, subjects=n, runs=options.runs)
        return
    print(f"{n} subjects, median of {options.runs} interleaved runs")
    for row in rows:
        print(f"  {row.measurement}: {row.ours * 1000:.0f} ms vs {row.baseline * 1000:.0f} ms ({row.ratio:.2f}x)")


if __name__ == "__main__":
    main()
