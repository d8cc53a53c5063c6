"""`platformctl overrides ...`: each environment's deviations from the topic files, in etcd.

Logic: overrides.py (what is stored and validated), etcd.py (the client), reach.py (which etcd).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from typer.core import TyperGroup

from platformctl import ui
from platformctl.commands import base
from platformctl.commands.base import EtcdEndpointOption, OutputFormat, OutputOption
from platformctl.config import ENV_OUTPUT
from platformctl.errors import PlatformError

if TYPE_CHECKING:
    from platformctl.etcd import EtcdStore
    from platformctl.overrides import Change
    from platformctl.settings import Settings

overrides_app = typer.Typer(
    cls=TyperGroup,
    no_args_is_help=True,
    help="Environment overrides in etcd: each environment's deviations from the topic files "
    "(file < topic-defaults < topics/<topic> < --set).",
)
base.app.add_typer(overrides_app, name="overrides")

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
    from platformctl import config, reach

    settings = config.settings(base.options(ctx), reach.endpoint_overrides(etcd_endpoint=endpoint))
    stack = ctx.with_resource(contextlib.ExitStack())
    return settings, reach.etcd_store(stack, settings)


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
