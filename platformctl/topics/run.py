"""One `topics plan` / `topics apply` run: files, environment overrides, Kafka, plan, apply, records.

The order is what keeps dev safe: every input is validated first (files, `--set`), then the environment's
overrides are read from etcd, and only then is Kafka contacted. If etcd is expected but cannot be read,
the run stops before Kafka instead of applying the files' production values to this environment.

An apply records each topic it creates or changes in etcd (for `--prune` and audits) while holding the
environment lock, which it takes only once there is something to do (`relock`), so a run with nothing to
change writes nothing. The record is written ahead: an `intent` for every topic about to be created or
changed, before anything is sent to Kafka (if etcd cannot take it, Kafka is not touched), then marked
`applied` once Kafka accepted the change. A record left as an intent (etcd or the process died between
Kafka and etcd) is completed by a later run that finds the topic on Kafka as planned, even when that run
has nothing to change on Kafka; an intent whose topic was never created is replaced by the next apply's
intent, or removed once the topic left the files (`RecordFixes`).

Kafka and etcd are reached as platform/reach.py decides (the endpoint given, else a forward to the platform).
Resources that must outlive one call (the lock, forwards) are entered on the `ExitStack` the caller
owns, so they are released when the command ends: on success, on error and on Ctrl-C. No Typer here.
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from platformctl import hints, ui
from platformctl.config import ENV_ETCD_ENDPOINT
from platformctl.errors import InputError, PlatformError

if TYPE_CHECKING:
    from platformctl.adapters.etcd import Applied as AppliedRecord
    from platformctl.adapters.etcd import EtcdStore, Fence
    from platformctl.adapters.kafka import Admin
    from platformctl.platform.reach import Platform
    from platformctl.settings import Settings
    from platformctl.topics.lock import EnvLock
    from platformctl.topics.plan import Applied, EffectiveTopic, Plan
    from platformctl.topics.provenance import Layer
    from platformctl.topics.spec import TopicSpec


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
    records: dict[str, AppliedRecord] = field(default_factory=dict)
    seen: dict[str, int] = field(default_factory=dict)

    @property
    def fence(self) -> Fence | None:
        return self.lock.fence if self.lock is not None else None


@dataclass
class Options:
    """What `topics plan/apply` were asked to do, beyond the files."""

    sets: list[str]
    allow_unknown_config: bool = False
    destructive: bool = False
    allow_repartition: bool = False
    prune: bool = False
    cluster_id: str | None = None
    no_overrides: bool = False


@dataclass
class Prepared:
    plan: Plan
    admin: Admin
    etcd: EtcdRun | None
    # What `relock` needs to plan again under the lock, with the same Kafka and etcd connections.
    specs: list[TopicSpec]
    cli_layers: dict[str, list[Layer]]
    options: Options
    expected_cluster_id: tuple[str, str] | None
    cluster_names: frozenset[str] = frozenset()  # every topic on Kafka when the plan was made


@dataclass(frozen=True)
class RecordFixes:
    """Intent records a run settles in etcd without changing Kafka (see the module docstring)."""

    # Intents whose topic is on Kafka as the effective spec says: marked applied.
    complete: tuple[tuple[EffectiveTopic, AppliedRecord], ...] = ()
    # Intents whose topic is neither on Kafka (never created) nor in the files: deleted.
    drop: tuple[AppliedRecord, ...] = ()

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
class Outcome:
    """What `apply` did: on Kafka (`done`), and to the records in etcd beyond marking `done` applied."""

    done: Applied
    records: RecordFixes


def env_layers(
    stack: contextlib.ExitStack,
    settings: Settings,
    names: list[str],
    options: Options,
    platform: Platform | None = None,
) -> tuple[dict[str, list[Layer]], frozenset[str], EtcdRun | None]:
    """The etcd layers of each topic, the names `--prune` may delete, and the etcd side of the run.

    etcd is the configured endpoint, else the platform's (through a forward, see platform/reach.py). With neither,
    the files' values apply with a warning.
    """
    from platformctl.platform import reach

    env = settings.env
    endpoint = None if options.no_overrides else reach.etcd_endpoint(stack, settings, platform)
    if endpoint is None:
        if options.prune:
            raise InputError(
                "needs the applied records in etcd (only topics platformctl applied may be deleted)",
                path="command line",
                field="--prune",
                hint=f"give --etcd-endpoint (or run `{hints.command('up')}`) and drop --no-overrides",
            )
        if options.no_overrides:
            ui.info(f"environment {env!r}: overrides not read (--no-overrides); the files' values apply")
        else:
            absent = platform.absent if platform is not None and platform.absent else "it has no etcd Service"
            ui.warn(
                f"no etcd endpoint configured: overrides of environment {env!r} were not read and the "
                f"files' values apply (no platform to forward to: {absent}; give --etcd-endpoint or "
                f"{ENV_ETCD_ENDPOINT} to read them, --no-overrides to say this is intended)"
            )
        return {}, frozenset(), None
    # Imported only here: a run with --no-overrides never loads the etcd client (nor requests).
    from platformctl.adapters.etcd import EtcdStore

    store = EtcdStore(endpoint)
    run = EtcdRun(store, env, None)
    layers, managed = _read_env(run, names, options)
    refs = sorted({f"{layer.source.ref}@{layer.source.revision}" for ls in layers.values() for layer in ls})
    ui.detail(f"environment {env!r} overrides from etcd at {store.endpoint}: {', '.join(refs) or 'none'}")
    return layers, managed, run


def _read_env(run: EtcdRun, names: list[str], options: Options) -> tuple[dict[str, list[Layer]], frozenset[str]]:
    """Read the overrides and the records into `run` (and what was seen); the layers and the managed names."""
    from platformctl.adapters import etcd
    from platformctl.topics import overrides

    seen: dict[str, int] = {}
    unknown = options.allow_unknown_config
    layers = overrides.layers_for(run.store, run.env, names, allow_unknown_config=unknown, seen=seen)
    # Intent and applied records alike: an intent means platformctl was about to create or change it.
    run.records = run.store.applied(run.env)
    seen |= {etcd.applied_key(run.env, name): r.mod_revision for name, r in run.records.items()}
    run.seen = seen
    return layers, frozenset(run.records) if options.prune else frozenset()


def prepare(stack: contextlib.ExitStack, settings: Settings, files: list[Path], options: Options) -> Prepared:
    """Validate the inputs, read the overrides, read Kafka, plan, and have Kafka check the plan's changes
    (`topicdryrun`: validate_only requests, which change nothing). Never writes to Kafka.

    Kafka and etcd are reached as platform/reach.py decides; the platform is looked up once, and only when an
    endpoint is missing. Forwards and the lock belong to `stack`.
    """
    from platformctl.adapters import kafka
    from platformctl.platform import reach
    from platformctl.topics import dryrun as topicdryrun
    from platformctl.topics import plan as topicplan
    from platformctl.topics import spec as topicspec

    specs = topicplan.load_files(files, allow_unknown_config=options.allow_unknown_config)
    names = [s.name for s in specs]
    layers = topicspec.parse_sets(options.sets, names, options.allow_unknown_config)
    if options.prune and options.no_overrides:
        raise InputError(
            "needs the applied records in etcd (only topics platformctl applied may be deleted)",
            path="command line",
            field="--prune",
            hint="drop --no-overrides",
        )
    expected = None
    if options.cluster_id:
        problem = topicspec.cluster_id_problem(options.cluster_id)
        if problem:
            raise InputError(problem, path="command line", field="--cluster-id")
        expected = (options.cluster_id, "--cluster-id")
    elif "cluster_id" in settings.kafka.model_fields_set:
        expected = (settings.kafka.cluster_id, "kafka.cluster-id in the settings")
    topicplan.check_cluster_ids(specs, expected)
    wants_etcd = not options.no_overrides and not settings.etcd.endpoint
    platform = reach.locate(settings) if wants_etcd or not settings.kafka.bootstrap_server else None
    # Opening a forward sends nothing to Kafka; a busy 9092 or a missing Kafka fails before etcd is locked.
    server = reach.kafka_bootstrap(stack, settings, platform)
    # Environment overrides come before any contact with Kafka: if etcd is expected but unreachable, the
    # run stops here instead of applying the files' production values to this environment.
    env_layers_, managed, run = env_layers(stack, settings, names, options, platform)
    # Every value is known now: one that contradicts another (an override against the file, --set against
    # either) is bad input, refused before Kafka is asked anything.
    topicplan.check_inputs(specs, _merged(env_layers_, layers), allow_unknown_config=options.allow_unknown_config)
    admin = kafka.Admin(server, timeout=settings.kafka.request_timeout)
    plan, cluster_names = _plan(admin, specs, layers, options, expected, env_layers_, managed)
    # Kafka's own verdict before the plan is shown: what it would refuse is impossible, not half-applied.
    with ui.status("asking Kafka to check the changes (validate_only: nothing is changed)"):
        plan = topicdryrun.checked(plan, admin)
    prepared = Prepared(plan, admin, run, specs, layers, options, expected, cluster_names)
    if options.prune and not managed:
        ui.warn("--prune: no topic is recorded as managed by platformctl, so none will be deleted")
    return prepared


def relock(stack: contextlib.ExitStack, prepared: Prepared, *, replan: bool = False) -> Prepared:
    """Take the environment lock (held until `stack` closes); plan again only if the plan may be stale.

    `topics apply` plans without the lock, so a run with nothing to change (or with bad input) writes
    nothing to etcd; only once there is something to apply (or records to settle, `record_fixes`) is the
    lock taken. Every apply writes its intents to etcd before it touches Kafka, so if no override and no
    record of the environment moved since the plan read them (one keys-only read), no other apply ran in
    between and the plan stands. Otherwise (or with `replan`: the plan waited for a person to confirm it)
    etcd and Kafka are read and the plan made again; the caller applies it only if it is still the one
    shown.
    """
    from platformctl.adapters import etcd
    from platformctl.topics import lock as etcdlock

    run = prepared.etcd
    if run is None:
        return prepared
    lock = stack.enter_context(etcdlock.hold(run.store, run.env))
    now = run.store.revisions(etcd.env_prefix(run.env))
    now.pop(etcd.lock_key(run.env), None)
    if not replan and now == run.seen:
        return dataclasses.replace(prepared, etcd=dataclasses.replace(run, lock=lock))
    locked = EtcdRun(run.store, run.env, lock)
    env_layers_, managed = _read_env(locked, [s.name for s in prepared.specs], prepared.options)
    plan, cluster_names = _plan(
        prepared.admin,
        prepared.specs,
        prepared.cli_layers,
        prepared.options,
        prepared.expected_cluster_id,
        env_layers_,
        managed,
    )
    return dataclasses.replace(prepared, plan=plan, etcd=locked, cluster_names=cluster_names)


def _plan(
    admin: Admin,
    specs: list[TopicSpec],
    cli_layers: dict[str, list[Layer]],
    options: Options,
    expected_cluster_id: tuple[str, str] | None,
    env_layers_: dict[str, list[Layer]],
    managed: frozenset[str],
) -> tuple[Plan, frozenset[str]]:
    """Read the topics from Kafka and plan: file < environment overrides < --set. Also returns the names
    of every topic on Kafka (which intent records name a topic that was never created)."""
    from platformctl.topics import plan as topicplan

    layers = _merged(env_layers_, cli_layers)
    names = [s.name for s in specs]
    with ui.status(f"reading {len(names)} topic(s) from Kafka at {admin.bootstrap_server}"):
        cluster = admin.describe(names)
    result = topicplan.plan(
        specs,
        cluster,
        layers,
        destructive=options.destructive,
        allow_repartition=options.allow_repartition,
        prune=options.prune,
        managed=managed,
        allow_unknown_config=options.allow_unknown_config,
        expected_cluster_id=expected_cluster_id,
    )
    return result, cluster.names


def _merged(env_layers_: dict[str, list[Layer]], cli_layers: dict[str, list[Layer]]) -> dict[str, list[Layer]]:
    """Each topic's layers in precedence order: file < environment overrides < --set."""
    return {name: [*env_layers_.get(name, []), *cli_layers.get(name, [])] for name in {*env_layers_, *cli_layers}}


