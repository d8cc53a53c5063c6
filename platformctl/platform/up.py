"""`up` as ordered steps over the minikube and Kubernetes adapters (the target guard it shares with `down`,
`status`, `doctor` and every forward is platform/guard.py).

`up` is a list of named steps (`UP_STEPS`) run in order over one `UpRun`, so the order is visible in
one place: minikube, the target guard, the image cache (minikube only, before the first API request, so
pods find their images instead of pulling), server version, render, apply, readiness, seeding the
environment's topic-defaults in etcd, summary. The target guard runs before the first request:
platformctl only ever talks to minikube's profile context or exactly the `--context` given.
No Typer here: the CLI parses, calls these functions and prints.
"""

from __future__ import annotations

import contextlib
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from platformctl import hints, ui
from platformctl.errors import InputError, PlatformError
from platformctl.platform import guard, render
from platformctl.platform.guard import uses_minikube

if TYPE_CHECKING:
    from platformctl.adapters.kube import Cluster
    from platformctl.adapters.kubeconfig import Target
    from platformctl.platform.images import CacheReport
    from platformctl.platform.kubesync import Outcome
    from platformctl.platform.readiness import WorkloadState
    from platformctl.settings import Settings


def _minikube_version_guard(settings: Settings, running_version: str | None) -> None:
    wanted = settings.minikube.kubernetes_version
    if running_version and running_version.lstrip("v") != wanted.lstrip("v"):
        profile = settings.minikube.profile
        raise InputError(
            f"minikube profile {profile!r} runs Kubernetes {running_version}, but {wanted} is configured; "
            "platformctl does not recreate a cluster behind your back",
            field="minikube.kubernetes-version",
            hint=f"set minikube.kubernetes-version: {running_version} in platformctl.yaml, or "
            f"`minikube delete -p {profile}` and run `{hints.command('up')}` again",
        )


# --- up -----------------------------------------------------------------------------------------


@dataclass
class UpOptions:
    wait: bool = True
    timeout: float = 600.0
    force_conflicts: bool = False
    skip_images: bool = False
    offline: bool = False  # pull nothing: fail listing the images the node lacks


@dataclass(frozen=True)
class Seeding:
    """What `up` did about the environment's topic-defaults in etcd."""

    outcome: str  # "seeded", "already present", "not needed" or "skipped"
    key: str
    reason: str | None = None  # why it was skipped

    def describe(self, settings: Settings) -> str:
        from platformctl.topics import overrides

        env = settings.env
        seeded = overrides.seed_values(settings.kafka.brokers) or {}
        values = ", ".join(f"{k}={v}" for k, v in seeded.items())
        if self.outcome == "seeded":
            return f"topic-defaults of environment {env!r}: seeded ({values})"
        if self.outcome == "already present":
            return f"topic-defaults of environment {env!r}: already present, left as they are"
        if self.outcome == "not needed":
            return (
                f"topic-defaults of environment {env!r}: not needed ({settings.kafka.brokers} brokers replicate "
                "topics as production does)"
            )
        return (
            f"topic-defaults of environment {env!r}: skipped ({self.reason}); "
            f"run `{hints.command('overrides seed')}` once etcd is ready"
        )


@dataclass
class UpRun:
    """What the steps of `up` share: each step reads what earlier ones left here."""

    settings: Settings
    options: UpOptions
    target: Target | None = None
    cluster: Cluster | None = None
    server_version: str | None = None
    version: render.KubeVersion | None = None
    rendered: render.Rendered | None = None
    outcomes: list[Outcome] = field(default_factory=list)
    states: list[WorkloadState] = field(default_factory=list)
    minikube_started: bool = False
    images: CacheReport | None = None
    seeding: Seeding | None = None

    @property
    def use_minikube(self) -> bool:
        return uses_minikube(self.settings)

    def need_cluster(self) -> Cluster:
        assert self.cluster is not None, "the target step runs first"
        return self.cluster


@dataclass(frozen=True)
class Step:
    name: str
    title: str
    run: Callable[[UpRun], None]


def step_minikube(run: UpRun) -> None:
    """Start minikube's profile with pinned arguments when it is not running (never with --context)."""
    if not run.use_minikube:
        ui.detail(f"using existing cluster context {run.settings.context!r}; minikube is not touched")
        return
    from platformctl.adapters import minikube

    mk = run.settings.minikube
    found = minikube.profile(mk.profile)
    if found is not None:
        _minikube_version_guard(run.settings, found.kubernetes_version)
        if found.running:
            ui.detail(f"minikube profile {mk.profile!r} is running Kubernetes {found.kubernetes_version}")
            return
    version = render.parse_version(mk.kubernetes_version, origin="minikube.kubernetes-version")
    psp = (version.major, version.minor) < render.PSA_SINCE
    if psp:
        copied = minikube.install_psp_addon(render.psp_file())
        ui.detail(f"PodSecurityPolicy era: copied the system policies to {copied}")
    args = minikube.start_args(
        kubernetes_version=mk.kubernetes_version,
        memory=mk.memory,
        cpus=mk.cpus,
        driver=mk.driver,
        pod_security_policy=psp,
    )
    with ui.status(f"starting minikube profile {mk.profile!r} (Kubernetes {mk.kubernetes_version})"):
        minikube.start(mk.profile, args)
    run.minikube_started = True


