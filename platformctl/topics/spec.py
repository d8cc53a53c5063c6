"""What a topic may say, and whether what it says is legal, before anything reaches a broker.

Brokers are the wrong place to find mistakes: some Kafka-protocol brokers (and some managed Kafkas)
accept unknown config keys, bad values and illegal names, and Apache Kafka refuses a create or a change
only once it was sent, one topic at a time. So platformctl keeps its own catalogue of the topic-level
configs of Apache Kafka 4.x (name, type, range, allowed values; mirrored from `LogConfig`'s `ConfigDef`,
https://kafka.apache.org/documentation/#topicconfigs) and validates every value itself.

This module is also the contract between topic files and the layers put on top of them (environment
overrides from etcd, `--set` on the command line):

- `TOPIC_FIELDS`: the topic-level fields (not Kafka configs) a layer may set.
- `validate_value(key, raw)`: validates and normalizes one value, with the same message a topic file
  would get for that key (callers add file/line/field).
- `Source` (where a value came from) and `Layer` (a set of values from one source, applied in order,
  later wins). `platformctl.topics.plan` merges them into the effective spec.
- `coherence_problems(values)`: the checks across keys (min.insync.replicas vs replication factor,
  compaction settings without compaction).
- `topic_name_problem(name)` / `collision_key(name)`: Kafka's topic-name rules.
- `parse_sets(items, names)`: `--set TOPIC.KEY=VALUE` items as one `cli` layer per topic.

Values are normalized to what Kafka stores and returns from DescribeConfigs (`ConfigDef.convertToString`):
integers as decimal strings, booleans as `true`/`false`, doubles as Java's `Double.toString` would print
them for ordinary values, lists comma-joined. Comparing normalized values is what makes a re-apply a
no-op regardless of how the file spelled a value (`1h` is not accepted: Kafka has no units).
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from platformctl.errors import InputError, InputErrors
from platformctl.topics.provenance import Layer, Source

if TYPE_CHECKING:
    from platformctl.topics.schemas.spec import SchemaDecl

TOPIC_FIELDS = ("partitions", "replication-factor")
# The most a Kafka client can ask for (librdkafka's RD_KAFKAP_PARTITIONS_MAX and RD_KAFKAP_BROKERS_MAX):
# a larger CreateTopics or CreatePartitions cannot even be built, so a plan with one could never be applied.
FIELD_MAX = {
    "partitions": (100_000, "the most partitions a Kafka client can request"),
    "replication-factor": (10_000, "the most replicas a Kafka client can request"),
}

# Kafka's int is a Java int; long a Java long. Values outside are rejected by the broker's ConfigDef.
_INT_MAX = 2**31 - 1
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1

ConfigType = Literal["int", "long", "double", "boolean", "string", "list"]


@dataclass(frozen=True)
class ConfigKey:
    """One Kafka topic-level config: its type and what `ConfigDef` accepts."""

    name: str
    type: ConfigType
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()  # allowed values (string) or allowed items (list)
    also: tuple[int, ...] = ()  # values allowed outside [minimum, maximum] (gzip level -1)
    compaction_only: bool = False  # meaningful only when cleanup.policy contains compact
    doc: str = ""


def _k(name: str, type_: ConfigType, **kwargs: object) -> tuple[str, ConfigKey]:
    return name, ConfigKey(name, type_, **kwargs)  # type: ignore[arg-type]


# Apache Kafka 4.x topic-level configs (storage/.../LogConfig.java; ranges from its ConfigDef), checked
# against Apache Kafka 4.2 itself by tests/topics/test_changes.py (names, bounds, choices). Removed in 4.0
# and so unknown here (a 4.x broker refuses them): message.format.version,
# message.timestamp.difference.max.ms, message.downconversion.enable.
KAFKA_TOPIC_CONFIGS: dict[str, ConfigKey] = dict(
    [
        _k("cleanup.policy", "list", choices=("compact", "delete"), doc="delete, compact, or both"),
        _k("compression.gzip.level", "int", minimum=1, maximum=9, also=(-1,)),
        _k("compression.lz4.level", "int", minimum=1, maximum=17),
        _k(
            "compression.type",
            "string",
            choices=("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"),
        ),
        _k("compression.zstd.level", "int", minimum=-131072, maximum=22),
        _k("delete.retention.ms", "long", minimum=0, compaction_only=True),
        _k("file.delete.delay.ms", "long", minimum=0),
        _k("flush.messages", "long", minimum=1),
        _k("flush.ms", "long", minimum=0),
        _k("follower.replication.throttled.replicas", "list"),
        _k("index.interval.bytes", "int", minimum=0),
        _k("leader.replication.throttled.replicas", "list"),
        _k("local.retention.bytes", "long", minimum=-2),
        _k("local.retention.ms", "long", minimum=-2),
        _k("max.compaction.lag.ms", "long", minimum=1, compaction_only=True),
        # New in 4.2.2 (the platform's pin): the largest record once decompressed; an older broker refuses it.
        _k("max.decompressed.message.bytes", "int", minimum=1, maximum=2147483639),
        _k("max.message.bytes", "int", minimum=0),
        _k("message.timestamp.after.max.ms", "long", minimum=0),
        _k("message.timestamp.before.max.ms", "long", minimum=0),
        _k("message.timestamp.type", "string", choices=("CreateTime", "LogAppendTime")),
        _k("min.cleanable.dirty.ratio", "double", minimum=0, maximum=1, compaction_only=True),
        _k("min.compaction.lag.ms", "long", minimum=0, compaction_only=True),
        _k("min.insync.replicas", "int", minimum=1),
        _k("preallocate", "boolean"),
        _k("remote.log.copy.disable", "boolean"),
        _k("remote.log.delete.on.disable", "boolean"),
        _k("remote.storage.enable", "boolean"),
        _k("retention.bytes", "long"),  # negative means unlimited (any negative value, per LogManager)
        _k("retention.ms", "long", minimum=-1),  # -1: keep forever
        _k("segment.bytes", "int", minimum=1024 * 1024),  # 1 MiB floor since Kafka 4.0
        _k("segment.index.bytes", "int", minimum=4),
        _k("segment.jitter.ms", "long", minimum=0),
        _k("segment.ms", "long", minimum=1),
        _k("unclean.leader.election.enable", "boolean"),
    ]
)

COMPACTION_ONLY = tuple(sorted(k for k, v in KAFKA_TOPIC_CONFIGS.items() if v.compaction_only))

_MAX_NAME = 249
_NAME_CHARS = re.compile(r"[a-zA-Z0-9._-]+")
# ASCII digits only: `\d` also matches other scripts' digits, which int() accepts ("٣" is 3).
_INTEGER = re.compile(r"[+-]?[0-9]+")
_THROTTLED = re.compile(r"\*|[0-9]+:[0-9]+")
# A Java long has at most 19 digits; longer text is refused before int() (Python refuses past 4,300).
_MAX_DIGITS = 19


@dataclass(frozen=True)
class TopicSpec:
    """One topic as a file declares it, with the source of every value."""

    name: str
    partitions: int
    replication_factor: int
    config: Mapping[str, str]
    sources: Mapping[str, Source] = field(default_factory=dict)  # flat key -> where it was written
    path: str = ""  # the file that declared it
    line: int | None = None  # the line of its name
    cluster_id: str | None = None  # the file's `cluster-id`: apply refuses any other cluster
    schemas: tuple[SchemaDecl, ...] = ()  # its key/value schemas (topics/schemas/spec.py), for the Schema Registry

    def values(self) -> dict[str, int | str]:
        """Flat view: TOPIC_FIELDS plus config keys, the shape layers use."""
        return {"partitions": self.partitions, "replication-factor": self.replication_factor, **self.config}


def known_config(key: str) -> ConfigKey | None:
    return KAFKA_TOPIC_CONFIGS.get(key)


def unknown_config_message(key: str) -> str:
    message = f"unknown Kafka topic config {key!r}"
    close = difflib.get_close_matches(key, KAFKA_TOPIC_CONFIGS, n=1)
    if close:
        message += f" (did you mean {close[0]!r}?)"
    return message + "; --allow-unknown-config passes it through unchecked"


def _describe(raw: object) -> str:
    text = repr(raw)
    if len(text) > 60:  # a 5,000-digit number or a pasted file: enough to recognise, not to flood
        text = f"{text[:40]}... ({len(text)} characters)"
    return f"{type(raw).__name__} {text}"


def _shown(value: int) -> str:
    """An integer for a message: a 4,000-digit one (HOCON reads those) is described, not printed."""
    text = str(value)
    return text if len(text) <= 40 else _describe(value)


def parse_integer(text: str) -> int | None:
    """`text` as an integer if it is one written in ASCII digits (optional sign, at most 19 digits)."""
    text = text.strip()
    if not _INTEGER.fullmatch(text) or len(text.lstrip("+-")) > _MAX_DIGITS:
        return None
    return int(text)


def _integer(key: str, raw: object, lo: float | None, hi: float | None, also: tuple[int, ...] = ()) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise ValueError(f"must be an integer (got {_describe(raw)})")
    if isinstance(raw, str):
        parsed = parse_integer(raw)
        if parsed is None:
            longest = f" of at most {_MAX_DIGITS} digits" if _INTEGER.fullmatch(raw.strip()) else ""
            raise ValueError(f"must be an integer{longest} (got {_describe(raw)})")
        raw = parsed
    value = int(raw)
    if value in also:
        return value
    if lo is not None and value < lo:
        allowed = f"at least {_num(lo)}" if hi is None else f"between {_num(lo)} and {_num(hi)}"
        extra = "".join(f" or {a}" for a in also)
        raise ValueError(f"must be {allowed}{extra} (got {_shown(value)})")
    if hi is not None and value > hi:
        allowed = f"at most {_num(hi)}" if lo is None else f"between {_num(lo)} and {_num(hi)}"
        extra = "".join(f" or {a}" for a in also)
        raise ValueError(f"must be {allowed}{extra} (got {_shown(value)})")
    return value


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _java_double(value: float) -> str:
    """Java's Double.toString for ordinary values: always a decimal point ("1.0", "0.5")."""
    text = repr(float(value))
    return text if ("." in text or "e" in text or "n" in text) else text + ".0"


