"""`platformctl images list/cache`: the platform's pinned images in minikube (logic: images.py)."""

from __future__ import annotations

from typing import Any

import typer

from platformctl import ui
from platformctl.commands import base
from platformctl.commands.base import OfflineOption, OutputFormat, OutputOption

images_app = base.group(
    "images", "The platform's pinned images in minikube: list where they are, cache what is missing.",
    "The pinned images in minikube: list, cache.",
)


def _kube_version(settings: Any) -> Any:
    from platformctl import render as rendering

    return rendering.parse_version(settings.minikube.kubernetes_version, origin="minikube.kubernetes-version")


@base.command(images_app, "list", short_help="Every pinned image, and whether minikube has it.")
def images_list(ctx: typer.Context, output: OutputOption = OutputFormat.text) -> None:
    """Every image the rendered platform uses, and whether the minikube node and minikube's cache have it."""
    from platformctl import config, images

    settings = config.settings(base.options(ctx))
    _, found = images.image_states(settings, _kube_version(settings))
    if output is OutputFormat.json:
        ui.data_json([state.as_json() for state in found])
        return
    width = max([len("IMAGE"), *(len(s.image) for s in found)])
    rows = [f"{'IMAGE':<{width}}  NODE  CACHE  USED BY"]
    for s in found:
        node, cache = ("yes" if s.in_node else "no"), ("yes" if s.in_cache else "no")
        rows.append(f"{s.image:<{width}}  {node:<4}  {cache:<5}  {', '.join(s.used_by)}")
    ui.data("\n".join(rows))


@base.command(images_app, "cache", short_help="Put the pinned images minikube lacks into it.")
def images_cache(ctx: typer.Context, offline: OfflineOption = False) -> None:
    """Make every pinned image present in the minikube node and cache; images already there are left alone."""
    from platformctl import config, imageprogress, images

    settings = config.settings(base.options(ctx))
    version = _kube_version(settings)
    with imageprogress.reporter() as progress:
        report = images.cache_images(settings, version, offline=offline, reporter=progress)
    ui.info(report.summary())
    report.raise_if_failed()
