"""How `--help` reads: plain text the way kubectl, terraform and helm print it, global options apart.

Typer's own layout shows a type for every option (`-v <int>` reads as "takes a number", `--debug <bool>`
as "takes a value") and `{FILE}...` for required arguments. Here every option that takes a value names
it (`--context NAME`), flags show none, arguments read `FILE-OR-DIR...`, and the global options every
command accepts are listed under "Global options" in each command's help, after its own.
"""

from __future__ import annotations

from typing import Any

from typer._click import exceptions as click_errors
from typer.core import TyperCommand, TyperGroup

# The global options' parameter names (base.py defines them); they go to their own section.
GLOBAL_NAMES = frozenset({"context", "namespace", "env", "config", "verbose", "quiet", "debug"})


def argument_usage(param: Any) -> str:
    """`FILE-OR-DIR...` for a required list, `[TOPIC]` for an optional one; a metavar that spells its
    own shape (`[TOPIC] KEY=VALUE...`) is used as it is."""
    name = param.metavar or param.name.upper()
    if " " in name or name.startswith("[") or name.endswith("..."):
        return str(name)
    if param.nargs != 1:
        name += "..."
    return str(name) if param.required else f"[{name}]"


def _argument_record(param: Any) -> tuple[str, str]:
    return argument_usage(param), (param.help or "").strip()


class _Layout:
    """The help sections of a command or group: Arguments, Options, Global options."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        # The option parser raises some usage errors without a context; the usage hint needs one.
        try:
            return super().parse_args(ctx, args)  # type: ignore[misc, no-any-return]
        except click_errors.UsageError as e:
            if e.ctx is None:
                e.ctx, e.cmd = ctx, ctx.command
            raise

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        command: Any = self
        pieces = [command.options_metavar] if command.options_metavar else []
        pieces += [argument_usage(p) for p in command.get_params(ctx) if p.param_type_name == "argument"]
        if isinstance(self, TyperGroup):
            pieces.append(self.subcommand_metavar or "COMMAND [ARGS]...")
        return pieces

    def format_options(self, ctx: Any, formatter: Any) -> None:
        command: Any = self
        arguments: list[tuple[str, str]] = []
        own: list[tuple[str, str]] = []
        shared: list[tuple[str, str]] = []
        for param in command.get_params(ctx):
            if param.param_type_name == "argument":
                arguments.append(_argument_record(param))
                continue
            record = param.get_help_record(ctx)
            if record is None:
                continue
            (shared if param.name in GLOBAL_NAMES else own).append(record)
        for title, records in (("Arguments", arguments), ("Options", own), ("Global options", shared)):
            if records:
                with formatter.section(title):
                    formatter.write_dl(records)
        if isinstance(self, TyperGroup):
            self.format_commands(ctx, formatter)


class PlatformCommand(_Layout, TyperCommand):
    """A command whose help lists its own options, then the global ones."""


class PlatformGroup(_Layout, TyperGroup):
    """A group (the app, `topics`, `overrides`, `images`) with the same help layout."""
