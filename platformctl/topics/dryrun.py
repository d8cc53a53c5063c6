"""Kafka's own verdict on a plan, asked before anything changes: CreateTopics, CreatePartitions and
IncrementalAlterConfigs with `validate_only` (a dry run: the broker checks the request as for the real
thing, including its CreateTopicPolicy/AlterConfigPolicy, and changes nothing).

platformctl validates topic files itself, but only Kafka knows its brokers (how many are registered),
its policies, and the configs it accepts (`--allow-unknown-config` passes names platformctl does not
know). Without the dry run, a change Kafka refuses is found halfway through an apply, after the rest of
the batch was made: half-applied. So `topics plan` and `topics apply` send the plan's creates, partition
increases and config changes once with `validate_only` (one request of each kind, chunked like the real
creates) before showing the plan, and a topic Kafka would refuse becomes an impossible change with
Kafka's reason: `plan` exits 2, `apply` sends nothing. A plan with nothing to change sends nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING

from platformctl.topics import plan as topicplan
from platformctl.topics.plan import Change, Plan, TopicPlan

if TYPE_CHECKING:
    from platformctl.adapters.kafka import Admin


def refusals(plan: Plan, admin: Admin) -> dict[str, str]:
    """{topic: what Kafka would refuse} for the plan's creates, partition increases and config changes."""
    from platformctl.adapters.kafka import ConfigChange, NewTopicRequest

    creates = [
        NewTopicRequest(t.name, t.topic.partitions, t.topic.replication_factor, t.topic.config)
        for t in plan.topics
        if t.action == "create" and t.topic is not None
    ]
    changing = [t for t in plan.topics if t.action == "change"]
    totals = {
        t.name: int(c.desired.value)
        for t in changing
        for c in t.changes
        if c.action == "add-partitions" and c.desired is not None
    }
    configs: dict[str, list[ConfigChange]] = {}
    for t in changing:
        for c in t.changes:
            if c.action == "set" and c.desired is not None:
                configs.setdefault(t.name, []).append(ConfigChange(c.key, str(c.desired.value)))
            elif c.action == "delete":
                configs.setdefault(t.name, []).append(ConfigChange(c.key, None))
    refused: dict[str, str] = {}
    for name, reason in [
        *admin.create_topics(creates, validate_only=True).items(),
        *admin.create_partitions(totals, validate_only=True).items(),
        *admin.alter_configs(configs, validate_only=True).items(),
    ]:
        refused.setdefault(name, reason)
    return refused


def with_refusals(plan: Plan, refused: Mapping[str, str]) -> Plan:
    """The plan with each topic Kafka would refuse made impossible, Kafka's answer as the reason."""
    if not refused:
        return plan
    marked: list[TopicPlan] = []
    for t in plan.topics:
        reason = refused.get(t.name)
        if reason is None:
            marked.append(t)
            continue
        why = Change(
            "kafka",
            "impossible",
            None,
            None,
            f"Kafka refuses {reason} (asked with validate_only; nothing was changed)",
        )
        marked.append(dataclasses.replace(t, action="impossible", changes=(why, *t.changes)))
    result = Plan(tuple(marked), plan.cluster_id)
    return Plan(result.topics, result.cluster_id, topicplan.digest(result))


def checked(plan: Plan, admin: Admin) -> Plan:
    """`plan`, with what Kafka would refuse marked impossible (see the module docstring)."""
    if not plan.mutating:
        return plan
    return with_refusals(plan, refusals(plan, admin))
