"""The topic config catalogue and the value/name/coherence rules shared by files and override layers."""

from __future__ import annotations

import pytest

from platformctl.topics import spec as topicspec
from platformctl.topics.provenance import Layer, Source
from platformctl.topics.spec import coherence_problems, topic_name_problem, validate_value


@pytest.mark.parametrize(
    ("key", "raw", "expected"),
    [
        ("partitions", 9, 9),
        ("replication-factor", 1, 1),
        ("min.compaction.lag.ms", 3600000, "3600000"),
        ("min.compaction.lag.ms", "3600000", "3600000"),
        ("retention.ms", -1, "-1"),
        ("retention.bytes", -1, "-1"),
        ("local.retention.ms", -2, "-2"),
        ("min.cleanable.dirty.ratio", 0.5, "0.5"),
        ("min.cleanable.dirty.ratio", 1, "1.0"),
        ("min.cleanable.dirty.ratio", "0.50", "0.5"),
        ("unclean.leader.election.enable", True, "true"),
        ("preallocate", "FALSE", "false"),
        ("cleanup.policy", "compact", "compact"),
        ("cleanup.policy", "delete, compact", "compact,delete"),
        ("cleanup.policy", ["compact", "delete"], "compact,delete"),
        ("compression.type", "zstd", "zstd"),
        ("compression.gzip.level", -1, "-1"),
        ("message.timestamp.type", "LogAppendTime", "LogAppendTime"),
        ("leader.replication.throttled.replicas", "0:101,1:102", "0:101,1:102"),
        ("follower.replication.throttled.replicas", "*", "*"),
    ],
)
def test_valid_values_are_normalized_to_what_kafka_stores(key: str, raw: object, expected: object) -> None:
    assert validate_value(key, raw) == expected


@pytest.mark.parametrize(
    ("key", "raw", "message"),
    [
        ("partitions", "9", "must be an integer (got str '9')"),
        ("partitions", True, "must be an integer (got bool True)"),
        ("partitions", 0, "must be at least 1 (got 0)"),
        ("replication-factor", 1.5, "must be an integer (got float 1.5)"),
        ("retention.ms", -2, "must be at least -1 (got -2)"),
        ("retention.ms", "1h", "must be an integer (got str '1h')"),
        ("min.insync.replicas", 2**31, "must fit a Java int (-2147483648 to 2147483647) (got 2147483648)"),
        ("segment.bytes", 1000, "must be at least 1048576 (got 1000)"),
        ("compression.gzip.level", 0, "must be between 1 and 9 or -1 (got 0)"),
        ("min.cleanable.dirty.ratio", 1.5, "must be a ratio between 0 and 1 (got 1.5)"),
        ("min.cleanable.dirty.ratio", "half", "must be a number (got str 'half')"),
        ("preallocate", "yes", "must be true or false (got str 'yes')"),
        ("cleanup.policy", "compacted", "must be delete, compact, or both comma-separated (got 'compacted')"),
        ("cleanup.policy", "compact,compact", "lists a policy twice (got 'compact,compact')"),
        (
            "compression.type",
            "brotli",
            "must be one of uncompressed, zstd, lz4, snappy, gzip, producer (got 'brotli')",
        ),
        (
            "message.timestamp.type",
            "createtime",
            "must be one of CreateTime, LogAppendTime (got 'createtime')",
        ),
        (
            "retention.msec",
            "1",
            "unknown Kafka topic config 'retention.msec' (did you mean 'retention.ms'?); "
            "--allow-unknown-config passes it through unchecked",
        ),
    ],
)
def test_bad_values_say_what_is_allowed(key: str, raw: object, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        validate_value(key, raw)
    assert str(caught.value) == message


def test_unknown_configs_pass_through_only_when_allowed() -> None:
    assert validate_value("confluent.placement", "x", allow_unknown_config=True) == "x"
    assert validate_value("vendor.flag", True, allow_unknown_config=True) == "true"
    with pytest.raises(ValueError, match=r"unknown Kafka topic config 'vendor\.flag'"):
        validate_value("vendor.flag", True)


def test_catalogue_drops_configs_removed_in_kafka_4() -> None:
    assert "message.format.version" not in topicspec.KAFKA_TOPIC_CONFIGS
    assert "message.timestamp.difference.max.ms" not in topicspec.KAFKA_TOPIC_CONFIGS
    assert set(topicspec.COMPACTION_ONLY) == {
        "delete.retention.ms",
        "max.compaction.lag.ms",
        "min.cleanable.dirty.ratio",
        "min.compaction.lag.ms",
    }


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("twitter-topic", None),
        ("a.b_c-D9", None),
        ("", "must not be empty"),
        (".", "cannot be '.'"),
        ("..", "cannot be '..'"),
        ("x" * 250, "is 250 characters long; Kafka allows at most 249"),
        ("tweets/v1", "contains '/'; Kafka allows only ASCII letters, digits, '.', '_' and '-'"),
        (42, "must be a string (got int 42)"),
    ],
)
def test_topic_name_rules(name: object, problem: str | None) -> None:
    assert topic_name_problem(name) == problem


def test_dot_and_underscore_collide() -> None:
    assert topicspec.collision_key("a.b") == topicspec.collision_key("a_b")
    assert topicspec.collision_key("a-b") != topicspec.collision_key("a_b")


def test_coherence() -> None:
    ok = {
        "replication-factor": 3,
        "min.insync.replicas": "2",
        "cleanup.policy": "compact",
        "min.compaction.lag.ms": "1",
    }
    assert coherence_problems(ok) == []
    problems = dict(
        coherence_problems(
            {"replication-factor": 1, "min.insync.replicas": "2", "min.compaction.lag.ms": "5"}
        )
    )
    assert problems["min.insync.replicas"].startswith("is 2, greater than replication-factor 1")
    assert problems["min.compaction.lag.ms"] == (
        "applies only to compacted topics, but cleanup.policy is 'delete' "
        "(add compact to cleanup.policy or remove this key)"
    )
    lag = {"cleanup.policy": "compact", "min.compaction.lag.ms": "10", "max.compaction.lag.ms": "5"}
    assert coherence_problems(lag) == [
        ("min.compaction.lag.ms", "is 10, greater than max.compaction.lag.ms 5; Kafka refuses this")
    ]


def test_layer_and_source_are_values() -> None:
    source = Source("etcd", "/platformctl/envs/dev/topic-defaults", revision=7)
    layer = Layer(source, {"replication-factor": 1})
    assert layer == Layer(
        Source("etcd", "/platformctl/envs/dev/topic-defaults", revision=7), {"replication-factor": 1}
    )
    assert str(source) == "/platformctl/envs/dev/topic-defaults@7"
    assert (
        str(Source("derived", "replication-factor", note="lowered with RF"))
        == "replication-factor (lowered with RF)"
    )
