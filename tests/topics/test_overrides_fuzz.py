"""Property-based tests of the override parsers: any input gives values or a clear InputError, never a crash.

Covers what a person types or edits: `overrides set` arguments (TOPIC, KEY=VALUE), `get`/`unset` key
names, `overrides import` files (arbitrary text, and mutations of a valid export), and values edited
by hand in etcd (`from_document`). "Clear" means an `InputError` (exit code 2) whose every line names
where the problem is (`command line`, or the file). A few examples also go through the CLI.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from platformctl.errors import ExitCode, InputError
from platformctl.topics import overrides, overridesfile
from platformctl.topics import spec as topicspec
from tests.conftest import RunCli

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
FEW = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

VALID_EXPORT: dict[str, Any] = {
    "topic-defaults": {"replication-factor": 1, "config": {"min.insync.replicas": "1"}},
    "topics": {
        "twitter-topic": {"partitions": 3, "config": {"retention.ms": "60000", "cleanup.policy": "compact"}},
        "clicks": {"config": {"segment.ms": 3600000}},
    },
}

keys = st.one_of(
    st.sampled_from([*topicspec.TOPIC_FIELDS, *sorted(topicspec.KAFKA_TOPIC_CONFIGS)]),
    st.text(max_size=15),
)
value_texts = st.one_of(
    st.text(max_size=20),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from(["compact,delete", "[1, 2]", "{a: 1}", "true", "null", "~", "0.5", "1e400", ".nan", "- x"]),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.text(max_size=12),
)
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=12,
)


def expect_clear(error: InputError, where: str) -> None:
    assert error.exit_code == ExitCode.INPUT
    text = str(error)
    assert text
    for line in text.splitlines():
        assert line.startswith(where), line


@FUZZ
@given(
    args=st.lists(st.one_of(st.text(max_size=25), st.builds(lambda k, v: f"{k}={v}", keys, value_texts)), max_size=5)
)
def test_set_assignments(args: list[str]) -> None:
    try:
        values = overrides.parse_assignments(args)
    except InputError as e:
        expect_clear(e, "command line")
        return
    assert values and len(values) <= len(args)
    for key, value in values.items():
        assert key in topicspec.TOPIC_FIELDS or topicspec.known_config(key) is not None
        # Stored values are already normalized: validating them again changes nothing.
        assert topicspec.validate_value(key, value) == value


@FUZZ
@given(
    topic=st.one_of(st.none(), st.text(max_size=30)),
    defaults=st.booleans(),
    names=st.lists(st.text(max_size=15), max_size=3),
)
def test_target_and_key_names(topic: str | None, defaults: bool, names: list[str]) -> None:
    try:
        target = overrides.Target.parse(topic, defaults=defaults)
    except InputError as e:
        expect_clear(e, "command line")
    else:
        assert (target.topic is None) == defaults
        assert target.key("dev").startswith("/platformctl/envs/dev/")
    try:
        assert overrides.parse_keys(names) == list(dict.fromkeys(names))
    except InputError as e:
        expect_clear(e, "command line")


@FUZZ
@given(doc=documents)
def test_hand_edited_etcd_value(doc: Any) -> None:
    """What `etcdctl put` may leave under an override key: values, or problems naming the key."""
    key = "/platformctl/envs/dev/topics/t"
    values, errors = overrides.from_document(doc, path=key)
    for error in errors:
        expect_clear(error, key)
    if not errors:
        assert overrides.from_document(overrides.to_document(values), path=key) == (values, [])


@FUZZ
@given(text=st.text(max_size=300), suffix=st.sampled_from([".yaml", ".json"]))
def test_import_arbitrary_text(tmp_path: Path, text: str, suffix: str) -> None:
    path = tmp_path / f"overrides{suffix}"
    path.write_text(text, encoding="utf-8")
    try:
        overridesfile.load_import(path)
    except InputError as e:
        expect_clear(e, str(path))


@st.composite
def mutated_exports(draw: st.DrawFn) -> Any:
    doc: Any = json.loads(json.dumps(VALID_EXPORT))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        kind = draw(st.sampled_from(["replace", "drop", "unknown", "topic", "whole"]))
        if kind == "whole":
            return draw(documents)
        if not isinstance(doc, dict):
            continue
        if kind == "replace":
            section = draw(st.sampled_from(["topic-defaults", "topics"]))
            doc[section] = draw(documents)
        elif kind == "drop" and doc:
            doc.pop(draw(st.sampled_from(sorted(doc))))
        elif kind == "unknown":
            doc[draw(st.text(min_size=1, max_size=10))] = draw(documents)
        elif kind == "topic":
            topics = doc.get("topics") if isinstance(doc.get("topics"), dict) else {}
            topics[draw(st.text(max_size=20))] = draw(documents)
            doc["topics"] = topics
    return doc


@FUZZ
@given(doc=mutated_exports(), syntax=st.sampled_from(["yaml", "json"]))
def test_import_mutated_export(tmp_path: Path, doc: Any, syntax: str) -> None:
    path = tmp_path / f"overrides.{syntax}"
    text = yaml.safe_dump(doc, allow_unicode=True) if syntax == "yaml" else json.dumps(doc)
    path.write_text(text, encoding="utf-8")
    try:
        loaded = overridesfile.load_import(path)
    except InputError as e:
        expect_clear(e, str(path))
        return
    for target, values in loaded.entries.items():
        assert target.topic is None or topicspec.topic_name_problem(target.topic) is None
        for key in values:
            assert key in topicspec.TOPIC_FIELDS or topicspec.known_config(key) is not None


def test_the_valid_export_imports(tmp_path: Path) -> None:
    """The mutations start from a file that imports; otherwise they would only test errors."""
    path = tmp_path / "overrides.yaml"
    path.write_text(yaml.safe_dump(VALID_EXPORT))
    loaded = overridesfile.load_import(path)
    assert loaded.entries[overrides.Target("twitter-topic")] == {
        "partitions": 3,
        "cleanup.policy": "compact",
        "retention.ms": "60000",
    }


@FEW
@given(args=st.lists(st.builds(lambda k, v: f"{k}={v}", keys, value_texts), min_size=1, max_size=3))
def test_set_through_the_cli(run_cli: RunCli, args: list[str]) -> None:
    """Arguments are validated before etcd is needed: bad ones and (lacking an endpoint) good ones both
    end in exit 2 with `error:` lines only."""
    result = run_cli("overrides", "set", "some-topic", *args)
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr


@FEW
@given(doc=mutated_exports())
def test_import_through_the_cli(run_cli: RunCli, tmp_path: Path, doc: Any) -> None:
    path = tmp_path / "overrides.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    result = run_cli("overrides", "import", str(path))
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
