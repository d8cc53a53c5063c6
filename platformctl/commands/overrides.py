"""`platformctl overrides ...`: each environment's deviations from the topic files, in etcd.

Logic: topics/overrides.py (what is stored and validated), adapters/etcd.py (the client),
platform/reach.py (which etcd).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from platformctl import hints, ui
from platformctl.commands import base, completion
from platformctl.commands.base import EtcdEndpointOption, OutputFormat, OutputOption
from platformctl.config import ENV_OUTPUT
from platformctl.errors import ExitCode, InputError, PlatformError

if TYPE_CHECKING:
    from platformctl.adapters.etcd import EtcdStore
    from platformctl.settings import Settings
    from platformctl.topics.overrides import Change, Confirm

overrides_app = base.group(
    "overrides",
    "Environment overrides in etcd: each environment's deviations from the topic files "
    "(file < topic-defaults < topics/<topic> < --set).",
    "Per-environment deviations from the topic files, in etcd.",
)

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
    """The settings and a store for this command's etcd (a forward to the platform's lasts as long as it)."""
    from platformctl import config
    from platformctl.platform import reach

    settings = config.settings(base.options(ctx), reach.endpoint_overrides(etcd_endpoint=endpoint))
    stack = ctx.with_resource(contextlib.ExitStack())
    return settings, reach.etcd_store(stack, settings)


def _split_target(args: list[str], defaults: bool) -> tuple[str | None, list[str]]:
    if defaults or not args:
        return None, args
    return args[0], args[1:]


def _confirm_deletion(yes: bool, what: str) -> Confirm:
    """Like `down` and `topics apply --prune`: deleting asks first on a terminal, needs --yes elsewhere."""

    def confirm(changes: Sequence[Change]) -> None:
        if yes:
            return
        listed = ", ".join(f"{c.target.label()} ({c.key})" for c in changes)
        if not base.interactive():
            raise InputError(
                f"refusing to delete {what} without confirmation: stdin is not a terminal (would delete {listed})",
                field="--yes",
                hint="re-run with --yes to confirm",
            )
        for change in changes:
            ui.info(f"delete {change.target.label()} ({change.key}): {_values(change.before)}")
        if not typer.confirm(f"Delete {len(changes)} override entr{'y' if len(changes) == 1 else 'ies'}?", err=True):
            ui.info("nothing written")
            raise typer.Exit(int(ExitCode.FAULT))

    return confirm


def _values(values: Mapping[str, object]) -> str:
    return ui.printable(", ".join(f"{k}={v}" for k, v in values.items()))


def _report(change: Change) -> None:
    where = f"{change.target.label()} ({change.key})"
    if not change.changed:
        ui.info(f"{where}: nothing to change")
        return
    verb = "deleted" if not change.after else "written"
    ui.info(f"{where}: {verb} at revision {change.revision}")
    for line in change.lines():
        ui.info(f"  {ui.printable(line)}")  # a value's newline stays inside its line


@base.command(overrides_app, "set", short_help="Set override values for one topic (or --defaults).")
def overrides_set(
    ctx: typer.Context,
    args: Annotated[
        list[str],
        typer.Argument(metavar="[TOPIC] KEY=VALUE...", autocompletion=completion.assignments, show_default=False),
    ],
    defaults: DefaultsOption = False,
    allow_unknown_config: AllowUnknownConfigOption = False,
    etcd_endpoint: EtcdEndpointOption = None,
) -> None:
    """Set override values for one topic (or --defaults). VALUEs are validated like topic-file values."""
    from platformctl.topics import overrides

    topic, assignments = _split_target(args, defaults)
    target = overrides.Target.parse(topic, defaults=defaults)
    values = overrides.parse_assignments(assignments, allow_unknown_config=allow_unknown_config)
    settings, store = _etcd_store(ctx, etcd_endpoint)
    _report(overrides.set_values(store, settings.env, target, values))


@base.command(overrides_app, "get", short_help="Print one topic's (or --defaults') overrides.")
def overrides_get(
    ctx: typer.Context,
    args: Annotated[
        list[str] | None,
        typer.Argument(metavar="[TOPIC] [KEY...]", autocompletion=completion.topic_keys, show_default=False),
    ] = None,
    defaults: DefaultsOption = False,
    output: OutputOption = OutputFormat.text,
    etcd_endpoint: EtcdEndpointOption = None,
) -> None:
    """Print one topic's (or --defaults') overrides as KEY=VALUE lines (all keys, or the KEYs named)."""
    from platformctl.topics import overrides

    topic, names = _split_target(list(args or []), defaults)
    target = overrides.Target.parse(topic, defaults=defaults)
    keys = overrides.parse_keys(names, allow_unknown_config=True)
    settings, store = _etcd_store(ctx, etcd_endpoint)
    stored = overrides.read(store, settings.env, target)
    if stored is None:
        where = f"{target.label()} ({target.key(settings.env)})"
        raise PlatformError(
            f"environment {settings.env!r} has no overrides for {where}",
            hint=f"`{hints.command('overrides list')}` shows what is set",
        )
    values = {k: v for k, v in stored.values.items() if not keys or k in keys}
    missing = [k for k in keys if k not in stored.values]
    if missing:
        raise PlatformError(f"{target.label()} ({stored.key}) does not override {', '.join(missing)}")
    ui.detail(f"{stored.key} at revision {stored.revision}")
    if output is OutputFormat.json:
        ui.data_json({**stored.to_json(), "values": overrides.to_document(values)})
        return
    ui.data("\n".join(ui.printable(f"{k}={v}") for k, v in values.items()))


@base.command(overrides_app, "unset", short_help="Remove override keys of one topic (or --defaults).")
def overrides_unset(
    ctx: typer.Context,
    args: Annotated[
        list[str] | None,
        typer.Argument(metavar="[TOPIC] [KEY...]", autocompletion=completion.topic_keys, show_default=False),
    ] = None,
    defaults: DefaultsOption = False,
    etcd_endpoint: EtcdEndpointOption = None,
    yes: Annotated[bool, base.yes_option("Remove every topic-default without asking.")] = False,
) -> None:
    """Remove KEYs from one topic's (or --defaults') overrides; with no KEY, remove them all.

    Removing every topic-default (--defaults with no KEY) changes every topic of the environment: it
    asks first on a terminal and needs --yes elsewhere.
    """
    from platformctl.topics import overrides

    topic, names = _split_target(list(args or []), defaults)
    target = overrides.Target.parse(topic, defaults=defaults)
    keys = overrides.parse_keys(names, allow_unknown_config=True)
    settings, store = _etcd_store(ctx, etcd_endpoint)
    confirm = _confirm_deletion(yes, "every topic-default") if target.topic is None else None
    _report(overrides.unset(store, settings.env, target, keys, confirm=confirm))


@base.command(overrides_app, "list", short_help="Every override of the environment.")
def overrides_list(
    ctx: typer.Context,
    output: OutputOption = OutputFormat.text,
    etcd_endpoint: EtcdEndpointOption = None,
) -> None:
    """Every override of the environment: topic-defaults, then each topic."""
    from platformctl.topics import overrides

    settings, store = _etcd_store(ctx, etcd_endpoint)
    stored = overrides.list_all(store, settings.env)
    if output is OutputFormat.json:
        ui.data_json({"env": settings.env, "overrides": [s.to_json() for s in stored]})
        return
    if not stored:
        ui.info(f"environment {settings.env!r} has no overrides")
        return
    rows = [("TARGET", "KEY", "VALUE", "REVISION")]
    rows += [
        (s.target.label(), ui.printable(k), ui.printable(str(v)), str(s.revision))
        for s in stored
        for k, v in s.values.items()
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    ui.data("\n".join(f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c:<{widths[2]}}  {d}" for a, b, c, d in rows))


@base.command(overrides_app, "export", short_help="Print the environment's overrides as a file.")
def overrides_export(
    ctx: typer.Context,
    output: Annotated[
        OutputFormat,
        typer.Option(
            "--output",
            "-o",
            envvar=ENV_OUTPUT,
            metavar="text|json",
            help="text (YAML) or json; `overrides import` reads both.",
        ),
    ] = OutputFormat.text,
    etcd_endpoint: EtcdEndpointOption = None,
) -> None:
    """Print the environment's overrides in the file format `overrides import` reads."""
    from platformctl.topics import overrides, overridesfile

    settings, store = _etcd_store(ctx, etcd_endpoint)
    doc = overridesfile.export(overrides.list_all(store, settings.env))
    if output is OutputFormat.json:
        ui.data_json(doc)
    else:
        ui.data(overridesfile.dump_yaml(doc, settings.env))


