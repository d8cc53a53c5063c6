"""The bad-input corpus (tests/data/bad/*.yaml): every case exits 2 with its exact message and writes nothing.

One file per case:

    description: what is wrong
    args: [topics, apply, t.conf, --yes]      # the command line after `platformctl`
    files: {t.conf: "..."}                    # written into the (empty) working directory first
    env: {PLATFORMCTL_ETCD_ENDPOINT: null}    # optional: changes to the environment below (null unsets)
    stdin: "..."                              # optional
    expect: |                                 # the error block on stderr, exactly
      error: t.conf:4: invalid HOCON: Expected '}'

Every case runs through the CLI with PLATFORMCTL_BOOTSTRAP_SERVER and PLATFORMCTL_ETCD_ENDPOINT pointing
at the session's Apache Kafka broker and etcd, so a mistake that slipped past validation would reach them.
"Nothing written" is checked three ways: etcd's store revision is unchanged (any put, delete, lock or
transaction raises it), no mutating Kafka admin call was made (`kafka_calls`), and the broker's topics,
partitions and configs are as before.

The error block is the `error:` line and the lines that continue it, up to the `hint:` line. Typer's
own usage errors (unknown option, bad choice) are `error:` lines too, with the usage as their hint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from platformctl.kafka import Admin
from tests.conftest import RunCli
from tests.plugins.etcd import EtcdServer
from tests.plugins.kafka import KafkaCalls, KafkaCluster

# pyhocon reports an unreadable include with the deprecated `logger.warn`; platformctl turns it into the error.
pytestmark = pytest.mark.filterwarnings("ignore:The 'warn' method is deprecated")

CORPUS = Path(__file__).parent / "data" / "bad"
CASES = sorted(CORPUS.glob("*.yaml"))
KNOWN_KEYS = {"description", "args", "files", "env", "stdin", "expect"}


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
        (cwd / name).parent.mkdir(parents=True, exist_ok=True)
        (cwd / name).write_text(body, encoding="utf-8")
    env = {"PLATFORMCTL_BOOTSTRAP_SERVER": kafka.bootstrap, "PLATFORMCTL_ETCD_ENDPOINT": etcd_endpoint}
    env.update(case.get("env") or {})
    revision, topics = etcd_revision(etcd_server), kafka_state(kafka)

    result = run_cli(*[str(a) for a in case["args"]], env=env, input=case.get("stdin"))

    explain = f"{path.name}: {case['description']}\n{result.stderr}"
    assert result.exit_code == 2, explain
    assert error_block(result.stderr) == case["expect"].splitlines(), explain
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, explain
    assert sum(line.startswith("error:") for line in result.stderr.splitlines()) <= 1, explain
    assert kafka_calls.calls == [], explain
    assert etcd_revision(etcd_server) == revision, explain
    assert kafka_state(kafka) == topics, explain