def raise_if_blocked(result: Plan, *, applying: bool = True) -> None:
    """Exit 2 naming the first impossible change (the plan, already printed, lists them all)."""
    if result.blocked:
        reasons = [f"{t.name}: {c.key}: {c.reason}" for t in result.blocked for c in t.changes if c.reason]
        raise InputError(
            f"impossible change(s){', nothing applied' if applying else ''}: {reasons[0]}"
            + (f" (and {len(reasons) - 1} more, see the plan)" if len(reasons) > 1 else ""),
            hint="change the files or overrides as the plan says, then run again",
        )


def left_the_files(prepared: Prepared) -> list[str]:
    """Topics platformctl recorded as applied (or about to be) that are still on Kafka but no longer in the
    files, and that this plan does not delete (no --prune): what `--prune` would delete."""
    run = prepared.etcd
    if run is None:
        return []
    declared = {s.name for s in prepared.specs}
    pruned = {t.name for t in prepared.plan.topics if t.action == "prune"}
    return sorted(set(run.records) & prepared.cluster_names - declared - pruned)


def record_fixes(prepared: Prepared) -> RecordFixes:
    """The intent records this run can settle without Kafka: see `RecordFixes`.

    An intent for a topic in the files that is not on Kafka is left alone: this run's own intent replaces
    it when the create is applied. One for a topic that is on Kafka but differs from the effective spec
    is left too (it is still managed; the change that fixes the topic replaces it), and so is one for a
    topic on Kafka that left the files (managed: `--prune` deletes it, with its record).
    """
    run = prepared.etcd
    if run is None:
        return RecordFixes()
    planned = {t.name: t for t in prepared.plan.topics if t.action != "prune"}
    complete: list[tuple[EffectiveTopic, AppliedRecord]] = []
    drop: list[AppliedRecord] = []
    for name, record in sorted(run.records.items()):
        if not record.is_intent:
            continue
        t = planned.get(name)
        if t is not None:
            if t.action == "unchanged" and t.topic is not None:
                complete.append((t.topic, record))
        elif name not in prepared.cluster_names:
            drop.append(record)
    return RecordFixes(tuple(complete), tuple(drop))