@base.command(overrides_app, "import", short_help="Set the environment's overrides from a file.")
def overrides_import(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A YAML or JSON file as `overrides export` writes it.")],
    replace: Annotated[
        bool,
        typer.Option("--replace", help="Also delete the environment's overrides the file does not list."),
    ] = False,
    allow_unknown_config: AllowUnknownConfigOption = False,
    etcd_endpoint: EtcdEndpointOption = None,
    yes: Annotated[bool, base.yes_option("Delete what --replace deletes without asking.")] = False,
) -> None:
    """Set the environment's overrides from FILE: validated fully first, then written in one transaction.

    With --replace, entries FILE does not list are deleted: that asks first on a terminal (naming them)
    and needs --yes elsewhere.
    """
    from platformctl.topics import overridesfile

    doc = overridesfile.load_import(file, allow_unknown_config=allow_unknown_config)
    settings, store = _etcd_store(ctx, etcd_endpoint)
    confirm = _confirm_deletion(yes, f"override entries {file} does not list (--replace)")
    changes = overridesfile.import_(store, settings.env, doc, replace=replace, confirm=confirm)
    if not changes:
        ui.info(f"environment {settings.env!r} already matches {file}: nothing written")
    for change in changes:
        _report(change)


@base.command(overrides_app, "seed", short_help="Write the one-broker topic-defaults if none are set.")
def overrides_seed(ctx: typer.Context, etcd_endpoint: EtcdEndpointOption = None) -> None:
    """Write the topic-defaults the broker count needs if none are set.

    One broker: replication-factor 1, min.insync.replicas 1 (kafka.brokers 2: replication-factor 2);
    with three or more brokers nothing is needed and nothing is written.
    """
    from platformctl.adapters import etcd
    from platformctl.topics import overrides

    settings, store = _etcd_store(ctx, etcd_endpoint)
    key = etcd.topic_defaults_key(settings.env)
    seed = overrides.seed_values(settings.kafka.brokers)
    if seed is None:
        ui.info(f"nothing to seed: {settings.kafka.brokers} brokers replicate topics as production does")
        return
    values = ", ".join(f"{k}={v}" for k, v in seed.items())
    if overrides.seed(store, settings.env, seed):
        ui.info(f"seeded {key}: {values}")
    else:
        ui.info(f"{key} is already set: left as it is (never overwritten)")
