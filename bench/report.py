"""What every benchmark reports: rows of (measurement, ours, baseline, ratio), as text or as JSON.

Each script under `bench/` measures platformctl and a baseline side by side in one run and prints its
own readable summary; with `--json` it prints one JSON object instead (`{"benchmark", "rows"}`), which
`bench/run` collects into a single table. The ratio is always ours / baseline.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Row:
    measurement: str
    ours: float
    baseline: float
    unit: str  # "ms", "s", "MiB/s", "us"
    # (min, max) of the samples behind each median, where the bench keeps them: shown beside the median.
    ours_spread: tuple[float, float] | None = None
    baseline_spread: tuple[float, float] | None = None

    @property
    def ratio(self) -> float:
        return self.ours / self.baseline if self.baseline else float("inf")


def emit_json(benchmark: str, rows: list[Row], **details: object) -> None:
    body = [{**asdict(row), "ratio": row.ratio} for row in rows]
    print(json.dumps({"benchmark": benchmark, "rows": body, "details": details}))


def median_time(fn: Callable[[], object], runs: int) -> float:
    """Median seconds of `runs` calls."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def alternating(fns: dict[str, Callable[[], object]], runs: int) -> dict[str, float]:
    """Median seconds of each function, called in turn `runs` times, so machine noise hits all alike."""
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in samples.items()}
