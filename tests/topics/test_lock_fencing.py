"""The environment lock under faults, with the real processes stopped and continued (real etcd and Kafka).

- An apply paused (SIGSTOP) past its lock's TTL while another apply takes the lock and changes the same
  topics: when it is continued, it must not write one more record nor send one more request to Kafka in
  the lock's name (every record write is fenced on the lease; the lock is verified before each Kafka
  request), and it stops with one clear line.
- etcd frozen (SIGSTOP) while an apply records what it did: one deadline for the whole recording step,
  not a request timeout per transaction (or per topic), then one clear line; a re-run converges.
- etcd killed while an apply holds the lock: the lock outlives the apply until its lease runs out, and the
  next run says that the holder (a process of this machine) is gone and when the lock expires.

The paused applies are real `platformctl` processes (`python -c` with one hook that SIGSTOPs the process
itself at a chosen point, and the lock's TTL shortened so the test does not wait 30 s); SIGSTOP/SIGCONT
go to the real processes.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from platformctl.adapters import etcd
from platformctl.adapters.kafka import Admin
from platformctl.topics import lock as etcdlock
from platformctl.topics.records import APPLIED, INTENT
from platformctl.topics.records import read as read_records
from tests.conftest import RunCli
from tests.plugins.etcd import EtcdServer
from tests.plugins.kafka import KafkaCalls, KafkaCluster

pytestmark = pytest.mark.kafka_real

TTL = 2  # the lock's lease in these tests (30 s in use)


def topics_file(path: Path, names: list[str], retention: int) -> Path:
    body = "".join(
        f"  - {{name: {n}, partitions: 1, replication-factor: 1, config: {{retention.ms: {retention}}}}}\n"
        for n in names
    )
    path.write_text("topics:\n" + body)
    return path


def error_lines(stderr: str) -> list[str]:
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    return [line for line in stderr.splitlines() if line.startswith("error:")]


# `python -c` for a platformctl that stops itself (SIGSTOP) when it reaches `stop_at`:
#   "kafka":   the intents are in etcd, nothing sent to Kafka yet (execute.apply is about to start)
#   "records": Kafka accepted everything, the applied marks are not written yet
_PAUSING = """
import os, signal, sys
from platformctl.topics import lock as etcdlock
from platformctl.topics import execute, records
etcdlock.DEFAULT_LOCK_TTL = {ttl}

def stop_first(fn):
    def stopped(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGSTOP)
        return fn(*args, **kwargs)
    return stopped

if {stop_at!r} == "kafka":
    execute.apply = stop_first(execute.apply)
else:
    records.AppliedRecorder.finish = stop_first(records.AppliedRecorder.finish)