def settle_records(prepared: Prepared) -> RecordFixes:
    """Complete or remove the intent records `record_fixes` finds, under the lock (`relock` first). Never
    contacts Kafka: for a run whose plan has nothing to change on Kafka."""
    run = _locked(prepared)
    fixes = record_fixes(prepared)
    _write_records(run, [], fixes, "")
    return fixes


def apply(prepared: Prepared) -> Outcome:
    """Execute the plan, with write-ahead records in etcd when the run read its overrides there.

    Under the lock (`relock` first): transactions of up to `etcd.MAX_TXN_OPS` operations write an intent
    for every topic to create or change and settle the intents `record_fixes` finds; only then is Kafka
    contacted (the lock verified before each request), and the topics Kafka accepted are marked applied,
    batched the same way. Every record write is fenced on the lock's lease; each of the two etcd steps has
    one deadline (`RECORD_DEADLINE`). If etcd cannot take the intents, nothing is sent to Kafka.
    """
    from platformctl.topics import plan as topicplan

    fixes = RecordFixes()
    recorder: AppliedRecorder | None = None
    guard = None
    if prepared.etcd is not None:
        run = _locked(prepared)
        fixes = record_fixes(prepared)
        intents = [t.topic for t in prepared.plan.topics if t.action in ("create", "change") and t.topic]
        written = _write_records(run, intents, fixes, prepared.plan.digest)
        recorder = AppliedRecorder(run, written)
        assert run.lock is not None
        guard = run.lock.verify
    try:
        with ui.status("applying"):
            done = topicplan.apply(prepared.plan, prepared.admin, on_applied=recorder, before_request=guard)
    except topicplan.PartialApply as e:
        # Topics Kafka did delete must lose their records even so: a record is what lets --prune delete
        # a topic, and a later topic of the same name would not be platformctl's.
        if recorder is not None:
            with contextlib.suppress(PlatformError):  # the Kafka error is the one to report
                recorder.finish(e.done.pruned)
        raise
    if recorder is not None:
        recorder.finish(done.pruned)
    return Outcome(done, fixes)