def _list_items(raw: object) -> list[str]:
    if isinstance(raw, str):
        return [item.strip() for item in raw.split(",")] if raw.strip() else []
    if isinstance(raw, list | tuple) and all(isinstance(item, str) for item in raw):
        return [item.strip() for item in raw]
    raise ValueError(f"must be a comma-separated string or a list of strings (got {_describe(raw)})")


def _config_value(spec: ConfigKey, raw: object) -> str:
    if spec.type in ("int", "long"):
        type_lo, type_hi = (-(2**31), _INT_MAX) if spec.type == "int" else (_LONG_MIN, _LONG_MAX)
        value = _integer(spec.name, raw, spec.minimum, spec.maximum, spec.also)
        if not type_lo <= value <= type_hi:
            raise ValueError(f"must fit a Java {spec.type} ({type_lo} to {type_hi}) (got {_shown(value)})")
        return str(value)
    if spec.type == "double":
        number: float
        if isinstance(raw, bool) or not isinstance(raw, int | float | str):
            raise ValueError(f"must be a number (got {_describe(raw)})")
        try:
            number = float(raw)
        except ValueError:
            raise ValueError(f"must be a number (got {_describe(raw)})") from None
        if not math.isfinite(number):
            raise ValueError(f"must be a finite number (got {_describe(raw)})")
        if (spec.minimum is not None and number < spec.minimum) or (
            spec.maximum is not None and number > spec.maximum
        ):
            raise ValueError(
                f"must be a ratio between {_num(spec.minimum or 0)} and {_num(spec.maximum or 0)} "
                f"(got {raw if len(str(raw)) <= 60 else _describe(raw)})"
            )
        return _java_double(number)
    if spec.type == "boolean":
        if isinstance(raw, bool):
            return "true" if raw else "false"
        if isinstance(raw, str) and raw.strip().lower() in ("true", "false"):
            return raw.strip().lower()
        raise ValueError(f"must be true or false (got {_describe(raw)})")
    if spec.type == "string":
        if not isinstance(raw, str):
            raise ValueError(f"must be one of {', '.join(spec.choices)} (got {_describe(raw)})")
        if spec.choices and raw.strip() not in spec.choices:
            raise ValueError(f"must be one of {', '.join(spec.choices)} (got {raw!r})")
        return raw.strip()
    items = _list_items(raw)
    if spec.name == "cleanup.policy":
        if not items:
            raise ValueError("must be delete, compact, or both comma-separated (got an empty list)")
        bad = [item for item in items if item not in spec.choices]
        if bad:
            raise ValueError(f"must be delete, compact, or both comma-separated (got {bad[0]!r})")
        if len(set(items)) != len(items):
            raise ValueError(f"lists a policy twice (got {','.join(items)!r})")
        # Order carries no meaning to Kafka; a fixed order keeps "delete,compact" equal to "compact,delete".
        return ",".join(sorted(items))
    bad = [item for item in items if not _THROTTLED.fullmatch(item)]
    if bad or (len(items) > 1 and "*" in items):
        raise ValueError(
            "must be '*' or a list of PARTITION:BROKER pairs such as '0:101,1:102' "
            f"(got {(bad or items)[0]!r})"
        )
    return ",".join(items)


