"""`topics plan` / `topics apply` against Apache Kafka 4.2 (tests/plugins/kafka.py), the dev platform's shape.

Each test uses its own topic names on the session broker; tests that stop the broker get their own.
"Sends no mutating request" is counted on the wire (`kafka_wire`), between the client and the broker.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from platformctl.adapters.etcd import EtcdStore
from platformctl.adapters.kafka import Admin
from platformctl.topics import plan as topicplan
from platformctl.topics.provenance import Layer, Source
from platformctl.topics.records import read as read_records
from tests.conftest import RunCli
from tests.kafkawire import Wire
from tests.plugins.kafka import KafkaCalls, KafkaCluster

pytestmark = pytest.mark.kafka_real

TWEETS = """\
# production settings
topic {{
  name = {name}
  partitions = 9
  replication-factor = 3
  config {{
    cleanup.policy = compact
    min.compaction.lag.ms = 3600000
    min.cleanable.dirty.ratio = 0.5
    delete.retention.ms = 86400000
    min.insync.replicas = 2
    retention.ms = -1
  }}
}}
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _state(kafka: KafkaCluster, *names: str) -> Any:
    return Admin(kafka.bootstrap, timeout=5).describe(names)


def test_create_with_configs_and_dev_override_then_reapply_is_a_noop(
    run_cli: RunCli, kafka: KafkaCluster, kafka_wire: Wire, tmp_path: Path
) -> None:
    conf = _write(tmp_path, "tweets.conf", TWEETS.format(name="tweets-create"))
    args = ("topics", "apply", str(conf), "--bootstrap-server", kafka.bootstrap, "--yes")
    first = run_cli(*args, "--set", "*.replication-factor=1")
    assert first.exit_code == 0, first.stderr
    assert "created tweets-create" in first.stdout
    assert kafka_wire.mutating == ["CreateTopics"]
    topic = _state(kafka, "tweets-create").topics["tweets-create"]
    assert (topic.partitions, topic.replication_factor) == (9, 1)
    assert topic.config == {
        "cleanup.policy": "compact",
        "min.compaction.lag.ms": "3600000",
        "min.cleanable.dirty.ratio": "0.5",
        "delete.retention.ms": "86400000",
        "min.insync.replicas": "1",  # derived from the override, shown in the plan
        "retention.ms": "-1",
    }
    assert "derived: lowered to replication-factor 1 set by --set" in first.stdout

    kafka_wire.clear()
    again = run_cli(*args, "--set", "*.replication-factor=1")
    assert again.exit_code == 0, again.stderr
    assert kafka_wire.mutating == []
    assert "nothing to change" in again.stderr
    assert again.stdout.startswith("plan: 0 to create, 0 to change, 0 to delete, 1 unchanged\n")


def test_config_change_and_removal(
    run_cli: RunCli, kafka: KafkaCluster, kafka_wire: Wire, tmp_path: Path
) -> None:
    head = "topic: {name: cfg-change, partitions: 2, replication-factor: 1, "
    v1 = head + "config: {retention.ms: 1000, segment.ms: 5000}}\n"
    v2 = head + "config: {retention.ms: 2000}}\n"
    path = _write(tmp_path, "t.yaml", v1)
    base = ("topics", "apply", str(path), "--bootstrap-server", kafka.bootstrap, "--yes")
    assert run_cli(*base).exit_code == 0
    path.write_text(v2)

    kept = run_cli(*base)
    assert kept.exit_code == 0, kept.stderr
    assert "config of cfg-change: set retention.ms=2000" in kept.stdout
    assert "(1 config key(s) on the cluster not in the files, kept: --show-unchanged lists them" in kept.stdout
    listed = run_cli("topics", "plan", str(path), "--bootstrap-server", kafka.bootstrap, "--show-unchanged")
    assert "      segment.ms          5000  on the cluster only: kept (--destructive removes it)\n" in listed.stdout
    assert _state(kafka, "cfg-change").topics["cfg-change"].config == {
        "retention.ms": "2000",
        "segment.ms": "5000",
    }

    kafka_wire.clear()
    removed = run_cli(*base, "--destructive")
    assert removed.exit_code == 0, removed.stderr
    assert "config of cfg-change: delete segment.ms" in removed.stdout
    assert kafka_wire.mutating == ["IncrementalAlterConfigs"]
    assert _state(kafka, "cfg-change").topics["cfg-change"].config == {"retention.ms": "2000"}


