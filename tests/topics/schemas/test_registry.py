"""Schemas as code against a real Schema Registry (Apicurio Registry, tests/plugins/schema_registry.py).

Every verdict here is the registry's own: its lookup says whether a schema is already registered, its
compatibility endpoint decides, and its refusal is what blocks an apply. Kafka is Apache Kafka 4.2
(tests/plugins/kafka.py); etcd is the real session etcd where records and environment overrides are
involved. Each test uses a fresh topic name, so its subjects start absent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from platformctl.adapters.etcd import EtcdStore
from tests.conftest import RunCli
from tests.plugins.kafka import KafkaCluster
from tests.plugins.schema_registry import SchemaRegistryServer

pytestmark = [pytest.mark.schema_registry_real, pytest.mark.kafka_real]

TWEET_V1 = {
    "type": "record",
    "name": "Tweet",
    "namespace": "com.example.twitter",
    "fields": [{"name": "id", "type": "long"}, {"name": "text", "type": "string"}],
}
# Compatible under BACKWARD: a new field with a default (readers of v2 can read v1 data).
TWEET_V2 = {**TWEET_V1, "fields": [*TWEET_V1["fields"], {"name": "lang", "type": ["null", "string"], "default": None}]}
# Incompatible under BACKWARD: a new field without a default.
TWEET_NO_DEFAULT = {**TWEET_V1, "fields": [*TWEET_V1["fields"], {"name": "lang", "type": "string"}]}
# Incompatible under BACKWARD: a field's type changed.
TWEET_TYPE_CHANGED = {**TWEET_V1, "fields": [{"name": "id", "type": "string"}, TWEET_V1["fields"][1]]}


def _files(tmp_path: Path, topic: str, schema: dict[str, Any], extra: str = "") -> Path:
    (tmp_path / "schemas").mkdir(exist_ok=True)
    (tmp_path / "schemas" / "tweet.avsc").write_text(json.dumps(schema, indent=2))
    conf = tmp_path / "tweets.conf"
    conf.write_text(
        f"topic {{\n  name = {topic}\n  partitions = 1\n  replication-factor = 1\n"
        f'  value-schema = "schemas/tweet.avsc"\n{extra}}}\n'
    )
    return conf


@pytest.fixture
def cli(run_cli: RunCli, kafka: KafkaCluster, schema_registry: SchemaRegistryServer) -> Any:
    def run(*args: str, env: dict[str, str] | None = None) -> Any:
        base = {
            "PLATFORMCTL_BOOTSTRAP_SERVER": kafka.bootstrap,
            "PLATFORMCTL_SCHEMA_REGISTRY": schema_registry.url,
        }
        return run_cli(*args, env={**base, **(env or {})})

    return run


@pytest.fixture
def registry_writes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every write platformctl's registry adapter is asked to send (the CLI runs in this process)."""
    from platformctl.adapters.schemaregistry import Registry

    writes: list[str] = []
    for name in ("register", "set_level"):
        real = getattr(Registry, name)

        def counted(self: Registry, subject: str, *args: Any, _real: Any = real, _name: str = name) -> Any:
            writes.append(f"{_name} {subject}")
            return _real(self, subject, *args)

        monkeypatch.setattr(Registry, name, counted)
    return writes


def test_register_then_reapply_is_a_noop(
    cli: Any, schema_registry: SchemaRegistryServer, sr_topic: str, tmp_path: Path, registry_writes: list[str]
) -> None:
    conf = _files(tmp_path, sr_topic, TWEET_V1)
    plan = cli("topics", "plan", str(conf), "--no-overrides")
    assert plan.exit_code == 0, plan.stderr
    assert (
        f"{sr_topic}-value (value of {sr_topic}, {tmp_path}/schemas/tweet.avsc): register (new subject)" in plan.stdout
    )
    assert schema_registry.versions(f"{sr_topic}-value") == []  # plan never writes

    assert registry_writes == []
    first = cli("topics", "apply", str(conf), "--no-overrides", "--yes")
    assert first.exit_code == 0, first.stderr
    assert f"registered {sr_topic}-value" in first.stdout
    assert schema_registry.versions(f"{sr_topic}-value") == [1]
    assert registry_writes == [f"register {sr_topic}-value"]

    again = cli("topics", "apply", str(conf), "--no-overrides", "--yes", "--show-unchanged")
    assert again.exit_code == 0, again.stderr
    assert registry_writes == [f"register {sr_topic}-value"]  # the re-apply sent no write
    assert "unchanged (the registry has it as version 1)" in again.stdout
    assert "nothing to change" in again.stderr
    assert schema_registry.versions(f"{sr_topic}-value") == [1]


