"""`platformctl overrides ...` and the overrides logic against a real etcd (tests/plugins/etcd.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from platformctl.adapters import etcd
from platformctl.errors import InputError
from platformctl.topics import overrides, overridesfile
from platformctl.topics import spec as topicspec
from platformctl.topics.provenance import Layer, Source
from tests.conftest import RunCli
from tests.plugins.etcd import EtcdServer, free_port


@pytest.fixture
def store(etcd_endpoint: str) -> etcd.EtcdStore:
    return etcd.EtcdStore(etcd_endpoint)


@pytest.fixture
def cli(run_cli: RunCli, etcd_endpoint: str, etcd_env: str) -> RunCli:
    """`platformctl --env <fresh env> ...` with the test etcd as PLATFORMCTL_ETCD_ENDPOINT."""

    def invoke(*args: str, env: dict[str, str] | None = None, input: str | None = None) -> Any:
        return run_cli(
            "--env", etcd_env, *args, env={"PLATFORMCTL_ETCD_ENDPOINT": etcd_endpoint, **(env or {})}, input=input
        )

    return invoke


def raw(store: etcd.EtcdStore, key: str) -> Any:
    entry = store.get(key)
    return None if entry is None else entry.value


def test_set_get_unset_list(cli: RunCli, store: etcd.EtcdStore, etcd_env: str) -> None:
    result = cli("overrides", "set", "--defaults", "replication-factor=1", "min.insync.replicas=1")
    assert result.exit_code == 0, result.stderr
    # Exactly the stored shape of DESIGN.md section 6: fields at the top, configs as strings under config.
    assert raw(store, f"/platformctl/envs/{etcd_env}/topic-defaults") == {
        "replication-factor": 1,
        "config": {"min.insync.replicas": "1"},
    }
    assert "+ replication-factor = 1" in result.stderr

    result = cli("overrides", "set", "twitter-topic", "partitions=12", "unclean.leader.election.enable=true")
    assert result.exit_code == 0, result.stderr
    assert raw(store, f"/platformctl/envs/{etcd_env}/topics/twitter-topic") == {
        "partitions": 12,
        "config": {"unclean.leader.election.enable": "true"},
    }

    result = cli("overrides", "get", "twitter-topic")
    assert (result.exit_code, result.stdout) == (0, "partitions=12\nunclean.leader.election.enable=true\n")
    result = cli("overrides", "get", "--defaults", "min.insync.replicas")
    assert (result.exit_code, result.stdout) == (0, "min.insync.replicas=1\n")
    result = cli("overrides", "get", "--defaults", "--output", "json")
    assert result.exit_code == 0
    got = json.loads(result.stdout)
    assert got["key"] == f"/platformctl/envs/{etcd_env}/topic-defaults"
    assert got["values"] == {"replication-factor": 1, "config": {"min.insync.replicas": "1"}}
    assert got["revision"] == store.get(got["key"]).mod_revision  # type: ignore[union-attr]

    result = cli("overrides", "list")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["TARGET", "KEY", "VALUE", "REVISION"]
    assert [line.split()[:3] for line in lines[1:]] == [
        ["topic-defaults", "replication-factor", "1"],
        ["topic-defaults", "min.insync.replicas", "1"],
        ["twitter-topic", "partitions", "12"],
        ["twitter-topic", "unclean.leader.election.enable", "true"],
    ]
    listed = json.loads(cli("overrides", "list", "--output", "json").stdout)
    assert listed["env"] == etcd_env
    assert [o["target"] for o in listed["overrides"]] == ["topic-defaults", "twitter-topic"]

    result = cli("overrides", "unset", "twitter-topic", "partitions")
    assert result.exit_code == 0, result.stderr
    assert raw(store, f"/platformctl/envs/{etcd_env}/topics/twitter-topic") == {
        "config": {"unclean.leader.election.enable": "true"}
    }
    # Removing the last key removes the etcd key itself.
    assert cli("overrides", "unset", "twitter-topic", "unclean.leader.election.enable").exit_code == 0
    assert store.get(f"/platformctl/envs/{etcd_env}/topics/twitter-topic") is None
    assert cli("overrides", "unset", "--defaults", "--yes").exit_code == 0
    assert store.list(etcd.env_prefix(etcd_env)) == []
    result = cli("overrides", "list")
    assert (result.exit_code, result.stdout) == (0, "")
    assert "has no overrides" in result.stderr


def test_a_rerun_with_nothing_changed_writes_nothing(cli: RunCli, store: etcd.EtcdStore, etcd_env: str) -> None:
    assert cli("overrides", "set", "--defaults", "replication-factor=1").exit_code == 0
    before = store.get(etcd.topic_defaults_key(etcd_env))
    result = cli("overrides", "set", "--defaults", "replication-factor=1")
    assert result.exit_code == 0
    assert "nothing to change" in result.stderr
    assert store.get(etcd.topic_defaults_key(etcd_env)) == before


def test_get_of_nothing_is_a_clear_error(cli: RunCli, etcd_env: str) -> None:
    result = cli("overrides", "get", "orders")
    assert result.exit_code == 1
    assert f"has no overrides for orders (/platformctl/envs/{etcd_env}/topics/orders)" in result.stderr


@pytest.mark.parametrize(
    ("args", "field", "value"),
    [
        (("--defaults", "min.insync.replicas=0"), "min.insync.replicas", 0),
        (("--defaults", "replication-factor=three"), "replication-factor", "three"),
        (("--defaults", "replication-factor=1.5"), "replication-factor", 1.5),
        (("orders", "min.insync.replica=1"), "min.insync.replica", 1),
        (("orders", "cleanup.policy=compacted"), "cleanup.policy", "compacted"),
        (("orders", "retention.ms=1h"), "retention.ms", "1h"),
        (("orders", "preallocate=maybe"), "preallocate", "maybe"),
    ],
)
def test_bad_values_are_refused_with_the_topic_file_message(
    cli: RunCli, store: etcd.EtcdStore, etcd_env: str, args: tuple[str, ...], field: str, value: object
) -> None:
    with pytest.raises(ValueError) as expected:
        topicspec.validate_value(field, value)
    result = cli("overrides", "set", *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines()[0] == f"error: command line: {field}: {expected.value}"
    assert store.list(etcd.env_prefix(etcd_env)) == []


def test_every_bad_value_is_reported_at_once(cli: RunCli, store: etcd.EtcdStore, etcd_env: str) -> None:
    result = cli("overrides", "set", "orders", "partitions=0", "segment.bytes=10", "retention.ms=5")
    assert result.exit_code == 2
    assert "command line: partitions: must be at least 1 (got 0)" in result.stderr
    assert "command line: segment.bytes: must be at least 1048576 (got 10)" in result.stderr
    assert store.list(etcd.env_prefix(etcd_env)) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("replication-factor=1",), "expected a topic name, got 'replication-factor=1'"),
        (("orders", "partitions"), "expected KEY=VALUE, got 'partitions'"),
        (("bad/name", "partitions=1"), "Kafka allows only ASCII letters"),
        (("orders",), "give at least one KEY=VALUE"),
        (("orders", "partitions=1", "partitions=2"), "partitions: given twice"),
    ],
)
def test_bad_command_lines(cli: RunCli, args: tuple[str, ...], message: str) -> None:
    result = cli("overrides", "set", *args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_unknown_config_only_with_allow_unknown_config(cli: RunCli, store: etcd.EtcdStore, etcd_env: str) -> None:
    assert cli("overrides", "set", "orders", "vendor.setting=x").exit_code == 2
    assert cli("overrides", "set", "orders", "vendor.setting=x", "--allow-unknown-config").exit_code == 0
    assert raw(store, etcd.topic_key(etcd_env, "orders")) == {"config": {"vendor.setting": "x"}}


def test_no_endpoint_says_how_to_give_one(run_cli: RunCli) -> None:
    result = run_cli("overrides", "list")
    assert result.exit_code == 2
    assert "error: command line: --etcd-endpoint: no etcd endpoint configured" in result.stderr
    assert "PLATFORMCTL_ETCD_ENDPOINT" in result.stderr


def test_endpoint_from_flag_and_from_platformctl_yaml(
    run_cli: RunCli, etcd_endpoint: str, etcd_env: str, tmp_path: Path, store: etcd.EtcdStore
) -> None:
    result = run_cli("--env", etcd_env, "overrides", "seed", "--etcd-endpoint", etcd_endpoint)
    assert result.exit_code == 0, result.stderr
    settings = tmp_path / "platformctl.yaml"
    settings.write_text(f"etcd:\n  endpoint: {etcd_endpoint}\n")
    result = run_cli("--config", str(settings), "--env", etcd_env, "overrides", "get", "--defaults")
    assert (result.exit_code, result.stdout) == (0, "replication-factor=1\nmin.insync.replicas=1\n")


def test_etcd_down_is_one_clear_line_and_exit_1(run_cli: RunCli, etcd_server: EtcdServer) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    result = run_cli("overrides", "set", "--defaults", "replication-factor=1", "--etcd-endpoint", endpoint)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == f"error: etcd at {endpoint} is unreachable"
    with etcd_server.stopped():
        result = run_cli("overrides", "list", "--etcd-endpoint", etcd_server.endpoint)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == f"error: etcd at {etcd_server.endpoint} is unreachable"


def test_a_lost_race_is_a_clear_error_and_keeps_the_other_write(
    cli: RunCli, store: etcd.EtcdStore, etcd_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two terminals: this one reads the entry, the other writes it, then this one's CAS must fail."""
    key = etcd.topic_defaults_key(etcd_env)
    store.put(key, {"replication-factor": 1}, expect_revision=0)
    real_get = etcd.EtcdStore.get

    def get_then_lose_the_race(self: etcd.EtcdStore, wanted: str) -> etcd.Entry | None:
        entry = real_get(self, wanted)
        if wanted == key and entry is not None:
            other = etcd.EtcdStore(self.endpoint)
            other.put(key, {"replication-factor": 2}, expect_revision=entry.mod_revision)
        return entry

    monkeypatch.setattr(etcd.EtcdStore, "get", get_then_lose_the_race)
    result = cli("overrides", "set", "--defaults", "min.insync.replicas=1")
    monkeypatch.undo()
    assert result.exit_code == 1
    assert f"etcd key changed by another writer while this command ran: {key}" in result.stderr
    assert "nothing was written" in result.stderr
    assert raw(store, key) == {"replication-factor": 2}