def test_plan_json_shows_every_source_and_what_it_replaced(kafka: KafkaCluster, tmp_path: Path) -> None:
    conf = _write(tmp_path, "tweets.conf", TWEETS.format(name="tweets-json"))
    specs = topicplan.load_files([conf])
    layers = {
        "tweets-json": [
            Layer(
                Source("etcd", "/platformctl/envs/dev/topic-defaults", revision=4), {"replication-factor": 1}
            ),
            Layer(Source("cli", "--set"), {"retention.ms": "60000"}),
        ]
    }
    plan = topicplan.plan(specs, _state(kafka, "tweets-json"), layers)
    values = {c["key"]: c["desired"] for c in plan.to_json()["topics"][0]["changes"]}
    assert values["replication-factor"] == {
        "value": 1,
        "source": {
            "kind": "etcd",
            "ref": "/platformctl/envs/dev/topic-defaults",
            "revision": 4,
            "note": None,
        },
        "replaced": [
            {"value": 3, "source": {"kind": "file", "ref": f"{conf}:5", "revision": None, "note": None}}
        ],
    }
    assert values["min.insync.replicas"]["source"]["kind"] == "derived"
    assert values["min.insync.replicas"]["replaced"][0]["value"] == "2"
    assert values["retention.ms"]["source"]["kind"] == "cli"
    assert values["partitions"]["source"]["ref"] == f"{conf}:4"
    assert json.loads(json.dumps(plan.to_json()))  # plain data


def test_prune_deletes_only_managed_topics_after_confirmation(
    run_cli: RunCli,
    kafka: KafkaCluster,
    kafka_wire: Wire,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    etcd_endpoint: str,
    etcd_env: str,
) -> None:
    keep = _write(tmp_path, "keep.yaml", "topic: {name: prune-keep, partitions: 1, replication-factor: 1}\n")
    gone = _write(tmp_path, "gone.yaml", "topic: {name: prune-gone, partitions: 1, replication-factor: 1}\n")
    foreign = _write(
        tmp_path, "foreign.yaml", "topic: {name: prune-foreign, partitions: 1, replication-factor: 1}\n"
    )
    server = ("--bootstrap-server", kafka.bootstrap, "--etcd-endpoint", etcd_endpoint)
    # platformctl records what it applies in etcd; a topic applied without etcd is not recorded, so it is
    # not platformctl's to delete.
    applied = run_cli("--env", etcd_env, "topics", "apply", str(keep), str(gone), *server, "--yes")
    assert applied.exit_code == 0
    unrecorded = ("--bootstrap-server", kafka.bootstrap, "--no-overrides", "--yes")
    assert run_cli("topics", "apply", str(foreign), *unrecorded).exit_code == 0
    kafka_wire.clear()

    without = run_cli("--env", etcd_env, "topics", "apply", str(keep), *server, "--yes")  # no --prune
    assert without.exit_code == 0 and kafka_wire.mutating == []
    refused = run_cli("--env", etcd_env, "topics", "apply", str(keep), *server, "--prune")  # no tty, no --yes
    assert refused.exit_code == 2
    assert "refusing to change Kafka without confirmation" in refused.stderr
    monkeypatch.setattr("platformctl.commands.base.interactive", lambda: True)
    declined = run_cli("--env", etcd_env, "topics", "apply", str(keep), *server, "--prune", input="n\n")
    assert declined.exit_code == 1
    assert "DELETE 1 topic(s) (prune-gone)?" in declined.stderr
    assert kafka_wire.mutating == []
    assert {"prune-gone", "prune-foreign"} <= _state(kafka).names

    accepted = run_cli("--env", etcd_env, "topics", "apply", str(keep), *server, "--prune", input="y\n")
    assert accepted.exit_code == 0, accepted.stderr
    assert "deleted prune-gone" in accepted.stdout
    assert kafka_wire.mutating == ["DeleteTopics"]
    names = _state(kafka).names
    assert "prune-gone" not in names
    assert {"prune-keep", "prune-foreign"} <= names  # never managed: never touched
    assert sorted(read_records(EtcdStore(etcd_endpoint), etcd_env)) == ["prune-keep"]  # the record goes too


def test_interrupted_apply_converges_on_rerun(
    run_cli: RunCli, kafka: KafkaCluster, kafka_calls: KafkaCalls, kafka_wire: Wire, tmp_path: Path
) -> None:
    old = "topic: {name: half-old, partitions: 1, replication-factor: 1, config: {retention.ms: 1000}}\n"
    path = _write(tmp_path, "t.yaml", old)
    args = ("topics", "apply", str(path), "--bootstrap-server", kafka.bootstrap, "--yes")
    assert run_cli(*args).exit_code == 0
    path.write_text(
        "topics:\n  - {name: half-old, partitions: 1, replication-factor: 1, config: {retention.ms: 2000}}\n"
        "  - {name: half-new, partitions: 2, replication-factor: 1}\n"
    )

    def interrupt(futures: Any) -> None:
        for future in futures.values():
            future.result()
        raise KeyboardInterrupt

    kafka_wire.clear()
    kafka_calls.after["create_topics"] = interrupt
    stopped = run_cli(*args)
    assert stopped.exit_code == 130
    assert kafka_wire.mutating == ["CreateTopics"]
    kafka_calls.after.clear()
    kafka_wire.clear()
    rerun = run_cli(*args)
    assert rerun.exit_code == 0, rerun.stderr
    assert kafka_wire.mutating == ["IncrementalAlterConfigs"]  # the create already happened
    state = _state(kafka, "half-old", "half-new")
    assert state.topics["half-old"].config == {"retention.ms": "2000"}
    assert state.topics["half-new"].partitions == 2


