"""The image cache: every pinned image of the platform present in the minikube node, pulled only when missing.

minikube runs its own container runtime, so images on the host are not in the node, and `minikube delete`
throws the node's images away. This module lists the images the rendered manifests use (every container and
initContainer of every pod template, so the list can never disagree with what `up` applies), finds which are
already in the node (`minikube image ls`) and in minikube's persistent cache (`minikube cache list`, loaded
into the node by every `minikube start`, so it survives `minikube delete`), and fetches only what is missing.

Two paths, chosen from the profile's container runtime:
- Docker: pull on the host with the Docker SDK (layer progress, the host's credentials and layer cache),
  stream the image into the node's Docker daemon (the `minikube docker-env` environment), then
  `minikube cache add` with the canonical name, which minikube takes from the host daemon (no second
  download) and does not transfer to the node again when the node already has it.
- containerd / CRI-O: `minikube cache add` (minikube pulls, caches and loads into the node), or
  `minikube image load` when the cache has the image and only the node lacks it.

Images are processed concurrently (a small bounded pool); one image failing does not stop the others, and
the report lists every failure. minikube invocations are serialised: concurrent `cache add`s race on
minikube's own config file, where the cache list lives.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from platformctl import hints
from platformctl.adapters import minikube
from platformctl.errors import PlatformError

if TYPE_CHECKING:
    from platformctl.adapters.dockerhost import Daemon, PullProgress
    from platformctl.platform.render import KubeVersion
    from platformctl.settings import Settings

PULL_CONCURRENCY = 3

_POD_TEMPLATE_PATHS: Mapping[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}


# --- what the platform uses -------------------------------------------------------------------------


@dataclass(frozen=True)
class PinnedImage:
    image: str  # exactly as written in the manifests
    used_by: tuple[str, ...]  # "StatefulSet/kafka", ...


def pinned_images(documents: Iterable[Mapping[str, Any]]) -> list[PinnedImage]:
    """Every container and initContainer image of every pod template, in apply order, each once."""
    users: dict[str, list[str]] = {}
    for doc in documents:
        path = _POD_TEMPLATE_PATHS.get(str(doc.get("kind")))
        if path is None:
            continue
        spec: Any = doc
        for key in path:
            spec = spec.get(key) if isinstance(spec, Mapping) else None
        if not isinstance(spec, Mapping):
            continue
        owner = f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"
        for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
            image = container.get("image")
            if isinstance(image, str) and image:
                who = users.setdefault(image, [])
                if owner not in who:
                    who.append(owner)
    return [PinnedImage(image, tuple(who)) for image, who in users.items()]


def platform_images(settings: Settings, version: KubeVersion) -> list[PinnedImage]:
    from platformctl.platform import render

    return pinned_images(render.render(settings, version).documents)


# --- image references -------------------------------------------------------------------------------


def canonical(ref: str) -> str:
    """The fully qualified form the container runtimes print: `apache/kafka:4.2.0` ->
    `docker.io/apache/kafka:4.2.0`, `busybox` -> `docker.io/library/busybox:latest`."""
    name, _, digest = ref.partition("@")
    tag = ""
    colon = name.rfind(":")
    if colon > name.rfind("/"):
        name, tag = name[:colon], name[colon + 1 :]
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, rest
    else:
        registry, path = "docker.io", name
    if registry == "index.docker.io":
        registry = "docker.io"
    if registry == "docker.io" and "/" not in path:
        path = f"library/{path}"
    if not tag and not digest:
        tag = "latest"
    return f"{registry}/{path}" + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")


def _split(ref: str) -> tuple[str, str, str]:
    """(registry/path, tag, digest) of the canonical form; tag or digest may be empty."""
    name, _, digest = canonical(ref).partition("@")
    colon = name.rfind(":")
    if colon > name.rfind("/"):
        return name[:colon], name[colon + 1 :], digest
    return name, "", digest


def _key(ref: str) -> str:
    """What identifies an image: its digest when pinned by one (the tag is then a label), else its tag."""
    name, tag, digest = _split(ref)
    return f"{name}@{digest}" if digest else f"{name}:{tag}"


def _keys(refs: Iterable[str]) -> set[str]:
    """Every key an available reference satisfies (`repo:tag@digest` satisfies both forms)."""
    keys: set[str] = set()
    for ref in refs:
        name, tag, digest = _split(ref)
        keys.update(k for k in (tag and f"{name}:{tag}", digest and f"{name}@{digest}") if k)
    return keys


# --- where each image is -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageState:
    image: str
    used_by: tuple[str, ...]
    in_node: bool
    in_cache: bool

    @property
    def complete(self) -> bool:
        return self.in_node and self.in_cache

    def as_json(self) -> dict[str, Any]:
        return {
            "image": self.image,
            "used_by": list(self.used_by),
            "in_node": self.in_node,
            "in_cache": self.in_cache,
        }


def states(pinned: Iterable[PinnedImage], node: Iterable[str], cache: Iterable[str]) -> list[ImageState]:
    in_node, in_cache = _keys(node), _keys(cache)
    return [
        ImageState(p.image, p.used_by, _key(p.image) in in_node, _key(p.image) in in_cache) for p in pinned
    ]


def image_states(settings: Settings, version: KubeVersion) -> tuple[minikube.Profile, list[ImageState]]:
    """Each pinned image with whether the node and minikube's cache have it; the profile must be running."""
    pinned = platform_images(settings, version)
    profile = minikube.require_running(settings.minikube.profile)
    return profile, states(pinned, minikube.image_ls(profile.name), minikube.cache_list())