def test_reformatted_file_is_unchanged(cli: Any, sr_topic: str, tmp_path: Path) -> None:
    conf = _files(tmp_path, sr_topic, TWEET_V1)
    assert cli("topics", "apply", str(conf), "--no-overrides", "--yes").exit_code == 0
    (tmp_path / "schemas" / "tweet.avsc").write_text(json.dumps(TWEET_V1, indent=8) + "\n\n")
    plan = cli("topics", "plan", str(conf), "--no-overrides")
    assert plan.exit_code == 0, plan.stderr
    assert "schemas: 0 to register, 0 new version(s), 1 unchanged" in plan.stdout
    assert (
        "unchanged (the registry has it as version 1)"
        in cli("topics", "plan", str(conf), "--no-overrides", "-v").stdout
    )


def test_compatible_evolution_is_a_new_version_with_a_diff(
    cli: Any, schema_registry: SchemaRegistryServer, sr_topic: str, tmp_path: Path
) -> None:
    conf = _files(tmp_path, sr_topic, TWEET_V1)
    assert cli("topics", "apply", str(conf), "--no-overrides", "--yes").exit_code == 0
    _files(tmp_path, sr_topic, TWEET_V2)

    plan = cli("topics", "plan", str(conf), "--no-overrides")
    assert plan.exit_code == 0, plan.stderr
    assert "new version after 1, compatible (the registry's verdict" in plan.stdout
    assert f"--- {sr_topic}-value version 1 (registered)" in plan.stdout
    assert '+      "name": "lang",' in plan.stdout

    applied = cli("topics", "apply", str(conf), "--no-overrides", "--yes")
    assert applied.exit_code == 0, applied.stderr
    assert schema_registry.versions(f"{sr_topic}-value") == [1, 2]
    latest = schema_registry.request("GET", f"/subjects/{sr_topic}-value/versions/latest")
    assert isinstance(latest, dict) and json.loads(latest["schema"]) == TWEET_V2


@pytest.mark.parametrize("evolved", [TWEET_NO_DEFAULT, TWEET_TYPE_CHANGED], ids=["no-default", "type-changed"])
def test_incompatible_change_is_refused_with_the_registrys_reason(
    cli: Any, schema_registry: SchemaRegistryServer, sr_topic: str, tmp_path: Path, evolved: dict[str, Any]
) -> None:
    conf = _files(tmp_path, sr_topic, TWEET_V1)
    assert cli("topics", "apply", str(conf), "--no-overrides", "--yes").exit_code == 0
    _files(tmp_path, sr_topic, evolved)
    # The registry's reason names what broke: the new field, or the changed type (Apicurio names the type).
    field = "lang" if evolved is TWEET_NO_DEFAULT else "LONG"

    plan = cli("topics", "plan", str(conf), "--no-overrides")
    assert plan.exit_code == 2, plan.stderr
    assert "INCOMPATIBLE with version 1 (the registry's verdict" in plan.stdout
    assert f"error: incompatible schema, nothing applied: {sr_topic}-value: " in plan.stderr
    assert field in plan.stderr.split("error:")[1], plan.stderr  # the registry's reason names the field

    applied = cli("topics", "apply", str(conf), "--no-overrides", "--yes")
    assert applied.exit_code == 2, applied.stderr
    assert schema_registry.versions(f"{sr_topic}-value") == [1]


def test_allow_incompatible_lowers_the_level_visibly_and_sets_it_back(
    cli: Any, schema_registry: SchemaRegistryServer, sr_topic: str, tmp_path: Path
) -> None:
    conf = _files(tmp_path, sr_topic, TWEET_V1)
    assert cli("topics", "apply", str(conf), "--no-overrides", "--yes").exit_code == 0
    schema_registry.request("PUT", f"/config/{sr_topic}-value", {"compatibility": "BACKWARD"})
    _files(tmp_path, sr_topic, TWEET_NO_DEFAULT)
    # Apicurio turns a subject's NONE into "no rule of its own", under which its global level still checks
    # (Confluent's subject NONE checks nothing): with the global level NONE, both registries accept.
    schema_registry.request("PUT", "/config", {"compatibility": "NONE"})
    try:
        applied = cli("topics", "apply", str(conf), "--no-overrides", "--yes", "--allow-incompatible")
    finally:
        schema_registry.request("PUT", "/config", {"compatibility": "BACKWARD"})
    assert applied.exit_code == 0, applied.stderr
    assert "the level is lowered to NONE for this registration only, then set to BACKWARD" in applied.stdout
    assert schema_registry.versions(f"{sr_topic}-value") == [1, 2]
    level = schema_registry.request("GET", f"/config/{sr_topic}-value")
    assert level == {"compatibilityLevel": "BACKWARD"}


