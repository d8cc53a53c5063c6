"""`topics plan/apply --env E` with environment overrides from a real etcd and Apache Kafka.

Covers the precedence file < topic-defaults < topics/<topic> < --set, provenance in text and JSON plans,
the environment lock around apply, the applied records, and the refusal to touch Kafka when etcd is
expected but unreachable. The reference `examples/twitter-topic.conf` on both shapes: test_reference_topic.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import platformctl.adapters.kafka
from platformctl.adapters import etcd
from platformctl.adapters.kafka import Admin
from platformctl.topics import lock as etcdlock
from platformctl.topics import overrides
from tests.conftest import RunCli
from tests.kafkawire import Wire
from tests.plugins.etcd import EtcdServer, free_port
from tests.plugins.kafka import KafkaCalls, KafkaCluster


@pytest.fixture
def store(etcd_endpoint: str) -> etcd.EtcdStore:
    return etcd.EtcdStore(etcd_endpoint)


@pytest.fixture
def topics_cli(run_cli: RunCli, kafka: KafkaCluster, etcd_endpoint: str, etcd_env: str) -> RunCli:
    """`platformctl --env <fresh env> topics ARGS... --bootstrap-server <kafka> --etcd-endpoint <etcd>`."""

    def invoke(*args: str, input: str | None = None) -> Any:
        return run_cli(
            "--env", etcd_env, "topics", *args,
            "--bootstrap-server", kafka.bootstrap, "--etcd-endpoint", etcd_endpoint,
            input=input,
        )  # fmt: skip

    return invoke


@pytest.fixture
def admin_created(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records every Kafka AdminClient platformctl creates: empty means Kafka was never contacted."""
    created: list[str] = []
    from confluent_kafka.admin import AdminClient as real

    def record(config: Any) -> Any:
        created.append(str(config.get("bootstrap.servers")))
        return real(config)

    monkeypatch.setattr(platformctl.adapters.kafka, "AdminClient", record)
    return created


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _plan_values(result: Any) -> dict[str, Any]:
    plan = json.loads(result.stdout)
    return {c["key"]: c["desired"] for c in plan["topics"][0]["changes"] if c["desired"] is not None}


def test_precedence_at_each_level(
    topics_cli: RunCli, store: etcd.EtcdStore, etcd_env: str, tmp_path: Path
) -> None:
    conf = _write(
        tmp_path,
        "levels.yaml",
        "topic:\n  name: levels\n  partitions: 2\n  replication-factor: 1\n"
        "  config:\n    retention.ms: 1000\n    segment.ms: 60000\n",
    )

    def desired(*extra: str) -> dict[str, Any]:
        result = topics_cli("plan", str(conf), "--output", "json", *extra)
        assert result.exit_code == 0, result.stderr
        return _plan_values(result)

    # No overrides in this environment: the file's values, unchanged.
    values = desired()
    assert {k: (v["value"], v["source"]["kind"]) for k, v in values.items()} == {
        "partitions": (2, "file"),
        "replication-factor": (1, "file"),
        "retention.ms": ("1000", "file"),
        "segment.ms": ("60000", "file"),
    }

    overrides.set_values(store, etcd_env, overrides.Target(None), {"retention.ms": "2000", "partitions": 4})
    defaults = store.get(etcd.topic_defaults_key(etcd_env))
    assert defaults is not None
    values = desired()
    assert values["retention.ms"]["value"] == "2000"
    assert values["retention.ms"]["source"]["ref"] == defaults.key
    assert values["retention.ms"]["source"]["revision"] == defaults.mod_revision
    assert values["partitions"]["value"] == 4
    assert values["segment.ms"]["source"]["kind"] == "file"

    overrides.set_values(store, etcd_env, overrides.Target("levels"), {"retention.ms": "3000"})
    topic = store.get(etcd.topic_key(etcd_env, "levels"))
    assert topic is not None
    values = desired()
    assert values["retention.ms"]["value"] == "3000"
    assert values["retention.ms"]["source"]["ref"] == topic.key
    assert [(r["value"], r["source"]["ref"]) for r in values["retention.ms"]["replaced"]] == [
        ("1000", f"{conf}:6"),
        ("2000", defaults.key),
    ]
    assert values["partitions"]["source"]["ref"] == defaults.key  # the topic entry does not name it

    values = desired("--set", "levels.retention.ms=4000")
    assert values["retention.ms"]["value"] == "4000"
    assert values["retention.ms"]["source"]["kind"] == "cli"
    assert [r["value"] for r in values["retention.ms"]["replaced"]] == ["1000", "2000", "3000"]

    # The text plan names the etcd key and revision, and the value it replaced.
    text = topics_cli("plan", str(conf))
    assert (
        f"etcd {topic.key}@{topic.mod_revision} (replaces 1000 from {conf}:6, 2000 from etcd " in text.stdout
    )