sys.argv = ["platformctl", *{args!r}]
from platformctl.cli import main
main()
"""


@contextlib.contextmanager
def pausing_apply(args: list[str], stop_at: str, ttl: int = TTL) -> Iterator[subprocess.Popen[str]]:
    """A `platformctl ARGS` process, once it has stopped itself at `stop_at`; killed if the test fails."""
    script = _PAUSING.format(ttl=ttl, stop_at=stop_at, args=args)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLATFORMCTL_")}
    child = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        wait_until(lambda: _state(child.pid) == "T" or child.poll() is not None, f"{stop_at}: never stopped")
        assert child.poll() is None, child.communicate()
        yield child
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()


def _state(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "gone"
    return stat.rsplit(")", 1)[1].split()[0]


def wait_until(condition: Any, failure: str, limit: float = 60) -> None:
    """Poll until `condition()` holds; the limit only turns a hang into a failure."""
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, failure
        time.sleep(0.05)


def resume(child: subprocess.Popen[str]) -> tuple[int, str]:
    os.kill(child.pid, signal.SIGCONT)
    _, stderr = child.communicate(timeout=120)
    return child.returncode, stderr


class Env:
    def __init__(self, run_cli: RunCli, kafka: KafkaCluster, endpoint: str, env: str, tmp_path: Path) -> None:
        self.run_cli, self.kafka, self.endpoint, self.env, self.tmp_path = run_cli, kafka, endpoint, env, tmp_path
        self.store = etcd.EtcdStore(endpoint)
        self.names = [f"{env}-{i}" for i in range(3)]

    def file(self, retention: int, names: list[str] | None = None) -> Path:
        return topics_file(self.tmp_path / f"topics-{retention}.yaml", names or self.names, retention)

    def args(self, path: Path) -> list[str]:
        return ["--env", self.env, "topics", "apply", str(path), "--yes", "--bootstrap-server",
                self.kafka.bootstrap, "--etcd-endpoint", self.endpoint]  # fmt: skip

    def apply(self, path: Path) -> Result:
        return self.run_cli(*self.args(path))

    def retention(self) -> dict[str, str | None]:
        state = Admin(self.kafka.bootstrap, timeout=5).describe(self.names)
        return {n: state.topics[n].config.get("retention.ms") if n in state.topics else None for n in self.names}

    def records(self) -> dict[str, tuple[str, Any, int]]:
        found = read_records(self.store, self.env)
        return {n: (r.state, r.spec.get("config"), r.mod_revision) for n, r in found.items()}

    def unlocked(self) -> None:
        wait_until(lambda: self.store.get(etcd.lock_key(self.env)) is None, "the lock never expired")


@pytest.fixture
def env(
    run_cli: RunCli, kafka: KafkaCluster, etcd_endpoint: str, etcd_env: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Env:  # fmt: skip
    monkeypatch.setattr(etcdlock, "DEFAULT_LOCK_TTL", TTL)
    return Env(run_cli, kafka, etcd_endpoint, etcd_env, tmp_path)


def test_an_apply_paused_past_its_ttl_writes_no_record_after_another_apply_took_the_lock(env: Env) -> None:
    with pausing_apply(env.args(env.file(60000)), stop_at="records") as paused:
        # Paused after Kafka accepted its topics, before it recorded them; its lease runs out.
        assert env.retention() == dict.fromkeys(env.names, "60000")
        env.unlocked()
        other = env.apply(env.file(120000))  # another apply takes the lock and changes the same topics
        assert other.exit_code == 0, other.stderr
        after_other = env.records()
        assert {n: (s, c) for n, (s, c, _) in after_other.items()} == dict.fromkeys(
            env.names, (APPLIED, {"retention.ms": "120000"})
        )
        code, stderr = resume(paused)
    assert code == 1
    assert error_lines(stderr) == [
        f"error: applied to Kafka, but lost the lock on environment {env.env!r}: its etcd lease expired (this "
        f"run was paused, or could not reach etcd, for longer than the lock's {TTL} s TTL): the records of "
        f"{env.names[0]} and 2 more were not updated"
    ]
    assert env.records() == after_other  # not one record written by the paused apply
    assert env.retention() == dict.fromkeys(env.names, "120000")
    assert env.apply(env.file(120000)).stderr.count("nothing to change") == 1  # files, Kafka, etcd agree


def test_an_apply_paused_before_kafka_sends_nothing_once_another_apply_took_the_lock(env: Env) -> None:
    assert env.apply(env.file(60000)).exit_code == 0
    with pausing_apply(env.args(env.file(90000)), stop_at="kafka") as paused:
        # Paused with its intents written (retention 90000), before its IncrementalAlterConfigs.
        assert {(s, c["retention.ms"]) for s, c, _ in env.records().values()} == {(INTENT, "90000")}
        env.unlocked()
        other = env.apply(env.file(120000))
        assert other.exit_code == 0, other.stderr
        after_other = env.records()
        code, stderr = resume(paused)
    assert code == 1
    [line] = error_lines(stderr)
    assert line == (
        f"error: lost the lock on environment {env.env!r}: its etcd lease expired (this run was paused, or "
        f"could not reach etcd, for longer than the lock's {TTL} s TTL)"
    )
    assert env.retention() == dict.fromkeys(env.names, "120000")  # its alter never reached Kafka
    assert env.records() == after_other


@contextlib.contextmanager
def frozen(server: EtcdServer) -> Iterator[None]:
    """etcd is stopped (SIGSTOP) while the block's hook has frozen it, and always continued after."""
    try:
        yield
    finally:
        if server.process is not None:
            os.kill(server.process.pid, signal.SIGCONT)


def _freeze(server: EtcdServer) -> None:
    assert server.process is not None
    os.kill(server.process.pid, signal.SIGSTOP)


