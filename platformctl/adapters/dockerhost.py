"""The Docker SDK adapter: the only module that imports `docker`.

Two daemons matter to the image cache: the host's, where images are pulled (it has the user's registry
credentials and its own layer cache), and the one inside a minikube node whose runtime is Docker, reached
with the environment `minikube docker-env` prints. This module pulls with the SDK's streamed layer status
turned into `PullProgress` events, streams an image from one daemon into the other (`docker save | docker
load` without a temporary file), and turns the SDK's exceptions and in-stream error messages into one-line
`PlatformError`s that name the image, the registry and the daemon.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import docker
import docker.errors

from platformctl import hints
from platformctl.errors import PlatformError


@dataclass(frozen=True)
class PullProgress:
    """The state of one image's pull after a layer status message from the daemon."""

    image: str
    status: str  # the daemon's last status word: "Downloading", "Extracting", "Pull complete", ...
    current: int  # bytes downloaded so far, over all layers whose size is known
    total: int  # bytes to download, over all layers whose size is known
    layers_done: int
    layers: int


ProgressCallback = Callable[[PullProgress], None]


def client_from_env(environment: Mapping[str, str] | None) -> Any:
    """A `docker.DockerClient` for the daemon the environment names (None: this process's environment)."""
    return docker.from_env(environment=dict(environment) if environment is not None else None)


def connect(environment: Mapping[str, str] | None = None, *, where: str = "the host") -> Daemon:
    """Connect to a Docker daemon, or fail with one line saying which daemon could not be reached."""
    host = (environment or {}).get("DOCKER_HOST")
    try:
        client = client_from_env(environment)
    except docker.errors.DockerException as e:
        address = f" at {host}" if host else ""
        raise PlatformError(
            f"cannot reach the Docker daemon of {where}{address}: {_unreachable_reason(_reason(e))}",
            hint="start Docker (Docker Desktop, or `sudo systemctl start docker`) and run again"
            if where == "the host"
            else "check the node with `minikube status`",
        ) from e
    return Daemon(client, where)


class Daemon:
    """One Docker daemon; every SDK call and every SDK exception stays inside this class."""

    def __init__(self, client: Any, where: str) -> None:
        self._client = client
        self.where = where

    def has_image(self, image: str) -> bool:
        try:
            self._client.images.get(_by_digest(image))
        except docker.errors.ImageNotFound:
            return False
        except docker.errors.DockerException as e:
            raise _error(e, image, f"look up {image} in the Docker daemon of {self.where}") from e
        return True

    def pull(self, image: str, on_progress: ProgressCallback | None = None) -> None:
        """Pull IMAGE, reporting layer progress; errors the daemon streams mid-pull are raised too."""
        tally = _LayerTally(image)
        try:
            for message in self._client.api.pull(_by_digest(image), stream=True, decode=True):
                if not isinstance(message, dict):
                    continue
                # The daemon reports failures after the 200 response has started (a denied blob, a full
                # disk while extracting) as a message with "error"/"errorDetail", not as an HTTP status.
                if "error" in message or "errorDetail" in message:
                    detail = message.get("errorDetail") or {}
                    text = str(detail.get("message") or message.get("error") or "unknown error")
                    raise _classify(text, image, f"pull {image} into the Docker daemon of {self.where}")
                event = tally.feed(message)
                if event is not None and on_progress is not None:
                    on_progress(event)
        except docker.errors.DockerException as e:
            raise _error(e, image, f"pull {image} into the Docker daemon of {self.where}") from e

    def export(self, image: str) -> Iterator[bytes]:
        """The image as a `docker save` tar stream, produced chunk by chunk."""
        try:
            yield from self._client.api.get_image(_by_digest(image))
        except docker.errors.DockerException as e:
            raise _error(e, image, f"export {image} from the Docker daemon of {self.where}") from e

    def load(self, image: str, archive: Iterable[bytes]) -> None:
        """`docker load` the tar stream into this daemon."""
        try:
            self._client.images.load(archive)
        except docker.errors.DockerException as e:
            raise _error(e, image, f"load {image} into the Docker daemon of {self.where}") from e


