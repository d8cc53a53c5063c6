"""Schema declarations in topic files (schemaspec.py through topicfile.load): both syntaxes, both forms,
references among the files' own subjects, and what Avro refuses. No registry: all of this is decided
before anything is sent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from platformctl.errors import InputError
from platformctl.topics import files as topicfile
from platformctl.topics.schemas import spec as schemaspec

USER = {"type": "record", "name": "User", "namespace": "com.example", "fields": [{"name": "n", "type": "string"}]}
TWEET = {
    "type": "record",
    "name": "Tweet",
    "namespace": "com.example",
    "fields": [{"name": "u", "type": "com.example.User"}],
}


def _write(tmp_path: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)


@pytest.mark.parametrize("suffix", ["conf", "yaml"])
def test_short_and_long_forms_in_both_syntaxes(tmp_path: Path, suffix: str) -> None:
    _write(tmp_path, {"s/key.avsc": '"long"', "s/value.avsc": json.dumps(USER, indent=4)})
    if suffix == "conf":
        text = (
            "topic {\n  name = tweets\n  partitions = 1\n  replication-factor = 1\n"
            '  key-schema = "s/key.avsc"\n'
            '  value-schema { file = "s/value.avsc", subject = users, compatibility = full }\n}\n'
        )
    else:
        text = (
            "topic:\n  name: tweets\n  partitions: 1\n  replication-factor: 1\n  key-schema: s/key.avsc\n"
            "  value-schema: {file: s/value.avsc, subject: users, compatibility: full}\n"
        )
    _write(tmp_path, {f"t.{suffix}": text})
    (spec,) = topicfile.load([tmp_path / f"t.{suffix}"])
    key, value = spec.schemas
    assert (key.subject, key.role, key.text, key.compatibility) == ("tweets-key", "key", '"long"', None)
    assert (value.subject, value.compatibility, value.file) == ("users", "FULL", str(tmp_path / "s/value.avsc"))
    assert value.text == schemaspec.compact(USER)  # one compact form, whatever the file's layout
    assert key.source.ref == f"{tmp_path}/t.{suffix}:5"
    assert value.compatibility_source is not None and value.compatibility_source.ref == f"{tmp_path}/t.{suffix}:6"


def test_a_reference_to_a_subject_the_files_declare_is_checked_from_its_file(tmp_path: Path) -> None:
    _write(tmp_path, {"user.avsc": json.dumps(USER), "tweet.avsc": json.dumps(TWEET)})
    _write(
        tmp_path,
        {
            "t.yaml": "topics:\n"
            "  - {name: users, partitions: 1, replication-factor: 1, value-schema: user.avsc}\n"
            "  - name: tweets\n    partitions: 1\n    replication-factor: 1\n"
            "    value-schema: {file: tweet.avsc, references: [{name: com.example.User, subject: users-value}]}\n"
        },
    )
    _, tweets = topicfile.load([tmp_path / "t.yaml"])
    (ref,) = tweets.schemas[0].references
    assert (ref.name, ref.subject, ref.version) == ("com.example.User", "users-value", None)


def test_references_in_a_cycle_are_refused(tmp_path: Path) -> None:
    _write(tmp_path, {"a.avsc": '"string"', "b.avsc": '"string"'})
    _write(
        tmp_path,
        {
            "t.yaml": "topics:\n"
            "  - {name: a, partitions: 1, replication-factor: 1,"
            " value-schema: {file: a.avsc, references: [{name: B, subject: b-value}]}}\n"
            "  - {name: b, partitions: 1, replication-factor: 1,"
            " value-schema: {file: b.avsc, references: [{name: A, subject: a-value}]}}\n"
        },
    )
    with pytest.raises(InputError) as e:
        topicfile.load([tmp_path / "t.yaml"])
    assert "references form a cycle: a-value -> b-value -> a-value" in str(e.value)


def test_a_missing_reference_schema_in_the_files_is_an_unknown_type(tmp_path: Path) -> None:
    _write(tmp_path, {"tweet.avsc": json.dumps(TWEET)})
    _write(tmp_path, {"t.yaml": "topic: {name: t, partitions: 1, replication-factor: 1, value-schema: tweet.avsc}\n"})
    with pytest.raises(InputError) as e:
        topicfile.load([tmp_path / "t.yaml"])
    assert str(e.value).startswith(f"{tmp_path}/t.yaml:1: topic.value-schema: {tmp_path}/tweet.avsc: not a valid Avro")


@pytest.mark.parametrize(
    ("schema", "problem"),
    [
        ({"type": "enum", "name": "E", "symbols": ["a", "a"]}, "Duplicate symbol"),
        ({"type": "record", "name": "R", "fields": [{"name": "x", "type": "int"}, {"name": "x", "type": "int"}]}, "x"),
        ({"type": "record", "name": "R", "fields": [{"name": "x", "type": "int", "default": 1.5}]}, "Default value"),
        ({"type": "fixed", "name": "F"}, "size"),
        (["int", "int"], "int type already in Union"),
        ({"type": "record", "name": "1bad", "fields": []}, "not a valid Avro name"),
    ],
)
def test_avro_problems_come_from_the_avro_libraries(schema: object, problem: str) -> None:
    found = schemaspec.avro_problem(json.dumps(schema))
    assert found is not None and problem in found


def test_a_huge_file_is_refused_unread(tmp_path: Path) -> None:
    (tmp_path / "big.avsc").write_text(" " * (schemaspec.MAX_SCHEMA_BYTES + 1))
    _write(tmp_path, {"t.yaml": "topic: {name: t, partitions: 1, replication-factor: 1, value-schema: big.avsc}\n"})
    with pytest.raises(InputError) as e:
        topicfile.load([tmp_path / "t.yaml"])
    assert f"bytes; a schema file may have at most {schemaspec.MAX_SCHEMA_BYTES}" in str(e.value)
