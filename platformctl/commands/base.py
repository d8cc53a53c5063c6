"""What every command shares: the Typer `app`, the one error boundary, global options, shared options.

`_BoundaryGroup.invoke` is the single place that prints errors: every module raises `PlatformError`
subclasses, and this turns them into one line (plus a hint) on stderr and the documented exit code.
`--debug` re-raises for the traceback. The command modules next to this one register their commands on
`app`; `platformctl/commands/__init__.py` imports them all.
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
    ENV_ETCD_ENDPOINT,
    ENV_NAMESPACE,
    ENV_OFFLINE,
    ENV_OUTPUT,
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
        typer.Option(
            "--namespace", "-n", envvar=ENV_NAMESPACE, help="Namespace of the platform (default: dev)."
        ),
    ] = None,
    env: Annotated[
        str | None,
        typer.Option("--env", envvar=ENV_ENV, help="Environment whose overrides apply (default: dev)."),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            envvar=ENV_CONFIG,
            help="Settings file (default: ./platformctl.yaml when present).",
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


def options(ctx: typer.Context) -> GlobalOptions:
    """The global options the top-level callback stored, from any sub-command's context."""
    found = ctx.find_root().obj
    assert isinstance(found, GlobalOptions)
    return found


def interactive() -> bool:
    """Whether a confirmation can be asked (tests replace it: CliRunner's stdin is never a TTY)."""
    return sys.stdin.isatty()


# --- options more than one command module uses ---------------------------------------------------

OutputOption = Annotated[
    OutputFormat, typer.Option("--output", "-o", envvar=ENV_OUTPUT, help="Output format for data on stdout.")
]
OfflineOption = Annotated[
    bool,
    typer.Option(
        "--offline",
        envvar=ENV_OFFLINE,
        help="Pull nothing: fail at once, listing every image the minikube node lacks.",
    ),
]
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


def yes_option(help: str) -> Any:
    """`--yes/-y` (PLATFORMCTL_YES) with the command's own help text."""
    return typer.Option("--yes", "-y", envvar=ENV_YES, help=help)
