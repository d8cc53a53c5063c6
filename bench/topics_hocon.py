"""Benchmark: loading N topics from HOCON (`.conf`, pyhocon) vs the same topics in YAML, in one run.

`topicfile.load` end to end (read, parse, line map, validation) on the same N topics written in both
syntaxes, called in turn (`--runs` times each, in-process: no process start on either side), plus
pyhocon's `ConfigFactory.parse_string` alone, to show where the HOCON time goes. Medians, with the
spread (min-max) in the readable output.

Why HOCON is slower, measured rather than guessed: pyhocon parses with a pyparsing grammar, pure Python
that tries alternatives character by character (about 900 parser calls per topic), while YAML goes
through libyaml's C scanner. pyparsing's packrat cache makes it slower still (each position is tried
with many expressions). The gap is the parser's, and it is linear: the time per topic does not grow.

    .venv/bin/python bench/topics_hocon.py [--topics 10000] [--runs 3] [--json]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.report import Row, emit_json
from platformctl import topicfile


def write(base: Path, count: int) -> tuple[Path, Path]:
    conf, yaml = base / "topics.conf", base / "topics.yaml"
    hocon = ["topics = ["]
    lines = ["topics:"]
    for i in range(count):
        name = f"bench-topic-{i:05d}"
        hocon += ["  {", f"    name = {name}", "    partitions = 3", "    replication-factor = 1", "    config {",
                  "      cleanup.policy = delete", "      retention.ms = 86400000", "    }", "  }"]  # fmt: skip
        lines += [f"  - name: {name}", "    partitions: 3", "    replication-factor: 1", "    config:",
                  "      cleanup.policy: delete", "      retention.ms: 86400000"]  # fmt: skip
    conf.write_text("\n".join([*hocon, "]"]) + "\n")
    yaml.write_text("\n".join(lines) + "\n")
    return conf, yaml


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--topics", type=int, default=10000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print one JSON object for bench/run")
    options = parser.parse_args()
    from pyhocon import ConfigFactory

    with tempfile.TemporaryDirectory() as tmp:
        conf, yaml = write(Path(tmp), options.topics)
        text = conf.read_text()
        calls: dict[str, Callable[[], object]] = {
            "hocon": lambda: topicfile.load([conf]),
            "yaml": lambda: topicfile.load([yaml]),
            "pyhocon parse": lambda: ConfigFactory.parse_string(text),
        }
        assert len(topicfile.load([conf])) == len(topicfile.load([yaml])) == options.topics
        samples: dict[str, list[float]] = {name: [] for name in calls}
        for _ in range(options.runs):
            for name, call in calls.items():
                start = time.perf_counter()
                call()
                samples[name].append(time.perf_counter() - start)
    med = {k: statistics.median(v) for k, v in samples.items()}
    count = options.topics
    if options.json:
        rows = [
            Row(f"load {count:,} topics: HOCON (pyhocon) vs YAML", med["hocon"], med["yaml"], "s"),
            Row("pyhocon parse alone vs the whole HOCON load", med["pyhocon parse"], med["hocon"], "s"),
        ]
        spread = {k: [round(min(v), 3), round(max(v), 3)] for k, v in samples.items()}
        emit_json("topics_hocon", rows, topics=count, runs=options.runs, spread=spread)
        return
    print(f"{count:,} topics, median of {options.runs} runs (min, max)")
    for name, values in samples.items():
        print(f"  {name:14s} {med[name]:8.3f} s ({min(values):.3f}, {max(values):.3f})")
    print(f"ratio HOCON / YAML: {med['hocon'] / med['yaml']:.1f}x; pyhocon's parse is "
          f"{med['pyhocon parse'] / med['hocon']:.0%} of the HOCON load")  # fmt: skip


if __name__ == "__main__":
    main()
