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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from platformctl import hints, ui
from platformctl.config import ENV_ETCD_ENDPOINT
from platformctl.errors import InputError, PlatformError
from platformctl.topics.records import AppliedRecorder, EtcdRun, Record, RecordFixes, write_records
from platformctl.topics.records import read as read_records

if TYPE_CHECKING:
    from platformctl.adapters.kafka import Admin
    from platformctl.platform.reach import Platform
    from platformctl.settings import Settings
    from platformctl.topics.execute import Applied
    from platformctl.topics.plan import EffectiveTopic, Plan
    from platformctl.topics.provenance import Layer
    from platformctl.topics.spec import TopicSpec


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
    run.records = read_records(run.store, run.env)
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
    complete: list[tuple[EffectiveTopic, Record]] = []
    drop: list[Record] = []
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
    write_records(run, [], fixes, "")
    return fixes


def apply(prepared: Prepared) -> Outcome:
    """Execute the plan, with write-ahead records in etcd when the run read its overrides there.

    Under the lock (`relock` first): transactions of up to `etcd.MAX_TXN_OPS` operations write an intent
    for every topic to create or change and settle the intents `record_fixes` finds; only then is Kafka
    contacted (the lock verified before each request), and the topics Kafka accepted are marked applied,
    batched the same way. Every record write is fenced on the lock's lease; each of the two etcd steps has
    one deadline (records.py's `RECORD_DEADLINE`). If etcd cannot take the intents, nothing is sent to Kafka.
    """
    from platformctl.topics import execute

    fixes = RecordFixes()
    recorder: AppliedRecorder | None = None
    guard = None
    if prepared.etcd is not None:
        run = _locked(prepared)
        fixes = record_fixes(prepared)
        intents = [t.topic for t in prepared.plan.topics if t.action in ("create", "change") and t.topic]
        written = write_records(run, intents, fixes, prepared.plan.digest)
        recorder = AppliedRecorder(run, written)
        assert run.lock is not None
        guard = run.lock.verify
    try:
        with ui.status("applying"):
            done = execute.apply(prepared.plan, prepared.admin, on_applied=recorder, before_request=guard)
    except execute.PartialApply as e:
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
