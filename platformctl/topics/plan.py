"""Declarative topics: the effective spec of every topic, and the plan against the cluster.

The order is topicctl's: validate everything, then diff (here), then mutate (execute.py). Nothing here
imports Typer or confluent_kafka; the CLI parses options and the `platformctl.adapters.kafka.Admin` adapter
talks to the broker.

Public API (used by the CLI and by the environment-overrides code):

    load_files(paths, allow_unknown_config=False) -> list[TopicSpec]
        Read and validate topic files/directories (`platformctl.topics.files`); raises InputError(s).
    effective(spec, layers=()) -> EffectiveTopic            (defined in topics/layers.py, exported here)
        The file spec, then each `Layer` in order (later wins). Every value keeps its `Source` and the
        values it replaced. A layer that lowers replication-factor below min.insync.replicas also lowers
        min.insync.replicas, as a `derived` value whose note says why (shown in the plan).
    plan(specs, cluster, layers={}, *, destructive=False, allow_repartition=False, prune=False,
         managed=(), allow_unknown_config=False, expected_cluster_id=None) -> Plan
        Classify every key of every topic against `cluster` (a `kafka.ClusterState`, from
        `Admin.describe(names)`). `layers` maps topic name -> layers applied after the file (etcd
        topic-defaults, etcd per-topic, then `--set` as a final `cli` layer). Raises InputError(s) for
        bad layer values or incoherent effective specs, WrongTargetError for the wrong cluster.

Prune deletes only topics that are on the cluster, named in `managed` (the names platformctl records as
its own, e.g. from etcd), and absent from the files; never anything else.

A plan's execution (`execute.apply`): topics/execute.py. Plans and results as text: topics/view.py.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from platformctl.errors import InputError, InputErrors, WrongTargetError
from platformctl.topics import spec as topicspec
from platformctl.topics.layers import EffectiveTopic, Scalar, Value, check_layers, effective, layer_error
from platformctl.topics.provenance import Layer, Source
from platformctl.topics.spec import TopicSpec

if TYPE_CHECKING:
    from platformctl.adapters.kafka import ClusterState

__all__ = [
    "Change",
    "EffectiveTopic",
    "Layer",
    "Plan",
    "Source",
    "TopicPlan",
    "TopicSpec",
    "Value",
    "effective",
    "load_files",
    "plan",
]


def load_files(paths: Sequence[str | Path], allow_unknown_config: bool = False) -> list[TopicSpec]:
    """Every topic declared in these files/directories; raises `InputError(s)` naming each problem."""
    from platformctl.topics import files as topicfile

    return topicfile.load(paths, allow_unknown_config=allow_unknown_config)


# --- plan -------------------------------------------------------------------------------------------

Action = Literal["create", "set", "delete", "extra", "add-partitions", "unchanged", "impossible"]
TopicAction = Literal["create", "change", "unchanged", "impossible", "prune"]


@dataclass(frozen=True)
class Change:
    """One key of one topic: what the cluster has, what is desired, and what platformctl will do."""

    key: str
    action: Action
    current: Scalar | None
    desired: Value | None
    reason: str | None = None  # for impossible: why, and what to do; for extra: how to remove it

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "action": self.action,
            "current": self.current,
            "desired": self.desired.to_json() if self.desired is not None else None,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class TopicPlan:
    name: str
    action: TopicAction
    changes: tuple[Change, ...]
    topic: EffectiveTopic | None  # None for a topic to prune

    @property
    def mutating(self) -> bool:
        return self.action in ("create", "prune") or any(
            c.action in ("set", "delete", "add-partitions") for c in self.changes
        )

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "action": self.action, "changes": [c.to_json() for c in self.changes]}


@dataclass(frozen=True)
class Plan:
    topics: tuple[TopicPlan, ...]
    cluster_id: str | None
    digest: str = ""

    @property
    def blocked(self) -> list[TopicPlan]:
        return [t for t in self.topics if t.action == "impossible"]

    @property
    def mutating(self) -> bool:
        return any(t.mutating for t in self.topics)

    def counts(self) -> dict[str, int]:
        counts = {a: 0 for a in ("create", "change", "unchanged", "impossible", "prune")}
        for t in self.topics:
            counts[t.action] += 1
        return counts

    def to_json(self) -> dict[str, Any]:
        return {
            "cluster_id": self.cluster_id,
            "digest": self.digest,
            "summary": self.counts(),
            "topics": [t.to_json() for t in self.topics],
        }


def plan(
    specs: Sequence[TopicSpec],
    cluster: ClusterState,
    layers: Mapping[str, Sequence[Layer]] | None = None,
    *,
    destructive: bool = False,
    allow_repartition: bool = False,
    prune: bool = False,
    managed: Collection[str] = (),
    allow_unknown_config: bool = False,
    expected_cluster_id: tuple[str, str] | None = None,
) -> Plan:
    """Compare the effective specs with the cluster; see the module docstring.

    `expected_cluster_id` is (id, where it was named); files may name one too (`cluster-id`).
    """
    layers = layers or {}
    _check_cluster_id(specs, cluster, expected_cluster_id)
    tops = check_inputs(specs, layers, allow_unknown_config=allow_unknown_config)

    collisions = _collision_index(cluster.names) if any(t.name not in cluster.topics for t in tops) else {}
    topic_plans = [
        _plan_topic(top, cluster, collisions, destructive=destructive, allow_repartition=allow_repartition)
        for top in tops
    ]
    if prune:
        declared = {s.name for s in specs}
        for name in sorted(set(managed) & cluster.names - declared):
            topic_plans.append(TopicPlan(name, "prune", (), None))
    result = Plan(tuple(topic_plans), cluster.cluster_id)
    return Plan(result.topics, result.cluster_id, digest(result))


def check_inputs(
    specs: Sequence[TopicSpec], layers: Mapping[str, Sequence[Layer]], *, allow_unknown_config: bool = False
) -> list[EffectiveTopic]:
    """The effective spec of every topic, if every layer is valid and each topic's values agree with each
    other (`min.insync.replicas` above a replication factor an override lowered, ...); InputError(s) if not.

    Needs no cluster: `topicrun.prepare` calls it before Kafka is contacted, so bad input is exit 2 at once
    even when Kafka is far away or gone; `plan` calls it again for callers that plan directly.
    """
    errors = check_layers(specs, layers, allow_unknown_config)
    InputErrors.raise_if_any(errors)
    tops = [effective(spec, layers.get(spec.name, ())) for spec in specs]
    for top in tops:
        flat = {k: v.value for k, v in top.values.items()}
        for key, message in topicspec.coherence_problems(flat):
            value = top.values.get(key) or top.values["replication-factor"]
            errors.append(layer_error(value.source, f"{top.name}.{key}", message))
    InputErrors.raise_if_any(errors)
    return tops


def check_cluster_ids(specs: Sequence[TopicSpec], expected: tuple[str, str] | None) -> None:
    """The cluster ids a run is given (a flag or setting, and the files' `cluster-id`) must agree: no
    cluster has two ids, so a disagreement is bad input, refused before Kafka is contacted."""
    wanted: list[tuple[str, str]] = [expected] if expected else []
    wanted += [(s.cluster_id, f"{s.path} (cluster-id)") for s in specs if s.cluster_id]
    for cluster_id, where in wanted[1:]:
        if cluster_id != wanted[0][0]:
            raise InputError(
                f"{wanted[0][1]} expects Kafka cluster {wanted[0][0]!r}, but {where} expects {cluster_id!r}: "
                "no cluster has both",
                hint="give the id of the one cluster these files are meant for",
            )


def _check_cluster_id(
    specs: Sequence[TopicSpec], cluster: ClusterState, expected: tuple[str, str] | None
) -> None:
    wanted: list[tuple[str, str]] = [expected] if expected else []
    wanted += [(s.cluster_id, f"{s.path} (cluster-id)") for s in specs if s.cluster_id]
    for cluster_id, where in wanted:
        if cluster.cluster_id != cluster_id:
            raise WrongTargetError(
                f"connected to Kafka cluster {cluster.cluster_id!r}, but {where} expects {cluster_id!r}",
                hint="check --bootstrap-server: this is not the intended cluster",
            )


def _collision_index(names: Collection[str]) -> dict[str, list[str]]:
    """The cluster's topic names by `collision_key`, built once per plan so that checking each new topic
    is one lookup (a scan of every cluster name per new topic made planning quadratic)."""
    index: dict[str, list[str]] = {}
    for name in sorted(names):
        index.setdefault(topicspec.collision_key(name), []).append(name)
    return index


def _plan_topic(
    top: EffectiveTopic,
    cluster: ClusterState,
    collisions: Mapping[str, list[str]],
    *,
    destructive: bool,
    allow_repartition: bool,
) -> TopicPlan:
    current = cluster.topics.get(top.name)
    if current is None:
        return _plan_create(top, cluster, collisions)
    changes: list[Change] = []
    blocked = False
    rf, parts = top.values["replication-factor"], top.values["partitions"]
    if rf.value != current.replication_factor:
        blocked = True
        changes.append(
            Change(
                "replication-factor",
                "impossible",
                current.replication_factor,
                rf,
                f"replication factor is {current.replication_factor} on the cluster; changing it means "
                "reassigning every partition, which platformctl does not do: use "
                "kafka-reassign-partitions.sh or set replication-factor back to "
                f"{current.replication_factor}",
            )
        )
    else:
        changes.append(Change("replication-factor", "unchanged", current.replication_factor, rf))
    desired_parts = int(parts.value)
    if desired_parts < current.partitions:
        blocked = True
        changes.append(
            Change(
                "partitions",
                "impossible",
                current.partitions,
                parts,
                f"Kafka cannot remove partitions ({current.partitions} -> {desired_parts}): set partitions "
                f"to {current.partitions}, or delete and recreate the topic (its data is lost)",
            )
        )
    elif desired_parts > current.partitions:
        compacted = "compact" in current.config.get("cleanup.policy", "").split(
            ","
        ) or topicspec.has_compaction({k: v.value for k, v in top.values.items()})
        if compacted and not allow_repartition:
            blocked = True
            changes.append(
                Change(
                    "partitions",
                    "impossible",
                    current.partitions,
                    parts,
                    "adding partitions to a compacted topic moves keys to other partitions, so old and new "
                    "values of a key live apart and compaction keeps both: pass --allow-repartition if "
                    "consumers can cope",
                )
            )
        else:
            changes.append(Change("partitions", "add-partitions", current.partitions, parts))
    else:
        changes.append(Change("partitions", "unchanged", current.partitions, parts))

    desired = top.config
    for key in sorted(set(desired) | set(current.config)):
        have = current.config.get(key)
        if key in desired:
            value = top.values[key]
            if have is not None and topicspec.normalize_current(key, have) == desired[key]:
                changes.append(Change(key, "unchanged", have, value))
            else:
                changes.append(Change(key, "set", have, value))
        elif destructive:
            changes.append(Change(key, "delete", have, None))
        else:
            changes.append(
                Change(
                    key,
                    "extra",
                    have,
                    None,
                    "set on the cluster but not in the files; --destructive removes it",
                )
            )
    changes.sort(key=_key_order)
    if blocked:
        action: TopicAction = "impossible"
    elif any(c.action in ("set", "delete", "add-partitions") for c in changes):
        action = "change"
    else:
        action = "unchanged"
    return TopicPlan(top.name, action, tuple(changes), top)


def _plan_create(top: EffectiveTopic, cluster: ClusterState, collisions: Mapping[str, list[str]]) -> TopicPlan:
    changes = [Change(key, "create", None, value) for key, value in _ordered(top.values)]
    reasons: list[Change] = []
    same = collisions.get(topicspec.collision_key(top.name), ())
    clash = next((n for n in same if n != top.name), None)
    if clash is not None:
        reasons.append(
            Change(
                "name",
                "impossible",
                clash,
                None,
                f"collides with existing topic {clash!r}: Kafka treats '.' and '_' alike in metric names "
                "and refuses it; choose another name",
            )
        )
    if cluster.brokers and top.replication_factor > cluster.brokers:
        reasons.append(
            Change(
                "replication-factor",
                "impossible",
                None,
                top.values["replication-factor"],
                f"the cluster has {cluster.brokers} broker(s), fewer than replication-factor "
                f"{top.replication_factor}: lower it for this environment with an override "
                f"(e.g. --set {top.name}.replication-factor={cluster.brokers})",
            )
        )
    if reasons:
        return TopicPlan(top.name, "impossible", (*reasons, *changes), top)
    return TopicPlan(top.name, "create", tuple(changes), top)


def _key_order(change: Change) -> tuple[int, str]:
    fields = topicspec.TOPIC_FIELDS
    return (fields.index(change.key), "") if change.key in fields else (len(fields), change.key)


def _ordered(values: Mapping[str, Value]) -> list[tuple[str, Value]]:
    fields = [(k, values[k]) for k in topicspec.TOPIC_FIELDS if k in values]
    return fields + sorted((k, v) for k, v in values.items() if k not in topicspec.TOPIC_FIELDS)


def digest(result: Plan) -> str:
    """A short hash of what the plan would do (not of the provenance), recorded with applied topics."""
    body = [
        [t.name, t.action, [[c.key, c.action, c.desired.value if c.desired else None] for c in t.changes]]
        for t in result.topics
    ]
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
