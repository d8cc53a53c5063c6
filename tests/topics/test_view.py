"""Plans as a terraform user reads them, exact output (Apache Kafka 4.2, tests/plugins/kafka.py, and the real
etcd where records matter): what changes, marked `+ ~ - !`, one summary line that counts the unchanged too, the rest
on request (`--show-unchanged`, `-v`); colour on a terminal only; `--detailed-exitcode` for CI; recorded
topics that left the files mentioned even without `--prune`; a JSON apply that needs `--yes`.
"""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from platformctl.adapters.kafka import Admin
from tests.conftest import RunCli
from tests.kafkawire import Wire
from tests.plugins.kafka import KafkaCluster


def _topics_file(path: Path, names: list[str], retention: dict[str, int] | None = None) -> Path:
    """One topic per line (line i + 2 is names[i]), each with retention.ms 60000 unless given."""
    retention = retention or {}
    body = "".join(
        f"  - {{name: {n}, partitions: 1, replication-factor: 1, "
        f"config: {{retention.ms: {retention.get(n, 60000)}}}}}\n"
        for n in names
    )
    path.write_text("topics:\n" + body)
    return path


@pytest.fixture
def prefix() -> str:
    return f"v{uuid.uuid4().hex[:8]}"


def test_a_plan_of_400_topics_with_one_change_prints_the_change_and_one_line(
    run_cli: RunCli, kafka: KafkaCluster, tmp_path: Path, prefix: str
) -> None:
    names = [f"{prefix}-{i:03}" for i in range(400)]
    path = _topics_file(tmp_path / "many.yaml", names)
    server = ("--bootstrap-server", kafka.bootstrap, "--no-overrides")
    created = run_cli("topics", "apply", str(path), *server, "--yes")
    assert created.exit_code == 0, created.stderr
    assert created.stdout.endswith("applied: 400 created, 0 changed, 0 deleted\n")

    _topics_file(path, names, {names[123]: 120000})
    result = run_cli("topics", "plan", str(path), *server)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        f"~ {names[123]}\n"
        f"    ~ retention.ms  60000 -> 120000  {path}:125\n"
        "plan: 0 to create, 1 to change, 0 to delete, 399 unchanged\n"
    )

    # -v (or --show-unchanged) lists the rest: every topic, every key.
    for flag in ("-v", "--show-unchanged"):
        everything = run_cli("topics", "plan", str(path), *server, flag)
        lines = everything.stdout.splitlines()
        assert len(lines) == 400 * 4 + 1
        assert lines[:4] == [
            f"  {names[0]}",
            f"      partitions          1      {path}:2",
            f"      replication-factor  1      {path}:2",
            f"      retention.ms        60000  {path}:2",
        ]


def test_create_change_and_delete_markers(
    run_cli: RunCli, kafka: KafkaCluster, tmp_path: Path, prefix: str, kafka_wire: Wire
) -> None:
    keep, grow = f"{prefix}-keep", f"{prefix}-grow"
    server = ("--bootstrap-server", kafka.bootstrap, "--no-overrides")
    path = tmp_path / "t.yaml"
    path.write_text(
        f"topics:\n  - {{name: {keep}, partitions: 1, replication-factor: 1}}\n"
        f"  - {{name: {grow}, partitions: 1, replication-factor: 1, "
        "config: {segment.ms: 5000, retention.ms: 1000}}\n"
    )
    assert run_cli("topics", "apply", str(path), *server, "--yes").exit_code == 0
    new = f"{prefix}-new"
    path.write_text(
        f"topics:\n  - {{name: {keep}, partitions: 1, replication-factor: 1}}\n"
        f"  - {{name: {grow}, partitions: 3, replication-factor: 1, config: {{retention.ms: 2000, "
        "max.message.bytes: 2000000}}\n"
        f"  - {{name: {new}, partitions: 2, replication-factor: 1}}\n"
    )
    kafka_wire.clear()
    result = run_cli("topics", "plan", str(path), *server, "--destructive")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        f"~ {grow}\n"
        f"    ~ partitions         1 -> 3             {path}:3\n"
        f"    + max.message.bytes  2000000            {path}:3\n"
        f"    ~ retention.ms       1000 -> 2000       {path}:3\n"
        f"    - segment.ms         5000 -> (default)  --destructive\n"
        f"+ {new}\n"
        f"    + partitions          2  {path}:4\n"
        f"    + replication-factor  1  {path}:4\n"
        "plan: 1 to create, 1 to change, 0 to delete, 1 unchanged\n"
    )
    assert kafka_wire.mutating == []


