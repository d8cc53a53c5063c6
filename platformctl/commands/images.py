"""`platformctl images list/cache`: the platform's pinned images in minikube (logic: platform/images.py)."""

from __future__ import annotations

from typing import Any

import typer

from platformctl import ui
from platformctl.commands import base
from platformctl.commands.base import OfflineOption, OutputFormat, OutputOption
from platformctl.errors import PlatformError

images_app = base.group(
    "images", "The platform's pinned images in minikube: list where they are, cache what is missing.",
    "The pinned images in minikube: list, cache.",
)


def _kube_version(settings: Any) -> Any:
    from platformctl.platform import render as rendering

    return rendering.parse_version(settings.minikube.kubernetes_version, origin="minikube.kubernetes-version")


@base.command(images_app, "list", short_help="Every pinned image, and whether minikube has it.")
def images_list(ctx: typer.Context, output: OutputOption = OutputFormat.text) -> None:
    """Every image the rendered platform uses, and whether the minikube node and minikube's cache have it.

    Without a running minikube (or with --context, whose cluster pulls its own images) the images are
    listed all the same, their presence `unknown`.
    """
    from platformctl import config
    from platformctl.platform import images
    from platformctl.platform.guard import uses_minikube

    settings = config.settings(base.options(ctx))
    version = _kube_version(settings)
    found: list[Any] | None = None
    if not uses_minikube(settings):
        ui.info(f"presence unknown: --context {settings.context} pulls its own images; minikube is not asked")
    else:
        try:
            _, found = images.image_states(settings, version)
        except PlatformError as e:
            ui.warn(f"presence unknown: {e}" + (f" ({e.hint})" if e.hint else ""))
    if found is None:
        pinned = images.platform_images(settings, version)
        if output is OutputFormat.json:
            unknown = {"in_node": None, "in_cache": None}
            ui.data_json([{"image": p.image, "used_by": list(p.used_by), **unknown} for p in pinned])
            return
        rows = [(p.image, "unknown", "unknown", ", ".join(p.used_by)) for p in pinned]
    else:
        if output is OutputFormat.json:
            ui.data_json([state.as_json() for state in found])
            return
        rows = [(s.image, _yes(s.in_node), _yes(s.in_cache), ", ".join(s.used_by)) for s in found]
    rows.insert(0, ("IMAGE", "NODE", "CACHE", "USED BY"))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    ui.data("\n".join("  ".join([*(c.ljust(w) for c, w in zip(row[:3], widths, strict=True)), row[3]]) for row in rows))


def _yes(present: bool) -> str:
    return "yes" if present else "no"


@base.command(images_app, "cache", short_help="Put the pinned images minikube lacks into it.")
def images_cache(ctx: typer.Context, offline: OfflineOption = False) -> None:
    """Make every pinned image present in the minikube node and cache; images already there are left alone."""
    from platformctl import config
    from platformctl.platform import imageprogress, images

    settings = config.settings(base.options(ctx))
    version = _kube_version(settings)
    with imageprogress.reporter() as progress:
        report = images.cache_images(settings, version, offline=offline, reporter=progress)
    ui.info(report.summary())
    report.raise_if_failed()
