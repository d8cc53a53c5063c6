"""The Schema Registry gone in the middle of `topics apply`: one line, exit 1, and a re-run converges.

Real: Apache Kafka, etcd, and a registry of the test's own (tests/plugins/schema_registry.py), stopped by
its PID at the moment the apply turns to the schemas (the registry adapter's first write, wrapped here
because the CLI runs in this process: the only way to stop it exactly between the topics and the schemas).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from platformctl.adapters.etcd import EtcdStore
from platformctl.adapters.kafka import Admin
from tests.conftest import RunCli
from tests.plugins.kafka import KafkaCluster
from tests.plugins.schema_registry import SchemaRegistryServer

pytestmark = [pytest.mark.schema_registry_real, pytest.mark.kafka_real]


def test_registry_gone_after_the_topics_then_a_rerun_converges(
    run_cli: RunCli,
    kafka: KafkaCluster,
    own_schema_registry: SchemaRegistryServer,
    etcd_endpoint: str,
    etcd_env: str,
    sr_topic: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from platformctl.adapters.schemaregistry import Registry

    (tmp_path / "v.avsc").write_text(
        json.dumps({"type": "record", "name": "V", "fields": [{"name": "a", "type": "int"}]})
    )
    conf = tmp_path / "t.yaml"
    conf.write_text(
        f"topic: {{name: {sr_topic}, partitions: 1, replication-factor: 1,"
        " value-schema: {file: v.avsc, compatibility: FULL}}\n"
    )
    env = {
        "PLATFORMCTL_BOOTSTRAP_SERVER": kafka.bootstrap,
        "PLATFORMCTL_SCHEMA_REGISTRY": own_schema_registry.url,
        "PLATFORMCTL_ETCD_ENDPOINT": etcd_endpoint,
        "PLATFORMCTL_ENV": etcd_env,
    }
    real_register = Registry.register

    def register_after_the_registry_died(self: Registry, *args: Any) -> int:
        own_schema_registry.stop()
        return real_register(self, *args)

    monkeypatch.setattr(Registry, "register", register_after_the_registry_died)
    failed = run_cli("topics", "apply", str(conf), "--yes", env=env)
    assert failed.exit_code == 1, failed.stderr
    errors = [line for line in failed.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: schema registry at {own_schema_registry.url} is unreachable "
        "(ConnectError: [Errno 111] Connection refused)"
    ]
    assert "Traceback" not in failed.stderr
    assert sr_topic in Admin(kafka.bootstrap, timeout=10).describe([sr_topic]).topics  # the topic stays applied
    key = f"/platformctl/envs/{etcd_env}/applied-subjects/{sr_topic}-value"
    store = EtcdStore(etcd_endpoint)
    record = store.get(key)
    assert record is not None and record.value["state"] == "intent"  # written before the registry was asked

    monkeypatch.undo()
    own_schema_registry.start()  # in-memory storage: back empty
    again = run_cli("topics", "apply", str(conf), "--yes", env=env)
    assert again.exit_code == 0, again.stderr
    assert own_schema_registry.versions(f"{sr_topic}-value") == [1]
    assert own_schema_registry.request("GET", f"/config/{sr_topic}-value") == {"compatibilityLevel": "FULL"}
    record = store.get(key)
    assert record is not None and record.value["state"] == "applied" and record.value["version"] == 1
    noop = run_cli("topics", "apply", str(conf), "--yes", env=env)
    assert noop.exit_code == 0 and "nothing to change" in noop.stderr


def test_an_intent_left_by_a_run_that_lost_etcd_is_completed_by_a_noop_rerun(
    run_cli: RunCli,
    kafka: KafkaCluster,
    schema_registry: SchemaRegistryServer,
    etcd_endpoint: str,
    etcd_env: str,
    sr_topic: str,
    tmp_path: Path,
) -> None:
    (tmp_path / "v.avsc").write_text('"string"')
    conf = tmp_path / "t.yaml"
    conf.write_text(f"topic: {{name: {sr_topic}, partitions: 1, replication-factor: 1, value-schema: v.avsc}}\n")
    env = {
        "PLATFORMCTL_BOOTSTRAP_SERVER": kafka.bootstrap,
        "PLATFORMCTL_SCHEMA_REGISTRY": schema_registry.url,
        "PLATFORMCTL_ETCD_ENDPOINT": etcd_endpoint,
        "PLATFORMCTL_ENV": etcd_env,
    }
    assert run_cli("topics", "apply", str(conf), "--yes", env=env).exit_code == 0
    # As if etcd went away after the registry took the schema: the record stayed the intent written before.
    store = EtcdStore(etcd_endpoint)
    key = f"/platformctl/envs/{etcd_env}/applied-subjects/{sr_topic}-value"
    record = store.get(key)
    assert record is not None
    store.put(key, {**record.value, "state": "intent"}, expect_revision=record.mod_revision)

    plan = run_cli("topics", "plan", str(conf), "--show-unchanged", env=env)
    assert plan.exit_code == 0 and "unchanged (the registry has it as version 1)" in plan.stdout
    again = run_cli("topics", "apply", str(conf), "--yes", env=env)
    assert again.exit_code == 0, again.stderr
    assert f"recorded {sr_topic}-value as applied (the registry has it as planned)" in again.stdout
    record = store.get(key)
    assert record is not None and record.value["state"] == "applied" and record.value["version"] == 1
    assert schema_registry.versions(f"{sr_topic}-value") == [1]
