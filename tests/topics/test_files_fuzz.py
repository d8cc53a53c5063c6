"""Property-based tests of the topic-file loader (HOCON and YAML): any file gives topics or a clear InputError.

"Clear" means: an `InputError` (exit code 2) whose every line names the file, and never another
exception. Inputs are arbitrary text, line-level edits of the real twitter-topic.conf, and structured
mutations of a valid topic (values of every type in every field, keys dropped, unknown keys added,
random config keys and values, strange names) written out in both syntaxes. The loader is driven
directly (fast); a few examples go through the CLI to check the same holds end to end (exit 2, one
`error:` block, no traceback).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, currently_in_test_context, event, given, settings
from hypothesis import strategies as st

from platformctl.errors import ExitCode, InputError
from platformctl.topics import files as topicfile
from platformctl.topics import spec as topicspec
from tests.conftest import RunCli

TWITTER = (Path(__file__).parents[2] / "examples" / "twitter-topic.conf").read_text()
VALID: dict[str, Any] = {
    "name": "twitter-topic",
    "partitions": 9,
    "replication-factor": 3,
    "config": {
        "cleanup.policy": "compact",
        "min.compaction.lag.ms": 3600000,
        "min.cleanable.dirty.ratio": 0.5,
        "delete.retention.ms": 86400000,
        "min.insync.replicas": 2,
        "retention.ms": -1,
    },
}

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
FEW = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

names = st.one_of(
    st.sampled_from(["", ".", "..", "a" * 250, "a/b", "tweets v1", "ñame", "metrics.cpu", "x" * 249, "-", "_"]),
    st.text(max_size=30),
    st.from_regex(r"[a-zA-Z0-9._-]{1,40}", fullmatch=True),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["compact", "delete", "compact,delete", "1h", "-1", "0.5", "true", "CreateTime", "lz4"]),
)
values = st.one_of(
    scalars,
    st.lists(scalars, max_size=3),
    st.dictionaries(st.text(min_size=1, max_size=6), scalars, max_size=3),
)
config_keys = st.one_of(
    st.sampled_from(sorted(topicspec.KAFKA_TOPIC_CONFIGS)),
    st.from_regex(r"[a-z]{1,8}(\.[a-z]{1,8}){0,3}", fullmatch=True),
    st.text(min_size=1, max_size=15),
)


def check(path: Path) -> list[topicspec.TopicSpec] | None:
    """Load `path`; a result must be sound, an error must name the file on every line."""
    try:
        specs = topicfile.load([path])
    except InputError as e:
        assert e.exit_code == ExitCode.INPUT
        text = str(e)
        assert text
        for line in text.splitlines():
            assert line.startswith(str(path)), line
        note("input error")
        return None
    note("loaded")
    for spec in specs:
        assert topicspec.topic_name_problem(spec.name) is None
        assert spec.partitions >= 1 and spec.replication_factor >= 1
        for key, value in spec.config.items():
            assert isinstance(value, str)
            assert topicspec.known_config(key) is not None, key
    return specs


def note(outcome: str) -> None:
    """Count outcomes (`pytest --hypothesis-show-statistics`): mutations must still load sometimes."""
    if currently_in_test_context():
        event(outcome)


# --- HOCON and YAML writers for structured inputs ---------------------------------------------------

_BARE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def hocon_key(key: str, dotted: bool) -> str:
    """Unquoted (dotted config names split into paths, as real files write them) when that is safe."""
    parts = key.split(".") if dotted else [key]
    if all(_BARE.fullmatch(p) for p in parts):
        return ".".join(parts)
    return json.dumps(key)


def hocon_value(value: Any, indent: str, dotted: bool = False) -> str:
    if isinstance(value, dict):
        inner = indent + "  "
        body = "".join(f"{inner}{hocon_key(str(k), dotted)} = {hocon_value(v, inner)}\n" for k, v in value.items())
        return "{\n" + body + indent + "}"
    if isinstance(value, list):
        return "[" + ", ".join(hocon_value(v, indent) for v in value) + "]"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return json.dumps(str(value))
    if isinstance(value, int | float):
        return repr(value)
    if _BARE.fullmatch(value) and value not in ("true", "false", "null", "include"):
        return value
    return json.dumps(value)


def hocon_topic(topic: Any) -> str:
    if not isinstance(topic, dict):
        return f"topic = {hocon_value(topic, '')}\n"
    lines = ["topic {"]
    for key, value in topic.items():
        lines.append(f"  {hocon_key(str(key), False)} = {hocon_value(value, '  ', dotted=key == 'config')}")
    lines.append("}")
    return "\n".join(lines) + "\n"


@st.composite
def mutated_topics(draw: st.DrawFn) -> Any:
    topic: dict[str, Any] = json.loads(json.dumps(VALID))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        kind = draw(st.sampled_from(["retype", "drop", "unknown", "config", "name", "drop-config", "whole"]))
        if kind == "retype":
            key = draw(st.sampled_from(["name", "partitions", "replication-factor", "config"]))
            topic[key] = draw(values)
        elif kind == "drop" and topic:
            topic.pop(draw(st.sampled_from(sorted(topic))))
        elif kind == "unknown":
            topic[draw(st.text(min_size=1, max_size=10))] = draw(values)
        elif kind == "config":
            config = topic.get("config")
            config = config if isinstance(config, dict) else {}
            config[draw(config_keys)] = draw(values)
            topic["config"] = config
        elif kind == "drop-config" and isinstance(topic.get("config"), dict) and topic["config"]:
            topic["config"].pop(draw(st.sampled_from(sorted(topic["config"]))))
        elif kind == "name":
            topic["name"] = draw(names)
        elif kind == "whole":
            return draw(values)
    return topic


# --- the properties ----------------------------------------------------------------------------------


@FUZZ
@given(text=st.text(max_size=300), suffix=st.sampled_from([".conf", ".yaml"]))
def test_arbitrary_text(tmp_path: Path, text: str, suffix: str) -> None:
    path = tmp_path / f"t{suffix}"
    path.write_text(text, encoding="utf-8")
    check(path)


@FUZZ
@given(
    edits=st.lists(
        st.tuples(
            st.sampled_from(["delete", "duplicate", "insert", "swap"]),
            st.integers(min_value=0, max_value=200),
            st.text(alphabet='{}[]=:,"#.\n ab1-', max_size=6),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_edited_twitter_topic_conf(tmp_path: Path, edits: list[tuple[str, int, str]]) -> None:
    lines = TWITTER.splitlines(keepends=True)
    for kind, at, text in edits:
        i = at % len(lines)
        if kind == "delete" and len(lines) > 1:
            del lines[i]
        elif kind == "duplicate":
            lines.insert(i, lines[i])
        elif kind == "insert":
            pos = at % (len(lines[i]) + 1)
            lines[i] = lines[i][:pos] + text + lines[i][pos:]
        elif kind == "swap":
            j = (i + 1) % len(lines)
            lines[i], lines[j] = lines[j], lines[i]
    path = tmp_path / "twitter-topic.conf"
    path.write_text("".join(lines), encoding="utf-8")
    check(path)


@FUZZ
@given(topic=mutated_topics(), many=st.booleans())
def test_mutated_topic_in_yaml(tmp_path: Path, topic: Any, many: bool) -> None:
    doc = {"topics": [topic, VALID | {"name": "other"}]} if many else {"topic": topic}
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    check(path)


@FUZZ
@given(topic=mutated_topics())
def test_mutated_topic_in_hocon(tmp_path: Path, topic: Any) -> None:
    path = tmp_path / "t.conf"
    path.write_text(hocon_topic(topic), encoding="utf-8")
    check(path)


def test_writers_round_trip_the_valid_topic(tmp_path: Path) -> None:
    """The generators start from a file that loads; otherwise every mutation would only test errors."""
    conf, yml = tmp_path / "t.conf", tmp_path / "t.yaml"
    conf.write_text(hocon_topic(VALID))
    yml.write_text(yaml.safe_dump({"topic": VALID}))
    for path in (conf, yml, Path(__file__).parents[2] / "examples" / "twitter-topic.conf"):
        specs = check(path)
        assert specs is not None and len(specs) == 1
        assert specs[0].name == "twitter-topic"
        assert specs[0].config["cleanup.policy"] == "compact"
        assert specs[0].config["min.cleanable.dirty.ratio"] == "0.5"


@FEW
@given(topic=mutated_topics(), syntax=st.sampled_from(["conf", "yaml"]))
def test_through_the_cli_exit_2_and_one_error_block(run_cli: RunCli, tmp_path: Path, topic: Any, syntax: str) -> None:
    """`topics plan` reads every file before it needs Kafka: bad files and (lacking a broker) good ones
    both end in exit 2 with `error:` lines only, never a traceback or an internal error."""
    path = tmp_path / f"t.{syntax}"
    text = hocon_topic(topic) if syntax == "conf" else yaml.safe_dump({"topic": topic}, allow_unicode=True)
    path.write_text(text, encoding="utf-8")
    result = run_cli("topics", "plan", str(path), "--no-overrides")
    assert result.exit_code == 2, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert result.stderr.startswith("error: ")
    if check(path) is not None:
        assert "no Kafka to talk to" in result.stderr
    else:
        assert str(path) in result.stderr


# Found by the properties above; pinned with their exact message.
FOUND = [
    ("key-without-value.conf", "topic {\n  name = a\n  partitions\n}\n",
     "{path}:4: invalid HOCON: expected '=', ':' or '{{' after a key (found '}}')"),
    ("bare-word.conf", "0", "{path}:1: invalid HOCON: expected '=', ':' or '{{' after a key (found end of text)"),
    ("missing-include.conf", 'include "nope.conf"\n',
     "{path}:1: include: 'nope.conf': file not found"),
    ("control-char.yaml", "topic:\n  name: \x1f\n", "{path}:2: invalid YAML: unacceptable character #x001f: "
     "special characters are not allowed"),
    ("newline-in-key.yaml", 'topic: {name: a, partitions: 1, replication-factor: 1, "x\\ry": 1}\n',
     "{path}:1: topic.x\\ry: unknown key (expected name, partitions, replication-factor, config, key-schema, "
     "value-schema)"),
]  # fmt: skip


def test_found_by_fuzzing_one_clear_line(tmp_path: Path) -> None:
    for name, text, expected in FOUND:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        try:
            topicfile.load([path])
        except InputError as e:
            assert str(e) == expected.format(path=path, dir=tmp_path), name
        else:
            raise AssertionError(f"{name} loaded")