def validate_value(key: str, raw: object, *, allow_unknown_config: bool = False) -> int | str:
    """Validate one override/file value. key is a TOPIC_FIELDS name or a Kafka topic config name.

    Returns the normalized value (fields: int; config values: canonical str as Kafka stores them,
    e.g. True -> "true", 3600000 -> "3600000"). Raises ValueError(message) with the same message a
    topic file would produce for that key (the caller adds file/line/field).
    """
    if key in TOPIC_FIELDS:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise ValueError(f"must be an integer (got {_describe(raw)})")
        if raw < 1:
            raise ValueError(f"must be at least 1 (got {_shown(raw)})")
        most, why = FIELD_MAX[key]
        if raw > most:
            raise ValueError(f"must be at most {most}, {why} (got {_shown(raw)})")
        return raw
    spec = KAFKA_TOPIC_CONFIGS.get(key)
    if spec is None:
        if not allow_unknown_config:
            raise ValueError(unknown_config_message(key))
        if isinstance(raw, bool):
            return "true" if raw else "false"
        if isinstance(raw, int | str):
            return str(raw)
        if isinstance(raw, float):
            return _java_double(raw)
        raise ValueError(f"must be a string, number or boolean (got {_describe(raw)})")
    return _config_value(spec, raw)


def normalize_current(key: str, value: str) -> str:
    """A value read back from a broker, in the same canonical form `validate_value` gives.

    Brokers may spell a value differently from how it was sent ("compact,delete" vs "delete,compact",
    "0.50" vs "0.5"); a value that does not validate is returned as is, which then shows as drift.
    """
    if key in TOPIC_FIELDS:
        return value
    try:
        return str(validate_value(key, value, allow_unknown_config=True))
    except ValueError:
        return value