# --- progress ---------------------------------------------------------------------------------------


class Reporter(Protocol):
    """Where progress goes; the CLI draws bars on a terminal and plain lines elsewhere."""

    def begin(self, image: str, step: str) -> None: ...  # step: "pull", "load", "cache"

    def pull_progress(self, event: PullProgress) -> None: ...

    def finish(self, image: str, error: str | None) -> None: ...


class SilentReporter:
    def begin(self, image: str, step: str) -> None:
        pass

    def pull_progress(self, event: PullProgress) -> None:
        pass

    def finish(self, image: str, error: str | None) -> None:
        pass


# --- the cache step ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    image: str
    message: str
    hint: str | None = None


@dataclass
class CacheReport:
    """What `cache_images` found and did; `failed` is empty when every image is present."""

    runtime: str
    images: list[ImageState]  # as found before anything was done
    pulled: list[str] = field(default_factory=list)  # pulled from a registry onto the host
    loaded: list[str] = field(default_factory=list)  # put into the node (docker load / minikube image load)
    cached: list[str] = field(default_factory=list)  # added to minikube's persistent cache
    failed: list[Failure] = field(default_factory=list)

    @property
    def missing(self) -> list[ImageState]:
        return [s for s in self.images if not s.in_node]

    def summary(self) -> str:
        done = [f"{len(self.pulled)} pulled", f"{len(self.loaded)} loaded into the node"]
        done.append(f"{len(self.cached)} added to the minikube cache")
        ready = sum(1 for s in self.images if s.complete)
        head = f"{len(self.images)} images: {ready} already present, " + ", ".join(done)
        return head + (f", {len(self.failed)} failed" if self.failed else "")

    def raise_if_failed(self) -> None:
        """One `PlatformError` whose lines list every image that failed and why."""
        if not self.failed:
            return
        lines = [f"{len(self.failed)} of {len(self.images)} images could not be made present in minikube:"]
        lines += [f"  {f.message}" for f in self.failed]
        hints = {f.hint for f in self.failed if f.hint}
        raise PlatformError("\n".join(lines), hint=hints.pop() if len(hints) == 1 else None)


