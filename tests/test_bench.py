"""The benches under bench/ keep up with the code they measure.

A bench is run by hand (`bench/run`, 30-60 min at full size), not by CI, so a rename in platformctl or in
the test starters it borrows (tests/kafkacluster.py, tests/plugins/etcd.py) used to surface only at the
next measurement, as a traceback. These checks are cheap stand-ins for running them: mypy over every bench
script (the same strict settings as platformctl: a missing attribute or a changed signature fails here),
and every script `bench/run` names exists.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from importlib.machinery import SourceFileLoader
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"


def test_every_bench_script_type_checks() -> None:
    scripts = [str(BENCH / "run"), *sorted(str(p) for p in BENCH.glob("*.py"))]
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary", *scripts],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_bench_run_names_only_scripts_that_exist() -> None:
    loader = SourceFileLoader("bench_run", str(BENCH / "run"))  # a script without .py: name its loader
    spec = importlib.util.spec_from_loader("bench_run", loader)
    assert spec is not None
    run = importlib.util.module_from_spec(spec)
    loader.exec_module(run)
    for quick in (True, False):
        commands = run.benches("http://127.0.0.1:1", "127.0.0.1:1", quick)
        assert commands, "bench/run lists no bench"
        for command in commands:
            assert (BENCH / command[0]).is_file(), f"bench/run names {command[0]}, which is not in bench/"