def test_level_from_the_file_then_an_environment_override_with_provenance(
    cli: Any,
    schema_registry: SchemaRegistryServer,
    sr_topic: str,
    tmp_path: Path,
    etcd_endpoint: str,
    etcd_env: str,
) -> None:
    conf = tmp_path / "t.yaml"
    (tmp_path / "tweet.avsc").write_text(json.dumps(TWEET_V1))
    conf.write_text(
        f"topic:\n  name: {sr_topic}\n  partitions: 1\n  replication-factor: 1\n"
        "  value-schema:\n    file: tweet.avsc\n    compatibility: FULL\n"
    )
    env = {"PLATFORMCTL_ETCD_ENDPOINT": etcd_endpoint, "PLATFORMCTL_ENV": etcd_env}
    first = cli("topics", "apply", str(conf), "--yes", env=env)
    assert first.exit_code == 0, first.stderr
    assert f"compatibility: BACKWARD (global) -> FULL  {conf}:7" in first.stdout
    assert schema_registry.request("GET", f"/config/{sr_topic}-value") == {"compatibilityLevel": "FULL"}
    store = EtcdStore(etcd_endpoint)
    record = store.get(f"/platformctl/envs/{etcd_env}/applied-subjects/{sr_topic}-value")
    assert record is not None and record.value["state"] == "applied" and record.value["version"] == 1

    key = f"/platformctl/envs/{etcd_env}/subjects/{sr_topic}-value"
    assert cli("overrides", "set-level", f"{sr_topic}-value", "none", env=env).exit_code == 0
    entry = store.get(key)
    assert entry is not None and entry.value == {"compatibility": "NONE"}
    revision = entry.mod_revision
    plan = cli("topics", "plan", str(conf), "-o", "json", env=env)
    assert plan.exit_code == 0, plan.stderr
    (subject,) = json.loads(plan.stdout)["schemas"]["subjects"]
    assert subject["compatibility"]["current"] == "FULL"
    assert subject["compatibility"]["desired"]["level"] == "NONE"
    assert subject["compatibility"]["desired"]["source"] == {"kind": "etcd", "ref": key, "revision": revision}
    assert subject["compatibility"]["desired"]["replaced"][0]["level"] == "FULL"

    again = cli("topics", "apply", str(conf), "--yes", env=env)
    assert again.exit_code == 0, again.stderr
    assert schema_registry.request("GET", f"/config/{sr_topic}-value") == {"compatibilityLevel": "NONE"}
    before = store.get(f"/platformctl/envs/{etcd_env}/applied-subjects/{sr_topic}-value")
    noop = cli("topics", "apply", str(conf), "--yes", env=env)
    assert noop.exit_code == 0, noop.stderr
    assert "nothing to change" in noop.stderr
    after = store.get(f"/platformctl/envs/{etcd_env}/applied-subjects/{sr_topic}-value")
    assert before is not None and after is not None and after.mod_revision == before.mod_revision


