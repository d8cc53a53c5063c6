"""The bad-input corpus (tests/data/bad/*.yaml): every case exits 2 with its exact message and writes nothing.

One file per case:

    description: what is wrong
    args: [topics, apply, t.conf, --yes]      # the command line after `platformctl`
    files: {t.conf: "..."}                    # written into the (empty) working directory first
    env: {PLATFORMCTL_ETCD_ENDPOINT: null}    # optional: changes to the environment below (null unsets)
    stdin: "..."                              # optional
    limits: {memory-mib: 1024, seconds: 60}   # optional: run in a child under these limits (hostile input)
    expect: |                                 # the error block on stderr, exactly
      error: t.conf:4: invalid HOCON: Expected '}'

A file is its text, or one of: `{parts: [[TEXT, COUNT], ...]}` (TEXT repeated COUNT times, in order:
5,000 levels of nesting without writing them out), `{fifo: true}`, `{symlink: TARGET}`, `{size: BYTES}`
(a sparse file of that size).

A case with `limits` runs `platformctl` in a child process (tests/limited_cli.py) with its address space
limited (RLIMIT_AS) and a wall-clock timeout: an input that must be refused in bounded time and memory
then fails the test when it is not, instead of hanging the session or exhausting the machine.

Every case runs through the CLI with PLATFORMCTL_BOOTSTRAP_SERVER and PLATFORMCTL_ETCD_ENDPOINT pointing
at the session's Apache Kafka broker and etcd, so a mistake that slipped past validation would reach them.
"Nothing written" is checked three ways: etcd's store revision is unchanged (any put, delete, lock or
transaction raises it), no mutating Kafka admin call was made (`kafka_calls`), and the broker's topics,
partitions and configs are as before.

The error block is the `error:` line and the lines that continue it, up to the `hint:` line. Typer's
own usage errors (unknown option, bad choice) are `error:` lines too, with the usage as their hint.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from platformctl.adapters.kafka import Admin
from tests.conftest import RunCli
from tests.limited_cli import Limits, run_limited
from tests.plugins.etcd import EtcdServer
from tests.plugins.kafka import KafkaCalls, KafkaCluster

CORPUS = Path(__file__).parents[1] / "data" / "bad"
CASES = sorted(CORPUS.glob("*.yaml"))
KNOWN_KEYS = {"description", "args", "files", "env", "stdin", "limits", "expect"}


def error_block(stderr: str) -> list[str] | None:
    lines = stderr.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("error: ")), None)
    if start is not None:
        block = []
        for line in lines[start:]:
            if line.startswith("hint: "):
                break
            block.append(line)
        return block
    return None


def write_file(path: Path, body: str | dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(body, str):
        path.write_text(body, encoding="utf-8")
    elif "parts" in body:
        path.write_text("".join(text * count for text, count in body["parts"]), encoding="utf-8")
    elif body.get("fifo"):
        os.mkfifo(path)
    elif "symlink" in body:
        path.symlink_to(body["symlink"])
    elif "size" in body:
        with path.open("wb") as f:
            f.truncate(int(body["size"]))
    else:
        raise AssertionError(f"unknown file kind {body}")


def etcd_revision(server: EtcdServer) -> int:
    import etcd3gw

    client = etcd3gw.Etcd3Client(host="127.0.0.1", port=server.client_port, api_path="/v3/")
    return int(client.status()["header"]["revision"])


def kafka_state(kafka: KafkaCluster) -> dict[str, Any]:
    admin = Admin(kafka.bootstrap, timeout=5)
    names = admin.describe([]).names
    state = admin.describe(names)
    return {
        name: (topic.partitions, topic.replication_factor, dict(topic.config)) for name, topic in state.topics.items()
    }


def test_the_corpus_covers_every_kind_of_input() -> None:
    kinds = {path.name.split("-")[0] for path in CASES}
    assert kinds == {"topic", "settings", "overrides", "cli"}
    assert len(CASES) >= 40
    for path in CASES:
        case = yaml.safe_load(path.read_text())
        assert set(case) <= KNOWN_KEYS and {"description", "args", "expect"} <= set(case), path.name


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_bad_input_case(
    path: Path,
    run_cli: RunCli,
    kafka: KafkaCluster,
    etcd_server: EtcdServer,
    etcd_endpoint: str,
    kafka_calls: KafkaCalls,
) -> None:
    case = yaml.safe_load(path.read_text(encoding="utf-8"))
    cwd = Path.cwd()  # run_cli's fresh, empty working directory
    for name, body in (case.get("files") or {}).items():
        write_file(cwd / name, body)
    env = {"PLATFORMCTL_BOOTSTRAP_SERVER": kafka.bootstrap, "PLATFORMCTL_ETCD_ENDPOINT": etcd_endpoint}
    env.update(case.get("env") or {})
    revision, topics = etcd_revision(etcd_server), kafka_state(kafka)

    args = [str(a) for a in case["args"]]
    if "limits" in case:
        limited = run_limited(args, Limits.parse(case["limits"]), cwd=cwd, env=env, stdin=case.get("stdin"))
        exit_code, stderr, calls = limited.exit_code, limited.stderr, limited.kafka_calls
    else:
        result = run_cli(*args, env=env, input=case.get("stdin"))
        exit_code, stderr, calls = result.exit_code, result.stderr, kafka_calls.calls

    explain = f"{path.name}: {case['description']}\n{stderr}"
    assert exit_code == 2, explain
    assert error_block(stderr) == case["expect"].splitlines(), explain
    assert "Traceback" not in stderr and "internal error" not in stderr, explain
    assert sum(line.startswith("error:") for line in stderr.splitlines()) <= 1, explain
    assert calls == [], explain
    assert etcd_revision(etcd_server) == revision, explain
    assert kafka_state(kafka) == topics, explain
