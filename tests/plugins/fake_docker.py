"""A FAKE Docker SDK client at the adapter boundary (`platformctl.adapters.dockerhost.client_from_env`).

No Docker engine runs here. `FakeDockerClient` has the part of `docker.DockerClient` platformctl uses:
`images.get(name)` (raises `docker.errors.ImageNotFound`), `images.load(data)` (consumes the archive
iterable, returns the loaded images, raises `docker.errors.ImageLoadError` on a streamed error),
`api.pull(ref, stream=True, decode=True)` (raises `docker.errors.NotFound` / `APIError` before streaming,
as the SDK does on the HTTP status, or yields the daemon's layer status dicts, including a streamed
`errorDetail` mid-pull), and `api.get_image(name)` (an archive as byte chunks). A "registry" dict says
what each reference pulls as: layers with sizes, or a failure.

Two instances stand for the two daemons: the host's (images in memory) and the minikube node's, whose
images are the fake minikube's node list (one daemon seen through two interfaces, as in reality).

What it does NOT model: real tar archives (the archive is a marker naming the image), image IDs and
digests, shared layers between images ("Already exists" only when a test says so), auth and credential
helpers, platforms, API version negotiation, TLS, timeouts, and connection loss mid-stream.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import docker.errors
import pytest

from tests.plugins.fake_minikube import FakeMinikube

_ARCHIVE = b"FAKE-DOCKER-ARCHIVE "


def qualified(ref: str) -> str:
    """How a Docker daemon resolves a short name (independent of platformctl's own `canonical`)."""
    name = ref.split("@")[0]
    first = name.split("/")[0]
    if "/" in name and ("." in first or ":" in first or first == "localhost"):
        return ref
    return f"docker.io/{'library/' if '/' not in name else ''}{ref}"


@dataclass
class Layers:
    sizes: list[int]
    already: int = 0  # how many leading layers the daemon reports as "Already exists"


@dataclass
class Fails:
    kind: str  # "not-found", "denied", "private-denied", "disk-full"


def layer_messages(ref: str, layers: Layers) -> list[dict[str, Any]]:
    """The status stream a Docker daemon sends for `docker pull REF` (shape of /images/create output)."""
    tag = ref.rpartition(":")[2]
    ids = [f"{i:02x}c0ffee{i:04x}" for i in range(len(layers.sizes))]
    out: list[dict[str, Any]] = [{"status": f"Pulling from {ref.rpartition(':')[0]}", "id": tag}]
    for i, layer in enumerate(ids):
        if i < layers.already:
            out.append({"status": "Already exists", "progressDetail": {}, "id": layer})
        else:
            out.append({"status": "Pulling fs layer", "progressDetail": {}, "id": layer})
    for i, (layer, size) in enumerate(zip(ids, layers.sizes, strict=True)):
        if i < layers.already:
            continue
        out.append({"status": "Waiting", "progressDetail": {}, "id": layer})
        for done in (size // 3, 2 * size // 3, size):
            out.append(
                {
                    "status": "Downloading",
                    "progressDetail": {"current": done, "total": size},
                    "progress": f"[==>   ] {done}B/{size}B",
                    "id": layer,
                }
            )
        out.append({"status": "Verifying Checksum", "progressDetail": {}, "id": layer})
        out.append({"status": "Download complete", "progressDetail": {}, "id": layer})
        out.append({"status": "Extracting", "progressDetail": {"current": size, "total": size}, "id": layer})
        out.append({"status": "Pull complete", "progressDetail": {}, "id": layer})
    out.append({"status": "Digest: sha256:" + "ab" * 32})
    out.append({"status": f"Status: Downloaded newer image for {ref}"})
    return out


class _Store:
    def names(self) -> list[str]:
        raise NotImplementedError

    def add(self, ref: str) -> None:
        raise NotImplementedError


class MemoryStore(_Store):
    def __init__(self, images: Iterable[str] = ()) -> None:
        self.images = list(images)

    def names(self) -> list[str]:
        return list(self.images)

    def add(self, ref: str) -> None:
        self.images.append(ref)


class MinikubeNodeStore(_Store):
    """The node daemon's images are the fake minikube's node list (same state file)."""

    def __init__(self, minikube: FakeMinikube, profile: str = "minikube") -> None:
        self.minikube, self.profile = minikube, profile

    def names(self) -> list[str]:
        return self.minikube.node(self.profile)

    def add(self, ref: str) -> None:
        with self.minikube.edit() as state:
            state["node"].setdefault(self.profile, []).append(ref)


class _Image:
    def __init__(self, ref: str) -> None:
        self.tags = [ref]


class _Images:
    def __init__(self, client: FakeDockerClient) -> None:
        self.client = client

    def get(self, name: str) -> _Image:
        self.client.record("get", name)
        if qualified(name) not in {qualified(n) for n in self.client.store.names()}:
            raise docker.errors.ImageNotFound(f"No such image: {name}")
        return _Image(name)

    def load(self, data: Iterable[bytes]) -> list[_Image]:
        archive = b"".join(data)  # the SDK streams the iterable as the request body
        if not archive.startswith(_ARCHIVE):
            raise docker.errors.ImageLoadError("unexpected EOF")
        if self.client.load_error:
            raise docker.errors.ImageLoadError(self.client.load_error)
        ref = archive[len(_ARCHIVE) :].decode()
        self.client.record("load", ref)
        self.client.store.add(ref)
        return [_Image(ref)]


class _Api:
    def __init__(self, client: FakeDockerClient) -> None:
        self.client = client

    def pull(
        self, repository: str, tag: str | None = None, stream: bool = False, decode: bool = False, **_: Any
    ) -> Iterator[dict[str, Any]]:
        assert stream and decode, "platformctl must stream decoded status (progress bars need it)"
        ref = f"{repository}:{tag}" if tag else repository
        self.client.record("pull", ref)
        plan = self.client.registry.get(ref)
        if plan is None or (isinstance(plan, Fails) and plan.kind == "not-found"):
            # What dockerd answers (HTTP 404) for a tag the registry does not have.
            raise docker.errors.NotFound(
                "404 Client Error for http+docker://localhost/v1.47/images/create: Not Found",
                explanation=f"manifest for {ref} not found: manifest unknown: manifest unknown",
            )
        if isinstance(plan, Fails) and plan.kind == "denied":
            # Docker Hub answers a repository that does not exist (or is private) with 404 + this text.
            raise docker.errors.NotFound(
                "404 Client Error for http+docker://localhost/v1.47/images/create: Not Found",
                explanation=f"pull access denied for {ref.rpartition(':')[0]}, repository does not exist "
                "or may require 'docker login': denied: requested access to the resource is denied",
            )
        if isinstance(plan, Fails) and plan.kind == "private-denied":
            raise docker.errors.APIError(
                "500 Server Error for http+docker://localhost/v1.47/images/create: Internal Server Error",
                explanation=f'Head "https://{ref.split("/")[0]}/v2/{ref}/manifests": unauthorized: '
                "authentication required",
            )
        return self._stream(ref, plan)

    def _stream(self, ref: str, plan: Layers | Fails) -> Iterator[dict[str, Any]]:
        if isinstance(plan, Fails):  # disk-full: the pull starts, then extraction fails
            yield from layer_messages(ref, Layers([1000]))[:4]
            message = (
                "failed to register layer: write /var/lib/docker/overlay2/3f2a/diff/opt/kafka/libs/"
                "kafka-clients.jar: no space left on device"
            )
            yield {"errorDetail": {"message": message}, "error": message}
            return
        yield from layer_messages(ref, plan)
        self.client.store.add(ref)

    def get_image(self, image: str, chunk_size: int = 2097152) -> Iterator[bytes]:
        self.client.record("get_image", image)
        if qualified(image) not in {qualified(n) for n in self.client.store.names()}:
            raise docker.errors.ImageNotFound(f"No such image: {image}")
        data = _ARCHIVE + image.encode()
        return iter([data[:10], data[10:]])


@dataclass
class FakeDockerClient:
    """A FAKE `docker.DockerClient`; see the module docstring for what it does not model."""

    store: _Store
    registry: dict[str, Layers | Fails] = field(default_factory=dict)
    load_error: str | None = None
    calls: list[tuple[str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.images = _Images(self)
        self.api = _Api(self)

    def record(self, what: str, ref: str) -> None:
        with self._lock:
            self.calls.append((what, ref))

    def count(self, what: str) -> int:
        return sum(1 for c in self.calls if c[0] == what)


@dataclass
class FakeDocker:
    """The host's daemon and the minikube node's, as `dockerhost.client_from_env` would connect them."""

    host: FakeDockerClient
    node: FakeDockerClient
    host_running: bool = True
    connects: list[Mapping[str, str] | None] = field(default_factory=list)

    def factory(self) -> Callable[[Mapping[str, str] | None], FakeDockerClient]:
        def connect(environment: Mapping[str, str] | None) -> FakeDockerClient:
            self.connects.append(environment)
            if environment is None:
                if not self.host_running:
                    # What docker.from_env raises when /var/run/docker.sock has no daemon behind it.
                    raise docker.errors.DockerException(
                        "Error while fetching server API version: ('Connection aborted.', "
                        "FileNotFoundError(2, 'No such file or directory'))"
                    )
                return self.host
            assert environment["DOCKER_HOST"] == "tcp://127.0.0.1:32772", environment
            assert environment["DOCKER_TLS_VERIFY"] == "1"
            return self.node

        return connect

    def pulls(self) -> list[str]:
        return [ref for what, ref in self.host.calls if what == "pull"]

    def loads(self) -> list[str]:
        return [ref for what, ref in self.node.calls if what == "load"]


@pytest.fixture
def fake_docker(fake_minikube: FakeMinikube, monkeypatch: pytest.MonkeyPatch) -> FakeDocker:
    from platformctl.adapters import dockerhost

    rig = FakeDocker(
        host=FakeDockerClient(store=MemoryStore()),
        node=FakeDockerClient(store=MinikubeNodeStore(fake_minikube)),
    )
    monkeypatch.setattr(dockerhost, "client_from_env", rig.factory())
    return rig