def step_target(run: UpRun) -> None:
    """The guard: resolve exactly the intended context (no request is sent before this passes)."""
    from platformctl.adapters import kube

    run.target = guard.target(run.settings)
    run.cluster = kube.Cluster.connect(run.target)


def step_images(run: UpRun) -> None:
    """Every pinned image into minikube's node and cache, pulling only what is missing (platform/images.py).

    minikube only: with --context the cluster pulls as it always does. The version is the configured one,
    which the `minikube` step has made sure the profile runs.
    """
    if not run.use_minikube:
        ui.detail("images: not cached (--context: the cluster pulls its own images)")
        return
    if run.options.skip_images:
        ui.info("images: skipped (--skip-images)")
        return
    from platformctl.platform import imageprogress, images

    mk = run.settings.minikube
    version = render.parse_version(mk.kubernetes_version, origin="minikube.kubernetes-version")
    with imageprogress.reporter() as progress:
        run.images = images.ensure_images(run.settings, version, offline=run.options.offline, reporter=progress)
    ui.info(f"images: {run.images.summary()}")


def step_version(run: UpRun) -> None:
    cluster = run.need_cluster()
    run.server_version = cluster.version()
    run.version = render.parse_version(run.server_version, origin=f"server version of {cluster.target.context}")
    ui.detail(f"context {cluster.target.context!r}: Kubernetes {run.server_version} at {cluster.server}")


def step_render(run: UpRun) -> None:
    assert run.version is not None
    run.rendered = render.render(run.settings, run.version)
    for warning in run.rendered.warnings:
        ui.warn(warning)
    ui.detail(f"security: {run.rendered.security.describe()}")


def step_apply(run: UpRun) -> None:
    """Server-side apply of every rendered object, in order, writing only what differs."""
    from platformctl.adapters import kube
    from platformctl.platform import kubesync

    assert run.rendered is not None
    ns = run.settings.namespace

    def report(outcome: Outcome) -> None:
        name = kube.describe(outcome.kind, outcome.namespace, outcome.name)
        if outcome.action == "unchanged":
            ui.detail(f"  {name} unchanged")
        else:
            ui.info(f"  {name} {outcome.action}")
            for reason in outcome.reasons:
                ui.detail(f"    {reason}")

    with ui.status(f"applying {len(run.rendered.documents)} objects to {run.need_cluster().target.context!r}"):
        run.outcomes = kubesync.sync(
            run.need_cluster(),
            run.rendered.documents,
            namespace=ns,
            selector=render.selector(ns),
            force=run.options.force_conflicts,
            on_outcome=report,
        )


def step_wait(run: UpRun) -> None:
    """Wait for every workload with a live display; stop at once with a diagnosis when one cannot start."""
    from platformctl.platform import kubesync

    if not run.options.wait:
        ui.detail("not waiting for readiness (--no-wait)")
        return
    ns = run.settings.namespace
    workloads = [(c.kind, c.name) for c in render.components(run.settings)]
    with ReadinessView() as view:
        run.states = kubesync.wait_ready(
            run.need_cluster(),
            ns,
            render.selector(ns),
            workloads,
            timeout=run.options.timeout,
            on_progress=view.update,
        )


def step_seed(run: UpRun) -> None:
    """Write the topic-defaults the broker count needs in etcd when it has none (never overwrites).

    One broker needs replication 1 for production's topics (two: 2); three or more need nothing, so the
    topic files apply exactly as written (`overrides.seed_values`).

    etcd is `etcd.endpoint` when configured, else the platform's own through an in-process forward. This
    step never fails `up`: with --no-wait etcd may not be ready, so it is skipped; an etcd that cannot be
    reached (within the store's timeout) is reported as skipped, with the command to run later.
    """
    from platformctl.adapters import etcd
    from platformctl.adapters.etcd import EtcdStore
    from platformctl.platform import reach
    from platformctl.topics import overrides

    env = run.settings.env
    key = etcd.topic_defaults_key(env)
    values = overrides.seed_values(run.settings.kafka.brokers)
    if values is None:
        run.seeding = Seeding("not needed", key)
    elif not run.options.wait:
        run.seeding = Seeding("skipped", key, "etcd was not waited for: --no-wait")
    else:
        try:
            with contextlib.ExitStack() as stack:
                endpoint = run.settings.etcd.endpoint or f"http://{reach.forward_to(stack, run.settings, 'etcd')}"
                with ui.status(f"seeding {key}"):
                    written = overrides.seed(EtcdStore(endpoint), env, values)
            run.seeding = Seeding("seeded" if written else "already present", key)
        except PlatformError as e:
            run.seeding = Seeding("skipped", key, e.message)
    if run.seeding.reason is not None and run.options.wait:
        ui.warn(run.seeding.describe(run.settings))
    else:
        ui.detail(run.seeding.describe(run.settings))


