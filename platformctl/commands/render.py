"""`platformctl render`: the manifests `up` would apply, with no cluster needed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from platformctl import ui
from platformctl.commands import base
from platformctl.config import ENV_KUBERNETES_VERSION


@base.command(base.app, short_help="Print the manifests `up` would apply (no cluster needed).")
def render(
    ctx: typer.Context,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", metavar="DIR", file_okay=False, help="Write one file per component into DIR instead of stdout."
        ),
    ] = None,
    kubernetes_version: Annotated[
        str | None,
        typer.Option(
            "--kubernetes-version",
            envvar=ENV_KUBERNETES_VERSION,
            metavar="X.Y",
            help="Target server version (X.Y); chooses Pod Security admission or PodSecurityPolicy "
            "(default: minikube.kubernetes-version).",
        ),
    ] = None,
) -> None:
    """Print the manifests `up` would apply, in apply order. Works with no cluster."""
    from platformctl import config
    from platformctl.platform import render as rendering

    settings = config.settings(base.options(ctx))
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
    files = rendering.write_files(result, out)
    for path in files.written:
        ui.info(f"wrote {path}")
    for path in files.removed:
        ui.info(f"removed {path} (an earlier render wrote it; this one has no such component)")
