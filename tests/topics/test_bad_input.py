"""Every class of bad topic input: the exact message, exit code 2, and no mutating request to the broker.

Runs `topics apply --yes` against Apache Kafka (which would refuse some of these mistakes only once
sent, and accept others), recording every mutating admin call and comparing the cluster's topics before
and after.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from platformctl.adapters.kafka import Admin
from tests.conftest import RunCli
from tests.kafkawire import Wire
from tests.plugins.kafka import KafkaCalls, KafkaCluster

ONE = "topic: {name: a, partitions: 1, replication-factor: 1}\n"
HOCON_BAD_VALUES = """\
topic {
  name = a
  partitions = 1
  replication-factor = 1
  config {
    cleanup.policy = compacted
    min.cleanable.dirty.ratio = 1.5
    preallocate = yes
    compression.type = brotli
    message.timestamp.type = createtime
    retention.ms = -5
  }
}
"""
LONG = "x" * 250

# (id, files, extra args, expected error block with {dir} for the files' directory; braces doubled)
CASES: list[tuple[str, dict[str, str], tuple[str, ...], str]] = [
    (
        "hocon-syntax",
        {"t.conf": "topic {\n  name = a\n  partitions = 1\n"},
        (),
        "{dir}/t.conf:4: invalid HOCON: Expected '}}'",
    ),
    (
        "yaml-syntax",
        {"t.yaml": "topic:\n  name: a\n   partitions: 1\n"},
        (),
        "{dir}/t.yaml:3: invalid YAML: mapping values are not allowed here",
    ),
    (
        "unknown-key",
        {"t.yaml": "topic: {name: a, partitions: 1, replication-factor: 1, retention: 5}\n"},
        (),
        "{dir}/t.yaml:1: topic.retention: unknown key (expected name, partitions, replication-factor, config, key-schema, value-schema)",
    ),
    (
        "unknown-top-level-key",
        {"t.conf": "topic { name = a, partitions = 1, replication-factor = 1 }\ntopicz = []\n"},
        (),
        "{dir}/t.conf:2: topicz: unknown key (expected topic, topics or cluster-id)",
    ),
    (
        "wrong-type",
        {"t.conf": "topic {\n  name = a\n  partitions = nine\n  replication-factor = 1\n}\n"},
        (),
        "{dir}/t.conf:3: topic.partitions: must be an integer (got str 'nine')",
    ),
    (
        "missing-fields",
        {"t.yaml": "topics:\n  - {partitions: 1}\n"},
        (),
        "{dir}/t.yaml:2: topics[0].name: missing (required)\n"
        "{dir}/t.yaml:2: topics[0].replication-factor: missing (required)",
    ),
    (
        "illegal-names",
        {
            "t.yaml": "topics:\n  - {name: 'tweets/v1', partitions: 1, replication-factor: 1}\n"
            "  - {name: '..', partitions: 1, replication-factor: 1}\n"
            f"  - {{name: {LONG}, partitions: 1, replication-factor: 1}}\n"
        },
        (),
        "{dir}/t.yaml:2: topics[0].name: illegal topic name: contains '/'; Kafka allows only ASCII letters, "
        "digits, '.', '_' and '-'\n"
        "{dir}/t.yaml:3: topics[1].name: illegal topic name: cannot be '..'\n"
        "{dir}/t.yaml:4: topics[2].name: illegal topic name: is 250 characters long; Kafka allows at most 249",
    ),
    (
        "dot-underscore-collision",
        {
            "a.yaml": "topic: {name: metrics.cpu, partitions: 1, replication-factor: 1}\n",
            "b.yaml": "topic: {name: metrics_cpu, partitions: 1, replication-factor: 1}\n",
        },
        (),
        "{dir}/b.yaml:1: name: topic 'metrics_cpu' collides with 'metrics.cpu' ({dir}/a.yaml:1): Kafka treats "
        "'.' and '_' alike in metric names and refuses the second one; rename one of them",
    ),
    (
        "duplicate-across-files",
        {
            "a.conf": "topic { name = dup, partitions = 1, replication-factor = 1 }\n",
            "b.yaml": "topic: {name: dup, partitions: 2, replication-factor: 1}\n",
        },
        (),
        "{dir}/b.yaml:1: name: topic 'dup' is declared twice (first at {dir}/a.conf:1)",
    ),
    (
        "unknown-config",
        {
            "t.conf": "topic {\n  name = a\n  partitions = 1\n  replication-factor = 1\n  config {\n    retention.msec = 1000\n  }\n}\n"
        },
        (),
        "{dir}/t.conf:6: topic.config.retention.msec: unknown Kafka topic config 'retention.msec' (did you mean "
        "'retention.ms'?); --allow-unknown-config passes it through unchecked",
    ),
    (
        "bad-values",
        {"t.conf": HOCON_BAD_VALUES},
        (),
        "{dir}/t.conf:6: topic.config.cleanup.policy: must be delete, compact, or both comma-separated (got "
        "'compacted')\n"
        "{dir}/t.conf:7: topic.config.min.cleanable.dirty.ratio: must be a ratio between 0 and 1 (got 1.5)\n"
        "{dir}/t.conf:8: topic.config.preallocate: must be true or false (got str 'yes')\n"
        "{dir}/t.conf:9: topic.config.compression.type: must be one of uncompressed, zstd, lz4, snappy, gzip, "
        "producer (got 'brotli')\n"
        "{dir}/t.conf:10: topic.config.message.timestamp.type: must be one of CreateTime, LogAppendTime (got "
        "'createtime')\n"
        "{dir}/t.conf:11: topic.config.retention.ms: must be at least -1 (got -5)",
    ),
    (
        "min-insync-above-replication",
        {
            "t.yaml": "topic:\n  name: a\n  partitions: 1\n  replication-factor: 1\n  config:\n    min.insync.replicas: 2\n"
        },
        (),
        "{dir}/t.yaml:6: topic.config.min.insync.replicas: is 2, greater than replication-factor 1: every write "
        "with acks=all would fail (lower min.insync.replicas or raise replication-factor)",
    ),
    (
        "compaction-setting-without-compact",
        {
            "t.conf": "topic {\n  name = a\n  partitions = 1\n  replication-factor = 1\n  config {\n"
            "    cleanup.policy = delete\n    min.compaction.lag.ms = 3600000\n  }\n}\n"
        },
        (),
        "{dir}/t.conf:7: topic.config.min.compaction.lag.ms: applies only to compacted topics, but cleanup.policy "
        "is 'delete' (add compact to cleanup.policy or remove this key)",
    ),
    (
        "errors-in-every-file",
        {
            "a.conf": "topic { name = a, partitions = 0, replication-factor = 1 }\n",
            "b.yaml": "topic: {name: b, partitions: 1, replication-factor: true}\n",
        },
        (),
        "{dir}/a.conf:1: topic.partitions: must be at least 1 (got 0)\n"
        "{dir}/b.yaml:1: topic.replication-factor: must be an integer (got bool True)",
    ),
    (
        "set-bad-value",
        {"t.yaml": ONE},
        ("--set", "a.retention.ms=forever"),
        "command line: --set a.retention.ms: must be an integer (got str 'forever')",
    ),
    (
        "set-unknown-topic",
        {"t.yaml": ONE},
        ("--set", "b.partitions=3"),
        "command line: --set: no topic in the files matches 'b.partitions=3' (expected TOPIC.KEY=VALUE; "
        "TOPIC '*' means all)",
    ),
    (
        "set-no-equals",
        {"t.yaml": ONE},
        ("--set", "a.partitions"),
        "command line: --set: expected TOPIC.KEY=VALUE (got 'a.partitions')",
    ),
    (
        "set-incoherent",
        {"t.yaml": ONE},
        ("--set", "a.min.compaction.lag.ms=5"),
        "command line: --set a.min.compaction.lag.ms: applies only to compacted topics, but cleanup.policy is "
        "'delete' (add compact to cleanup.policy or remove this key)",
    ),
    (
        "wrong-cluster-flag",
        {"t.yaml": ONE},
        ("--cluster-id", "c29tZW90aGVyY2x1c3Rlcg"),
        "connected to Kafka cluster 'cGxhdGZvcm1jdGwtdGVzdA', but --cluster-id expects 'c29tZW90aGVyY2x1c3Rlcg'",
    ),
    (
        "wrong-cluster-file",
        {"t.yaml": "cluster-id: c29tZW90aGVyY2x1c3Rlcg\n" + ONE},
        (),
        "connected to Kafka cluster 'cGxhdGZvcm1jdGwtdGVzdA', but {dir}/t.yaml (cluster-id) expects "
        "'c29tZW90aGVyY2x1c3Rlcg'",
    ),
    (
        "not-a-topic-file",
        {"t.txt": "hello\n"},
        (),
        "{dir}/t.txt: unknown file type (expected .conf for HOCON, .yaml or .yml)",
    ),
    ("empty-directory", {}, (), "{dir}: no topic files (*.conf, *.yaml, *.yml) in directory"),
]


def _error_block(stderr: str) -> str:
    lines = stderr.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("error: "))
    block = []
    for line in lines[start:]:
        if line.startswith("hint: "):
            break
        block.append(line)
    return "\n".join(block).removeprefix("error: ")


@pytest.mark.parametrize(("files", "args", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_reported_exactly_and_nothing_is_sent(
    run_cli: RunCli,
    kafka: KafkaCluster,
    kafka_calls: KafkaCalls,
    tmp_path: Path,
    files: dict[str, str],
    args: tuple[str, ...],
    expected: str,
) -> None:
    folder = tmp_path / "topics"
    folder.mkdir()
    for name, body in files.items():
        (folder / name).write_text(body)
    targets = [str(folder / name) for name in files] or [str(folder)]
    before = Admin(kafka.bootstrap, timeout=5).describe(["a", "b"]).names

    result = run_cli("topics", "apply", *targets, "--bootstrap-server", kafka.bootstrap, "--yes", *args)

    assert result.exit_code == 2, result.stderr
    assert _error_block(result.stderr) == expected.format(dir=folder)
    assert "Traceback" not in result.stderr
    assert kafka_calls.calls == []
    assert Admin(kafka.bootstrap, timeout=5).describe(["a", "b"]).names == before


def test_missing_bootstrap_server_is_input_error(run_cli: RunCli, tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(ONE)
    result = run_cli("topics", "plan", str(path))
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "error: no Kafka to talk to: give --bootstrap-server HOST:PORT, or run `platformctl up` (no platform to "
        f"forward to: kube context 'minikube' not found in kubeconfig {os.environ['KUBECONFIG']} (have: none))",
        "hint: or set PLATFORMCTL_BOOTSTRAP_SERVER, or kafka.bootstrap-server in platformctl.yaml",
    ]


def test_impossible_change_blocks_apply_with_reason(
    run_cli: RunCli, kafka: KafkaCluster, kafka_calls: KafkaCalls, tmp_path: Path
) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("topic: {name: shrink-me, partitions: 4, replication-factor: 1}\n")
    server = ("--bootstrap-server", kafka.bootstrap)
    assert run_cli("topics", "apply", str(path), *server, "--yes").exit_code == 0
    path.write_text("topic: {name: shrink-me, partitions: 2, replication-factor: 1}\n")
    kafka_calls.calls.clear()
    for command in ("plan", "apply"):
        result = run_cli("topics", command, str(path), *server, *(["--yes"] if command == "apply" else []))
        assert result.exit_code == 2
        applied = ", nothing applied" if command == "apply" else ""  # plan never applies anything
        assert _error_block(result.stderr) == (
            f"impossible change(s){applied}: shrink-me: partitions: Kafka cannot remove partitions (4 -> 2): "
            "set partitions to 4, or delete and recreate the topic (its data is lost)"
        )
        assert result.stdout.startswith(
            "! shrink-me\n"
            f"    ! partitions  4 -> 2  {path}:1\n"
            "        Kafka cannot remove partitions (4 -> 2): set partitions to 4, or delete and recreate the topic"
        )
    assert kafka_calls.calls == []


NUMBER_5000 = "9" * 5000


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ("--set", f"a.retention.ms={NUMBER_5000}"),
            "command line: --set a.retention.ms: must be an integer of at most 19 digits (got str "
            f"'{'9' * 39}... (5002 characters))",
        ),
        (
            ("--set", f"a.partitions={NUMBER_5000}"),
            "command line: --set a.partitions: must be at most 100000, the most partitions a Kafka client can "
            "request (got a 5000-digit number)",
        ),
    ],
    ids=["config", "partitions"],
)
def test_set_with_more_digits_than_python_converts(
    run_cli: RunCli, kafka: KafkaCluster, kafka_calls: KafkaCalls, tmp_path: Path, args: tuple[str, ...], expected: str
) -> None:
    """Python refuses to convert more than 4,300 digits (a ValueError that was an internal error)."""
    path = tmp_path / "t.yaml"
    path.write_text(ONE)
    result = run_cli("topics", "apply", str(path), "--bootstrap-server", kafka.bootstrap, "--yes", *args)
    assert result.exit_code == 2, result.stderr
    assert _error_block(result.stderr) == expected
    assert kafka_calls.calls == []


def test_overrides_set_with_more_digits_than_python_converts(run_cli: RunCli, etcd_endpoint: str) -> None:
    result = run_cli("overrides", "set", "a", f"retention.ms={NUMBER_5000}", "--etcd-endpoint", etcd_endpoint)
    assert result.exit_code == 2, result.stderr
    assert _error_block(result.stderr) == (
        "command line: retention.ms: must be an integer of at most 19 digits (got str "
        f"'{'9' * 39}... (5002 characters))"
    )


def test_an_override_beyond_the_client_limit_is_refused_before_the_lock_and_no_intent_is_written(
    run_cli: RunCli, kafka: KafkaCluster, kafka_wire: Wire, etcd_endpoint: str, etcd_env: str, tmp_path: Path
) -> None:
    """An override written by hand (etcdctl) past what a Kafka client can request: once, apply took the
    lock, wrote an intent for the topic and then crashed building the request, and `--prune` later deleted
    a topic of that name that platformctl never created. Now the plan refuses it: nothing is written."""
    from platformctl.adapters import etcd
    from platformctl.adapters.etcd import EtcdStore

    store = EtcdStore(etcd_endpoint)
    key = etcd.topic_key(etcd_env, "beyond")
    store.put(key, {"partitions": 200_000}, expect_revision=0)
    path = tmp_path / "t.yaml"
    path.write_text("topic: {name: beyond, partitions: 1, replication-factor: 1}\n")

    result = run_cli(
        "--env", etcd_env, "topics", "apply", str(path), "--yes",
        "--bootstrap-server", kafka.bootstrap, "--etcd-endpoint", etcd_endpoint,
    )  # fmt: skip

    assert result.exit_code == 2, result.stderr
    assert _error_block(result.stderr) == (
        f"{key}: partitions: must be at most 100000, the most partitions a Kafka client can request (got 200000)"
    )
    assert store.list(etcd.env_prefix(etcd_env)) == [store.get(key)]  # no lock, no intent: only the override
    assert kafka_wire.mutating == []


def test_the_kafka_adapter_refuses_a_request_the_client_cannot_build(kafka: KafkaCluster, kafka_wire: Wire) -> None:
    """Below the plan's checks: librdkafka's ValueError becomes one clear fault, and nothing is sent."""
    from platformctl.adapters.kafka import NewTopicRequest
    from platformctl.errors import PlatformError

    admin = Admin(kafka.bootstrap, timeout=5)
    with pytest.raises(PlatformError, match=r"the Kafka client refused creating topics: .*num_partitions.*nothing was"):
        admin.create_topics([NewTopicRequest("too-many-partitions", 200_000, 1, {})])
    assert kafka_wire.mutating == []
