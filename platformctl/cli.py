"""The command line: every command, its options, and the one error boundary.

Commands are thin: parse options, build `Settings`, call a logic module, print. Logic modules never
import Typer, and heavy clients (kubernetes, confluent_kafka, docker, etcd3gw, pyhocon, pydantic) are
imported inside the command that needs them so `platformctl --help` stays fast (ruff's TID253 and
`tests/test_startup.py` enforce it).

Errors: every module raises `PlatformError` subclasses; `_BoundaryGroup.invoke` is the single place that
prints them (one line, plus a hint) and maps them to exit codes. `--debug` re-raises for the traceback.
"""

from __future__ import annotations

import enum
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup
from typer.exceptions import Abort, Exit, TyperException

from platformctl import __version__, ui
from platformctl.config import (
    ENV_BOOTSTRAP_SERVER,
    ENV_CONFIG,
    ENV_CONTEXT,
    ENV_DEBUG,
    ENV_ENV,
    ENV_ETCD_ENDPOINT,
    ENV_KUBERNETES_VERSION,
    ENV_NAMESPACE,
    ENV_OFFLINE,
    ENV_OUTPUT,
    ENV_TIMEOUT,
    ENV_YES,
    GlobalOptions,
    Override,
)
from platformctl.errors import ExitCode, InputError, PlatformError

if TYPE_CHECKING:
    from platformctl.etcd import EnvLock, EtcdStore
    from platformctl.overrides import Change
    from platformctl.settings import Settings
    from platformctl.topics import EffectiveTopic
    from platformctl.topicspec import Layer


class OutputFormat(enum.StrEnum):
    text = "text"
    json = "json"


class _BoundaryGroup(TyperGroup):
    """Turns every error into one message on stderr and the documented exit code."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except PlatformError as e:
            if _debug(ctx):
                raise
            ui.error(str(e), e.hint)
            raise Exit(int(e.exit_code)) from None
        except (KeyboardInterrupt, Abort):
            if _debug(ctx):
                raise
            ui.error("interrupted")
            raise Exit(int(ExitCode.INTERRUPTED)) from None
        except (Exit, TyperException):
            raise
        except Exception as e:
            if _debug(ctx):
                raise
            ui.error(
                f"internal error: {type(e).__name__}: {e}",
                "this is a bug in platformctl; run again with --debug for the traceback and report it",
            )
            raise Exit(int(ExitCode.FAULT)) from None


def _debug(ctx: typer.Context) -> bool:
    options = ctx.obj
    return bool(isinstance(options, GlobalOptions) and options.debug)


app = typer.Typer(
    cls=_BoundaryGroup,
    name="platformctl",
    help="A faithful local copy of the streaming data platform (Kafka, Schema Registry, etcd, Fluentd) "
    "on Kubernetes, kept in sync with declarative config.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        ui.data(f"platformctl {__version__}")
        raise typer.Exit()


@app.callback()
def _global(
    ctx: typer.Context,
    context: Annotated[
        str | None,
        typer.Option(
            "--context",
            envvar=ENV_CONTEXT,
            help="Use this existing kube context instead of minikube; nothing else is ever touched.",
        ),
    ] = None,
    namespace: Annotated[
        str | None,
        typer.Option(
            "--namespace", "-n", envvar=ENV_NAMESPACE, help="Namespace of the platform [default: dev]."
        ),
    ] = None,
    env: Annotated[
        str | None,
        typer.Option("--env", envvar=ENV_ENV, help="Environment whose overrides apply [default: dev]."),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            envvar=ENV_CONFIG,
            help="Settings file [default: ./platformctl.yaml when present].",
            dir_okay=False,
        ),
    ] = None,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="More progress on stderr.")] = 0,
    quiet: Annotated[int, typer.Option("--quiet", "-q", count=True, help="Less progress on stderr.")] = 0,
    debug: Annotated[
        bool, typer.Option("--debug", envvar=ENV_DEBUG, help="Show tracebacks instead of one-line errors.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    ui.reset()
    ui.set_verbosity(verbose, quiet)
    ctx.obj = GlobalOptions(
        config=config,
        context=context,
        namespace=namespace,
        env=env,
        verbose=verbose,
        quiet=quiet,
        debug=debug,
    )


def _options(ctx: typer.Context) -> GlobalOptions:
    options = ctx.find_root().obj
    assert isinstance(options, GlobalOptions)
    return options


OutputOption = Annotated[
    OutputFormat, typer.Option("--output", "-o", envvar=ENV_OUTPUT, help="Output format for data on stdout.")
]


# --- render (foundation) -------------------------------------------------------------------------


@app.command()
def render(
    ctx: typer.Context,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", file_okay=False, help="Write one file per component into DIR instead of stdout."
        ),
    ] = None,
    kubernetes_version: Annotated[
        str | None,
        typer.Option(
            "--kubernetes-version",
            envvar=ENV_KUBERNETES_VERSION,
            help="Target server version (X.Y); chooses Pod Security admission or PodSecurityPolicy "
            "[default: minikube.kubernetes-version].",
        ),
    ] = None,
) -> None:
    """Print the manifests `up` would apply, in apply order. Works with no cluster."""
    from platformctl import config
    from platformctl import render as rendering

    options = _options(ctx)
    settings = config.settings(options)
    version = rendering.parse_version(
        kubernetes_version or settings.minikube.kubernetes_version,
        origin="--kubernetes-version" if kubernetes_version else "minikube.kubernetes-version",
    )
    result = rendering.render(settings, version)
    for warning in result.warnings:
        ui.warn(warning)
    if out is None:
        ui.data(rendering.to_yaml(result.documents))
        return
    written = rendering.write_files(result, out)
    for path in written:
        ui.info(f"wrote {path}")


# --- images (issue 4) ------------------------------------------------------------------------------

images_app = typer.Typer(
    help="The platform's pinned images in minikube: list where they are, cache what is missing.",
    no_args_is_help=True,
)
app.add_typer(images_app, name="images")

OfflineOption = Annotated[
    bool,
    typer.Option(
        "--offline",
        envvar=ENV_OFFLINE,
        help="Pull nothing: fail at once, listing every image the minikube node lacks.",
    ),
]


def _kube_version(settings: Any) -> Any:
    from platformctl import render as rendering

    return rendering.parse_version(settings.minikube.kubernetes_version, origin="minikube.kubernetes-version")


@images_app.command("list")
def images_list(ctx: typer.Context, output: OutputOption = OutputFormat.text) -> None:
    """Every image the rendered platform uses, and whether the minikube node and minikube's cache have it."""
    from platformctl import config, images

    settings = config.settings(_options(ctx))
    _, found = images.image_states(settings, _kube_version(settings))
    if output is OutputFormat.json:
        ui.data_json([state.as_json() for state in found])
        return
    width = max([len("IMAGE"), *(len(s.image) for s in found)])
    rows = [f"{'IMAGE':<{width}}  NODE  CACHE  USED BY"]
    for s in found:
        node, cache = ("yes" if s.in_node else "no"), ("yes" if s.in_cache else "no")
        rows.append(f"{s.image:<{width}}  {node:<4}  {cache:<5}  {', '.join(s.used_by)}")
    ui.data("\n".join(rows))


