"""`platformctl up/down/status/doctor`: the platform's lifecycle (logic: platform/up.py, platform/down.py,
platform/status.py, platform/doctor.py)."""

from __future__ import annotations

import enum
from typing import Annotated

import typer

from platformctl import ui
from platformctl.commands import base
from platformctl.commands.base import EtcdEndpointOption, OfflineOption, OutputFormat, OutputOption
from platformctl.config import ENV_TIMEOUT
from platformctl.errors import ExitCode, InputError, PlatformError


class ClusterAction(enum.StrEnum):
    stop = "stop"
    delete = "delete"


@base.command(base.app, short_help="Start the platform (minikube or --context) until it is ready.")
def up(
    ctx: typer.Context,
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Wait until every component is ready.")
    ] = True,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout", envvar=ENV_TIMEOUT, metavar="SECONDS", min=0, help="Seconds to wait for readiness."
        ),
    ] = 600.0,
    force_conflicts: Annotated[
        bool,
        typer.Option(
            "--force-conflicts",
            help="Take back fields another field manager changed (server-side apply force).",
        ),
    ] = False,
    skip_images: Annotated[
        bool,
        typer.Option("--skip-images", help="Do not cache the pinned images in minikube before applying."),
    ] = False,
    offline: OfflineOption = False,
    etcd_endpoint: EtcdEndpointOption = None,
) -> None:
    """Start minikube (or use --context), cache images, apply with server-side apply, wait, seed overrides.

    Images missing from minikube are pulled first (minikube only). Once ready, the environment's
    one-broker topic-defaults are written to the platform's etcd unless some are set already.
    A re-run with nothing changed sends no write and reports every component unchanged.
    """
    from platformctl import config
    from platformctl.platform import reach
    from platformctl.platform import up as lifecycle

    settings = config.settings(base.options(ctx), reach.endpoint_overrides(etcd_endpoint=etcd_endpoint))
    options = lifecycle.UpOptions(
        wait=wait, timeout=timeout, force_conflicts=force_conflicts, skip_images=skip_images, offline=offline
    )
    lifecycle.up(settings, options)


@base.command(base.app, short_help="Delete everything `up` created and wait until it is gone.")
def down(
    ctx: typer.Context,
    yes: Annotated[bool, base.yes_option("Do not ask for confirmation.")] = False,
    cluster: Annotated[
        ClusterAction | None,
        typer.Option("--cluster", metavar="stop|delete", help="Also stop or delete the minikube profile."),
    ] = None,
    timeout: Annotated[
        float, typer.Option(
            "--timeout", envvar=ENV_TIMEOUT, metavar="SECONDS", min=0, help="Seconds to wait until it is gone."
        )
    ] = 300.0,
    keep_data: Annotated[
        bool,
        typer.Option(
            "--keep-data",
            help="Keep the namespace and the PersistentVolumeClaims of Kafka and etcd: the next `up` finds "
            "the topics and overrides again.",
        ),
    ] = False,
) -> None:
    """Delete everything `up` created (by label, cluster-scoped objects too) and wait until it is gone.

    The confirmation lists the PersistentVolumeClaims (Kafka's and etcd's data) it deletes; --keep-data
    keeps them.
    """
    from platformctl import config, hints
    from platformctl.platform import down as teardown

    # Settings first: the hint below must name the same cluster and namespace (`hints.command`).
    settings = config.settings(base.options(ctx))
    if not yes and not base.interactive():
        raise InputError(
            "refusing to delete without confirmation on a non-interactive terminal",
            field="--yes",
            hint=f"run `{hints.command('down --yes')}` to confirm",
        )
    plan = teardown.plan_down(settings, cluster.value if cluster else None, keep_data=keep_data)
    if plan.empty:
        if plan.cluster is not None:
            plan.cluster.close()
        ui.info(f"nothing to delete: no objects labelled by platformctl for namespace {settings.namespace!r}")
        return
    if not yes and not typer.confirm(f"{plan.describe()}. Continue?", default=False, err=True):
        if plan.cluster is not None:
            plan.cluster.close()
        # Declining is an answer, not an interruption: exit 1 like `topics apply` (130 is for Ctrl-C).
        ui.info("nothing deleted")
        raise typer.Exit(int(ExitCode.FAULT))
    teardown.down(plan, timeout=timeout)


@base.command(base.app, short_help="The cluster, security mode and each component's readiness.")
def status(ctx: typer.Context, output: OutputOption = OutputFormat.text) -> None:
    """Cluster, server version, security mode and each component's readiness.

    With no cluster to look at (minikube not running, no such context, the API server unreachable) the
    report says so, and the command exits as `up` would (1, or 2 for a context kubeconfig does not have).
    """
    from platformctl import config
    from platformctl.platform import status as statusreport

    report, problem = statusreport.status(config.settings(base.options(ctx)))
    if output is OutputFormat.json:
        ui.data_json(report)
    else:
        ui.data(statusreport.status_text(report, colour=ui.colour_stdout()))
    if problem is not None:
        raise problem


@base.command(base.app, short_help="Check what goes wrong before it does, and say what to do.")
def doctor(ctx: typer.Context, output: OutputOption = OutputFormat.text) -> None:
    """Check what goes wrong before it does: minikube, driver, memory/CPUs, context, ports, versions, images."""
    from platformctl import config
    from platformctl.platform import doctor as checkup

    checks = checkup.run(config.settings(base.options(ctx)))
    if output is OutputFormat.json:
        ui.data_json([{"check": c.name, "ok": c.ok, "detail": c.detail, "fix": c.fix} for c in checks])
    else:
        ui.data(checkup.checks_text(checks, colour=ui.colour_stdout()))
    failed = [c.name for c in checks if not c.ok]
    if failed:
        raise PlatformError(f"{len(failed)} of {len(checks)} checks failed: {', '.join(failed)}")