@pytest.fixture
def posts(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every request the main thread's etcd stores send: (path, "ok" or the error's first words)."""
    sent: list[tuple[str, str]] = []
    post = etcd.EtcdStore._post

    def recording(self: etcd.EtcdStore, path: str, payload: Any, **kwargs: Any) -> Any:
        try:
            result = post(self, path, payload, **kwargs)
        except Exception as e:
            sent.append((path, type(e).__name__))
            raise
        sent.append((path, "ok"))
        return result

    monkeypatch.setattr(etcd.EtcdStore, "_post", recording)
    return sent


@pytest.mark.parametrize("when", ["intents", "records"])
def test_etcd_frozen_during_an_apply_costs_one_deadline_not_one_timeout_per_record(
    env: Env, when: str, etcd_server: EtcdServer, kafka_calls: KafkaCalls, posts: list[tuple[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    # 300 topics: three transactions of intents and three of applied marks (127 records each, plus the
    # fence), where the first release wrote one PUT per topic, each waiting out its own 5 s timeout.
    names = [f"{env.env}-{i:03d}" for i in range(300)]
    path = env.file(60000, names)
    before = len(posts)
    patch = monkeypatch.context().__enter__()
    if when == "intents":
        write_chunked = etcd.EtcdStore.write_chunked

        def freeze_first(self: etcd.EtcdStore, writes: Any, **kwargs: Any) -> list[int]:
            _freeze(etcd_server)
            return write_chunked(self, writes, **kwargs)

        patch.setattr(etcd.EtcdStore, "write_chunked", freeze_first)
    else:

        def accepted_then_frozen(futures: Any) -> None:
            for future in futures.values():
                future.result()
            _freeze(etcd_server)

        kafka_calls.after["create_topics"] = accepted_then_frozen
    with frozen(etcd_server):
        result = env.apply(path)
        frozen_posts = posts[before:]
    patch.undo()
    assert result.exit_code == 1
    txns = [outcome for p, outcome in frozen_posts if p == "/kv/txn"]
    if when == "intents":
        assert error_lines(result.stderr) == [
            f"error: could not write the intent records to etcd, so nothing was sent to Kafka: etcd at "
            f"{env.endpoint} did not answer within 5 s"
        ]
        assert kafka_calls.calls == []
        # The lock's create, then the intent transactions sent side by side (three: one per lane), which
        # all timed out together: no further attempt.
        assert txns == ["ok", *["PlatformError"] * min(etcd.WRITE_LANES, 3)]
    else:
        assert error_lines(result.stderr) == [
            f"error: applied to Kafka, but could not update the applied records in etcd for {names[0]} (etcd at "
            f"{env.endpoint} did not answer within 5 s) and 299 more"
        ]
        assert kafka_calls.calls == ["create_topics"]
        # The lock, three intent transactions, then the applied-marks transactions in flight together
        # (one per lane), which timed out together: none sent after.
        assert txns == ["ok", "ok", "ok", "ok", *["PlatformError"] * min(etcd.WRITE_LANES, 3)]
    assert "/lease/revoke" in [p for p, _ in frozen_posts]  # released (best effort) on the way out

    # Continued: once the orphaned lock has expired, a re-run converges.
    kafka_calls.after.clear()
    kafka_calls.calls.clear()
    env.unlocked()
    rerun = env.apply(path)
    assert rerun.exit_code == 0, rerun.stderr
    assert kafka_calls.calls == ([] if when == "records" else ["create_topics"])
    assert {r.state for r in read_records(env.store, env.env).values()} == {APPLIED}
    assert len(read_records(env.store, env.env)) == 300


def test_a_lock_left_by_an_apply_that_died_with_etcd_says_its_holder_is_gone(
    env: Env, etcd_server: EtcdServer
) -> None:
    with pausing_apply(env.args(env.file(60000)), stop_at="records", ttl=10) as paused:
        holder = paused.pid
        assert etcd_server.process is not None
        etcd_server.process.kill()  # SIGKILL, with the apply holding the lock
        etcd_server.process.wait()
        etcd_server.process = None
        try:
            code, stderr = resume(paused)  # it cannot record, nor release the lock
        finally:
            etcd_server.start()
    assert code == 1
    [line] = error_lines(stderr)
    assert line.startswith("error: applied to Kafka, but could not update the applied records in etcd for")

    locked = env.apply(env.file(60000))
    assert locked.exit_code == 1
    [line] = error_lines(locked.stderr)
    match = re.fullmatch(
        rf"error: environment '{env.env}' is locked by \S+ pid {holder} \(topics apply\) since \S+: that process "
        rf"\(pid {holder} on this machine\) is no longer running; the lock expires in (\d+) s",
        line,
    )
    assert match is not None, line
    assert 0 < int(match.group(1)) <= 10
    assert "ended without releasing the lock" in locked.stderr

    env.unlocked()
    rerun = env.apply(env.file(60000))  # completes the intents the dead apply left
    assert rerun.exit_code == 0, rerun.stderr
    assert {r.state for r in read_records(env.store, env.env).values()} == {APPLIED}