def offline_check(found: Iterable[ImageState]) -> None:
    """With no network, what the node lacks cannot be fetched: fail now, naming every such image,
    instead of letting the pods sit in ImagePullBackOff."""
    missing = [s.image for s in found if not s.in_node]
    if missing:
        raise PlatformError(
            f"offline, and {len(missing)} image(s) are missing from the minikube node: {', '.join(missing)}",
            hint=f"run `{hints.command('images cache')}` once while online (images in the minikube cache also come "
            "back with every `minikube start`)",
        )


DaemonFactory = Callable[[Mapping[str, str] | None, str], "Daemon"]


def _connect(environment: Mapping[str, str] | None, where: str) -> Daemon:
    from platformctl.adapters import dockerhost

    return dockerhost.connect(environment, where=where)


def cache_images(
    settings: Settings,
    version: KubeVersion,
    *,
    offline: bool = False,
    reporter: Reporter | None = None,
    connect: DaemonFactory = _connect,
) -> CacheReport:
    """Make every pinned image present in the node and in minikube's cache, touching only what is missing.

    Per-image failures are collected in the report (the other images carry on); faults that stop every
    image (minikube not running, no Docker daemon) raise `PlatformError`. `offline` changes nothing and
    raises when the node lacks an image.
    """
    profile, found = image_states(settings, version)
    report = CacheReport(runtime=profile.container_runtime, images=found)
    if offline:
        offline_check(found)
        return report
    todo = [s for s in found if not s.complete]
    if not todo:
        return report
    out = reporter or SilentReporter()
    minikube_lock = threading.Lock()
    record = threading.Lock()

    if profile.container_runtime == "docker":
        host = connect(None, "the host")
        node_env: Mapping[str, str] | None = None
        if any(not s.in_node for s in todo):
            with minikube_lock:
                node_env = minikube.docker_env(profile.name)
        node = connect(node_env, f"the minikube node ({profile.name})") if node_env is not None else None

        def work(state: ImageState) -> None:
            ref = canonical(state.image)
            if not host.has_image(state.image):
                out.begin(state.image, "pull")
                host.pull(state.image, out.pull_progress)
                with record:
                    report.pulled.append(state.image)
            if not state.in_node:
                assert node is not None
                out.begin(state.image, "load")
                node.load(state.image, host.export(state.image))
                with record:
                    report.loaded.append(state.image)
            if not state.in_cache:
                out.begin(state.image, "cache")
                with minikube_lock:
                    minikube.cache_add(ref)
                with record:
                    report.cached.append(state.image)

    else:

        def work(state: ImageState) -> None:
            ref = canonical(state.image)
            if not state.in_cache:
                # `cache add` also loads the image into the running node.
                out.begin(state.image, "cache")
                with minikube_lock:
                    minikube.cache_add(ref)
                with record:
                    report.cached.append(state.image)
                    if not state.in_node:
                        report.loaded.append(state.image)
            elif not state.in_node:
                out.begin(state.image, "load")
                with minikube_lock:
                    minikube.image_load(profile.name, ref)
                with record:
                    report.loaded.append(state.image)

    def guarded(state: ImageState) -> None:
        try:
            work(state)
        except PlatformError as e:
            with record:
                report.failed.append(Failure(state.image, f"{state.image}: {e.message}", e.hint))
            out.finish(state.image, e.message)
        else:
            out.finish(state.image, None)

    pool = ThreadPoolExecutor(max_workers=PULL_CONCURRENCY, thread_name_prefix="image")
    try:
        list(pool.map(guarded, todo))
    except BaseException:
        # Ctrl-C: drop the queued images instead of waiting for them (`with` would join every one).
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    order = {s.image: i for i, s in enumerate(found)}
    for names in (report.pulled, report.loaded, report.cached):
        names.sort(key=order.__getitem__)
    report.failed.sort(key=lambda f: order[f.image])
    return report


def ensure_images(
    settings: Settings, version: KubeVersion, *, offline: bool = False, reporter: Reporter | None = None
) -> CacheReport:
    """The step `up` runs before applying: `cache_images`, raising one `PlatformError` if any image failed."""
    report = cache_images(settings, version, offline=offline, reporter=reporter)
    report.raise_if_failed()
    return report