class _LayerTally:
    """Folds the daemon's per-layer status messages into one running total per image.

    Messages look like {"status": "Downloading", "id": "<layer>", "progressDetail": {"current": N,
    "total": M}}; a layer is done at "Pull complete" or "Already exists". Messages without a layer id
    ("Digest: ...", "Status: Downloaded newer image ...") and the "Pulling from <repo>" line (whose id is
    the tag) change only the status word.
    """

    _DONE = frozenset({"Pull complete", "Already exists"})
    _DOWNLOADED = frozenset({"Verifying Checksum", "Download complete", "Extracting", "Pull complete"})

    def __init__(self, image: str) -> None:
        self.image = image
        self.sizes: dict[str, tuple[int, int]] = {}  # layer -> (downloaded, size)
        self.done: set[str] = set()

    def feed(self, message: Mapping[str, Any]) -> PullProgress | None:
        status = str(message.get("status") or "")
        layer = message.get("id")
        if not status:
            return None
        if isinstance(layer, str) and layer and not status.startswith("Pulling from"):
            current, total = self.sizes.get(layer, (0, 0))
            detail = message.get("progressDetail") or {}
            if status == "Downloading" and isinstance(detail, dict):
                total = int(detail.get("total") or total)
                current = int(detail.get("current") or current)
            elif status in self._DOWNLOADED:
                current = total
            self.sizes[layer] = (current, total)
            if status in self._DONE:
                self.done.add(layer)
        return PullProgress(
            image=self.image,
            status=status.split(":", 1)[0],
            current=sum(c for c, _ in self.sizes.values()),
            total=sum(t for _, t in self.sizes.values()),
            layers_done=len(self.done),
            layers=len(self.sizes),
        )


def _by_digest(image: str) -> str:
    """`repo:tag@sha256:...` -> `repo@sha256:...`: with a digest the tag is only a label, and the SDK
    would otherwise send `repo:tag` as the repository and the digest as the tag."""
    name, at, digest = image.partition("@")
    if not at:
        return image
    colon = name.rfind(":")
    return (name[:colon] if colon > name.rfind("/") else name) + "@" + digest


def registry_of(image: str) -> str:
    """The registry an image reference points at (Docker Hub when the first part is not a host)."""
    first, sep, _ = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


# What the SDK's connection errors mean, from the OS error inside its "Error while fetching server API
# version: ('Connection aborted.', FileNotFoundError(2, ...))" (requests wraps the socket error twice).
_UNREACHABLE = (
    ("FileNotFoundError", "no daemon is listening (its socket does not exist)"),
    ("ConnectionRefusedError", "no daemon is listening (connection refused)"),
    ("Connection refused", "no daemon is listening (connection refused)"),
    ("PermissionError", "permission denied on its socket (is this user in the docker group?)"),
)


def _unreachable_reason(text: str) -> str:
    return next((meaning for marker, meaning in _UNREACHABLE if marker in text), text)


def _reason(e: BaseException) -> str:
    if isinstance(e, docker.errors.APIError) and e.explanation:
        explanation = e.explanation
        text = explanation.decode(errors="replace") if isinstance(explanation, bytes) else str(explanation)
    else:
        text = str(e)
    return " ".join(text.split())


def _error(e: docker.errors.DockerException, image: str, doing: str) -> PlatformError:
    if isinstance(e, docker.errors.ImageLoadError | docker.errors.APIError):
        return _classify(_reason(e), image, doing)
    # Anything else the SDK raises (requests' connection errors arrive wrapped as DockerException) means
    # the daemon went away mid-operation.
    return PlatformError(
        f"cannot {doing}: the Docker daemon stopped answering: {_reason(e)}",
        hint="check that Docker is running and run again",
    )


def _classify(reason: str, image: str, doing: str) -> PlatformError:
    """One line per failure kind, worded from the daemon's message (the HTTP status is 404 for both
    "not found" and "access denied" on Docker Hub, so the text is what tells them apart)."""
    registry = registry_of(image)
    lowered = reason.lower()
    if "no space left on device" in lowered:
        return PlatformError(
            f"disk full: cannot {doing}: {reason}",
            hint="free disk space (`docker system prune`, or `minikube ssh -- docker system prune`) "
            "and run again",
        )
    if "denied" in lowered or "unauthorized" in lowered or "authentication required" in lowered:
        return PlatformError(
            f"pull denied: registry {registry} refused {image}: {reason}",
            hint=f"check the image name, or log in with `docker login {registry}`",
        )
    if "not found" in lowered or "manifest unknown" in lowered or "no such image" in lowered:
        return PlatformError(
            f"image not found: registry {registry} has no {image}: {reason}",
            hint=f"check the pinned tag in platformctl.yaml (`{hints.command('images list')}` shows every image)",
        )
    return PlatformError(f"cannot {doing}: {reason}")