# A KRaft or ZooKeeper cluster id: a UUID in URL-safe base64 without padding (`kafka-storage.sh random-uuid`).
_CLUSTER_ID = re.compile(r"[A-Za-z0-9_-]{22}")


def cluster_id_problem(value: object) -> str | None:
    """Why `value` cannot be a Kafka cluster id, or None."""
    if not isinstance(value, str) or not _CLUSTER_ID.fullmatch(value):
        return f"must be a 22-character base64url Kafka cluster id (got {_describe(value)})"
    return None


def topic_name_problem(name: object) -> str | None:
    """Why Kafka would refuse this topic name (org.apache.kafka.common.internals.Topic.validate), or None."""
    if not isinstance(name, str):
        return f"must be a string (got {_describe(name)})"
    if not name:
        return "must not be empty"
    if name in (".", ".."):
        return f"cannot be {name!r}"
    if len(name) > _MAX_NAME:
        return f"is {len(name)} characters long; Kafka allows at most {_MAX_NAME}"
    if not _NAME_CHARS.fullmatch(name):
        bad = sorted({c for c in name if not _NAME_CHARS.fullmatch(c)})
        return f"contains {''.join(bad)!r}; Kafka allows only ASCII letters, digits, '.', '_' and '-'"
    return None


def collision_key(name: str) -> str:
    """Kafka's metric names replace '.' with '_', so 'a.b' and 'a_b' cannot both exist (KAFKA-1772)."""
    return name.replace(".", "_")


