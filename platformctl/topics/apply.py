"""`topics apply` once its plan is shown: the lock, the records, Kafka, then the Schema Registry, in one call.

The command prints the plan and asks; everything after the answer is decided here, so the order an apply
keeps reads in one place and no command holds it: take the environment lock (only now, so a run with
nothing to apply writes nothing to etcd), plan again under it when the plan may be stale, refuse to go on
if the plan is no longer the one shown, write the intents, change Kafka, mark the records applied, and
only then register schemas (a subject is for a topic that exists by then). A run with nothing to change
still settles the intent records earlier runs left (`settle`). No Typer here.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from platformctl import hints
from platformctl.errors import PlatformError
from platformctl.topics import run as topicrun
from platformctl.topics.execute import Applied
from platformctl.topics.records import RecordFixes
from platformctl.topics.schemas import run as schemarun

if TYPE_CHECKING:
    from platformctl.topics.run import Outcome, Prepared
    from platformctl.topics.schemas.plan import SchemaApplied
    from platformctl.topics.schemas.run import SchemaRun


@dataclass(frozen=True)
class Done:
    """What an apply did: the plan it went by (made again under the lock when it had to be), Kafka's
    changes and the records, the schemas registered, and the schema intents it completed."""

    prepared: Prepared
    outcome: Outcome
    schemas: SchemaApplied | None = None
    schema_records: list[str] = field(default_factory=list)


def raise_if_blocked(prepared: Prepared, schemas: SchemaRun | None) -> None:
    """An impossible change or an incompatible schema stops the apply before anything is written."""
    topicrun.raise_if_blocked(prepared.plan)
    schemarun.raise_if_blocked(schemas)


def mutating(prepared: Prepared, schemas: SchemaRun | None) -> bool:
    """Whether the plan changes Kafka or the registry (then the command asks first)."""
    return prepared.plan.mutating or (schemas is not None and schemas.plan.mutating)


def settle(stack: contextlib.ExitStack, prepared: Prepared, schemas: SchemaRun | None) -> Done:
    """Nothing for Kafka or the registry: complete or remove the intent records earlier runs left, an
    etcd-only write under the lock (held until `stack` closes); nothing at all when there are none."""
    fixes = RecordFixes()
    completed: list[str] = []
    stale = schemarun.stale_intents(schemas)
    if topicrun.record_fixes(prepared) or stale:
        prepared = _relock(stack, prepared)
        if topicrun.record_fixes(prepared):
            fixes = topicrun.settle_records(prepared)
        if schemas is not None:
            completed = schemarun.settle(schemas, prepared.etcd, stale)
    return Done(prepared, topicrun.Outcome(Applied(), fixes), schema_records=completed)


def apply(stack: contextlib.ExitStack, prepared: Prepared, schemas: SchemaRun | None, *, replan: bool) -> Done:
    """Apply the plan that was shown: under the lock (held until `stack` closes), then Kafka and its
    records, then the schemas. `replan`: the plan waited for a person to confirm it, so it is made again
    under the lock (time passed); without it the plan stands unless etcd shows another apply ran meanwhile.
    """
    shown = prepared.plan
    prepared = _relock(stack, prepared, replan=replan)
    if shown.mutating:
        outcome = topicrun.apply(prepared)
    else:
        settled = topicrun.settle_records(prepared) if topicrun.record_fixes(prepared) else RecordFixes()
        outcome = topicrun.Outcome(Applied(), settled)
    schema_done = None
    if schemas is not None and schemas.plan.mutating:
        schema_done = schemarun.apply(schemas, prepared.etcd, replan=replan)
    return Done(prepared, outcome, schema_done)


def _relock(stack: contextlib.ExitStack, prepared: Prepared, *, replan: bool = False) -> Prepared:
    """Nothing was written to etcd so far; the lock is taken now (`topicrun.relock` says when the plan is
    made again under it). The run goes on only if the plan is still the one shown."""
    if prepared.etcd is None:
        return prepared
    shown = prepared.plan.digest
    prepared = topicrun.relock(stack, prepared, replan=replan)
    if prepared.plan.digest != shown:
        raise PlatformError(
            "the plan changed since it was shown (the environment's overrides or the topics changed "
            "meanwhile); nothing applied",
            hint=f"review `{hints.command('topics plan')}` and run again",
        )
    return prepared