def test_lowering_replication_below_min_insync_is_shown_as_derived(
    topics_cli: RunCli, store: etcd.EtcdStore, etcd_env: str, tmp_path: Path
) -> None:
    conf = _write(
        tmp_path,
        "derived.yaml",
        "topic:\n  name: derived\n  partitions: 1\n  replication-factor: 3\n"
        "  config:\n    min.insync.replicas: 2\n",
    )
    overrides.set_values(store, etcd_env, overrides.Target(None), {"replication-factor": 1})
    result = topics_cli("plan", str(conf))
    assert result.exit_code == 0, result.stderr
    line = next(row for row in result.stdout.splitlines() if row.startswith("    + min.insync.replicas"))
    assert f"derived: lowered to replication-factor 1 set by {etcd.topic_defaults_key(etcd_env)}" in line


def test_etcd_down_fails_before_anything_is_sent_to_kafka(
    run_cli: RunCli, kafka: KafkaCluster, etcd_server: EtcdServer, admin_created: list[str], tmp_path: Path
) -> None:
    conf = _write(tmp_path, "down.yaml", "topic: {name: etcd-down, partitions: 1, replication-factor: 1}\n")
    nowhere = f"http://127.0.0.1:{free_port()}"
    for endpoint, stop in ((nowhere, False), (etcd_server.endpoint, True)):
        for command in ("plan", "apply"):
            args = ["topics", command, str(conf), "--bootstrap-server", kafka.bootstrap]
            if command == "apply":
                args.append("--yes")
            if stop:
                with etcd_server.stopped():
                    result = run_cli(*args, "--etcd-endpoint", endpoint)
            else:
                result = run_cli(*args, "--etcd-endpoint", endpoint)
            assert result.exit_code == 1
            assert result.stderr.splitlines()[0] == f"error: etcd at {endpoint} is unreachable"
            assert "--no-overrides" in result.stderr
    assert admin_created == []
    assert "etcd-down" not in Admin(kafka.bootstrap, timeout=5).describe([]).names


def test_no_overrides_skips_etcd_explicitly(
    topics_cli: RunCli, run_cli: RunCli, store: etcd.EtcdStore, etcd_env: str, kafka: KafkaCluster, tmp_path: Path
) -> None:
    conf = _write(
        tmp_path, "plain.yaml", "topic:\n  name: plain\n  partitions: 1\n  replication-factor: 1\n"
        "  config: {retention.ms: 1000}\n",
    )  # fmt: skip
    overrides.set_values(store, etcd_env, overrides.Target(None), {"retention.ms": "2000"})
    assert _plan_values(topics_cli("plan", str(conf), "--output", "json"))["retention.ms"]["value"] == "2000"
    skipped = topics_cli("plan", str(conf), "--output", "json", "--no-overrides")
    assert skipped.exit_code == 0
    assert _plan_values(skipped)["retention.ms"]["source"]["kind"] == "file"
    assert "overrides not read (--no-overrides)" in skipped.stderr

    # Even with etcd unreachable: the user said so.
    nowhere = f"http://127.0.0.1:{free_port()}"
    args = ("topics", "apply", str(conf), "--bootstrap-server", kafka.bootstrap, "--yes", "--no-overrides")
    result = run_cli(*args, "--etcd-endpoint", nowhere)
    assert result.exit_code == 0, result.stderr
    assert "plain" in Admin(kafka.bootstrap, timeout=5).describe([]).names

    pruning = run_cli(*args, "--prune")
    assert pruning.exit_code == 2
    assert "command line: --prune: needs the applied records in etcd" in pruning.stderr


def test_without_an_endpoint_the_plan_warns_that_overrides_were_not_read(
    run_cli: RunCli, kafka: KafkaCluster, tmp_path: Path
) -> None:
    conf = _write(tmp_path, "warn.yaml", "topic: {name: warn, partitions: 1, replication-factor: 1}\n")
    result = run_cli("topics", "plan", str(conf), "--bootstrap-server", kafka.bootstrap)
    assert result.exit_code == 0
    assert (
        "warning: no etcd endpoint configured: overrides of environment 'dev' were not read" in result.stderr
    )


