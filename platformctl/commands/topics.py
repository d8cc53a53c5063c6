"""`platformctl topics plan/apply`: declarative topics (logic: topics/run.py, topics/apply.py; text: topics/view.py)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from platformctl import hints, ui
from platformctl.commands import base, completion
from platformctl.commands.base import (
    EtcdEndpointOption,
    NoOverridesOption,
    OutputFormat,
    OutputOption,
)
from platformctl.config import ENV_BOOTSTRAP_SERVER, ENV_BROKER_TIMEOUT, ENV_SCHEMA_REGISTRY, ENV_YES
from platformctl.errors import ExitCode, PlatformError

if TYPE_CHECKING:
    from platformctl.topics.run import Options, Prepared
    from platformctl.topics.schemas.run import SchemaRun

topics_app = base.group(
    "topics", "Declarative topics from HOCON (.conf) or YAML files: plan never writes, apply asks first.",
    "Declarative topics from files: plan, apply.",
)

FilesArgument = Annotated[
    list[Path],
    typer.Argument(
        metavar="FILE-OR-DIR",
        help="Topic files (.conf, .yaml, .yml) or directories of them.",
        show_default=False,
    ),
]
BrokerTimeoutOption = Annotated[
    float | None,
    typer.Option(
        "--broker-timeout",
        envvar=ENV_BROKER_TIMEOUT,
        metavar="SECONDS",
        show_default=False,
        help="How long Kafka may take to answer each request before the command fails "
        "(default: kafka.request-timeout, 10). Ctrl-C stops the command at once either way.",
    ),
]
BootstrapOption = Annotated[
    str | None,
    typer.Option(
        "--bootstrap-server",
        envvar=ENV_BOOTSTRAP_SERVER,
        metavar="HOST:PORT",
        help="Kafka bootstrap address (default: kafka.bootstrap-server, else a port-forward to the platform).",
    ),
]
SetOption = Annotated[
    list[str],
    typer.Option(
        "--set",
        metavar="TOPIC.KEY=VALUE",
        autocompletion=completion.sets,
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
ShowUnchangedOption = Annotated[
    bool,
    typer.Option(
        "--show-unchanged",
        help="Also list the topics and keys that do not change (-v does too); by default the plan shows "
        "what changes and counts the rest.",
    ),
]
ClusterIdOption = Annotated[
    str | None,
    typer.Option(
        "--cluster-id",
        metavar="ID",
        help="Refuse to act unless the Kafka cluster has this id (default: kafka.cluster-id when set in "
        "platformctl.yaml, or the files' cluster-id).",
    ),
]


SchemaRegistryOption = Annotated[
    str | None,
    typer.Option(
        "--schema-registry",
        envvar=ENV_SCHEMA_REGISTRY,
        metavar="URL",
        help="Schema Registry URL, for files that declare key-schema/value-schema (default: "
        "schema-registry.url, else a port-forward to the platform's registry).",
    ),
]
AllowIncompatibleOption = Annotated[
    bool,
    typer.Option(
        "--allow-incompatible",
        help="Register schemas the registry says are incompatible (the level is lowered to NONE for that one "
        "registration and set back; the plan shows it).",
    ),
]


def _prepare(
    ctx: typer.Context,
    files: list[Path],
    bootstrap_server: str | None,
    etcd_endpoint: str | None,
    options: Options,
    schema_registry: str | None = None,
    broker_timeout: float | None = None,
) -> Prepared:
    from platformctl import config
    from platformctl.platform import reach
    from platformctl.topics import run as topicrun

    given = reach.endpoint_overrides(
        bootstrap_server=bootstrap_server, etcd_endpoint=etcd_endpoint, schema_registry=schema_registry
    )
    if broker_timeout is not None:
        timeout = config.Override("kafka.request-timeout", broker_timeout, f"--broker-timeout / {ENV_BROKER_TIMEOUT}")
        given = (*given, timeout)
    settings = config.settings(base.options(ctx), given)
    # The lock and any forward live until the command ends (success, error or Ctrl-C).
    stack = ctx.with_resource(contextlib.ExitStack())
    return topicrun.prepare(stack, settings, files, options)


def _schemas(ctx: typer.Context, prepared: Prepared, allow_incompatible: bool) -> SchemaRun | None:
    """The schema plan of the declared subjects (topics/schemas/run.py); None when the files declare none."""
    from platformctl import config
    from platformctl.topics.schemas import run as schemarun

    settings = config.settings(base.options(ctx))
    stack = ctx.with_resource(contextlib.ExitStack())
    return schemarun.prepare(stack, settings, prepared, allow_incompatible=allow_incompatible)


def _plan_json(prepared: Prepared, schemas: SchemaRun | None) -> dict[str, object]:
    plan = prepared.plan.to_json()
    return {**plan, "schemas": schemas.plan.to_json()} if schemas is not None else plan


@base.command(topics_app, "plan", short_help="Show what `apply` would change. Never writes.")
def topics_plan(
    ctx: typer.Context,
    files: FilesArgument,
    bootstrap_server: BootstrapOption = None,
    broker_timeout: BrokerTimeoutOption = None,
    sets: SetOption = [],  # noqa: B006 (Typer needs a list default for a repeatable option)
    output: OutputOption = OutputFormat.text,
    show_unchanged: ShowUnchangedOption = False,
    detailed_exitcode: Annotated[
        bool,
        typer.Option(
            "--detailed-exitcode",
            help="Exit 0 when nothing would change, 2 when something would, 1 on any error (for CI).",
        ),
    ] = False,
    allow_unknown_config: AllowUnknownOption = False,
    destructive: DestructiveOption = False,
    allow_repartition: RepartitionOption = False,
    prune: PruneOption = False,
    cluster_id: ClusterIdOption = None,
    etcd_endpoint: EtcdEndpointOption = None,
    no_overrides: NoOverridesOption = False,
    schema_registry: SchemaRegistryOption = None,
    allow_incompatible: AllowIncompatibleOption = False,
) -> None:
    """Show what `apply` would change, per topic and key, with where each value came from. Never writes.

    Files that declare schemas get a plan per subject too; an incompatible schema exits 2 like an
    impossible change (unless --allow-incompatible).

    Topics and keys that do not change are counted, not listed (--show-unchanged or -v lists them).
    Exits 2 when a change is impossible (fewer partitions, a replication-factor change, ...); with
    --detailed-exitcode, exits 0 when nothing would change, 2 when something would, 1 on any error.
    """
    from platformctl.topics import run as topicrun
    from platformctl.topics.schemas import run as schemarun

    options = topicrun.Options(
        sets=sets,
        allow_unknown_config=allow_unknown_config,
        destructive=destructive,
        allow_repartition=allow_repartition,
        prune=prune,
        cluster_id=cluster_id,
        no_overrides=no_overrides,
    )
    try:
        prepared = _prepare(ctx, files, bootstrap_server, etcd_endpoint, options, schema_registry, broker_timeout)
        result = prepared.plan
        schemas = _schemas(ctx, prepared, allow_incompatible)
        _print_plan(prepared, output, show_unchanged, schemas)
        fixes = topicrun.record_fixes(prepared)
        if fixes:
            names = [t.name for t, _ in fixes.complete] + [r.topic for r in fixes.drop]
            ui.info(
                f"etcd: {len(names)} record(s) left as intents by an earlier run ({', '.join(names)}); "
                "`topics apply` completes or removes them"
            )
        topicrun.raise_if_blocked(result, applying=False)
        schemarun.raise_if_blocked(schemas)
    except PlatformError as e:
        if detailed_exitcode:
            e.exit_code = ExitCode.FAULT  # terraform's contract: 2 means "changes", so every error is 1
        raise
    if detailed_exitcode and (result.mutating or (schemas is not None and schemas.plan.mutating)):
        raise typer.Exit(int(ExitCode.INPUT))


def _print_plan(
    prepared: Prepared, output: OutputFormat, show_unchanged: bool, schemas: SchemaRun | None = None
) -> None:
    from platformctl.topics import run as topicrun
    from platformctl.topics import view as topicview
    from platformctl.topics.schemas import view as schemaview

    left = topicrun.left_the_files(prepared)
    if output == OutputFormat.json:
        ui.data_json({**_plan_json(prepared, schemas), "left_the_files": left})
        return
    ui.data(
        topicview.format_plan(
            prepared.plan,
            show_unchanged=show_unchanged or ui.verbosity() >= 1,
            colour=ui.colour_stdout(),
            left_the_files=left,
        )
    )
    if schemas is not None:
        unchanged = show_unchanged or ui.verbosity() >= 1
        ui.data("\n" + schemaview.format_plan(schemas.plan, show_unchanged=unchanged))


@base.command(topics_app, "apply", short_help="Make Kafka match the files (asks first).")
def topics_apply(
    ctx: typer.Context,
    files: FilesArgument,
    bootstrap_server: BootstrapOption = None,
    broker_timeout: BrokerTimeoutOption = None,
    sets: SetOption = [],  # noqa: B006 (Typer needs a list default for a repeatable option)
    output: OutputOption = OutputFormat.text,
    allow_unknown_config: AllowUnknownOption = False,
    destructive: DestructiveOption = False,
    allow_repartition: RepartitionOption = False,
    prune: PruneOption = False,
    cluster_id: ClusterIdOption = None,
    etcd_endpoint: EtcdEndpointOption = None,
    no_overrides: NoOverridesOption = False,
    show_unchanged: ShowUnchangedOption = False,
    schema_registry: SchemaRegistryOption = None,
    allow_incompatible: AllowIncompatibleOption = False,
    yes: Annotated[bool, base.yes_option("Apply without asking.")] = False,
) -> None:
    """Make the cluster match the files: create topics, add partitions, set or remove config keys.

    Shows the plan and asks first (unless --yes). Topics are never deleted, except with --prune.
    A re-run with nothing to change sends nothing to Kafka; it completes records in etcd that an earlier
    run could not (the topic was applied, but etcd went away before it was recorded). Declared schemas are
    applied after the topics: compatibility levels, then new versions.
    """
    from platformctl.errors import InputError
    from platformctl.topics import apply as topicapply
    from platformctl.topics import run as topicrun
    from platformctl.topics import view as topicview
    from platformctl.topics.schemas import view as schemaview

    options = topicrun.Options(
        sets=sets,
        allow_unknown_config=allow_unknown_config,
        destructive=destructive,
        allow_repartition=allow_repartition,
        prune=prune,
        cluster_id=cluster_id,
        no_overrides=no_overrides,
    )
    prepared = _prepare(ctx, files, bootstrap_server, etcd_endpoint, options, schema_registry, broker_timeout)
    schemas = _schemas(ctx, prepared, allow_incompatible)
    if output == OutputFormat.text:
        _print_plan(prepared, output, show_unchanged, schemas)
    topicapply.raise_if_blocked(prepared, schemas)
    # The lock and any forward live until the command ends (success, error or Ctrl-C).
    stack = ctx.with_resource(contextlib.ExitStack())
    if not topicapply.mutating(prepared, schemas):
        done = topicapply.settle(stack, prepared, schemas)
        fixes, completed = done.outcome.records, done.schema_records
        if output == OutputFormat.json:
            applied = done.outcome.done.to_json()
            doc = {"plan": _plan_json(done.prepared, schemas), "applied": applied, "records": fixes.to_json()}
            ui.data_json({**doc, "schema-records": {"completed": completed}} if schemas is not None else doc)
        else:
            ui.info("nothing to change" + (" on Kafka or the schema registry" if fixes or completed else ""))
            lines = fixes.lines() if fixes else []
            lines += [f"recorded {subject} as applied (the registry has it as planned)" for subject in completed]
            if lines:
                ui.data("\n".join(lines))
        return
    if not yes:
        if output == OutputFormat.json:
            # The plan went nowhere a person reads it (JSON is printed once, with the result): like
            # terraform's -json, a JSON apply does not ask, it needs --yes.
            raise InputError(
                "refusing to change Kafka without confirmation: --output json shows no plan to confirm",
                field="--yes",
                hint=f"review `{hints.command('topics plan')}`, then re-run with --yes (or {ENV_YES}=1)",
            )
        if not base.interactive():
            raise InputError(
                "refusing to change Kafka without confirmation: stdin is not a terminal",
                hint=f"review `{hints.command('topics plan')}`, then re-run with --yes (or {ENV_YES}=1)",
            )
        doomed = [t.name for t in prepared.plan.topics if t.action == "prune"]
        question = "Apply these changes?"
        if doomed:
            question = f"Apply these changes and DELETE {len(doomed)} topic(s) ({', '.join(doomed)})?"
        if not typer.confirm(question, default=False, err=True):
            ui.info("nothing applied")
            raise typer.Exit(int(ExitCode.FAULT))
    # A plan a person looked at before confirming is made again under the lock (time passed); with --yes
    # the plan stands unless etcd shows that another apply ran meanwhile.
    done = topicapply.apply(stack, prepared, schemas, replan=not yes)
    if output == OutputFormat.json:
        body: dict[str, object] = {
            "plan": _plan_json(done.prepared, schemas),
            "applied": done.outcome.done.to_json(),
            "records": done.outcome.records.to_json(),
        }
        if schemas is not None:
            body["schemas-applied"] = done.schemas.to_json() if done.schemas else {"levels": {}, "registered": {}}
        ui.data_json(body)
    else:
        lines = [*done.outcome.records.lines(), topicview.format_applied(done.outcome.done)]
        if done.schemas is not None:
            lines.append(schemaview.format_applied(done.schemas))
        ui.data("\n".join(lines))
