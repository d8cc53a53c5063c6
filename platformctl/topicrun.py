"""One `topics plan` / `topics apply` run: files, environment overrides, Kafka, plan, apply, records.

The order is what keeps dev safe: every input is validated first (files, `--set`), then the environment's
overrides are read from etcd, and only then is Kafka contacted. If etcd is expected but cannot be read,
the run stops before Kafka instead of applying the files' production values to this environment. An apply
records each applied topic in etcd (for `--prune` and audits) while holding the environment lock, which it
takes only once there is something to apply (`relock`), so a run with nothing to change writes nothing.

Kafka and etcd are reached as reach.py decides (the endpoint given, else a forward to the platform).
Resources that must outlive one call (the lock, forwards) are entered on the `ExitStack` the caller
owns, so they are released when the command ends: on success, on error and on Ctrl-C. No Typer here.
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from platformctl import ui
from platformctl.config import ENV_ETCD_ENDPOINT
from platformctl.errors import InputError, PlatformError

if TYPE_CHECKING:
    from platformctl.etcd import EnvLock, EtcdStore
    from platformctl.kafka import Admin
    from platformctl.reach import Platform
    from platformctl.settings import Settings
    from platformctl.topics import Applied, EffectiveTopic, Plan
    from platformctl.topicspec import Layer, TopicSpec


@dataclass
class EtcdRun:
    """The etcd side of one run: where the overrides came from, and the lock held while applying."""

    store: EtcdStore
    env: str
    lock: EnvLock | None


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


def env_layers(
    stack: contextlib.ExitStack,
    settings: Settings,
    names: list[str],
    options: Options,
    platform: Platform | None = None,
) -> tuple[dict[str, list[Layer]], frozenset[str], EtcdRun | None]:
    """The etcd layers of each topic, the names `--prune` may delete, and the etcd side of the run.

    etcd is the configured endpoint, else the platform's (through a forward, see reach.py). With neither,
    the files' values apply with a warning.
    """
    from platformctl import overrides, reach
    from platformctl.etcd import EtcdStore

    env = settings.env
    endpoint = None if options.no_overrides else reach.etcd_endpoint(stack, settings, platform)
    if endpoint is None:
        if options.prune:
            raise InputError(
                "needs the applied records in etcd (only topics platformctl applied may be deleted)",
                path="command line",
                field="--prune",
                hint="give --etcd-endpoint (or run `platformctl up`) and drop --no-overrides",
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
    store = EtcdStore(endpoint)
    layers = overrides.layers_for(store, env, names, allow_unknown_config=options.allow_unknown_config)
    managed = frozenset(store.applied(env)) if options.prune else frozenset()
    refs = sorted({f"{layer.source.ref}@{layer.source.revision}" for ls in layers.values() for layer in ls})
    ui.detail(f"environment {env!r} overrides from etcd at {store.endpoint}: {', '.join(refs) or 'none'}")
    return layers, managed, EtcdRun(store, env, None)


def prepare(stack: contextlib.ExitStack, settings: Settings, files: list[Path], options: Options) -> Prepared:
    """Validate the inputs, read the overrides, read Kafka, and plan. Never writes to Kafka.

    Kafka and etcd are reached as reach.py decides; the platform is looked up once, and only when an
    endpoint is missing. Forwards and the lock belong to `stack`.
    """
    from platformctl import kafka, reach, topics, topicspec

    specs = topics.load_files(files, allow_unknown_config=options.allow_unknown_config)
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
        expected = (options.cluster_id, "--cluster-id")
    elif "cluster_id" in settings.kafka.model_fields_set:
        expected = (settings.kafka.cluster_id, "kafka.cluster-id in the settings")
    wants_etcd = not options.no_overrides and not settings.etcd.endpoint
    platform = reach.locate(settings) if wants_etcd or not settings.kafka.bootstrap_server else None
    # Opening a forward sends nothing to Kafka; a busy 9092 or a missing Kafka fails before etcd is locked.
    server = reach.kafka_bootstrap(stack, settings, platform)
    # Environment overrides come before any contact with Kafka: if etcd is expected but unreachable, the
    # run stops here instead of applying the files' production values to this environment.
    env_layers_, managed, run = env_layers(stack, settings, names, options, platform)
    admin = kafka.Admin(server, timeout=settings.kafka.request_timeout)
    prepared = Prepared(_plan(admin, specs, layers, options, expected, env_layers_, managed), admin, run,
                        specs, layers, options, expected)  # fmt: skip
    if options.prune and not managed:
        ui.warn("--prune: no topic is recorded as managed by platformctl, so none will be deleted")
    return prepared


def relock(stack: contextlib.ExitStack, prepared: Prepared) -> Prepared:
    """Take the environment lock (held until `stack` closes), then read etcd and Kafka and plan again.

    `topics apply` plans without the lock, so a run with nothing to change (or with bad input) writes
    nothing to etcd; only once there is something to apply is the lock taken, and the caller applies the
    new plan only if it is still the one shown.
    """
    from platformctl import overrides

    run = prepared.etcd
    if run is None:
        return prepared
    lock = stack.enter_context(run.store.lock(run.env))
    names = [s.name for s in prepared.specs]
    options = prepared.options
    env_layers_ = overrides.layers_for(run.store, run.env, names, allow_unknown_config=options.allow_unknown_config)
    managed = frozenset(run.store.applied(run.env)) if options.prune else frozenset()
    plan = _plan(
        prepared.admin,
        prepared.specs,
        prepared.cli_layers,
        options,
        prepared.expected_cluster_id,
        env_layers_,
        managed,
    )
    return dataclasses.replace(prepared, plan=plan, etcd=EtcdRun(run.store, run.env, lock))


def _plan(
    admin: Admin,
    specs: list[TopicSpec],
    cli_layers: dict[str, list[Layer]],
    options: Options,
    expected_cluster_id: tuple[str, str] | None,
    env_layers_: dict[str, list[Layer]],
    managed: frozenset[str],
) -> Plan:
    """Read the topics from Kafka and plan: file < environment overrides < --set."""
    from platformctl import topics

    layers = {
        name: [*env_layers_.get(name, []), *cli_layers.get(name, [])] for name in {*env_layers_, *cli_layers}
    }
    names = [s.name for s in specs]
    with ui.status(f"reading {len(names)} topic(s) from Kafka at {admin.bootstrap_server}"):
        cluster = admin.describe(names)
    return topics.plan(
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


def raise_if_blocked(result: Plan) -> None:
    """Exit 2 naming the first impossible change (the plan, already printed, lists them all)."""
    if result.blocked:
        reasons = [f"{t.name}: {c.key}: {c.reason}" for t in result.blocked for c in t.changes if c.reason]
        raise InputError(
            f"impossible change(s), nothing applied: {reasons[0]}"
            + (f" (and {len(reasons) - 1} more, see the plan)" if len(reasons) > 1 else ""),
            hint="change the files or overrides as the plan says, then run again",
        )


def apply(prepared: Prepared) -> Applied:
    """Execute the plan, recording each applied topic in etcd when the run read its overrides there."""
    from platformctl import topics

    with ui.status("applying"):
        recorder = AppliedRecorder.of(prepared.etcd)
        done = topics.apply(prepared.plan, prepared.admin, on_applied=recorder)
    if recorder is not None:
        recorder.finish(done.pruned)
    return done


class AppliedRecorder:
    """`on_applied` for `topics.apply`: records each applied topic in etcd, for `--prune` and audits.

    A failed record must not hide what Kafka already did, so failures are collected and reported after
    the apply finished (the Kafka changes are kept; re-recording needs a change or a re-create).
    """

    def __init__(self, run: EtcdRun) -> None:
        self.run = run
        self.failed: list[str] = []

    @classmethod
    def of(cls, run: EtcdRun | None) -> AppliedRecorder | None:
        if run is None:
            return None
        if run.lock is not None:
            run.lock.check()
        return cls(run)

    def __call__(self, topic: EffectiveTopic, digest: str) -> None:
        spec: dict[str, Any] = {
            "partitions": topic.partitions,
            "replication-factor": topic.replication_factor,
        }
        if topic.config:
            spec["config"] = dict(sorted(topic.config.items()))
        try:
            self.run.store.record_applied(self.run.env, topic.name, spec, digest)
        except PlatformError as e:
            self.failed.append(f"{topic.name} ({e})")

    def finish(self, pruned: list[str]) -> None:
        for name in pruned:
            try:
                self.run.store.forget_applied(self.run.env, name)
            except PlatformError as e:
                self.failed.append(f"{name} ({e})")
        if self.failed:
            raise PlatformError(
                f"applied to Kafka, but could not update the applied records in etcd for {self.failed[0]}"
                + (f" and {len(self.failed) - 1} more" if len(self.failed) > 1 else ""),
                hint="the Kafka changes are kept; check etcd and run `topics apply` again",
            )