def test_references_to_a_declared_subject_register_it_first(
    cli: Any, schema_registry: SchemaRegistryServer, sr_topic: str, tmp_path: Path
) -> None:
    user = {"type": "record", "name": "User", "namespace": "com.example", "fields": [{"name": "n", "type": "string"}]}
    tweet = {
        "type": "record",
        "name": "Tweet",
        "namespace": "com.example",
        "fields": [{"name": "user", "type": "com.example.User"}],
    }
    (tmp_path / "user.avsc").write_text(json.dumps(user))
    (tmp_path / "tweet.avsc").write_text(json.dumps(tweet))
    conf = tmp_path / "t.conf"
    conf.write_text(
        f"topics = [\n"
        f"  {{ name = {sr_topic}-users, partitions = 1, replication-factor = 1, value-schema = user.avsc }}\n"
        f"  {{ name = {sr_topic}, partitions = 1, replication-factor = 1\n"
        f"     value-schema {{ file = tweet.avsc, references = [ {{ name = com.example.User, "
        f"subject = {sr_topic}-users-value }} ] }} }}\n"
        f"]\n"
    )
    applied = cli("topics", "apply", str(conf), "--no-overrides", "--yes")
    assert applied.exit_code == 0, applied.stderr
    latest = schema_registry.request("GET", f"/subjects/{sr_topic}-value/versions/latest")
    assert isinstance(latest, dict)
    assert latest["references"] == [{"name": "com.example.User", "subject": f"{sr_topic}-users-value", "version": 1}]
    again = cli("topics", "apply", str(conf), "--no-overrides", "--yes")
    assert again.exit_code == 0, again.stderr
    assert "nothing to change" in again.stderr


def test_registry_gone_is_one_line_and_exit_1(
    run_cli: RunCli, kafka: KafkaCluster, sr_topic: str, tmp_path: Path
) -> None:
    from tests.plugins.etcd import free_port

    conf = _files(tmp_path, sr_topic, TWEET_V1)
    url = f"http://127.0.0.1:{free_port()}"
    result = run_cli(
        "topics", "plan", str(conf), "--no-overrides",
        env={"PLATFORMCTL_BOOTSTRAP_SERVER": kafka.bootstrap, "PLATFORMCTL_SCHEMA_REGISTRY": url},
    )  # fmt: skip
    assert result.exit_code == 1, result.stderr
    assert f"error: schema registry at {url} is unreachable" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_reference_topic_with_its_tweet_schema(
    cli: Any, schema_registry: SchemaRegistryServer, tmp_path: Path
) -> None:
    """The README's example: examples/twitter-topic-schemas.conf (examples/twitter-topic.conf plus its
    schemas), copied with the files it names."""
    import shutil

    examples = Path(__file__).parents[3] / "examples"
    for name in ("twitter-topic.conf", "twitter-topic-schemas.conf"):
        shutil.copy(examples / name, tmp_path / name)
    shutil.copytree(examples / "schemas", tmp_path / "schemas")
    # Subjects are named after the topic, so this test owns twitter-topic-key/-value on the session registry.
    args = ("topics", "apply", str(tmp_path / "twitter-topic-schemas.conf"), "--no-overrides", "--yes")
    first = cli(*args, "--set", "*.replication-factor=1", "--set", "*.min.insync.replicas=1")
    assert first.exit_code == 0, first.stderr
    assert "registered twitter-topic-key" in first.stdout and "registered twitter-topic-value" in first.stdout
    assert schema_registry.versions("twitter-topic-value") == [1]
    assert schema_registry.request("GET", "/config/twitter-topic-value") == {"compatibilityLevel": "BACKWARD"}
    again = cli(*args, "--set", "*.replication-factor=1", "--set", "*.min.insync.replicas=1")
    assert again.exit_code == 0, again.stderr
    assert "nothing to change" in again.stderr


def test_detailed_exitcode_and_json_apply_count_the_schemas(
    cli: Any, schema_registry: SchemaRegistryServer, sr_topic: str, tmp_path: Path
) -> None:
    conf = _files(tmp_path, sr_topic, TWEET_V1)
    assert cli("topics", "apply", str(conf), "--no-overrides", "--yes").exit_code == 0
    _files(tmp_path, sr_topic, TWEET_V2)  # the topic is as the file says; only the schema changes
    pending = cli("topics", "plan", str(conf), "--no-overrides", "--detailed-exitcode")
    assert pending.exit_code == 2, pending.stderr  # terraform's contract: 2 means "something would change"

    applied = cli("topics", "apply", str(conf), "--no-overrides", "--yes", "-o", "json")
    assert applied.exit_code == 0, applied.stderr
    body = json.loads(applied.stdout)
    assert body["applied"]["created"] == []
    assert list(body["schemas-applied"]["registered"]) == [f"{sr_topic}-value"]
    (subject,) = body["plan"]["schemas"]["subjects"]
    assert (subject["action"], subject["compatible"], subject["latest-version"]) == ("new-version", True, 1)

    settled = cli("topics", "plan", str(conf), "--no-overrides", "--detailed-exitcode")
    assert settled.exit_code == 0, settled.stderr
