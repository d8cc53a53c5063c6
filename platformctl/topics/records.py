"""The etcd side of a topics run: the records `topics apply` writes ahead of Kafka and marks applied after.

An apply records each topic it creates or changes under `/platformctl/envs/<env>/applied/<topic>` (for
`--prune` and audits), written ahead: an `intent` for every topic about to be created or changed, before
anything is sent to Kafka (if etcd cannot take them, Kafka is not touched), then marked `applied` once Kafka
accepted the change (`AppliedRecorder`). Every write is compare-and-swap on the record as read under the
environment lock and fenced on the lock's lease, in transactions of at most `etcd.MAX_TXN_OPS` operations,
each step within one deadline. Which intents a run can settle without Kafka (`RecordFixes`) is decided by
the run (run.py); how they are written is here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from platformctl.errors import PlatformError

if TYPE_CHECKING:
    from platformctl.adapters.etcd import EtcdStore, Fence
    from platformctl.topics.lock import EnvLock
    from platformctl.topics.plan import EffectiveTopic


# The two states of a record under `/platformctl/envs/<env>/applied/<topic>`. `topics apply` writes an
# intent for every topic it is about to create or change BEFORE it sends anything to Kafka, then marks it
# applied once Kafka accepted the change. A record without a `state` field (written before intents
# existed) is applied.
INTENT = "intent"
APPLIED = "applied"


@dataclass(frozen=True)
class Record:
    """One record of `topics apply` for one topic: the record `--prune` trusts as "platformctl's".

    `state` is `applied` (Kafka accepted `spec`) or `intent` (platformctl was about to apply `spec` when
    the record was written, and has not confirmed it since: the run stopped, or etcd went away, before
    the record could be completed). `--prune` treats both alike as managed.
    """

    topic: str
    spec: Mapping[str, Any]
    applied_at: str
    plan_digest: str
    by: str
    mod_revision: int
    state: str = APPLIED
    intended_at: str = ""

    @property
    def is_intent(self) -> bool:
        return self.state == INTENT



def intent_record(topic: str, spec: Mapping[str, Any], plan_digest: str) -> dict[str, Any]:
    """The record written before Kafka is asked to create or change `topic` into `spec`."""
    from platformctl.topics.lock import holder_identity, now

    return {
        "topic": topic,
        "state": INTENT,
        "spec": dict(spec),
        "intended-at": now(),
        "plan-digest": plan_digest,
        "by": holder_identity(),
    }

def applied_record(
    topic: str, spec: Mapping[str, Any], plan_digest: str, *, intended_at: str = "", recovered: bool = False
) -> dict[str, Any]:
    """The record of a topic Kafka has as `spec`. `recovered`: completed by a later run from an intent
    whose topic was found on Kafka as planned (the run that applied it could not record it)."""
    from platformctl.topics.lock import holder_identity, now

    record: dict[str, Any] = {
        "topic": topic,
        "state": APPLIED,
        "spec": dict(spec),
        "applied-at": now(),
        "plan-digest": plan_digest,
        "by": holder_identity(),
    }
    if intended_at:
        record["intended-at"] = intended_at
    if recovered:
        record["recovered"] = True
    return record

def read(store: EtcdStore, env: str) -> dict[str, Record]:
    """Every topic platformctl has applied, or was about to apply (`state` intent), in `env`, by name."""
    from platformctl.adapters import etcd

    records: dict[str, Record] = {}
    prefix = etcd.applied_prefix(env)
    for entry in store.list(prefix):
        value = entry.value if isinstance(entry.value, dict) else {}
        topic = entry.key[len(prefix) :]
        records[topic] = Record(
            topic=topic,
            spec=value.get("spec") or {},
            applied_at=str(value.get("applied-at", "")),
            plan_digest=str(value.get("plan-digest", "")),
            by=str(value.get("by", "")),
            mod_revision=entry.mod_revision,
            state=INTENT if value.get("state") == INTENT else APPLIED,
            intended_at=str(value.get("intended-at", "")),
        )
    return records



# One deadline for each step that writes records to etcd (the intents before Kafka, the applied marks
# after it), whatever the number of topics: a frozen etcd costs this once, not a request timeout per
# transaction. A healthy local etcd takes well under a second for 10,000 records.
RECORD_DEADLINE = 15.0


@dataclass
class EtcdRun:
    """The etcd side of one run: where the overrides came from, the lock held while applying, and the
    environment's applied/intent records as read (under the lock once it is held).

    `seen` is the `mod_revision` of every environment key the plan was made from (overrides and records):
    once the lock is held, the plan stands if none of them moved (see `relock`)."""

    store: EtcdStore
    env: str
    lock: EnvLock | None
    records: dict[str, Record] = field(default_factory=dict)
    seen: dict[str, int] = field(default_factory=dict)

    @property
    def fence(self) -> Fence | None:
        return self.lock.fence if self.lock is not None else None


@dataclass(frozen=True)
class RecordFixes:
    """Intent records a run settles in etcd without changing Kafka (see the module docstring)."""

    # Intents whose topic is on Kafka as the effective spec says: marked applied.
    complete: tuple[tuple[EffectiveTopic, Record], ...] = ()
    # Intents whose topic is neither on Kafka (never created) nor in the files: deleted.
    drop: tuple[Record, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.complete or self.drop)

    def lines(self) -> list[str]:
        out = [
            f"recorded {topic.name} as applied (its record was left as an intent by an earlier run; the topic "
            "is on Kafka as planned)"
            for topic, _ in self.complete
        ]
        out += [
            f"removed the intent record of {record.topic} (never created on Kafka, no longer in the files)"
            for record in self.drop
        ]
        return out

    def to_json(self) -> dict[str, list[str]]:
        return {"completed": [t.name for t, _ in self.complete], "removed": [r.topic for r in self.drop]}


@dataclass(frozen=True)
class Written:
    """What the intent step wrote: each intent's time and the revision its record is at now."""

    intended_at: dict[str, str] = field(default_factory=dict)
    revision: dict[str, int] = field(default_factory=dict)
    # Each intent's spec (`spec_of`), which its applied mark records again: computed once.
    spec: dict[str, dict[str, Any]] = field(default_factory=dict)