@images_app.command("cache")
def images_cache(ctx: typer.Context, offline: OfflineOption = False) -> None:
    """Make every pinned image present in the minikube node and cache; images already there are left alone."""
    from platformctl import config, imageprogress, images

    settings = config.settings(_options(ctx))
    version = _kube_version(settings)
    with imageprogress.reporter() as progress:
        report = images.cache_images(settings, version, offline=offline, reporter=progress)
    ui.info(report.summary())
    report.raise_if_failed()

# --- port-forward (issue 7) -----------------------------------------------------------------------


@app.command("port-forward")
def port_forward(
    ctx: typer.Context,
    names: Annotated[
        list[str],
        typer.Argument(
            metavar="TARGET[:PORT]",
            help="kafka-ui, schema-registry, kafka, etcd, fluentd; several at once are fine. "
            ":PORT picks the local port (0: any free one; default: the service port).",
            show_default=False,
        ),
    ],
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            help="Local port for a single target (0 picks a free one; default: the service port). "
            "kafka always uses 9092, the port the broker advertises.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Forward platform services to 127.0.0.1 (only) until Ctrl-C; prints one URL per target.

    Every connection opens its own forward to a ready pod, so the forward outlives pod restarts.
    """
    from platformctl import config, forward

    settings = config.settings(_options(ctx))
    plans = forward.targets(settings, names, port)
    forwards = [forward.build(settings, plan) for plan in plans]

    def announce() -> None:
        for plan, fwd in zip(plans, forwards, strict=True):
            service = f"{settings.namespace}/{plan.service}:{plan.service_port}"
            ui.info(f"{plan.name}: {fwd.url()} -> service {service}")
            ui.data(fwd.url())
        ui.info("forwarding; press Ctrl-C to stop")

    forward.serve(forwards, on_ready=announce)


# --- up, down, status, doctor (issue 3) ----------------------------------------------------------


class ClusterAction(enum.StrEnum):
    stop = "stop"
    delete = "delete"


@app.command()
def up(
    ctx: typer.Context,
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Wait until every component is ready.")
    ] = True,
    timeout: Annotated[
        float,
        typer.Option("--timeout", envvar=ENV_TIMEOUT, min=0, help="Seconds to wait for readiness."),
    ] = 600.0,
    force_conflicts: Annotated[
        bool,
        typer.Option(
            "--force-conflicts",
            help="Take back fields another field manager changed (server-side apply force).",
        ),
    ] = False,
) -> None:
    """Start minikube (or use --context), apply the platform with server-side apply, wait until ready.

    A re-run with nothing changed sends no write and reports every component unchanged.
    """
    from platformctl import config, lifecycle

    settings = config.settings(_options(ctx))
    lifecycle.up(settings, lifecycle.UpOptions(wait=wait, timeout=timeout, force_conflicts=force_conflicts))


@app.command()
def down(
    ctx: typer.Context,
    yes: Annotated[bool, typer.Option("--yes", "-y", envvar=ENV_YES, help="Do not ask for confirmation.")] = False,
    cluster: Annotated[
        ClusterAction | None,
        typer.Option("--cluster", help="Also stop or delete the minikube profile."),
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", envvar=ENV_TIMEOUT, min=0, help="Seconds to wait until it is gone.")
    ] = 300.0,
) -> None:
    """Delete everything `up` created (by label, cluster-scoped objects too) and wait until it is gone."""
    from platformctl import config, lifecycle
    from platformctl.errors import InputError

    if not yes and not _interactive():
        raise InputError(
            "refusing to delete without confirmation on a non-interactive terminal",
            field="--yes",
            hint="run `platformctl down --yes` to confirm",
        )
    settings = config.settings(_options(ctx))
    plan = lifecycle.plan_down(settings, cluster.value if cluster else None)
    if plan.empty:
        if plan.cluster is not None:
            plan.cluster.close()
        ui.info(f"nothing to delete: no objects labelled by platformctl for namespace {settings.namespace!r}")
        return
    if not yes and not typer.confirm(f"{plan.describe()}. Continue?", default=False, err=True):
        if plan.cluster is not None:
            plan.cluster.close()
        raise Abort()
    lifecycle.down(plan, timeout=timeout)


@app.command()
def status(ctx: typer.Context, output: OutputOption = OutputFormat.text) -> None:
    """Cluster, server version, security mode and each component's readiness."""
    from platformctl import config, lifecycle

    report = lifecycle.status(config.settings(_options(ctx)))
    if output is OutputFormat.json:
        ui.data_json(report)
    else:
        ui.out().print(lifecycle.status_table(report))


@app.command()
def doctor(ctx: typer.Context, output: OutputOption = OutputFormat.text) -> None:
    """Check what goes wrong before it does: minikube, driver, memory/CPUs, context, ports, versions, images."""
    from rich.table import Table

    from platformctl import config
    from platformctl import doctor as checkup

    checks = checkup.run(config.settings(_options(ctx)))
    if output is OutputFormat.json:
        ui.data_json([{"check": c.name, "ok": c.ok, "detail": c.detail, "fix": c.fix} for c in checks])
    else:
        table = Table(title="platformctl doctor", title_justify="left")
        table.add_column("check")
        table.add_column("result")
        table.add_column("detail")
        for c in checks:
            detail = c.detail if c.ok or not c.fix else f"{c.detail}; fix: {c.fix}"
            table.add_row(c.name, "ok" if c.ok else "FAIL", detail)
        ui.out().print(table)
    failed = [c.name for c in checks if not c.ok]
    if failed:
        raise PlatformError(f"{len(failed)} of {len(checks)} checks failed: {', '.join(failed)}")


# --- topics plan / apply (issue 5) -----------------------------------------------------------------

topics_app = typer.Typer(
    cls=TyperGroup,
    help="Declarative topics from HOCON (.conf) or YAML files: plan never writes, apply asks first.",
    no_args_is_help=True,
)
app.add_typer(topics_app, name="topics")

FilesArgument = Annotated[
    list[Path],
    typer.Argument(help="Topic files (.conf, .yaml, .yml) or directories of them.", show_default=False),
]
BootstrapOption = Annotated[
    str | None,
    typer.Option(
        "--bootstrap-server",
        envvar=ENV_BOOTSTRAP_SERVER,
        help="Kafka bootstrap address (host:port) [default: kafka.bootstrap-server].",
    ),
]
SetOption = Annotated[
    list[str],
    typer.Option(
        "--set",
        help="Override one value: TOPIC.KEY=VALUE, KEY being partitions, replication-factor or a Kafka "
        "topic config; TOPIC '*' means every topic in the files. Repeatable; applied after the files "
        "and environment overrides, later wins.",
    ),
]
AllowUnknownOption = Annotated[
    bool,
    typer.Option(
        "--allow-unknown-config", help="Pass config keys platformctl does not know through unchecked."
    ),
]
DestructiveOption = Annotated[
    bool,
    typer.Option("--destructive", help="Remove config keys set on the cluster but absent from the files."),
]
RepartitionOption = Annotated[
    bool,
    typer.Option(
        "--allow-repartition",
        help="Allow adding partitions to compacted topics (moves keys to other partitions).",
    ),
]
PruneOption = Annotated[
    bool,
    typer.Option(
        "--prune",
        help="Delete topics that platformctl applied (its records in etcd) and that are no longer in the "
        "files (after confirmation).",
    ),
]
ClusterIdOption = Annotated[
    str | None,
    typer.Option(
        "--cluster-id",
        help="Refuse to act unless the Kafka cluster has this id [default: kafka.cluster-id when set in "
        "platformctl.yaml, or the files' cluster-id].",
    ),
]


def _parse_sets(sets: list[str], names: list[str], allow_unknown_config: bool) -> dict[str, list[Any]]:
    """`--set TOPIC.KEY=VALUE` items as one `cli` layer per topic (topic names may contain dots)."""
    from platformctl import topicspec
    from platformctl.errors import InputError, InputErrors

    source = topicspec.Source("cli", "--set")
    values: dict[str, dict[str, int | str]] = {}
    errors: list[InputError] = []
    for item in sets:
        target, eq, raw = item.partition("=")
        topic = next(
            (n for n in sorted([*names, "*"], key=len, reverse=True) if target.startswith(n + ".")), None
        )
        if not eq:
            errors.append(
                InputError(f"expected TOPIC.KEY=VALUE (got {item!r})", path="command line", field="--set")
            )
            continue
        if topic is None:
            errors.append(
                InputError(
                    f"no topic in the files matches {item!r} (expected TOPIC.KEY=VALUE; TOPIC '*' means all)",
                    path="command line",
                    field="--set",
                )
            )
            continue
        key = target[len(topic) + 1 :]
        value: int | str = raw
        if key in topicspec.TOPIC_FIELDS and raw.strip().lstrip("+-").isdigit():
            value = int(raw)
        try:
            value = topicspec.validate_value(key, value, allow_unknown_config=allow_unknown_config)
        except ValueError as e:
            errors.append(InputError(str(e), path="command line", field=f"--set {target}"))
            continue
        for name in names if topic == "*" else [topic]:
            values.setdefault(name, {})[key] = value
    InputErrors.raise_if_any(errors)
    return {name: [topicspec.Layer(source, layer)] for name, layer in values.items()}


def _topics_plan(
    ctx: typer.Context,
    files: list[Path],
    bootstrap_server: str | None,
    sets: list[str],
    allow_unknown_config: bool,
    destructive: bool,
    allow_repartition: bool,
    prune: bool,
    cluster_id: str | None,
    etcd_endpoint: str | None = None,
    no_overrides: bool = False,
    lock: bool = False,
) -> tuple[Any, Any]:
    from platformctl import config, kafka, topics
    from platformctl.errors import InputError

    overrides = (Override("kafka.bootstrap-server", bootstrap_server, "--bootstrap-server"),)
    given = (*(overrides if bootstrap_server else ()), *_etcd_override(etcd_endpoint))
    settings = config.settings(_options(ctx), given)
    specs = topics.load_files(files, allow_unknown_config=allow_unknown_config)
    layers = _parse_sets(sets, [s.name for s in specs], allow_unknown_config)
    server = settings.kafka.bootstrap_server
    if not server:
        raise InputError(
            "no Kafka to talk to: give --bootstrap-server HOST:PORT",
            hint=f"or set {ENV_BOOTSTRAP_SERVER}, or kafka.bootstrap-server in platformctl.yaml",
        )
    expected = None
    if cluster_id:
        expected = (cluster_id, "--cluster-id")
    elif "cluster_id" in settings.kafka.model_fields_set:
        expected = (settings.kafka.cluster_id, "kafka.cluster-id in the settings")
    # Environment overrides come before any contact with Kafka: if etcd is expected but unreachable, the
    # run stops here instead of applying the files' production values to this environment.
    env_layers, managed = _env_layers(
        ctx, settings, [s.name for s in specs], no_overrides=no_overrides, prune=prune, lock=lock,
        allow_unknown_config=allow_unknown_config,
    )  # fmt: skip
    layers = {name: [*env_layers.get(name, []), *layers.get(name, [])] for name in {*env_layers, *layers}}
    admin = kafka.Admin(server, timeout=settings.kafka.request_timeout)
    with ui.status(f"reading {len(specs)} topic(s) from Kafka at {server}"):
        cluster = admin.describe([s.name for s in specs])
    result = topics.plan(
        specs,
        cluster,
        layers,
        destructive=destructive,
        allow_repartition=allow_repartition,
        prune=prune,
        managed=managed,
        allow_unknown_config=allow_unknown_config,
        expected_cluster_id=expected,
    )
    if prune and not managed:
        ui.warn("--prune: no topic is recorded as managed by platformctl, so none will be deleted")
    return result, admin


def _blocked(result: Any) -> None:
    from platformctl.errors import InputError

    if result.blocked:
        reasons = [f"{t.name}: {c.key}: {c.reason}" for t in result.blocked for c in t.changes if c.reason]
        raise InputError(
            f"impossible change(s), nothing applied: {reasons[0]}"
            + (f" (and {len(reasons) - 1} more, see the plan)" if len(reasons) > 1 else ""),
            hint="change the files or overrides as the plan says, then run again",
        )


def _interactive() -> bool:
    return sys.stdin.isatty()


@topics_app.command("plan")
def topics_plan(
    ctx: typer.Context,
    files: FilesArgument,
    bootstrap_server: BootstrapOption = None,
    sets: SetOption = [],  # noqa: B006 (Typer needs a list default for a repeatable option)
    output: OutputOption = OutputFormat.text,
    allow_unknown_config: AllowUnknownOption = False,
    destructive: DestructiveOption = False,
    allow_repartition: RepartitionOption = False,
    prune: PruneOption = False,
    cluster_id: ClusterIdOption = None,
    etcd_endpoint: EtcdEndpointOption = None,
    no_overrides: NoOverridesOption = False,
) -> None:
    """Show what `apply` would change, per topic and key, with where each value came from. Never writes.

    Exits 2 when a change is impossible (fewer partitions, a replication-factor change, ...).
    """
    from platformctl import topics

    result, _ = _topics_plan(
        ctx,
        files,
        bootstrap_server,
        sets,
        allow_unknown_config,
        destructive,
        allow_repartition,
        prune,
        cluster_id,
        etcd_endpoint,
        no_overrides,
    )
    if output == OutputFormat.json:
        ui.data_json(result.to_json())
    else:
        ui.data(topics.format_plan(result))
    _blocked(result)


@topics_app.command("apply")
def topics_apply(
    ctx: typer.Context,
    files: FilesArgument,
    bootstrap_server: BootstrapOption = None,
    sets: SetOption = [],  # noqa: B006 (Typer needs a list default for a repeatable option)
    output: OutputOption = OutputFormat.text,
    allow_unknown_config: AllowUnknownOption = False,
    destructive: DestructiveOption = False,
    allow_repartition: RepartitionOption = False,
    prune: PruneOption = False,
    cluster_id: ClusterIdOption = None,
    etcd_endpoint: EtcdEndpointOption = None,
    no_overrides: NoOverridesOption = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", envvar=ENV_YES, help="Apply without asking.")] = False,
) -> None:
    """Make the cluster match the files: create topics, add partitions, set or remove config keys.

    Shows the plan and asks first (unless --yes). Topics are never deleted, except with --prune.
    A re-run with nothing to change sends nothing.
    """
    from platformctl import topics
    from platformctl.errors import InputError

    plan_args = (ctx, files, bootstrap_server, sets, allow_unknown_config, destructive, allow_repartition, prune,
                 cluster_id, etcd_endpoint, no_overrides)  # fmt: skip
    result, admin = _topics_plan(*plan_args)
    if output == OutputFormat.text:
        ui.data(topics.format_plan(result))
    _blocked(result)
    if not result.mutating:
        if output == OutputFormat.json:
            ui.data_json({"plan": result.to_json(), "applied": topics.Applied().to_json()})
        else:
            ui.info("nothing to change")
        return
    if not yes:
        if not _interactive():
            raise InputError(
                "refusing to change Kafka without confirmation: stdin is not a terminal",
                hint=f"review `platformctl topics plan`, then re-run with --yes (or {ENV_YES}=1)",
            )
        doomed = [t.name for t in result.topics if t.action == "prune"]
        question = "Apply these changes?"
        if doomed:
            question = f"Apply these changes and DELETE {len(doomed)} topic(s) ({', '.join(doomed)})?"
        if not typer.confirm(question, default=False, err=True):
            ui.info("nothing applied")
            raise typer.Exit(int(ExitCode.FAULT))
    if isinstance(ctx.meta.get(_ETCD_RUN), _EtcdRun):
        # The environment lock is taken only now that there is something to apply, so a run with nothing
        # to change (or with bad input) writes nothing to etcd; the plan is made again under the lock,
        # and applied only if it is still the one shown.
        shown = result.digest
        result, admin = _topics_plan(*plan_args, lock=True)
        if result.digest != shown:
            raise PlatformError(
                "the plan changed since it was shown (the environment's overrides or the topics changed "
                "meanwhile); nothing applied",
                hint="review `platformctl topics plan` and run again",
            )
    with ui.status("applying"):
        recorder = _AppliedRecorder.of(ctx)
        done = topics.apply(result, admin, on_applied=recorder)
    if recorder is not None:
        recorder.finish(done.pruned)
    if output == OutputFormat.json:
        ui.data_json({"plan": result.to_json(), "applied": done.to_json()})
    else:
        ui.data(topics.format_applied(done))


# --- overrides (issue 6) -------------------------------------------------------------------------

overrides_app = typer.Typer(
    cls=TyperGroup,
    no_args_is_help=True,
    help="Environment overrides in etcd: each environment's deviations from the topic files "
    "(file < topic-defaults < topics/<topic> < --set).",
)
app.add_typer(overrides_app, name="overrides")

EtcdEndpointOption = Annotated[
    str | None,
    typer.Option(
        "--etcd-endpoint",
        envvar=ENV_ETCD_ENDPOINT,
        help="etcd client URL, e.g. http://127.0.0.1:2379 (default: etcd.endpoint in platformctl.yaml).",
    ),
]
NoOverridesOption = Annotated[
    bool,
    typer.Option(
        "--no-overrides",
        help="Do not read etcd at all: the files' values (and --set) apply as they are; no lock, no record.",
    ),
]
DefaultsOption = Annotated[
    bool, typer.Option("--defaults", help="Act on the environment's topic-defaults instead of one topic.")
]
AllowUnknownConfigOption = Annotated[
    bool,
    typer.Option(
        "--allow-unknown-config", help="Accept Kafka config names platformctl does not know, unchecked."
    ),
]


def _etcd_store(ctx: typer.Context, endpoint: str | None) -> tuple[Settings, EtcdStore]:
    """The settings and a store for the configured etcd; exit 2 saying how to configure one if none is."""
    from platformctl import config
    from platformctl.etcd import EtcdStore

    settings = config.settings(_options(ctx), _etcd_override(endpoint))
    if settings.etcd.endpoint is None:
        raise InputError(
            "no etcd endpoint configured",
            path="command line",
            field="--etcd-endpoint",
            hint=f"pass --etcd-endpoint http://127.0.0.1:2379, set {ENV_ETCD_ENDPOINT}, or set etcd.endpoint "
            "in platformctl.yaml (reach the platform's etcd: `kubectl port-forward -n dev svc/etcd 2379`)",
        )
    return settings, EtcdStore(settings.etcd.endpoint)


def _etcd_override(endpoint: str | None) -> tuple[Override, ...]:
    origin = f"--etcd-endpoint / {ENV_ETCD_ENDPOINT}"
    return (Override("etcd.endpoint", endpoint, origin),) if endpoint else ()


_ETCD_RUN = "platformctl.etcd-run"  # ctx.meta key: the store, env and lock of this topics command


@dataclass
class _EtcdRun:
    store: EtcdStore
    env: str
    lock: EnvLock | None


def _env_layers(
    ctx: typer.Context,
    settings: Settings,
    names: list[str],
    *,
    no_overrides: bool,
    prune: bool,
    lock: bool,
    allow_unknown_config: bool,
) -> tuple[dict[str, list[Layer]], frozenset[str]]:
    """The etcd layers of each topic and the names `--prune` may delete, for `topics plan/apply`.

    With `lock`, the environment lock is taken first and held until the command ends (success, error
    or Ctrl-C: the command context releases it).
    """
    from platformctl import overrides
    from platformctl.etcd import EtcdStore

    env = settings.env
    if no_overrides or settings.etcd.endpoint is None:
        if prune:
            raise InputError(
                "needs the applied records in etcd (only topics platformctl applied may be deleted)",
                path="command line",
                field="--prune",
                hint="give --etcd-endpoint and drop --no-overrides",
            )
        if no_overrides:
            ui.info(f"environment {env!r}: overrides not read (--no-overrides); the files' values apply")
        else:
            ui.warn(
                f"no etcd endpoint configured: overrides of environment {env!r} were not read and the "
                f"files' values apply (give --etcd-endpoint or {ENV_ETCD_ENDPOINT} to read them, "
                "--no-overrides to say this is intended)"
            )
        return {}, frozenset()
    store = EtcdStore(settings.etcd.endpoint)
    held = ctx.with_resource(store.lock(env)) if lock else None
    layers = overrides.layers_for(store, env, names, allow_unknown_config=allow_unknown_config)
    managed = frozenset(store.applied(env)) if prune else frozenset()
    ctx.meta[_ETCD_RUN] = _EtcdRun(store, env, held)
    refs = sorted({f"{layer.source.ref}@{layer.source.revision}" for ls in layers.values() for layer in ls})
    ui.detail(f"environment {env!r} overrides from etcd at {store.endpoint}: {', '.join(refs) or 'none'}")
    return layers, managed


class _AppliedRecorder:
    """`on_applied` for `topics.apply`: records each applied topic in etcd, for `--prune` and audits.

    A failed record must not hide what Kafka already did, so failures are collected and reported after
    the apply finished (the Kafka changes are kept; re-recording needs a change or a re-create).
    """

    def __init__(self, run: _EtcdRun) -> None:
        self.run = run
        self.failed: list[str] = []

    @classmethod
    def of(cls, ctx: typer.Context) -> _AppliedRecorder | None:
        run = ctx.meta.get(_ETCD_RUN)
        if not isinstance(run, _EtcdRun):
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


def _split_target(args: list[str], defaults: bool) -> tuple[str | None, list[str]]:
    if defaults or not args:
        return None, args
    return args[0], args[1:]


def _report(change: Change) -> None:
    where = f"{change.target.label()} ({change.key})"
    if not change.changed:
        ui.info(f"{where}: nothing to change")
        return
    verb = "deleted" if not change.after else "written"
    ui.info(f"{where}: {verb} at revision {change.revision}")
    for line in change.lines():
        ui.info(f"  {line}")


@overrides_app.command("set")
def overrides_set(
    ctx: typer.Context,
    args: Annotated[list[str], typer.Argument(metavar="[TOPIC] KEY=VALUE...", show_default=False)],
    defaults: DefaultsOption = False,
    allow_unknown_config: AllowUnknownConfigOption = False,
    etcd_endpoint: EtcdEndpointOption = None,
) -> None:
    """Set override values for one topic (or --defaults). VALUEs are validated like topic-file values."""
    from platformctl import overrides

    topic, assignments = _split_target(args, defaults)
    target = overrides.Target.parse(topic, defaults=defaults)
    values = overrides.parse_assignments(assignments, allow_unknown_config=allow_unknown_config)
    settings, store = _etcd_store(ctx, etcd_endpoint)
    _report(overrides.set_values(store, settings.env, target, values))


@overrides_app.command("get")
def overrides_get(
    ctx: typer.Context,
    args: Annotated[list[str] | None, typer.Argument(metavar="[TOPIC] [KEY...]", show_default=False)] = None,
    defaults: DefaultsOption = False,
    output: OutputOption = OutputFormat.text,
    etcd_endpoint: EtcdEndpointOption = None,
) -> None:
    """Print one topic's (or --defaults') overrides as KEY=VALUE lines (all keys, or the KEYs named)."""
    from platformctl import overrides

    topic, names = _split_target(list(args or []), defaults)
    target = overrides.Target.parse(topic, defaults=defaults)
    keys = overrides.parse_keys(names, allow_unknown_config=True)
    settings, store = _etcd_store(ctx, etcd_endpoint)
    stored = overrides.read(store, settings.env, target)
    if stored is None:
        where = f"{target.label()} ({target.key(settings.env)})"
        raise PlatformError(
            f"environment {settings.env!r} has no overrides for {where}",
            hint="`platformctl overrides list` shows what is set",
        )
    values = {k: v for k, v in stored.values.items() if not keys or k in keys}
    missing = [k for k in keys if k not in stored.values]
    if missing:
        raise PlatformError(f"{target.label()} ({stored.key}) does not override {', '.join(missing)}")
    ui.detail(f"{stored.key} at revision {stored.revision}")
    if output is OutputFormat.json:
        ui.data_json({**stored.to_json(), "values": overrides.to_document(values)})
        return
    ui.data("\n".join(f"{k}={v}" for k, v in values.items()))


@overrides_app.command("unset")
def overrides_unset(
    ctx: typer.Context,
    args: Annotated[list[str] | None, typer.Argument(metavar="[TOPIC] [KEY...]", show_default=False)] = None,
    defaults: DefaultsOption = False,
    etcd_endpoint: EtcdEndpointOption = None,
) -> None:
    """Remove KEYs from one topic's (or --defaults') overrides; with no KEY, remove them all."""
    from platformctl import overrides

    topic, names = _split_target(list(args or []), defaults)
    target = overrides.Target.parse(topic, defaults=defaults)
    keys = overrides.parse_keys(names, allow_unknown_config=True)
    settings, store = _etcd_store(ctx, etcd_endpoint)
    _report(overrides.unset(store, settings.env, target, keys))


@overrides_app.command("list")
def overrides_list(
    ctx: typer.Context,
    output: OutputOption = OutputFormat.text,
    etcd_endpoint: EtcdEndpointOption = None,
) -> None:
    """Every override of the environment: topic-defaults, then each topic."""
    from platformctl import overrides

    settings, store = _etcd_store(ctx, etcd_endpoint)
    stored = overrides.list_all(store, settings.env)
    if output is OutputFormat.json:
        ui.data_json({"env": settings.env, "overrides": [s.to_json() for s in stored]})
        return
    if not stored:
        ui.info(f"environment {settings.env!r} has no overrides")
        return
    rows = [("TARGET", "KEY", "VALUE", "REVISION")]
    rows += [(s.target.label(), k, str(v), str(s.revision)) for s in stored for k, v in s.values.items()]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    ui.data("\n".join(f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c:<{widths[2]}}  {d}" for a, b, c, d in rows))


@overrides_app.command("export")
def overrides_export(
    ctx: typer.Context,
    output: Annotated[
        OutputFormat,
        typer.Option(
            "--output", "-o", envvar=ENV_OUTPUT, help="text (YAML) or json; `overrides import` reads both."
        ),
    ] = OutputFormat.text,
    etcd_endpoint: EtcdEndpointOption = None,
) -> None:
    """Print the environment's overrides in the file format `overrides import` reads."""
    from platformctl import overrides

    settings, store = _etcd_store(ctx, etcd_endpoint)
    doc = overrides.export(overrides.list_all(store, settings.env))
    if output is OutputFormat.json:
        ui.data_json(doc)
    else:
        ui.data(overrides.dump_yaml(doc, settings.env))


@overrides_app.command("import")
def overrides_import(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A YAML or JSON file as `overrides export` writes it.")],
    replace: Annotated[
        bool,
        typer.Option("--replace", help="Also delete the environment's overrides the file does not list."),
    ] = False,
    allow_unknown_config: AllowUnknownConfigOption = False,
    etcd_endpoint: EtcdEndpointOption = None,
) -> None:
    """Set the environment's overrides from FILE: validated fully first, then written in one transaction."""
    from platformctl import overrides

    doc = overrides.load_import(file, allow_unknown_config=allow_unknown_config)
    settings, store = _etcd_store(ctx, etcd_endpoint)
    changes = overrides.import_(store, settings.env, doc, replace=replace)
    if not changes:
        ui.info(f"environment {settings.env!r} already matches {file}: nothing written")
    for change in changes:
        _report(change)


@overrides_app.command("seed")
def overrides_seed(ctx: typer.Context, etcd_endpoint: EtcdEndpointOption = None) -> None:
    """Write the one-broker topic-defaults (replication-factor 1, min.insync.replicas 1) if none are set."""
    from platformctl import etcd, overrides

    settings, store = _etcd_store(ctx, etcd_endpoint)
    key = etcd.topic_defaults_key(settings.env)
    values = ", ".join(f"{k}={v}" for k, v in overrides.SEED_TOPIC_DEFAULTS.items())
    if overrides.seed(store, settings.env):
        ui.info(f"seeded {key}: {values}")
    else:
        ui.info(f"{key} is already set: left as it is (never overwritten)")


def main() -> None:
    """Console-script entry point."""
    app(prog_name="platformctl")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())  # type: ignore[func-returns-value]
