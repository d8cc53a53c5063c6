"""`python -m tests.limited_cli ARGS...`: platformctl in a child process, for inputs that must stay bounded.

A hostile input (a billion-laughs file, a FIFO, 5,000 levels of nesting) must be refused in bounded time
and memory. In-process, a regression would hang the test session or exhaust the machine; in a child
started by `run_limited` it meets RLIMIT_AS (address space) and a wall-clock timeout instead, and the
test fails with a clear reason. The child records every mutating Kafka admin call, as the `kafka_calls`
fixture does in-process, into the file named by $PLATFORMCTL_TEST_KAFKA_CALLS.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CALLS = "PLATFORMCTL_TEST_KAFKA_CALLS"


@dataclass(frozen=True)
class Limits:
    memory_mib: int  # RLIMIT_AS of the child
    seconds: float  # wall clock, start to exit

    @classmethod
    def parse(cls, given: Mapping[str, int | float]) -> Limits:
        unknown = set(given) - {"memory-mib", "seconds"}
        assert not unknown, f"unknown limits {unknown}"
        return cls(int(given["memory-mib"]), float(given["seconds"]))


@dataclass(frozen=True)
class LimitedResult:
    exit_code: int
    stdout: str
    stderr: str
    kafka_calls: list[str]


def run_limited(
    args: Sequence[str],
    limits: Limits,
    *,
    cwd: Path,
    env: Mapping[str, str | None],
    stdin: str | None = None,
) -> LimitedResult:
    """Run `platformctl ARGS` in a child under `limits` with this process's environment changed by `env`
    (None removes a variable); a run past its time fails the calling test."""
    calls = cwd.parent / f"{cwd.name}.kafka-calls.json"
    child_env = {**os.environ, CALLS: str(calls), "PYTHONPATH": str(ROOT)}
    for name, value in env.items():
        if value is None:
            child_env.pop(name, None)
        else:
            child_env[name] = value
    memory = limits.memory_mib * 1024 * 1024

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    try:
        done = subprocess.run(
            [sys.executable, "-m", "tests.limited_cli", *args],
            cwd=cwd,
            env=child_env,
            input=stdin if stdin is not None else "",
            capture_output=True,
            text=True,
            timeout=limits.seconds,
            preexec_fn=limit,
        )
    except subprocess.TimeoutExpired as e:  # run() killed the child
        raise AssertionError(
            f"platformctl {' '.join(args)} ran past its limit of {limits.seconds:g} s\nstderr: {e.stderr!r}"
        ) from None
    recorded = json.loads(calls.read_text()) if calls.exists() else []
    return LimitedResult(done.returncode, done.stdout, done.stderr, recorded)


def run_function(target: str, limits: Limits) -> None:
    """Call `module:function` in a child under `limits`; its failure (or a run past its time) is an
    AssertionError here carrying the child's output, so a hypothesis falsifying example reads as usual."""
    module, function = target.split(":")
    code = f"import {module} as m; m.{function}()"
    memory = limits.memory_mib * 1024 * 1024

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    try:
        done = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=limits.seconds,
            preexec_fn=limit,
        )
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"{target} ran past its limit of {limits.seconds:g} s\n{e.stderr!r}") from None
    if done.returncode != 0:
        raise AssertionError(f"{target} failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")


def main() -> None:
    from confluent_kafka.admin import AdminClient

    import platformctl.adapters.kafka
    from platformctl.cli import app
    from tests.plugins.kafka import HookedAdminClient

    calls: list[str] = []
    platformctl.adapters.kafka.AdminClient = lambda config: HookedAdminClient(AdminClient(config), calls, {})  # type: ignore[assignment,misc]
    try:
        app(prog_name="platformctl", args=sys.argv[1:])
    finally:
        Path(os.environ[CALLS]).write_text(json.dumps(calls))


if __name__ == "__main__":
    main()