def write_records(run: EtcdRun, intents: list[EffectiveTopic], fixes: RecordFixes, digest: str) -> Written:
    """Write the intents and the fixes, compare-and-swap on the records as read under the lock and fenced
    on the lock's lease, within one deadline. Raises before Kafka is contacted if etcd cannot take them."""
    from platformctl.adapters import etcd

    writes: list[etcd.Write] = []
    intended_at: dict[str, str] = {}
    specs: dict[str, dict[str, Any]] = {}
    for topic in intents:
        specs[topic.name] = spec = spec_of(topic)
        record = intent_record(topic.name, spec, digest)
        intended_at[topic.name] = record["intended-at"]
        old = run.records.get(topic.name)
        writes.append(etcd.Write(etcd.applied_key(run.env, topic.name), record, old.mod_revision if old else 0))
    for topic, intent in fixes.complete:
        completed = applied_record(
            topic.name, spec_of(topic), intent.plan_digest, intended_at=intent.intended_at, recovered=True
        )
        writes.append(etcd.Write(etcd.applied_key(run.env, topic.name), completed, intent.mod_revision))
    for intent in fixes.drop:
        writes.append(etcd.Write(etcd.applied_key(run.env, intent.topic), None, intent.mod_revision))
    what = "the intent records" if intents else "the applied records"
    try:
        with run.store.deadline(RECORD_DEADLINE, f"writing {what}"):
            revisions = run.store.write_chunked(writes, fence=run.fence)
    except etcd.LockLostError as e:
        raise etcd.LockLostError(f"{e.message}; nothing was sent to Kafka", hint=e.hint) from e
    except PlatformError as e:
        raise PlatformError(
            f"could not write {what} to etcd, so nothing was sent to Kafka: {e.message}",
            hint=e.hint,
        ) from e
    prefix = etcd.applied_prefix(run.env)
    return Written(intended_at, {w.key[len(prefix) :]: r for w, r in zip(writes, revisions, strict=True)}, specs)