def test_broker_stopped_mid_apply_fails_in_one_line_and_rerun_converges(
    run_cli: RunCli, own_kafka: KafkaCluster, kafka_calls: KafkaCalls, kafka_wire: Wire, tmp_path: Path
) -> None:
    settings = _write(tmp_path, "platformctl.yaml", "kafka:\n  request-timeout: 2\n")
    path = _write(
        tmp_path,
        "t.yaml",
        "topics:\n  - {name: mid-a, partitions: 1, replication-factor: 1, config: {retention.ms: 1000}}\n",
    )
    args = (
        "--config",
        str(settings),
        "topics",
        "apply",
        str(path),
        "--bootstrap-server",
        own_kafka.bootstrap,
        "--yes",
    )
    assert run_cli(*args).exit_code == 0
    path.write_text(
        "topics:\n  - {name: mid-a, partitions: 1, replication-factor: 1, config: {retention.ms: 2000}}\n"
        "  - {name: mid-b, partitions: 3, replication-factor: 1}\n"
    )

    def stop_broker(futures: Any) -> None:
        for future in futures.values():
            future.result()
        own_kafka.stop()

    kafka_calls.after["create_topics"] = stop_broker
    broken = run_cli(*args)
    assert broken.exit_code == 1
    errors = [line for line in broken.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and own_kafka.bootstrap in errors[0], broken.stderr
    assert "Traceback" not in broken.stderr

    # Kafka kept what it accepted before it stopped (mid-b): the re-run sends only the config change.
    kafka_calls.after.clear()
    own_kafka.start()
    kafka_wire.clear()
    assert run_cli(*args).exit_code == 0
    assert kafka_wire.mutating == ["IncrementalAlterConfigs"]
    state = _state(own_kafka, "mid-a", "mid-b")
    assert state.topics["mid-a"].config == {"retention.ms": "2000"}
    assert state.topics["mid-b"].partitions == 3
    kafka_wire.clear()
    assert run_cli(*args).exit_code == 0
    assert kafka_wire.mutating == []


def test_unreachable_broker_is_one_line_exit_1(run_cli: RunCli, tmp_path: Path) -> None:
    from tests.plugins.kafka import free_port

    settings = _write(tmp_path, "platformctl.yaml", "kafka:\n  request-timeout: 1\n")
    path = _write(tmp_path, "t.yaml", "topic: {name: nowhere, partitions: 1, replication-factor: 1}\n")
    server = f"127.0.0.1:{free_port()}"
    result = run_cli("--config", str(settings), "topics", "plan", str(path), "--bootstrap-server", server)
    assert result.exit_code == 1
    assert f"error: cannot reach Kafka at {server}: " in result.stderr
    assert [line for line in result.stderr.splitlines() if line.startswith("error:")] == [
        next(line for line in result.stderr.splitlines() if line.startswith("error:"))
    ]



def test_a_client_that_failed_is_freed_with_its_error_not_by_the_garbage_collector() -> None:
    """A failed metadata read used to leave the AdminClient in a reference cycle (the worker thread's frame
    in the error's traceback, holding the future that held the error): alive, and reconnecting to its
    address, until Python's cycle collector ran. A later command in the same process (the tests' in-process
    CLI) could then see its connections."""
    import gc
    import weakref

    from platformctl.errors import PlatformError
    from tests.plugins.kafka import free_port

    admin = Admin(f"127.0.0.1:{free_port()}", timeout=1)
    freed = weakref.ref(admin)
    gc.disable()
    try:
        with pytest.raises(PlatformError, match="cannot reach Kafka"):
            admin.describe(["nowhere"])
        del admin
        assert freed() is None
    finally:
        gc.enable()

def test_interactive_apply_asks_first(
    run_cli: RunCli, kafka: KafkaCluster, kafka_wire: Wire, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path, "t.yaml", "topic: {name: asked, partitions: 1, replication-factor: 1}\n")
    monkeypatch.setattr("platformctl.commands.base.interactive", lambda: True)
    result = run_cli("topics", "apply", str(path), "--bootstrap-server", kafka.bootstrap, input="y\n")
    assert result.exit_code == 0, result.stderr
    assert "Apply these changes?" in result.stderr
    assert kafka_wire.mutating == ["CreateTopics"]
    assert "asked" in _state(kafka, "asked").topics