def _locked(prepared: Prepared) -> EtcdRun:
    run = prepared.etcd
    if run is None or run.lock is None:
        raise AssertionError("etcd records are written only under the environment lock (relock first)")
    run.lock.check()
    return run


@dataclass(frozen=True)
class Written:
    """What the intent step wrote: each intent's time and the revision its record is at now."""

    intended_at: dict[str, str] = field(default_factory=dict)
    revision: dict[str, int] = field(default_factory=dict)
    # Each intent's spec (`spec_of`), which its applied mark records again: computed once.
    spec: dict[str, dict[str, Any]] = field(default_factory=dict)


def _write_records(run: EtcdRun, intents: list[EffectiveTopic], fixes: RecordFixes, digest: str) -> Written:
    """Write the intents and the fixes, compare-and-swap on the records as read under the lock and fenced
    on the lock's lease, within one deadline. Raises before Kafka is contacted if etcd cannot take them."""
    from platformctl.adapters import etcd

    writes: list[etcd.Write] = []
    intended_at: dict[str, str] = {}
    specs: dict[str, dict[str, Any]] = {}
    for topic in intents:
        specs[topic.name] = spec = spec_of(topic)
        record = run.store.intent_record(topic.name, spec, digest)
        intended_at[topic.name] = record["intended-at"]
        old = run.records.get(topic.name)
        writes.append(etcd.Write(etcd.applied_key(run.env, topic.name), record, old.mod_revision if old else 0))
    for topic, intent in fixes.complete:
        completed = run.store.applied_record(
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
            record = run.store.applied_record(
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
