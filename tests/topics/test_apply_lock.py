"""`topics apply` takes the environment lock only when it has something to apply (real etcd and Apache Kafka).

A run with nothing to change, or one stopped by bad input or a missing confirmation, must not write to
etcd at all (not even the lock's create and delete); a run that applies re-plans under the lock and
refuses if the plan is no longer the one that was shown.
"""

from __future__ import annotations

from pathlib import Path

import etcd3gw
import pytest
from typer.testing import Result

from platformctl.adapters import etcd
from tests.conftest import RunCli
from tests.kafkawire import Wire
from tests.plugins.etcd import EtcdServer
from tests.plugins.kafka import KafkaCluster


def _revision(server: EtcdServer) -> int:
    client = etcd3gw.Etcd3Client(host="127.0.0.1", port=server.client_port, api_path="/v3/")
    return int(client.status()["header"]["revision"])


def _apply(
    run_cli: RunCli, env: str, path: Path, kafka: KafkaCluster, endpoint: str, *extra: str, input: str | None = None
) -> Result:
    return run_cli(
        "--env", env, "topics", "apply", str(path), "--bootstrap-server", kafka.bootstrap,
        "--etcd-endpoint", endpoint, *extra, input=input,
    )  # fmt: skip


def test_a_no_op_apply_writes_nothing_to_etcd(
    run_cli: RunCli, kafka: KafkaCluster, etcd_server: EtcdServer, etcd_endpoint: str, etcd_env: str,
    kafka_wire: Wire, tmp_path: Path,
) -> None:  # fmt: skip
    path = tmp_path / "t.yaml"
    path.write_text("topic: {name: lock-noop, partitions: 1, replication-factor: 1}\n")
    before = _revision(etcd_server)
    assert _apply(run_cli, etcd_env, path, kafka, etcd_endpoint, "--yes").exit_code == 0
    assert _revision(etcd_server) > before  # the lock, and the applied record
    assert kafka_wire.mutating == ["CreateTopics"]

    kafka_wire.clear()
    before = _revision(etcd_server)
    again = _apply(run_cli, etcd_env, path, kafka, etcd_endpoint, "--yes")
    assert again.exit_code == 0, again.stderr
    assert "nothing to change" in again.stderr
    assert kafka_wire.mutating == []
    assert _revision(etcd_server) == before


def test_a_plan_that_changed_since_it_was_shown_is_not_applied(
    run_cli: RunCli, kafka: KafkaCluster, etcd_endpoint: str, etcd_env: str, kafka_wire: Wire,
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    path = tmp_path / "t.yaml"
    path.write_text("topic: {name: lock-changed, partitions: 1, replication-factor: 1}\n")
    store = etcd.EtcdStore(etcd_endpoint)

    def confirm_while_someone_sets_an_override(*args: object, **kwargs: object) -> bool:
        store.put(etcd.topic_key(etcd_env, "lock-changed"), {"partitions": 4}, expect_revision=0)
        return True

    monkeypatch.setattr("platformctl.commands.base.interactive", lambda: True)
    monkeypatch.setattr("typer.confirm", confirm_while_someone_sets_an_override)
    result = _apply(run_cli, etcd_env, path, kafka, etcd_endpoint)
    assert result.exit_code == 1
    assert [line for line in result.stderr.splitlines() if line.startswith("error:")] == [
        "error: the plan changed since it was shown (the environment's overrides or the topics changed "
        "meanwhile); nothing applied"
    ]
    assert kafka_wire.mutating == []
    assert store.get(etcd.lock_key(etcd_env)) is None

    monkeypatch.setattr("platformctl.commands.base.interactive", lambda: False)
    rerun = _apply(run_cli, etcd_env, path, kafka, etcd_endpoint, "--yes")
    assert rerun.exit_code == 0, rerun.stderr
    assert "created lock-changed" in rerun.stdout
    assert kafka_wire.mutating == ["CreateTopics"]
