"""Topic files: HOCON and YAML give the same specs, with the line of every value; layering rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from platformctl.errors import InputError
from platformctl.topics import execute
from platformctl.topics import plan as topicplan
from platformctl.topics.hocon import key_lines
from platformctl.topics.provenance import Layer, Source
from tests.plugins.kafka import KafkaCluster

HOCON = """\
// several topics
topics = [
  {
    name = "orders"   # quoted
    partitions = 6
    replication-factor = 3
    config { "cleanup.policy" = "compact,delete", min.compaction.lag.ms = 60000 }
  },
  { name = payments, partitions = 3, replication-factor = 3
    config {
      retention.ms = ${?RETENTION_UNSET} 604800000
    }
  }
]
"""
YAML = """\
topics:
  - name: orders
    partitions: 6
    replication-factor: 3
    config:
      cleanup.policy: [delete, compact]
      min:
        compaction.lag.ms: 60000
  - name: payments
    partitions: 3
    replication-factor: 3
    config: {retention.ms: 604800000}
"""


def test_hocon_and_yaml_give_the_same_topics(tmp_path: Path) -> None:
    (tmp_path / "a.conf").write_text(HOCON)
    (tmp_path / "b.yaml").write_text(YAML)
    from_hocon = topicplan.load_files([tmp_path / "a.conf"])
    from_yaml = topicplan.load_files([tmp_path / "b.yaml"])
    assert [(s.name, s.partitions, s.replication_factor, dict(s.config)) for s in from_hocon] == [
        (s.name, s.partitions, s.replication_factor, dict(s.config)) for s in from_yaml
    ]
    assert from_hocon[0].config == {"cleanup.policy": "compact,delete", "min.compaction.lag.ms": "60000"}
    assert from_hocon[0].sources["min.compaction.lag.ms"].ref == f"{tmp_path / 'a.conf'}:7"
    assert from_hocon[1].sources["retention.ms"].ref == f"{tmp_path / 'a.conf'}:11"
    assert from_yaml[0].sources["min.compaction.lag.ms"].ref == f"{tmp_path / 'b.yaml'}:8"
    assert from_hocon[1].line == 9


def test_hocon_line_scanner_follows_lists_quotes_and_comments() -> None:
    lines = key_lines(HOCON, Path("t.conf"))
    assert lines.exact(("topics", 0, "name")) == 4
    assert lines.exact(("topics", 0, "config", "cleanup.policy")) == 7
    assert lines.exact(("topics", 0, "config", "min", "compaction", "lag", "ms")) == 7
    assert lines.exact(("topics", 1, "partitions")) == 9
    assert lines.exact(("topics", 1, "config", "retention", "ms")) == 11


def test_reference_example_and_directories(tmp_path: Path) -> None:
    example = Path(__file__).parents[2] / "examples" / "twitter-topic.conf"
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "twitter-topic.conf").write_text(example.read_text())
    (tmp_path / "more.yml").write_text("topic: {name: other, partitions: 1, replication-factor: 1}\n")
    (tmp_path / "README.md").write_text("not a topic file\n")
    specs = topicplan.load_files([tmp_path])
    assert [s.name for s in specs] == ["other", "twitter-topic"]
    tweets = specs[1]
    assert (tweets.partitions, tweets.replication_factor) == (9, 3)
    assert tweets.config["retention.ms"] == "-1"


def test_allow_unknown_config_passes_keys_through(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(
        "topic: {name: a, partitions: 1, replication-factor: 1, config: {confluent.tier.enable: true}}\n"
    )
    with pytest.raises(InputError, match="unknown Kafka topic config"):
        topicplan.load_files([path])
    (spec,) = topicplan.load_files([path], allow_unknown_config=True)
    assert spec.config == {"confluent.tier.enable": "true"}


def _spec(tmp_path: Path, config: str = "min.insync.replicas: 2") -> topicplan.TopicSpec:
    path = tmp_path / "t.yaml"
    path.write_text(f"topic: {{name: t, partitions: 3, replication-factor: 3, config: {{{config}}}}}\n")
    return topicplan.load_files([path])[0]


def test_layers_win_in_order_and_keep_what_they_replaced(tmp_path: Path) -> None:
    defaults = Layer(Source("etcd", "/platformctl/envs/dev/topic-defaults", 5), {"replication-factor": 2})
    per_topic = Layer(Source("etcd", "/platformctl/envs/dev/topics/t", 9), {"replication-factor": 1})
    top = topicplan.effective(_spec(tmp_path), [defaults, per_topic])
    rf = top.values["replication-factor"]
    assert (rf.value, rf.source) == (1, per_topic.source)
    assert [v for v, _ in rf.replaced] == [3, 2]
    misr = top.values["min.insync.replicas"]
    assert misr.value == "1"
    assert misr.source.kind == "derived"
    assert misr.source.note == (
        "lowered to replication-factor 1 set by /platformctl/envs/dev/topics/t: "
        "min.insync.replicas 2 would reject every acks=all write"
    )
    assert [v for v, _ in misr.replaced] == ["2"]


def test_a_layer_that_sets_min_insync_itself_is_not_silently_lowered(tmp_path: Path) -> None:
    from platformctl.adapters.kafka import ClusterState

    layer = Layer(Source("cli", "--set"), {"replication-factor": 1, "min.insync.replicas": "2"})
    empty = ClusterState(cluster_id="x", brokers=1, topics={}, names=frozenset())
    with pytest.raises(InputError) as caught:
        topicplan.plan([_spec(tmp_path)], empty, {"t": [layer]})
    assert str(caught.value).startswith("command line: --set t.min.insync.replicas: is 2, greater than")


def test_on_applied_gets_the_plan_digest(tmp_path: Path, kafka_cluster3: KafkaCluster) -> None:
    from platformctl.adapters.kafka import Admin

    admin = Admin(kafka_cluster3.bootstrap, timeout=15)
    spec = _spec(tmp_path)  # replication factor 3: production's shape
    plan = topicplan.plan([spec], admin.describe(["t"]))
    seen: list[tuple[str, str]] = []
    execute.apply(plan, admin, on_applied=lambda top, digest: seen.append((top.name, digest)))
    assert seen == [("t", plan.digest)]
    assert len(plan.digest) == 16
