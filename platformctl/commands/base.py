"""What every command shares: the Typer `app`, the one error boundary, global options, shared options.

`_BoundaryGroup` is the single place that prints errors: every module raises `PlatformError` subclasses,
and its `invoke` turns them into one line (plus a hint) on stderr and the documented exit code; its `main`
does the same for Typer's own usage errors (unknown option, bad value), which would otherwise be a box.
`--debug` re-raises for the traceback.

The global options (`--context`, `-n`, `--env`, `--config`, `-v`, `-q`, `--debug`) are defined once, below,
and accepted both before the command and after it (`platformctl up --context foo`, as kubectl takes them):
`command()` and `group()` add them to every command's signature, so they parse anywhere and every
`--help` lists them under "Global options". A value given after the command wins over one given before.

The command modules next to this one register their commands with `command()`/`group()`;
`platformctl/commands/__init__.py` imports them all. Help layout: helpformat.py.
"""

from __future__ import annotations

import enum
import functools
import inspect
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from typer._click import exceptions as click_errors
from typer.exceptions import Abort, Exit, TyperException

from platformctl import __version__, hints, ui
from platformctl.commands import completion
from platformctl.commands.helpformat import GLOBAL_NAMES, PlatformCommand, PlatformGroup
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

F = TypeVar("F", bound=Callable[..., Any])


class OutputFormat(enum.StrEnum):
    text = "text"
    json = "json"


class _BoundaryGroup(PlatformGroup):
    """Turns every error into one message on stderr and the documented exit code."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        ui.reset()  # the streams of this run (tests swap sys.stdout/sys.stderr between runs)
        hints.reset()
        if completion.requested():
            completion.prepare()
        try:
            return self._main(args, prog_name, complete_var, standalone_mode, **extra)
        finally:
            hints.reset()  # one run's options never leak into what another (in the same process) suggests

    def _main(
        self,
        args: Sequence[str] | None,
        prog_name: str | None,
        complete_var: str | None,
        standalone_mode: bool,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click_errors.NoArgsIsHelpError as e:
            e.show()
            sys.exit(e.exit_code)
        except click_errors.UsageError as e:
            # `topics plan --detailed-exitcode` promises 2 for "changes": there, a usage error is 1.
            given = sys.argv[1:] if args is None else list(args)
            _usage_error(e, ExitCode.FAULT if "--detailed-exitcode" in given else ExitCode.INPUT)
        except click_errors.ClickException as e:
            ui.error(e.format_message())
            sys.exit(e.exit_code)
        except Abort:
            ui.error("interrupted")
            sys.exit(int(ExitCode.INTERRUPTED))
        # Without standalone mode, Typer returns an `Exit`'s code, or the command's return value (None).
        sys.exit(result if isinstance(result, int) else 0)

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
            if isinstance(e, BrokenPipeError) and ui.stdout_closed():
                raise Exit(int(ExitCode.FAULT)) from None  # the reader left (`| head`): stop, say nothing
            if _debug(ctx):
                raise
            ui.error(
                f"internal error: {type(e).__name__}: {e}",
                "this is a bug in platformctl; run again with --debug for the traceback and report it",
            )
            raise Exit(int(ExitCode.FAULT)) from None


def _usage_error(e: click_errors.UsageError, code: ExitCode) -> NoReturn:
    """One line like every other error, and the usage on the next: `error: ...` / `hint: usage: ...`."""
    ui.error(usage_message(e), usage_hint(e.ctx))
    sys.exit(int(code))


def usage_message(e: click_errors.UsageError) -> str:
    """Typer's message in platformctl's shape: `--output: 'yaml' is not one of 'text', 'json'`."""
    return _lower(_usage_text(e))


def _lower(text: str) -> str:
    """`No such option` -> `no such option`, as platformctl's own messages start (not `ID`, `--x`)."""
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


def _usage_text(e: click_errors.UsageError) -> str:
    message = e.message
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.replace(prefix, "")
    if isinstance(e, click_errors.MissingParameter):
        return e.format_message().rstrip(".")
    if isinstance(e, click_errors.BadParameter):
        param = e.param
        if e.param_hint is not None:
            hint = e.param_hint if isinstance(e.param_hint, str) else " / ".join(e.param_hint)
        elif param is not None and param.param_type_name == "option":
            hint = max(param.opts, key=len)
        elif param is not None:
            hint = str(param.name).upper()
        else:
            return f"invalid value: {message}"
        return f"{hint.strip(chr(39))}: {_lower(message.rstrip('.'))}"
    if isinstance(e, click_errors.NoSuchOption):
        return e.format_message().rstrip(".")
    return message.rstrip(".")


def usage_hint(ctx: Any) -> str | None:
    if ctx is None:
        return None
    pieces = " ".join(ctx.command.collect_usage_pieces(ctx))
    return f"usage: {ctx.command_path} {pieces}  (`{ctx.command_path} --help` for more)"


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
    # Plain help, as kubectl/terraform/helm print it: it reads right at 80 columns (no truncated env-var
    # names in boxes) and exact-output tests can pin it.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


# --- the global options, defined once --------------------------------------------------------------


