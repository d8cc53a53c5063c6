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
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup
from typer.exceptions import Abort, Exit, TyperException

from platformctl import __version__, ui
from platformctl.config import (
    ENV_CONFIG,
    ENV_CONTEXT,
    ENV_DEBUG,
    ENV_ENV,
    ENV_KUBERNETES_VERSION,
    ENV_NAMESPACE,
    ENV_OUTPUT,
    ENV_TIMEOUT,
    ENV_YES,
    GlobalOptions,
)
from platformctl.errors import ExitCode, PlatformError


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
        typer.Option("--namespace", "-n", envvar=ENV_NAMESPACE, help="Namespace of the platform [default: dev]."),
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
        config=config, context=context, namespace=namespace, env=env, verbose=verbose, quiet=quiet, debug=debug
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
        typer.Option("--out", file_okay=False, help="Write one file per component into DIR instead of stdout."),
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


def _interactive() -> bool:
    return sys.stdin.isatty()


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


def main() -> None:
    """Console-script entry point."""
    app(prog_name="platformctl")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())  # type: ignore[func-returns-value]
