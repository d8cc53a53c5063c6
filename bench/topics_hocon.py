"""Benchmark: loading N topics from HOCON (`.conf`, pyhocon) vs the same topics in YAML, cold and warm cache.

`topicfile.load` end to end (read, parse, line map, validation) on the same N topics written in both
syntaxes, called in turn (`--runs` rounds, interleaved, in-process: no process start on either side):
- `hocon cold`: an empty cache directory ($XDG_CACHE_HOME) each time, so pyhocon parses and the result
  is written to the cache (topics/hoconcache.py) - what the first plan of a changed file costs;
- `hocon warm`: the entry the cold load wrote - every later plan of the same files;
- `yaml`: the same topics in YAML (not cached: libyaml is fast enough);
- `pyhocon parse`: pyhocon's `ConfigFactory.parse_string` alone, to show where the cold time goes (what
  platformctl adds around it: its line map, safety hooks, validation and the cache write).
Medians, with the spread (min-max) beside them.

Why a cold HOCON load is slow, measured rather than guessed: pyhocon parses with a pyparsing grammar,
pure Python that tries alternatives character by character (about 900 parser calls per topic), while
YAML goes through libyaml's C scanner; platformctl's own passes around it are a small part (see the
`pyhocon parse` row). The gap is the parser's, and it is linear: the time per topic does not grow.

    .venv/bin/python bench/topics_hocon.py [--topics 10000] [--runs 3] [--json]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.report import Row, emit_json
from platformctl.topics import files as topicfile


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
        base = Path(tmp)
        conf, yaml = write(base, options.topics)
        text = conf.read_text()
        caches = iter(range(10**6))

        def cold() -> object:
            os.environ["XDG_CACHE_HOME"] = str(base / f"cache-{next(caches)}")  # empty: a miss
            return topicfile.load([conf])

        def warm() -> object:
            os.environ["XDG_CACHE_HOME"] = str(base / "cache-warm")
            return topicfile.load([conf])

        calls: dict[str, Callable[[], object]] = {
            "hocon cold": cold,
            "hocon warm": warm,
            "yaml": lambda: topicfile.load([yaml]),
            "pyhocon parse": lambda: ConfigFactory.parse_string(text),
        }
        os.environ["XDG_CACHE_HOME"] = str(base / "cache-warm")
        first = topicfile.load([conf])  # fills the warm cache (and checks both files hold the same topics)
        assert len(first) == len(topicfile.load([yaml])) == options.topics
        assert warm() == first, "a warm load must give exactly what a parse gives"
        samples: dict[str, list[float]] = {name: [] for name in calls}
        for _ in range(options.runs):
            for name, call in calls.items():
                start = time.perf_counter()
                call()
                samples[name].append(time.perf_counter() - start)
    med = {k: statistics.median(v) for k, v in samples.items()}
    spread = {k: (min(v), max(v)) for k, v in samples.items()}
    count = options.topics
    if options.json:
        rows = [
            Row(f"load {count:,} topics: HOCON, cold cache vs YAML", med["hocon cold"], med["yaml"], "s",
                spread["hocon cold"], spread["yaml"]),
            Row(f"load {count:,} topics: HOCON, warm cache vs YAML", med["hocon warm"], med["yaml"], "s",
                spread["hocon warm"], spread["yaml"]),
            Row("pyhocon parse alone vs the cold HOCON load", med["pyhocon parse"], med["hocon cold"], "s",
                spread["pyhocon parse"], spread["hocon cold"]),
        ]  # fmt: skip
        emit_json("topics_hocon", rows, topics=count, runs=options.runs)
        return
    print(f"{count:,} topics, median of {options.runs} interleaved runs (min, max)")
    for name, values in samples.items():
        print(f"  {name:14s} {med[name]:8.3f} s ({min(values):.3f}, {max(values):.3f})")
    print(f"HOCON / YAML: cold {med['hocon cold'] / med['yaml']:.1f}x, warm {med['hocon warm'] / med['yaml']:.2f}x; "
          f"pyhocon's parse is {med['pyhocon parse'] / med['hocon cold']:.0%} of the cold HOCON load")  # fmt: skip


if __name__ == "__main__":
    main()
