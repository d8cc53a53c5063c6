"""The schema side of one `topics plan` / `topics apply` run: the registry, the environment's levels, the
plan, the apply after the topics, and its records in etcd.

It runs only when the files declare schemas (a run without them never contacts a registry). The registry
is reached as platform/reach.py decides (`--schema-registry`, `PLATFORMCTL_SCHEMA_REGISTRY`, `schema-registry.url`,
else a forward to the platform's `schema-registry` Service).

Each environment may change the compatibility level of subjects, like every other deviation from the
files, in the platform's etcd (topics/schemas/levels.py; `platformctl overrides set-level SUBJECT NONE`); the plan
names the source of every level (the etcd key and revision). An apply records what it registered or set, like topics:
an intent under `/platformctl/envs/<env>/applied-subjects/<subject>` before the first write to the
registry (if etcd cannot take it, the registry is not touched), then `applied` with the version and id.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from platformctl import ui
from platformctl.errors import InputError, PlatformError
from platformctl.topics.schemas import levels as schemalevels
from platformctl.topics.schemas.spec import SchemaDecl

if TYPE_CHECKING:
    from platformctl.adapters.schemaregistry import Registry
    from platformctl.settings import Settings
    from platformctl.topics.records import EtcdRun
    from platformctl.topics.run import Prepared
    from platformctl.topics.schemas.plan import SchemaApplied, SchemaPlan, SubjectPlan


def applied_subjects_prefix(env: str) -> str:
    return f"{schemalevels.ROOT}/{env}/applied-subjects/"


# --- one run -----------------------------------------------------------------------------------------


@dataclass
class SchemaRun:
    registry: Registry
    plan: SchemaPlan
    decls: tuple[SchemaDecl, ...]
    allow_incompatible: bool
    records: dict[str, tuple[str, int]]  # subject -> (state, mod_revision) of its record in etcd


def declarations(prepared: Prepared) -> list[SchemaDecl]:
    return [decl for spec in prepared.specs for decl in spec.schemas]


def prepare(
    stack: contextlib.ExitStack, settings: Settings, prepared: Prepared, *, allow_incompatible: bool = False
) -> SchemaRun | None:
    """Plan the declared subjects (None when the files declare none). Reads only."""
    from platformctl.adapters.schemaregistry import Registry
    from platformctl.platform import reach

    decls = declarations(prepared)
    if not decls:
        return None
    url = reach.schema_registry_url(stack, settings)
    registry = Registry(url)
    stack.callback(registry.close)
    plan = _plan(registry, decls, prepared.etcd, allow_incompatible)
    return SchemaRun(registry, plan, tuple(decls), allow_incompatible, _records(prepared.etcd))


def _plan(registry: Registry, decls: Sequence[SchemaDecl], run: EtcdRun | None, allow_incompatible: bool) -> SchemaPlan:
    from platformctl.topics.schemas import plan as schemaplan

    subjects = list(dict.fromkeys(d.subject for d in decls))
    levels = schemalevels.levels_for(run.store, run.env, subjects) if run is not None else {}
    with ui.status(f"reading {len(subjects)} subject(s) from the schema registry at {registry.url}"):
        return schemaplan.plan(decls, registry, levels, allow_incompatible=allow_incompatible)


def raise_if_blocked(run: SchemaRun | None) -> None:
    if run is None or not run.plan.blocked:
        return
    first = run.plan.blocked[0]
    reasons = "; ".join(first.reasons) or "no reason given"
    more = len(run.plan.blocked) - 1
    raise InputError(
        f"incompatible schema, nothing applied: {first.subject}: {reasons}"
        + (f" (and {more} more, see the plan)" if more else ""),
        hint="make the change compatible (a new field needs a default), or pass --allow-incompatible if every "
        "consumer can cope",
    )


def stale_intents(run: SchemaRun | None) -> list[SubjectPlan]:
    """Subjects whose record is still an intent (an earlier apply stopped between the registry and etcd)
    though the registry has them as planned: a no-op run marks them applied (`settle`)."""
    if run is None:
        return []
    return [
        s
        for s in run.plan.subjects
        if run.records.get(s.subject, ("", 0))[0] == "intent" and s.action == "unchanged" and not s.level_change
    ]


def settle(run: SchemaRun, etcd_run: EtcdRun | None, stale: Sequence[SubjectPlan]) -> list[str]:
    """Mark `stale_intents` applied, under the lock (fenced); returns their subjects."""
    from platformctl.adapters import etcd

    if etcd_run is None or not stale:
        return []
    writes = [
        etcd.Write(_record_key(etcd_run.env, s.subject), _record(s, "applied", s.version), run.records[s.subject][1])
        for s in stale
    ]
    etcd_run.store.write_chunked(writes, fence=etcd_run.fence)
    return [s.subject for s in stale]


def apply(run: SchemaRun, etcd_run: EtcdRun | None, *, replan: bool = True) -> SchemaApplied:
    """Apply the schema plan (after the topics), with write-ahead records when etcd is in use.

    With `replan` (a person confirmed the plan: time passed) the plan is made again first, under the
    environment lock when there is one, so what is applied is what the registry says now."""
    from platformctl.adapters import etcd
    from platformctl.topics.schemas import plan as schemaplan

    result = _plan(run.registry, run.decls, etcd_run, run.allow_incompatible) if replan else run.plan
    run.plan = result
    changing = [s for s in result.subjects if s.mutating]
    if not changing:
        return schemaplan.SchemaApplied()
    records = {subject: revision for subject, (_, revision) in _records(etcd_run).items()}
    if etcd_run is not None:
        if etcd_run.lock is not None:
            etcd_run.lock.verify()
        writes = [
            etcd.Write(_record_key(etcd_run.env, s.subject), _record(s, "intent"), records.get(s.subject, 0))
            for s in changing
        ]
        try:
            # Fenced on the lock's lease: an apply that lost the lock writes nothing in its name.
            etcd_run.store.write_chunked(writes, fence=etcd_run.fence)
        except PlatformError as e:
            raise PlatformError(
                f"could not write the schema intent records to etcd, so nothing was sent to the schema registry: "
                f"{e.message}",
                hint=e.hint,
            ) from e
    with ui.status("applying schemas"):
        done = schemaplan.apply(result, run.registry)
    if etcd_run is not None:
        after = {subject: revision for subject, (_, revision) in _records(etcd_run).items()}
        writes = []
        for s in changing:
            version = run.registry.latest(s.subject)
            record = _record(s, "applied", version.version if version else None, done.registered.get(s.subject))
            writes.append(etcd.Write(_record_key(etcd_run.env, s.subject), record, after.get(s.subject, 0)))
        try:
            etcd_run.store.write_chunked(writes, fence=etcd_run.fence)
        except PlatformError as e:
            raise PlatformError(
                f"applied to the schema registry, but could not record it in etcd: {e.message}",
                hint="the registry changes are kept, their records left as intents; a re-run finds nothing to do",
            ) from e
    return done


def _record_key(env: str, subject: str) -> str:
    return f"{applied_subjects_prefix(env)}{subject}"


def _records(run: EtcdRun | None) -> dict[str, tuple[str, int]]:
    """subject -> (state, mod_revision) of every schema record of the environment (one range read)."""
    if run is None:
        return {}
    prefix = applied_subjects_prefix(run.env)
    found: dict[str, tuple[str, int]] = {}
    for e in run.store.list(prefix):
        state = str(e.value.get("state", "applied")) if isinstance(e.value, dict) else "applied"
        found[e.key[len(prefix) :]] = (state, e.mod_revision)
    return found


def _record(s: Any, state: str, version: int | None = None, schema_id: int | None = None) -> dict[str, Any]:
    from platformctl.topics import lock as etcdlock

    record: dict[str, Any] = {
        "subject": s.subject,
        "topic": s.decl.topic,
        "role": s.decl.role,
        "state": state,
        "file": s.decl.file,
        "schema-sha256": hashlib.sha256(s.decl.text.encode()).hexdigest(),
        "compatibility": s.level.level if s.level is not None else s.current_level,
        "by": etcdlock.holder_identity(),
        ("intended-at" if state == "intent" else "applied-at"): etcdlock.now(),
    }
    if version is not None:
        record["version"] = version
    if schema_id is not None:
        record["id"] = schema_id
    return record
