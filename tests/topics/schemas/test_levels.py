"""`overrides set-level/unset-level/levels` and the environment's levels as plan layers, against the real
etcd (tests/plugins/etcd.py); no registry is involved until a plan is made (test_schemas_registry.py)."""

from __future__ import annotations

import json

from platformctl.adapters.etcd import EtcdStore
from platformctl.errors import InputError
from platformctl.topics.schemas import levels as schemalevels
from tests.conftest import RunCli


def test_set_list_unset_with_revisions(run_cli: RunCli, etcd_endpoint: str, etcd_env: str) -> None:
    env = {"PLATFORMCTL_ETCD_ENDPOINT": etcd_endpoint, "PLATFORMCTL_ENV": etcd_env}
    assert run_cli("overrides", "levels", env=env).stderr.strip().endswith("overrides no compatibility level")

    first = run_cli("overrides", "set-level", "--defaults", "NONE", env=env)
    assert first.exit_code == 0, first.stderr
    assert f"/platformctl/envs/{etcd_env}/schema-defaults: written at revision" in first.stderr
    assert run_cli("overrides", "set-level", "tweets-value", "full_transitive", env=env).exit_code == 0
    again = run_cli("overrides", "set-level", "tweets-value", "FULL_TRANSITIVE", env=env)
    assert "already FULL_TRANSITIVE, nothing written" in again.stderr

    listed = run_cli("overrides", "levels", "-o", "json", env=env)
    levels = json.loads(listed.stdout)["levels"]
    assert [(x["target"], x["level"]) for x in levels] == [
        ("schema-defaults", "NONE"),
        ("tweets-value", "FULL_TRANSITIVE"),
    ]

    store = EtcdStore(etcd_endpoint)
    layers = schemalevels.levels_for(store, etcd_env, ["tweets-value", "other-value"])
    assert [level for level, _ in layers["tweets-value"]] == ["NONE", "FULL_TRANSITIVE"]
    assert [source.ref for _, source in layers["other-value"]] == [f"/platformctl/envs/{etcd_env}/schema-defaults"]

    gone = run_cli("overrides", "unset-level", "tweets-value", env=env)
    assert gone.exit_code == 0 and "(was FULL_TRANSITIVE)" in gone.stderr
    assert "not set, nothing to remove" in run_cli("overrides", "unset-level", "tweets-value", env=env).stderr


def test_a_value_edited_by_hand_is_checked_on_read(etcd_endpoint: str, etcd_env: str) -> None:
    store = EtcdStore(etcd_endpoint)
    key = f"/platformctl/envs/{etcd_env}/subjects/t-value"
    store.put(key, {"compatibility": "LOOSE"}, expect_revision=0)
    try:
        schemalevels.levels_for(store, etcd_env, ["t-value"])
    except InputError as e:
        assert (
            str(e) == f"{key}: compatibility: must be one of BACKWARD, BACKWARD_TRANSITIVE, FORWARD, "
            "FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE, NONE (got 'LOOSE')"
        )
    else:
        raise AssertionError("an unknown level in etcd was accepted")