def test_seed_writes_only_when_absent(cli: RunCli, store: etcd.EtcdStore, etcd_env: str) -> None:
    key = etcd.topic_defaults_key(etcd_env)
    result = cli("overrides", "seed")
    assert result.exit_code == 0
    assert f"seeded {key}: replication-factor=1, min.insync.replicas=1" in result.stderr
    assert raw(store, key) == {"replication-factor": 1, "config": {"min.insync.replicas": "1"}}

    assert cli("overrides", "set", "--defaults", "replication-factor=2", "min.insync.replicas=2").exit_code == 0
    revision = store.get(key).mod_revision  # type: ignore[union-attr]
    result = cli("overrides", "seed")
    assert result.exit_code == 0
    assert "already set: left as it is" in result.stderr
    entry = store.get(key)
    assert entry is not None and entry.mod_revision == revision
    assert entry.value == {"replication-factor": 2, "config": {"min.insync.replicas": "2"}}


def test_export_import_round_trip(cli: RunCli, store: etcd.EtcdStore, etcd_env: str, tmp_path: Path) -> None:
    assert cli("overrides", "seed").exit_code == 0
    assert cli("overrides", "set", "orders", "partitions=6", "cleanup.policy=delete,compact").exit_code == 0
    exported = cli("overrides", "export")
    assert exported.exit_code == 0
    assert exported.stdout.startswith("# platformctl overrides of environment")
    as_json = json.loads(cli("overrides", "export", "--output", "json").stdout)
    assert as_json == {
        "topic-defaults": {"replication-factor": 1, "config": {"min.insync.replicas": "1"}},
        "topics": {"orders": {"partitions": 6, "config": {"cleanup.policy": "compact,delete"}}},
    }

    for name, text in (("o.yaml", exported.stdout), ("o.json", json.dumps(as_json))):
        (tmp_path / name).write_text(text)
        target_env = f"{etcd_env}-{name[2:]}"
        result = cli("--env", target_env, "overrides", "import", str(tmp_path / name))
        assert result.exit_code == 0, result.stderr
        again = json.loads(cli("--env", target_env, "overrides", "export", "--output", "json").stdout)
        assert again == as_json
        # Importing the same file again changes nothing and writes nothing.
        revisions = [e.mod_revision for e in store.list(etcd.env_prefix(target_env))]
        result = cli("--env", target_env, "overrides", "import", str(tmp_path / name))
        assert result.exit_code == 0
        assert "nothing written" in result.stderr
        assert [e.mod_revision for e in store.list(etcd.env_prefix(target_env))] == revisions