def test_second_apply_fails_naming_the_holder_while_the_first_applies(
    topics_cli: RunCli, kafka_calls: KafkaCalls, kafka_wire: Wire, store: etcd.EtcdStore, etcd_env: str,
    etcd_endpoint: str,
    kafka: KafkaCluster, tmp_path: Path,
) -> None:  # fmt: skip
    conf = _write(tmp_path, "lock.yaml", "topic: {name: locked-one, partitions: 1, replication-factor: 1}\n")
    # The second apply has work of its own: an apply with nothing to change takes no lock.
    other = _write(tmp_path, "lock2.yaml", "topic: {name: locked-two, partitions: 1, replication-factor: 1}\n")
    second: list[subprocess.CompletedProcess[str]] = []

    def run_second_apply(futures: Any) -> None:
        # In the middle of the first apply (its CreateTopics sent), another terminal runs apply.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PLATFORMCTL_")}
        second.append(
            subprocess.run(
                [sys.executable, "-m", "platformctl", "--env", etcd_env, "topics", "apply", str(other),
                 "--bootstrap-server", kafka.bootstrap, "--etcd-endpoint", etcd_endpoint, "--yes"],
                capture_output=True, text=True, env=env, timeout=120, check=False,
            )
        )  # fmt: skip

    kafka_calls.after["create_topics"] = run_second_apply
    first = topics_cli("apply", str(conf), "--yes")
    assert first.exit_code == 0, first.stderr
    assert len(second) == 1
    assert second[0].returncode == 1
    message = next(line for line in second[0].stderr.splitlines() if line.startswith("error:"))
    assert message.startswith(f"error: environment '{etcd_env}' is locked by ")
    assert f"pid {os.getpid()} (topics apply) since " in message
    assert kafka_wire.mutating == ["CreateTopics"]
    assert "locked-two" not in Admin(kafka.bootstrap, timeout=5).describe([]).names  # the second sent nothing
    assert store.get(etcd.lock_key(etcd_env)) is None


def test_lock_is_released_on_error_and_on_ctrl_c(
    topics_cli: RunCli, kafka_calls: KafkaCalls, store: etcd.EtcdStore, etcd_env: str, tmp_path: Path
) -> None:
    conf = _write(
        tmp_path, "intr.yaml", "topic: {name: interrupted-one, partitions: 1, replication-factor: 1}\n"
    )
    held: list[Any] = []

    def interrupt(futures: Any) -> None:
        held.append(store.get(etcd.lock_key(etcd_env)))
        raise KeyboardInterrupt

    kafka_calls.after["create_topics"] = interrupt
    result = topics_cli("apply", str(conf), "--yes")
    assert result.exit_code == 130
    assert held[0] is not None and held[0].value["purpose"] == "topics apply"  # it was held...
    assert store.get(etcd.lock_key(etcd_env)) is None  # ...and released

    def fail(futures: Any) -> None:
        raise RuntimeError("broker fell over")

    kafka_calls.after["create_topics"] = fail
    conf2 = _write(tmp_path, "err.yaml", "topic: {name: failed-one, partitions: 1, replication-factor: 1}\n")
    result = topics_cli("apply", str(conf2), "--yes")
    assert result.exit_code == 1
    assert store.get(etcd.lock_key(etcd_env)) is None


def test_apply_refuses_and_sends_nothing_while_the_env_is_locked(
    topics_cli: RunCli, kafka_wire: Wire, store: etcd.EtcdStore, etcd_env: str, tmp_path: Path
) -> None:
    conf = _write(tmp_path, "busy.yaml", "topic: {name: busy-one, partitions: 1, replication-factor: 1}\n")
    with etcdlock.hold(store, etcd_env, purpose="topics apply") as held:
        result = topics_cli("apply", str(conf), "--yes")
    assert result.exit_code == 1
    assert f"is locked by {held.holder} (topics apply)" in result.stderr
    assert kafka_wire.mutating == []
    # plan takes no lock: it reads only.
    with etcdlock.hold(store, etcd_env):
        assert topics_cli("plan", str(conf)).exit_code == 0


def test_invalid_value_in_etcd_is_input_error_naming_the_key(
    topics_cli: RunCli, store: etcd.EtcdStore, etcd_env: str, tmp_path: Path, admin_created: list[str]
) -> None:
    conf = _write(tmp_path, "inv.yaml", "topic: {name: inv, partitions: 1, replication-factor: 1}\n")
    key = etcd.topic_key(etcd_env, "inv")
    store.put(key, {"config": {"retention.ms": "soon"}}, expect_revision=0)
    result = topics_cli("plan", str(conf))
    assert result.exit_code == 2
    assert (
        result.stderr.splitlines()[0]
        == f"error: {key}: config.retention.ms: must be an integer (got str 'soon')"
    )
    assert admin_created == []
