"""`up`, `down` and `status` as ordered steps over the minikube and Kubernetes adapters (`doctor`: doctor.py).

`up` is a list of named steps (`UP_STEPS`) run in order over one `UpRun`, so the order is visible in
one place: minikube, the target guard, the image cache (minikube only, before the first API request, so
pods find their images instead of pulling), server version, render, apply, readiness, seeding the
environment's topic-defaults in etcd, summary. The target guard runs before the first request:
platformctl only ever talks to minikube's profile context or exactly the `--context` given.
No Typer here: the CLI parses, calls these functions and prints.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from platformctl import render, ui
from platformctl.errors import InputError, PlatformError

if TYPE_CHECKING:
    from platformctl.images import CacheReport
    from platformctl.kube import Cluster, Outcome, Target
    from platformctl.readiness import WorkloadState
    from platformctl.settings import Settings


# --- the target ---------------------------------------------------------------------------------


def uses_minikube(settings: Settings) -> bool:
    """minikube unless a context was named: then minikube is never touched."""
    return settings.context is None


def intended_context(settings: Settings) -> tuple[str, str]:
    """(the only context this run may use, where that choice came from)."""
    if settings.context is not None:
        return settings.context, "--context"
    return settings.minikube.profile, "minikube.profile"


def target(settings: Settings) -> Target:
    """The guard: the intended context resolved from kubeconfig, or WrongTargetError (nothing sent)."""
    from platformctl import kube

    context, origin = intended_context(settings)
    return kube.resolve_target(context, origin=origin)


def _minikube_version_guard(settings: Settings, running_version: str | None) -> None:
    wanted = settings.minikube.kubernetes_version
    if running_version and running_version != wanted:
        profile = settings.minikube.profile
        raise InputError(
            f"minikube profile {profile!r} runs Kubernetes {running_version}, but {wanted} is configured; "
            "platformctl does not recreate a cluster behind your back",
            field="minikube.kubernetes-version",
            hint=f"set minikube.kubernetes-version: {running_version} in platformctl.yaml, or "
            f"`minikube delete -p {profile}` and run `platformctl up` again",
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

    outcome: str  # "seeded", "already present" or "skipped"
    key: str
    reason: str | None = None  # why it was skipped

    def describe(self, settings: Settings) -> str:
        from platformctl import overrides

        env = settings.env
        values = ", ".join(f"{k}={v}" for k, v in overrides.SEED_TOPIC_DEFAULTS.items())
        if self.outcome == "seeded":
            return f"topic-defaults of environment {env!r}: seeded ({values})"
        if self.outcome == "already present":
            return f"topic-defaults of environment {env!r}: already present, left as they are"
        return (
            f"topic-defaults of environment {env!r}: skipped ({self.reason}); "
            f"run `{seed_command(settings)}` once etcd is ready"
        )


def seed_command(settings: Settings) -> str:
    """`platformctl overrides seed` with the flags that reach the same namespace and environment."""
    flags = [f"--context {settings.context}"] if settings.context else []
    flags += [f"-n {settings.namespace}"] if settings.namespace != "dev" else []
    flags += [f"--env {settings.env}"] if settings.env != "dev" else []
    return " ".join(["platformctl", *flags, "overrides seed"])


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
    from platformctl import minikube

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
    from platformctl import kube

    run.target = target(run.settings)
    run.cluster = kube.Cluster.connect(run.target)


def step_images(run: UpRun) -> None:
    """Every pinned image into minikube's node and cache, pulling only what is missing (images.py).

    minikube only: with --context the cluster pulls as it always does. The version is the configured one,
    which the `minikube` step has made sure the profile runs.
    """
    if not run.use_minikube:
        ui.detail("images: not cached (--context: the cluster pulls its own images)")
        return
    if run.options.skip_images:
        ui.info("images: skipped (--skip-images)")
        return
    from platformctl import imageprogress, images

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
    from platformctl import kube

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
        run.outcomes = kube.sync(
            run.need_cluster(),
            run.rendered.documents,
            namespace=ns,
            selector=render.selector(ns),
            force=run.options.force_conflicts,
            on_outcome=report,
        )


def step_wait(run: UpRun) -> None:
    """Wait for every workload with a live display; stop at once with a diagnosis when one cannot start."""
    from platformctl import kube

    if not run.options.wait:
        ui.detail("not waiting for readiness (--no-wait)")
        return
    ns = run.settings.namespace
    workloads = [(c.kind, c.name) for c in render.components(run.settings)]
    with ReadinessView() as view:
        run.states = kube.wait_ready(
            run.need_cluster(),
            ns,
            render.selector(ns),
            workloads,
            timeout=run.options.timeout,
            on_progress=view.update,
        )


def step_seed(run: UpRun) -> None:
    """Write the environment's one-broker topic-defaults in etcd when it has none (never overwrites).

    etcd is `etcd.endpoint` when configured, else the platform's own through an in-process forward. This
    step never fails `up`: with --no-wait etcd may not be ready, so it is skipped; an etcd that cannot be
    reached (within the store's timeout) is reported as skipped, with the command to run later.
    """
    from platformctl import etcd, overrides, reach
    from platformctl.etcd import EtcdStore

    env = run.settings.env
    key = etcd.topic_defaults_key(env)
    if not run.options.wait:
        run.seeding = Seeding("skipped", key, "etcd was not waited for: --no-wait")
    else:
        try:
            with contextlib.ExitStack() as stack:
                endpoint = run.settings.etcd.endpoint or f"http://{reach.forward_to(stack, run.settings, 'etcd')}"
                with ui.status(f"seeding {key}"):
                    written = overrides.seed(EtcdStore(endpoint), env)
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
    lines = ["next:", "  platformctl status"]
    if seeding is not None and seeding.outcome == "skipped":
        lines.append(f"  {seed_command(settings)}   # once etcd is ready")
    for component in render.components(settings):
        for target, port in component.ports.items():
            if target in ("kafka-ui", "kafka"):
                where = "localhost:9092 for Kafka clients" if target == "kafka" else f"http://127.0.0.1:{port}"
                lines.append(f"  platformctl port-forward {target}   # then {where}")
    lines.append("  platformctl topics apply examples/twitter-topic.conf")
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


# --- down ---------------------------------------------------------------------------------------


@dataclass
class DownPlan:
    settings: Settings
    cluster_action: str | None  # None, "stop" or "delete"
    objects: list[dict[str, Any]] = field(default_factory=list)
    cluster: Cluster | None = None
    profile_exists: bool = False
    profile_running: bool = False

    def describe(self) -> str:
        from platformctl import kube

        parts = []
        if self.objects:
            names = ", ".join(kube.describe(*kube.ref(o)) for o in reversed(self.objects))
            parts.append(f"delete {len(self.objects)} objects labelled by platformctl ({names})")
            if any(o.get("kind") == "Namespace" for o in self.objects):
                parts.append(self._data_loss())
        if self.cluster_action and self.profile_exists:
            parts.append(f"{self.cluster_action} minikube profile {self.settings.minikube.profile!r}")
        return "; ".join(parts)

    def _data_loss(self) -> str:
        ns = self.settings.namespace
        text = f"namespace {ns!r} goes with everything in it: every topic and its data in Kafka"
        if self.settings.etcd.endpoint is None:
            return text + ", and the environment overrides and applied records in the platform's etcd"
        return text + f" (the overrides in etcd at {self.settings.etcd.endpoint} are kept)"

    @property
    def empty(self) -> bool:
        return not self.objects and not (self.cluster_action and self.profile_exists)


def plan_down(settings: Settings, cluster_action: str | None) -> DownPlan:
    """What `down` would remove; reads only (the objects by label, the minikube profile)."""
    from platformctl import kube

    plan = DownPlan(settings=settings, cluster_action=cluster_action)
    if cluster_action and not uses_minikube(settings):
        raise InputError(
            "--cluster stops or deletes minikube's profile; with --context platformctl never touches the "
            "cluster itself",
            field="--cluster",
        )
    if uses_minikube(settings):
        from platformctl import minikube

        found = minikube.profile(settings.minikube.profile)
        plan.profile_exists = found is not None
        plan.profile_running = bool(found and found.running)
        if cluster_action == "delete":
            return plan  # deleting the profile removes everything in it
        if not plan.profile_running:
            if cluster_action == "stop":
                plan.profile_exists = False  # nothing to stop
                return plan
            raise PlatformError(
                f"minikube profile {settings.minikube.profile!r} is not running, so its objects cannot be deleted",
                hint=f"start it with `minikube start -p {settings.minikube.profile}` first, or "
                "`platformctl down --cluster delete` to remove the whole cluster",
            )
    plan.cluster = kube.Cluster.connect(target(settings))
    ns = settings.namespace
    plan.objects = kube.find_labelled(plan.cluster, ns, render.selector(ns))
    return plan


def down(plan: DownPlan, *, timeout: float = 300.0) -> None:
    from platformctl import kube

    try:
        if plan.cluster is not None and plan.objects:
            ns = plan.settings.namespace
            selector = render.selector(ns)
            kube.delete_objects(plan.cluster, plan.objects, selector, on_delete=lambda n: ui.info(f"  {n} deleted"))
            with ui.status(f"waiting until the platform in {ns!r} is gone"):
                kube.wait_gone(plan.cluster, plan.objects, ns, selector, timeout=timeout)
            ui.info(f"removed {len(plan.objects)} objects from context {plan.cluster.target.context!r}")
    finally:
        if plan.cluster is not None:
            plan.cluster.close()
    if plan.cluster_action and plan.profile_exists:
        from platformctl import minikube

        profile = plan.settings.minikube.profile
        with ui.status(f"{'stopping' if plan.cluster_action == 'stop' else 'deleting'} minikube profile {profile!r}"):
            (minikube.stop if plan.cluster_action == "stop" else minikube.delete)(profile)
        ui.info(f"minikube profile {profile!r} {'stopped' if plan.cluster_action == 'stop' else 'deleted'}")


# --- status -------------------------------------------------------------------------------------


def security_report(cluster: Cluster, settings: Settings, version: render.KubeVersion) -> dict[str, Any]:
    """The security mode in force (namespace labels, policies present) next to the expected one."""
    from platformctl import kube

    ns = settings.namespace
    expected = render.security_mode(settings, version)
    namespace = cluster.get(kube.NAMESPACE, None, ns)
    labels = ((namespace or {}).get("metadata") or {}).get("labels") or {}
    enforce = labels.get("pod-security.kubernetes.io/enforce")
    report: dict[str, Any] = {
        "expected": expected.describe(),
        "namespace_exists": namespace is not None,
        "pod_security_enforce": enforce,
        "pod_security_version": labels.get("pod-security.kubernetes.io/enforce-version"),
    }
    selector = render.selector(ns)
    if expected.clusterip_policy:
        vap = next(k for k in kube.KINDS if k.kind == "ValidatingAdmissionPolicy")
        report["clusterip_policy"] = bool(cluster.list_objects(vap, None, selector))
    if expected.mechanism == "pod-security-policy":
        psp = next(k for k in kube.KINDS if k.kind == "PodSecurityPolicy")
        report["pod_security_policy"] = [o["metadata"]["name"] for o in cluster.list_objects(psp, None, selector)]
    if expected.mechanism == "pod-security-admission":
        report["in_force"] = f"pod-security-admission ({enforce})" if enforce else "none"
    else:
        report["in_force"] = (
            f"pod-security-policy ({', '.join(report['pod_security_policy'])})"
            if report["pod_security_policy"]
            else "none"
        )
    return report


def status(settings: Settings) -> dict[str, Any]:
    """Cluster, server version, security mode and each component's readiness, as plain data."""
    from platformctl import kube

    if uses_minikube(settings):
        from platformctl import minikube

        found = minikube.profile(settings.minikube.profile)
        if found is None or not found.running:
            raise PlatformError(
                f"minikube profile {settings.minikube.profile!r} is "
                f"{'not created' if found is None else found.status.lower()}",
                hint="`platformctl up` starts it",
            )
    cluster = kube.Cluster.connect(target(settings))
    try:
        server_version = cluster.version()
        version = render.parse_version(server_version, origin=f"server version of {cluster.target.context}")
        security = security_report(cluster, settings, version)
        ns = settings.namespace
        components = render.components(settings)
        states = kube.workload_states(cluster, ns, render.selector(ns), [(c.kind, c.name) for c in components])
    finally:
        cluster.close()
    return {
        "cluster": {
            "context": cluster.target.context,
            "server": cluster.server,
            "version": server_version,
            "minikube_profile": settings.minikube.profile if uses_minikube(settings) else None,
        },
        "namespace": settings.namespace,
        "security": security,
        "components": [
            {
                "name": c.name,
                "kind": c.kind,
                "image": c.image,
                "service": c.service,
                "ready": f"{s.ready}/{s.desired}" if s.exists else "0/0",
                "state": "ready" if s.ready_now else ("missing" if not s.exists else "not ready"),
                "detail": s.summary,
                "forwards": {t: f"127.0.0.1:{p}" for t, p in c.ports.items()},
                "local_ports": {t: local_port(p) for t, p in c.ports.items()},
            }
            for c, s in zip(components, states, strict=True)
        ],
        "ready": all(s.ready_now for s in states),
    }


def local_port(port: int) -> dict[str, Any]:
    """Whether the local end of a port-forward is taken (by a running `port-forward`, or by something else)."""
    from platformctl import forward

    in_use = forward.port_in_use(port)
    holder = forward.port_holder(port) if in_use else None
    return {"address": f"127.0.0.1:{port}", "in_use": in_use, "holder": holder}


def _forward_detail(target: str, state: dict[str, Any]) -> str:
    text = f"{target} -> {state['address']}"
    if state["in_use"]:
        text += f" (in use by {state['holder']})" if state["holder"] else " (in use)"
    return text


def status_table(report: dict[str, Any]) -> Any:
    from rich.table import Table

    cluster, security = report["cluster"], report["security"]
    table = Table(title=f"platformctl status: namespace {report['namespace']}", title_justify="left")
    table.add_column("")
    table.add_column("state")
    table.add_column("detail")
    table.add_row("cluster", cluster["context"], cluster["server"])
    table.add_row("kubernetes", cluster["version"], "")
    table.add_row("security", security["in_force"], f"expected: {security['expected']}")
    for c in report["components"]:
        forwards = ", ".join(_forward_detail(t, state) for t, state in c["local_ports"].items())
        detail = c["detail"] if c["state"] != "ready" else forwards
        table.add_row(c["name"], f"{c['state']} {c['ready']}", detail)
    return table