def test_import_replaces_listed_entries_and_with_replace_deletes_the_rest(
    cli: RunCli, store: etcd.EtcdStore, etcd_env: str, tmp_path: Path
) -> None:
    assert cli("overrides", "set", "orders", "partitions=6", "retention.ms=1000").exit_code == 0
    assert cli("overrides", "set", "clicks", "partitions=2").exit_code == 0
    file = tmp_path / "o.yaml"
    file.write_text("topics:\n  orders:\n    partitions: 8\n")
    assert cli("overrides", "import", str(file)).exit_code == 0
    assert raw(store, etcd.topic_key(etcd_env, "orders")) == {"partitions": 8}  # the whole entry, as the file says
    assert raw(store, etcd.topic_key(etcd_env, "clicks")) == {"partitions": 2}
    assert cli("overrides", "import", "--replace", "--yes", str(file)).exit_code == 0
    assert store.get(etcd.topic_key(etcd_env, "clicks")) is None
    assert raw(store, etcd.topic_key(etcd_env, "orders")) == {"partitions": 8}


def test_import_validates_everything_before_writing_anything(
    cli: RunCli, store: etcd.EtcdStore, etcd_env: str, tmp_path: Path
) -> None:
    file = tmp_path / "bad.yaml"
    file.write_text(
        "topic-defaults:\n"
        "  replication-factor: 1\n"
        "topics:\n"
        "  orders:\n"
        "    partitions: 0\n"
        "    config:\n"
        "      min.insync.replica: 1\n"
        "  good:\n"
        "    partitions: 3\n"
        "    retention: 5\n"
    )
    result = cli("overrides", "import", str(file))
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert f"{file}:5: topics.orders.partitions: must be at least 1 (got 0)" in lines[0]
    assert f"{file}:7: topics.orders.config.min.insync.replica: unknown Kafka topic config" in result.stderr
    assert f"{file}:10: topics.good.retention: unknown key" in result.stderr
    assert store.list(etcd.env_prefix(etcd_env)) == []