def step_summary(run: UpRun) -> None:
    ui.out().print(summary_table(run))
    if run.seeding is not None:
        ui.data(run.seeding.describe(run.settings))
    ui.data(next_commands(run.settings, run.seeding))


# The order of `up`. Images are cached after the guard (a wrong target costs no download) and before the
# first API request and `apply`, so pods find them instead of pulling; seeding needs a ready etcd.
UP_STEPS: list[Step] = [
    Step("minikube", "minikube", step_minikube),
    Step("target", "target guard", step_target),
    Step("images", "image cache", step_images),
    Step("version", "server version", step_version),
    Step("render", "render", step_render),
    Step("apply", "server-side apply", step_apply),
    Step("wait", "readiness", step_wait),
    Step("seed", "topic-defaults in etcd", step_seed),
    Step("summary", "summary", step_summary),
]


def index(name: str, steps: list[Step] | None = None) -> int:
    """Position of the named step in `steps` (default `UP_STEPS`)."""
    names = [s.name for s in (UP_STEPS if steps is None else steps)]
    return names.index(name)


def up(settings: Settings, options: UpOptions, steps: list[Step] | None = None) -> UpRun:
    run = UpRun(settings=settings, options=options)
    try:
        for step in UP_STEPS if steps is None else steps:
            ui.debug(f"step: {step.name}")
            step.run(run)
    finally:
        if run.cluster is not None:
            run.cluster.close()
    return run


def component_actions(outcomes: list[Outcome]) -> dict[str, str]:
    """created / updated / unchanged per component (app.kubernetes.io/name), in apply order."""
    actions: dict[str, list[str]] = {}
    for outcome in outcomes:
        actions.setdefault(outcome.component, []).append(outcome.action)
    result = {}
    for component, done in actions.items():
        if all(a == "unchanged" for a in done):
            result[component] = "unchanged"
        elif all(a == "created" for a in done):
            result[component] = "created"
        else:
            result[component] = "updated"
    return result


def summary_table(run: UpRun) -> Any:
    from rich.table import Table

    ready = {s.name: s for s in run.states}
    table = Table(title=f"platformctl up: namespace {run.settings.namespace}", title_justify="left")
    table.add_column("component")
    table.add_column("objects")
    table.add_column("ready")
    counts: dict[str, int] = {}
    for outcome in run.outcomes:
        counts[outcome.component] = counts.get(outcome.component, 0) + 1
    for component, action in component_actions(run.outcomes).items():
        state = ready.get(component)
        shown = "ready" if state and state.ready_now else ("-" if state is None else state.summary)
        if state is None and any(c.name == component for c in render.components(run.settings)):
            shown = "not waited for" if not run.options.wait else shown
        table.add_row(component, f"{action} ({counts[component]})", shown)
    return table


def next_commands(settings: Settings, seeding: Seeding | None = None) -> str:
    """What to run next, each command with this run's target options (`hints.command`)."""
    lines = ["next:", f"  {hints.command('status')}"]
    if seeding is not None and seeding.outcome == "skipped":
        lines.append(f"  {hints.command('overrides seed')}   # once etcd is ready")
    for component in render.components(settings):
        for target, port in component.ports.items():
            if target in ("kafka-ui", "kafka"):
                where = "localhost:9092 for Kafka clients" if target == "kafka" else f"http://127.0.0.1:{port}"
                lines.append(f"  {hints.command(f'port-forward {target}')}   # then {where}")
    lines.append(f"  {hints.command('topics apply ' + shlex.quote(hints.reference_topic_file()))}")
    return "\n".join(lines)


class ReadinessView:
    """Live progress of the wait on stderr: a rich table on a terminal, plain lines otherwise."""

    def __init__(self) -> None:
        self.console = ui.err()
        self.live: Any = None
        self.shown: dict[str, str] = {}
        self.enabled = ui.verbosity() >= 0

    def __enter__(self) -> ReadinessView:
        if self.enabled and self.console.is_terminal:
            from rich.live import Live

            self.live = Live(console=self.console, refresh_per_second=4, transient=True)
            self.live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.stop()

    def update(self, states: list[WorkloadState]) -> None:
        if not self.enabled:
            return
        if self.live is not None:
            from rich.table import Table

            table = Table(title="waiting for the platform", title_justify="left")
            table.add_column("component")
            table.add_column("ready")
            table.add_column("state")
            for s in states:
                table.add_row(s.name, f"{s.ready}/{s.desired}", s.summary)
            self.live.update(table)
            return
        for s in states:
            line = f"{s.ready}/{s.desired} {s.summary}"
            if self.shown.get(s.name) != line:
                self.shown[s.name] = line
                ui.info(f"  {s.name}: {line}")