def test_detailed_exitcode(run_cli: RunCli, kafka: KafkaCluster, tmp_path: Path, prefix: str) -> None:
    name = f"{prefix}-ci"
    path = _topics_file(tmp_path / "ci.yaml", [name])
    server = ("--bootstrap-server", kafka.bootstrap, "--no-overrides")

    def plan(*extra: str) -> int:
        return run_cli("topics", "plan", str(path), *server, "--detailed-exitcode", *extra).exit_code

    assert plan() == 2  # a topic to create
    assert run_cli("topics", "apply", str(path), *server, "--yes").exit_code == 0
    assert plan() == 0  # nothing to change
    assert plan("--set", f"{name}.retention.ms=1") == 2  # a change
    assert plan("--set", f"{name}.replication-factor=3") == 1  # impossible: an error, not "changes"
    assert plan("--set", f"{name}.retention.ms=soon") == 1  # bad input: an error too
    assert plan("--no-such-option") == 1  # even a usage error
    # Without the flag, bad input keeps its usual 2 and a plan with changes exits 0.
    assert run_cli("topics", "plan", str(path), *server, "--set", f"{name}.retention.ms=1").exit_code == 0
    assert run_cli("topics", "plan", str(path), *server, "--set", f"{name}.retention.ms=soon").exit_code == 2


def test_plan_mentions_recorded_topics_that_left_the_files(
    run_cli: RunCli, kafka: KafkaCluster, etcd_endpoint: str, etcd_env: str, tmp_path: Path
) -> None:
    stay, gone = f"{etcd_env}-stay", f"{etcd_env}-gone"
    both = _topics_file(tmp_path / "both.yaml", [stay, gone])
    one = _topics_file(tmp_path / "one.yaml", [stay])
    common = ("--bootstrap-server", kafka.bootstrap, "--etcd-endpoint", etcd_endpoint)
    assert run_cli("--env", etcd_env, "topics", "apply", str(both), *common, "--yes").exit_code == 0

    plan = run_cli("--env", etcd_env, "topics", "plan", str(one), *common)
    assert plan.exit_code == 0, plan.stderr
    assert plan.stdout == (
        f"note: 1 topic(s) platformctl applied are no longer in the files and are kept: {gone} "
        "(--prune deletes them)\n"
        "plan: 0 to create, 0 to change, 0 to delete, 1 unchanged\n"
    )
    pruning = run_cli("--env", etcd_env, "topics", "plan", str(one), *common, "--prune")
    assert pruning.stdout == (
        f"- {gone}  delete: platformctl applied it, and it is no longer in the files (--prune)\n"
        "plan: 0 to create, 0 to change, 1 to delete, 1 unchanged\n"
    )


def test_json_apply_needs_yes_even_on_a_terminal(
    run_cli: RunCli, kafka: KafkaCluster, tmp_path: Path, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("platformctl.commands.base.interactive", lambda: True)
    name = f"{prefix}-json"
    path = _topics_file(tmp_path / "j.yaml", [name])
    server = ("--bootstrap-server", kafka.bootstrap, "--no-overrides")
    result = run_cli("topics", "apply", str(path), *server, "-o", "json")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr.endswith(
        "error: --yes: refusing to change Kafka without confirmation: --output json shows no plan to confirm\n"
        "hint: review `platformctl topics plan`, then re-run with --yes (or PLATFORMCTL_YES=1)\n"
    )
    assert name not in Admin(kafka.bootstrap, timeout=5).describe([]).names


def _on_a_terminal(argv: list[str], env: dict[str, str]) -> str:
    """The command's stdout as a terminal shows it (stdout is a pseudo-terminal)."""
    leader, follower = pty.openpty()
    try:
        done = subprocess.run(argv, stdout=follower, stderr=subprocess.PIPE, env=env, timeout=60, check=False)
        os.close(follower)
        shown = os.read(leader, 65536).decode()
    finally:
        os.close(leader)
    assert done.returncode == 0, done.stderr
    return shown


def test_markers_are_coloured_on_a_terminal_only(kafka: KafkaCluster, tmp_path: Path, prefix: str) -> None:
    """The real command with its stdout on a pseudo-terminal, and again on a pipe."""
    name = f"{prefix}-tty"
    path = _topics_file(tmp_path / "c.yaml", [name])
    argv = [sys.executable, "-m", "platformctl", "topics", "plan", str(path), "--no-overrides"]
    env = {**os.environ, "PLATFORMCTL_BOOTSTRAP_SERVER": kafka.bootstrap, "TERM": "xterm"}
    env.pop("NO_COLOR", None)
    shown = _on_a_terminal(argv, env)
    assert shown.startswith(f"\x1b[32m+\x1b[0m {name}\r\n    \x1b[32m+\x1b[0m partitions ")
    piped = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60, check=False)
    assert piped.stdout.startswith(f"+ {name}\n    + partitions ")
    # https://no-color.org: no colour even on a terminal.
    assert _on_a_terminal(argv, {**env, "NO_COLOR": "1"}).startswith(f"+ {name}\r\n    + partitions ")
