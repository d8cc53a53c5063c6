"""`platformctl overrides set-level/unset-level/levels`: each environment's compatibility levels for
subjects, in etcd (logic: topics/schemas/levels.py). Registered on the `overrides` group: they are overrides."""

from __future__ import annotations

from typing import Annotated

import typer

from platformctl import ui
from platformctl.commands import base
from platformctl.commands.base import EtcdEndpointOption, OutputFormat, OutputOption
from platformctl.commands.overrides import _etcd_store, overrides_app

SchemaDefaultsOption = Annotated[
    bool,
    typer.Option(
        "--defaults", help="Act on the environment's schema-defaults (every declared subject) instead of one."
    ),
]


def _target(args: list[str], defaults: bool, *, with_level: bool) -> tuple[str | None, str | None]:
    from platformctl.errors import InputError
    from platformctl.topics.schemas import levels as schemalevels

    wanted = (0 if defaults else 1) + (1 if with_level else 0)
    usage = ("--defaults " if defaults else "SUBJECT ") + ("LEVEL" if with_level else "")
    if len(args) != wanted:
        raise InputError(f"expected {usage.strip()} (got {' '.join(args) or 'nothing'})", path="command line")
    subject = None if defaults else schemalevels.parse_subject(args[0])
    level = schemalevels.parse_level(args[-1], path="command line", field="LEVEL") if with_level else None
    return subject, level


@base.command(overrides_app, "set-level", short_help="Set a subject's compatibility level (or --defaults).")
def overrides_set_level(
    ctx: typer.Context,
    args: Annotated[list[str], typer.Argument(metavar="[SUBJECT] LEVEL", show_default=False)],
    defaults: SchemaDefaultsOption = False,
    etcd_endpoint: EtcdEndpointOption = None,
) -> None:
    """Set the compatibility level this environment gives SUBJECT (or every subject: --defaults), over the
    topic files' `compatibility`. LEVEL: BACKWARD, FORWARD, FULL, their _TRANSITIVE forms, or NONE."""
    from platformctl.topics.schemas import levels as schemalevels

    subject, level = _target(args, defaults, with_level=True)
    assert level is not None
    settings, store = _etcd_store(ctx, etcd_endpoint)
    key = schemalevels.subject_key(settings.env, subject)
    before, revision = schemalevels.set_level(store, settings.env, subject, level)
    if not revision:
        ui.info(f"{key}: already {level}, nothing written")
    else:
        ui.info(f"{key}: written at revision {revision} ({before or 'unset'} -> {level})")


@base.command(overrides_app, "unset-level", short_help="Remove a subject's compatibility level (or --defaults).")
def overrides_unset_level(
    ctx: typer.Context,
    args: Annotated[list[str] | None, typer.Argument(metavar="[SUBJECT]", show_default=False)] = None,
    defaults: SchemaDefaultsOption = False,
    etcd_endpoint: EtcdEndpointOption = None,
) -> None:
    """Remove the level this environment gives SUBJECT (or --defaults): the files' level applies again."""
    from platformctl.topics.schemas import levels as schemalevels

    subject, _ = _target(list(args or []), defaults, with_level=False)
    settings, store = _etcd_store(ctx, etcd_endpoint)
    key = schemalevels.subject_key(settings.env, subject)
    before, revision = schemalevels.unset_level(store, settings.env, subject)
    if not revision:
        ui.info(f"{key}: not set, nothing to remove")
    else:
        ui.info(f"{key}: deleted at revision {revision} (was {before})")


@base.command(overrides_app, "levels", short_help="Every compatibility level the environment overrides.")
def overrides_levels(
    ctx: typer.Context,
    output: OutputOption = OutputFormat.text,
    etcd_endpoint: EtcdEndpointOption = None,
) -> None:
    """Every compatibility level of the environment: schema-defaults, then each subject."""
    from platformctl.topics.schemas import levels as schemalevels

    settings, store = _etcd_store(ctx, etcd_endpoint)
    stored = schemalevels.list_levels(store, settings.env)
    if output is OutputFormat.json:
        ui.data_json({"env": settings.env, "levels": [s.to_json() for s in stored]})
        return
    if not stored:
        ui.info(f"environment {settings.env!r} overrides no compatibility level")
        return
    rows = [("TARGET", "LEVEL", "REVISION")]
    rows += [(s.subject or "schema-defaults", s.level, str(s.revision)) for s in stored]
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    ui.data("\n".join(f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c}" for a, b, c in rows))
