"""A plan's changes sent to Kafka: one batched request per kind of change, and what Kafka accepted.

`apply(plan, admin, *, on_applied=None, before_request=None) -> Applied` executes a plan that is not
blocked: CreateTopics (in chunks for large sets), one CreatePartitions, one IncrementalAlterConfigs, one
DeleteTopics (prune), then it polls metadata until Kafka shows what it accepted. `on_applied(topic,
digest)` is called for each topic created or changed, with the plan's digest (the records in etcd are
written from it); `before_request()` before each mutating request (it raises to stop the run: the
environment lock was lost). A refusal does not stop the other changes: `PartialApply` (exit 1) lists the
topics Kafka refused once the others are done, and a re-run converges.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from platformctl.errors import InputError, PlatformError

if TYPE_CHECKING:
    from platformctl.adapters.kafka import Admin
    from platformctl.topics.layers import EffectiveTopic
    from platformctl.topics.plan import Plan


@dataclass
class Applied:
    """What a run changed, per step, for the summary."""

    created: list[str] = field(default_factory=list)
    partitions: dict[str, int] = field(default_factory=dict)
    configured: dict[str, list[str]] = field(default_factory=dict)  # topic -> "set key=value" / "delete key"
    pruned: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "partitions": self.partitions,
            "configured": self.configured,
            "pruned": self.pruned,
        }


def apply(
    plan: Plan,
    admin: Admin,
    *,
    on_applied: Callable[[EffectiveTopic, str], None] | None = None,
    before_request: Callable[[], None] | None = None,
) -> Applied:
    """Execute `plan` with one batched call per kind of change; see the module docstring."""
    from platformctl.adapters.kafka import ConfigChange, NewTopicRequest

    def ready() -> None:
        if before_request is not None:
            before_request()

    if plan.blocked:
        raise InputError(
            "the plan has impossible changes for: " + ", ".join(t.name for t in plan.blocked),
            hint="fix them as the plan says, then run again",
        )
    done = Applied()
    failures: dict[str, str] = {}
    creates = [t for t in plan.topics if t.action == "create" and t.topic is not None]
    if creates:
        failures |= admin.create_topics(
            [
                NewTopicRequest(t.name, t.topic.partitions, t.topic.replication_factor, t.topic.config)
                for t in creates
                if t.topic is not None
            ],
            before_request=before_request,
        )
        done.created = [t.name for t in creates if t.name not in failures]
    changing = [t for t in plan.topics if t.action == "change"]
    totals = {
        t.name: int(c.desired.value)
        for t in changing
        for c in t.changes
        if c.action == "add-partitions" and c.desired is not None
    }
    if totals:
        ready()
        failures |= admin.create_partitions(totals)
        done.partitions = {n: p for n, p in totals.items() if n not in failures}
    config_changes: dict[str, list[ConfigChange]] = {}
    for t in changing:
        if t.name in failures:
            continue
        for c in t.changes:
            if c.action == "set" and c.desired is not None:
                config_changes.setdefault(t.name, []).append(ConfigChange(c.key, str(c.desired.value)))
            elif c.action == "delete":
                config_changes.setdefault(t.name, []).append(ConfigChange(c.key, None))
    if config_changes:
        ready()
        failures |= admin.alter_configs(config_changes)
        done.configured = {
            name: [f"set {c.key}={c.value}" if c.value is not None else f"delete {c.key}" for c in changes]
            for name, changes in config_changes.items()
            if name not in failures
        }
    prunes = [t.name for t in plan.topics if t.action == "prune"]
    if prunes:
        ready()
        failures |= admin.delete_topics(prunes)
        done.pruned = [n for n in prunes if n not in failures]
    created = set(done.created)  # a set: `in` a list of 10,000 names per topic made this quadratic
    expect = {t.name: t.topic.partitions for t in creates if t.topic is not None and t.name in created}
    expect |= done.partitions
    admin.wait_for(expect, done.pruned)
    if on_applied is not None:
        # A topic with any refused step is not "applied as planned": its record stays an intent.
        touched = (set(done.created) | set(done.partitions) | set(done.configured)) - set(failures)
        for t in plan.topics:
            if t.name in touched and t.topic is not None:
                on_applied(t.topic, plan.digest)
    if failures:
        first = sorted(failures.values())
        more = f" (and {len(first) - 1} more)" if len(first) > 1 else ""
        raise PartialApply(
            f"Kafka refused {first[0]}{more}",
            hint="; ".join(first[1:4]) if len(first) > 1 else "fix the cause and re-run: finished changes are kept",
            done=done,
        )
    return done


class PartialApply(PlatformError):
    """Kafka refused part of an apply; `done` is what it did accept (kept, and recorded as such)."""

    def __init__(self, message: str, *, hint: str, done: Applied) -> None:
        super().__init__(message, hint=hint)
        self.done = done