def has_compaction(values: Mapping[str, int | str]) -> bool:
    policy = values.get("cleanup.policy")
    return isinstance(policy, str) and "compact" in policy.split(",")


def coherence_problems(values: Mapping[str, int | str]) -> list[tuple[str, str]]:
    """Problems across keys of one topic's flat values, as (field, message) pairs."""
    problems: list[tuple[str, str]] = []
    rf = values.get("replication-factor")
    misr = values.get("min.insync.replicas")
    if isinstance(rf, int) and misr is not None and _INTEGER.fullmatch(str(misr)) and int(misr) > rf:
        problems.append(
            (
                "min.insync.replicas",
                f"is {misr}, greater than replication-factor {rf}: every write with acks=all would fail "
                "(lower min.insync.replicas or raise replication-factor)",
            )
        )
    if not has_compaction(values):
        policy = values.get("cleanup.policy", "delete")
        for key in COMPACTION_ONLY:
            if key in values:
                problems.append(
                    (
                        key,
                        f"applies only to compacted topics, but cleanup.policy is {policy!r} "
                        "(add compact to cleanup.policy or remove this key)",
                    )
                )
    low, high = values.get("min.compaction.lag.ms"), values.get("max.compaction.lag.ms")
    if low is not None and high is not None and int(low) > int(high):
        problems.append(
            (
                "min.compaction.lag.ms",
                f"is {low}, greater than max.compaction.lag.ms {high}; Kafka refuses this",
            )
        )
    return problems


def parse_sets(sets: list[str], names: list[str], allow_unknown_config: bool = False) -> dict[str, list[Layer]]:
    """`--set TOPIC.KEY=VALUE` items as one `cli` layer per topic (topic names may contain dots).

    TOPIC is the longest topic name of the files (or `*`, every topic) that prefixes the item, so
    `a.b.retention.ms=1` sets `retention.ms` of topic `a.b` when the files declare `a.b`. Every bad item
    is reported at once (exit 2), before anything is contacted.
    """
    source = Source("cli", "--set")
    values: dict[str, dict[str, int | str]] = {}
    errors: list[InputError] = []
    for item in sets:
        target, eq, raw = item.partition("=")
        topic = next(
            (n for n in sorted([*names, "*"], key=len, reverse=True) if target.startswith(n + ".")), None
        )
        if not eq:
            errors.append(
                InputError(f"expected TOPIC.KEY=VALUE (got {item!r})", path="command line", field="--set")
            )
            continue
        if topic is None:
            errors.append(
                InputError(
                    f"no topic in the files matches {item!r} (expected TOPIC.KEY=VALUE; TOPIC '*' means all)",
                    path="command line",
                    field="--set",
                )
            )
            continue
        key = target[len(topic) + 1 :]
        value: int | str = raw
        parsed = parse_integer(raw) if key in TOPIC_FIELDS else None
        if parsed is not None:
            value = parsed
        elif key in TOPIC_FIELDS and _INTEGER.fullmatch(raw.strip()):  # more digits than any Java long
            most, why = FIELD_MAX[key]
            message = f"must be at most {most}, {why} (got a {len(raw.strip().lstrip('+-'))}-digit number)"
            errors.append(InputError(message, path="command line", field=f"--set {target}"))
            continue
        try:
            value = validate_value(key, value, allow_unknown_config=allow_unknown_config)
        except ValueError as e:
            errors.append(InputError(str(e), path="command line", field=f"--set {target}"))
            continue
        for name in names if topic == "*" else [topic]:
            values.setdefault(name, {})[key] = value
    InputErrors.raise_if_any(errors)
    return {name: [Layer(source, layer)] for name, layer in values.items()}