ContextOption = Annotated[
    str | None,
    typer.Option(
        "--context",
        envvar=ENV_CONTEXT,
        metavar="NAME",
        autocompletion=completion.contexts,
        help="Use this existing kube context instead of minikube; nothing else is ever touched.",
    ),
]
NamespaceOption = Annotated[
    str | None,
    typer.Option(
        "--namespace",
        "-n",
        envvar=ENV_NAMESPACE,
        metavar="NAMESPACE",
        help="Namespace of the platform (default: dev).",
    ),
]
EnvOption = Annotated[
    str | None,
    typer.Option(
        "--env",
        envvar=ENV_ENV,
        metavar="ENV",
        autocompletion=completion.environments,
        help="Environment whose overrides apply (default: dev).",
    ),
]
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        envvar=ENV_CONFIG,
        metavar="FILE",
        dir_okay=False,
        help="Settings file (default: ./platformctl.yaml when present).",
    ),
]
VerboseOption = Annotated[
    int, typer.Option("--verbose", "-v", count=True, show_default=False, help="More progress on stderr (-vv: more).")
]
QuietOption = Annotated[
    int, typer.Option("--quiet", "-q", count=True, show_default=False, help="Less progress on stderr.")
]
DebugOption = Annotated[
    bool, typer.Option("--debug", envvar=ENV_DEBUG, help="Show tracebacks instead of one-line errors.")
]

# name -> (annotation, default), in the order `--help` lists them.
_GLOBALS: dict[str, tuple[Any, Any]] = {
    "context": (ContextOption, None),
    "namespace": (NamespaceOption, None),
    "env": (EnvOption, None),
    "config": (ConfigOption, None),
    "verbose": (VerboseOption, 0),
    "quiet": (QuietOption, 0),
    "debug": (DebugOption, False),
}
assert set(_GLOBALS) == GLOBAL_NAMES


def _version(value: bool) -> None:
    if value:
        ui.data(f"platformctl {__version__}")
        raise typer.Exit()


@app.callback()
def _global(
    ctx: typer.Context,
    context: ContextOption = None,
    namespace: NamespaceOption = None,
    env: EnvOption = None,
    config: ConfigOption = None,
    verbose: VerboseOption = 0,
    quiet: QuietOption = 0,
    debug: DebugOption = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
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


def _take_globals(ctx: typer.Context, given: dict[str, Any]) -> None:
    """Global options given after a command (or group) name: each overrides the one given before it;
    counted ones add up. Only values typed on the command line count here: the root already read the
    environment variables, and a default must not undo a flag given before the command."""
    options = ctx.find_root().obj
    if not isinstance(options, GlobalOptions):  # pragma: no cover  (the root callback always runs first)
        return
    for name, value in given.items():
        source = ctx.get_parameter_source(name)
        if source is None or source.name != "COMMANDLINE":
            continue
        if name in ("verbose", "quiet"):
            setattr(options, name, getattr(options, name) + value)
        else:
            setattr(options, name, value)
    ui.set_verbosity(options.verbose, options.quiet)


def _with_globals(func: F) -> F:
    """`func` with the global options added to its signature (Typer reads the signature), taken out
    again before `func` runs. `func` must take a `typer.Context`."""
    signature = inspect.signature(func, eval_str=True)
    parameters = list(signature.parameters.values())
    ctx_name = next((p.name for p in parameters if p.annotation is typer.Context), None)
    if ctx_name is None:
        raise TypeError(f"{func.__name__} must take a typer.Context to accept the global options")
    clash = GLOBAL_NAMES & {p.name for p in parameters}
    if clash:
        raise TypeError(f"{func.__name__} defines global option(s) {sorted(clash)} itself")
    extra = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default)
        for name, (annotation, default) in _GLOBALS.items()
    ]

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        given = {name: kwargs.pop(name) for name in _GLOBALS if name in kwargs}
        _take_globals(kwargs[ctx_name], given)
        return func(*args, **kwargs)

    everything = [*parameters, *extra]
    wrapper.__signature__ = signature.replace(parameters=everything)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in everything}
    return wrapper  # type: ignore[return-value]


def command(parent: typer.Typer, name: str | None = None, **kwargs: Any) -> Callable[[F], F]:
    """Register a command on `parent` (the app or a group) that also takes the global options."""

    def decorate(func: F) -> F:
        parent.command(name, cls=PlatformCommand, **kwargs)(_with_globals(func))
        return func

    return decorate


def group(name: str, help: str, short_help: str) -> typer.Typer:
    """A group of commands (`topics`, `overrides`, `images`) under the app; it takes the global options
    too (`platformctl topics --env prod plan f.conf`)."""
    sub = typer.Typer(cls=PlatformGroup, help=help, short_help=short_help, no_args_is_help=True)

    def callback(ctx: typer.Context) -> None:
        """Only here to take the global options given between the group and its command."""

    sub.callback()(_with_globals(callback))
    app.add_typer(sub, name=name)
    return sub


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
    OutputFormat,
    typer.Option("--output", "-o", envvar=ENV_OUTPUT, metavar="text|json", help="Output format for data on stdout."),
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
        metavar="URL",
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