def test_import_is_one_transaction(
    store: etcd.EtcdStore, etcd_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A concurrent write to any one entry fails the whole import: nothing is written."""
    file = tmp_path / "o.yaml"
    file.write_text("topic-defaults:\n  replication-factor: 1\ntopics:\n  orders:\n    partitions: 8\n")
    doc = overridesfile.load_import(file)
    real_list = etcd.EtcdStore.list

    def list_then_lose_the_race(self: etcd.EtcdStore, prefix: str) -> list[etcd.Entry]:
        found = real_list(self, prefix)
        etcd.EtcdStore(self.endpoint).create(etcd.topic_key(etcd_env, "orders"), {"partitions": 2})
        return found

    monkeypatch.setattr(etcd.EtcdStore, "list", list_then_lose_the_race)
    with pytest.raises(etcd.ConflictError):
        overridesfile.import_(store, etcd_env, doc)
    monkeypatch.undo()
    assert store.get(etcd.topic_defaults_key(etcd_env)) is None
    assert raw(store, etcd.topic_key(etcd_env, "orders")) == {"partitions": 2}


def test_layers_for_in_precedence_order_with_key_and_revision(store: etcd.EtcdStore, etcd_env: str) -> None:
    assert overrides.seed(store, etcd_env)
    overrides.set_values(store, etcd_env, overrides.Target("orders"), {"partitions": 12})
    defaults = store.get(etcd.topic_defaults_key(etcd_env))
    topic = store.get(etcd.topic_key(etcd_env, "orders"))
    assert defaults is not None and topic is not None
    layers = overrides.layers_for(store, etcd_env, ["orders", "clicks"])
    assert layers == {
        "orders": [
            Layer(
                Source("etcd", etcd.topic_defaults_key(etcd_env), defaults.mod_revision),
                {"replication-factor": 1, "min.insync.replicas": "1"},
            ),
            Layer(Source("etcd", etcd.topic_key(etcd_env, "orders"), topic.mod_revision), {"partitions": 12}),
        ],
        "clicks": [
            Layer(
                Source("etcd", etcd.topic_defaults_key(etcd_env), defaults.mod_revision),
                {"replication-factor": 1, "min.insync.replicas": "1"},
            )
        ],
    }
    assert overrides.layers_for(store, f"{etcd_env}-prod", ["orders"]) == {"orders": []}


def test_a_hand_edited_invalid_value_in_etcd_is_an_input_error(store: etcd.EtcdStore, etcd_env: str) -> None:
    key = etcd.topic_key(etcd_env, "orders")
    store.put(key, {"replication-factor": 0, "config": {"retention.ms": "soon"}}, expect_revision=0)
    with pytest.raises(InputError) as caught:
        overrides.layers_for(store, etcd_env, ["orders"])
    assert f"{key}: replication-factor: must be at least 1 (got 0)" in str(caught.value)
    assert f"{key}: config.retention.ms: must be an integer" in str(caught.value)


def test_a_hand_edited_value_nested_past_the_recursion_limit_is_an_input_error(
    store: etcd.EtcdStore, etcd_server: EtcdServer, etcd_env: str
) -> None:
    """JSON nested 100,000 deep (one 200 kB value, written by hand) made the JSON decoder recurse past
    Python's limit: an internal RecursionError. It is a value that is not platformctl's, like any other."""
    import etcd3gw

    key = etcd.topic_key(etcd_env, "orders")
    client = etcd3gw.Etcd3Client(host="127.0.0.1", port=etcd_server.client_port, api_path="/v3/")
    client.put(key, "[" * 100_000 + "]" * 100_000)
    with pytest.raises(InputError) as caught:
        overrides.layers_for(store, etcd_env, ["orders"])
    assert str(caught.value).startswith(f"{key}: must be a mapping of topic fields and config (got str)")


def test_an_import_larger_than_one_etcd_transaction_goes_in_chunks(
    store: etcd.EtcdStore, etcd_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """etcd refuses more than 128 operations per transaction: a bigger import is chunked, and a conflict
    in a later chunk says how far it got; a re-run finishes it."""
    count = etcd.MAX_TXN_OPS + 5
    file = tmp_path / "big.json"
    file.write_text(json.dumps({"topics": {f"t{i:03d}": {"partitions": 2} for i in range(count)}}))
    doc = overridesfile.load_import(file)
    real_write = etcd.EtcdStore.write
    calls: list[int] = []

    def write_with_a_rival(self: etcd.EtcdStore, writes: Any) -> int:
        calls.append(len(writes))
        if len(calls) == 2:  # another terminal writes an entry of the second chunk first
            rival = etcd.Write(etcd.topic_key(etcd_env, f"t{count - 1:03d}"), {"partitions": 9}, 0)
            real_write(etcd.EtcdStore(self.endpoint), [rival])
        return real_write(self, writes)

    monkeypatch.setattr(etcd.EtcdStore, "write", write_with_a_rival)
    with pytest.raises(etcd.ConflictError) as caught:
        overridesfile.import_(store, etcd_env, doc)
    monkeypatch.undo()
    assert calls == [etcd.MAX_TXN_OPS, 5]
    assert f"the first {etcd.MAX_TXN_OPS} of {count} entries were written" in str(caught.value)
    assert len(store.list(etcd.topics_prefix(etcd_env))) == etcd.MAX_TXN_OPS + 1

    changes = overridesfile.import_(store, etcd_env, doc)  # the re-run finishes, skipping what matches
    assert [c.target.topic for c in changes] == [f"t{i:03d}" for i in range(etcd.MAX_TXN_OPS, count)]
    assert all(e.value == {"partitions": 2} for e in store.list(etcd.topics_prefix(etcd_env)))
    assert overridesfile.import_(store, etcd_env, doc) == []


# --- deleting asks first, like `down` and `topics apply --prune` ------------------------------------


def test_import_replace_refuses_to_delete_without_yes_off_a_terminal(
    cli: RunCli, store: etcd.EtcdStore, etcd_env: str, tmp_path: Path
) -> None:
    assert cli("overrides", "set", "clicks", "partitions=2").exit_code == 0
    revision = store.get(etcd.topic_key(etcd_env, "clicks")).mod_revision  # type: ignore[union-attr]
    file = tmp_path / "o.yaml"
    file.write_text("topics:\n  orders:\n    partitions: 8\n")
    result = cli("overrides", "import", "--replace", str(file))
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        f"error: --yes: refusing to delete override entries {file} does not list (--replace) without "
        f"confirmation: stdin is not a terminal (would delete clicks (/platformctl/envs/{etcd_env}/topics/clicks))\n"
        "hint: re-run with --yes to confirm\n"
    )
    # Nothing written: not the deletion, and not the entry the file adds either.
    assert store.get(etcd.topic_key(etcd_env, "orders")) is None
    assert store.get(etcd.topic_key(etcd_env, "clicks")).mod_revision == revision  # type: ignore[union-attr]


def test_import_replace_with_nothing_to_delete_does_not_ask(
    cli: RunCli, store: etcd.EtcdStore, etcd_env: str, tmp_path: Path
) -> None:
    file = tmp_path / "o.yaml"
    file.write_text("topics:\n  orders:\n    partitions: 8\n")
    result = cli("overrides", "import", "--replace", str(file))
    assert result.exit_code == 0, result.stderr
    assert raw(store, etcd.topic_key(etcd_env, "orders")) == {"partitions": 8}


@pytest.mark.parametrize(("answer", "code", "kept"), [("n\n", 1, True), ("y\n", 0, False)])
def test_import_replace_asks_on_a_terminal(
    cli: RunCli,
    store: etcd.EtcdStore,
    etcd_env: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    answer: str,
    code: int,
    kept: bool,
) -> None:
    monkeypatch.setattr("platformctl.commands.base.interactive", lambda: True)
    assert cli("overrides", "set", "clicks", "partitions=2").exit_code == 0
    file = tmp_path / "o.yaml"
    file.write_text("topics: {}\n")
    result = cli("overrides", "import", "--replace", str(file), input=answer)
    assert result.exit_code == code
    assert f"delete clicks (/platformctl/envs/{etcd_env}/topics/clicks): partitions=2\n" in result.stderr
    assert "Delete 1 override entry? [y/N]" in result.stderr
    assert (store.get(etcd.topic_key(etcd_env, "clicks")) is not None) is kept


def test_unset_every_default_needs_yes_off_a_terminal(cli: RunCli, store: etcd.EtcdStore, etcd_env: str) -> None:
    assert cli("overrides", "seed").exit_code == 0
    result = cli("overrides", "unset", "--defaults")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == (
        "error: --yes: refusing to delete every topic-default without confirmation: stdin is not a terminal "
        f"(would delete topic-defaults (/platformctl/envs/{etcd_env}/topic-defaults))"
    )
    assert store.get(etcd.topic_defaults_key(etcd_env)) is not None
    # One key of the defaults, or a topic's whole entry, is an ordinary edit: no question.
    assert cli("overrides", "unset", "--defaults", "min.insync.replicas").exit_code == 0
    assert cli("overrides", "set", "orders", "partitions=3").exit_code == 0
    assert cli("overrides", "unset", "orders").exit_code == 0
    assert raw(store, etcd.topic_defaults_key(etcd_env)) == {"replication-factor": 1}


# --- the environment's layers stay coherent: refused at write time ------------------------------------------


def test_set_refuses_min_insync_above_the_replication_factor_of_the_same_entry(
    cli: RunCli, store: etcd.EtcdStore, etcd_env: str
) -> None:
    assert cli("overrides", "set", "--defaults", "min.insync.replicas=3").exit_code == 0
    before = store.get(etcd.topic_defaults_key(etcd_env))
    result = cli("overrides", "set", "--defaults", "replication-factor=2")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        "error: command line: topic-defaults.min.insync.replicas: is 3, greater than replication-factor 2: every "
        "write with acks=all would fail (lower min.insync.replicas or raise replication-factor) (once layered for "
        "topic-defaults: min.insync.replicas 3 from topic-defaults, replication-factor 2 from topic-defaults)\n"
        f"hint: the environment '{etcd_env}' would make every plan of these topics fail; change or unset one of "
        "the values\n"
    )
    assert store.get(etcd.topic_defaults_key(etcd_env)) == before


def test_set_refuses_a_topic_entry_that_contradicts_the_defaults_and_the_other_way_round(
    cli: RunCli, store: etcd.EtcdStore, etcd_env: str
) -> None:
    assert cli("overrides", "seed").exit_code == 0  # replication-factor 1, min.insync.replicas 1
    result = cli("overrides", "set", "orders", "min.insync.replicas=2")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0].startswith("error: command line: orders.min.insync.replicas: is 2, greater")
    assert "min.insync.replicas 2 from orders, replication-factor 1 from topic-defaults" in result.stderr
    assert store.get(etcd.topic_key(etcd_env, "orders")) is None
    # Raising the topic's replication factor with it is coherent.
    assert cli("overrides", "set", "orders", "min.insync.replicas=2", "replication-factor=2").exit_code == 0
    # Now defaults that would contradict that topic: refused, naming it.
    result = cli("overrides", "set", "--defaults", "min.insync.replicas=3", "replication-factor=3")
    assert result.exit_code == 0, result.stderr  # orders has its own replication-factor 2 and min.insync 2
    result = cli("overrides", "unset", "orders", "replication-factor")
    assert result.exit_code == 0, result.stderr  # orders: min.insync 2 over the defaults' replication 3
    result = cli("overrides", "set", "--defaults", "replication-factor=1")
    assert result.exit_code == 2
    assert "orders.min.insync.replicas: is 2, greater than replication-factor 1" in result.stderr
    assert "topic-defaults.min.insync.replicas: is 3, greater than replication-factor 1" in result.stderr


def test_compaction_settings_are_judged_only_against_a_cleanup_policy_the_layers_state(
    cli: RunCli, store: etcd.EtcdStore, etcd_env: str
) -> None:
    # No cleanup.policy in the layers: the topic files decide (a compacted topic may take these).
    assert cli("overrides", "set", "orders", "min.compaction.lag.ms=60000").exit_code == 0
    result = cli("overrides", "set", "orders", "cleanup.policy=delete")
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "error: command line: orders.min.compaction.lag.ms: applies only to compacted topics, but cleanup.policy is "
        "'delete'"
    )
    assert raw(store, etcd.topic_key(etcd_env, "orders")) == {"config": {"min.compaction.lag.ms": "60000"}}


def test_import_refuses_an_incoherent_environment_and_writes_nothing(
    cli: RunCli, store: etcd.EtcdStore, etcd_env: str, tmp_path: Path
) -> None:
    file = tmp_path / "o.yaml"
    file.write_text("topic-defaults: {replication-factor: 1}\ntopics:\n  orders: {config: {min.insync.replicas: 2}}\n")
    result = cli("overrides", "import", str(file))
    assert result.exit_code == 2
    assert "orders.min.insync.replicas: is 2, greater than replication-factor 1" in result.stderr
    assert store.list(etcd.env_prefix(etcd_env)) == []