def spec_of(topic: EffectiveTopic) -> dict[str, Any]:
    """The effective spec as recorded in etcd."""
    spec: dict[str, Any] = {"partitions": topic.partitions, "replication-factor": topic.replication_factor}
    if topic.config:
        spec["config"] = dict(sorted(topic.config.items()))
    return spec


class AppliedRecorder:
    """`on_applied` for `topics.apply`: collects each topic Kafka accepted, then `finish` marks them applied
    in etcd (their intents were written before Kafka was contacted) and drops the records of pruned topics.

    The marks go in transactions of up to `etcd.MAX_TXN_OPS` operations, each fenced on the lock's lease
    and compare-and-swap on the intent's revision, all within one deadline. A failed record must not hide
    what Kafka already did: the first failure stops the recording (etcd is gone or frozen, or the lock was
    lost) and is reported after the apply; the records not written stay intents, which a re-run completes.
    """

    def __init__(self, run: EtcdRun, written: Written | None = None) -> None:
        self.run = run
        self.written = written or Written()
        self.pending: list[tuple[EffectiveTopic, str]] = []

    def __call__(self, topic: EffectiveTopic, digest: str) -> None:
        self.pending.append((topic, digest))

    def finish(self, pruned: list[str]) -> None:
        from platformctl.adapters import etcd

        run = self.run
        writes: list[tuple[str, etcd.Write]] = []
        for topic, digest in self.pending:
            spec = self.written.spec.get(topic.name) or spec_of(topic)
            record = applied_record(
                topic.name, spec, digest, intended_at=self.written.intended_at.get(topic.name, "")
            )
            key = etcd.applied_key(run.env, topic.name)
            writes.append((topic.name, etcd.Write(key, record, self._revision(topic.name))))
        for name in pruned:
            writes.append((name, etcd.Write(etcd.applied_key(run.env, name), None, self._revision(name))))
        self.pending = []
        keys = [w for _, w in writes]
        revisions = [0] * len(keys)
        try:
            with run.store.deadline(RECORD_DEADLINE, "marking the topics applied"):
                run.store.write_chunked(keys, fence=run.fence, revisions=revisions)
        except etcd.LockLostError as e:
            raise etcd.LockLostError(
                f"applied to Kafka, but {e.message[:1].lower()}{e.message[1:]}: the records of "
                f"{_names(_unwritten(writes, revisions))} were not updated",
                hint=e.hint,
            ) from e
        except PlatformError as e:
            names = _unwritten(writes, revisions)
            more = f" and {len(names) - 1} more" if len(names) > 1 else ""
            raise PlatformError(
                f"applied to Kafka, but could not update the applied records in etcd for {names[0]} ({e}){more}",
                hint="the Kafka changes are kept, their records left as intents: once etcd is back, "
                "`topics apply` completes them",
            ) from e

    def _revision(self, name: str) -> int:
        """The revision this run left the record at (its intent), else the one read under the lock."""
        if name in self.written.revision:
            return self.written.revision[name]
        record = self.run.records.get(name)
        return record.mod_revision if record is not None else 0


def _unwritten(writes: list[tuple[str, Any]], revisions: list[int]) -> list[str]:
    """The topics whose record a failed `write_chunked` did not write (revision 0), in order."""
    return [name for (name, _), revision in zip(writes, revisions, strict=True) if not revision]


def _names(names: list[str]) -> str:
    return names[0] + (f" and {len(names) - 1} more" if len(names) > 1 else "") if names else "no topic"
