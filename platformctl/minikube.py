"""The minikube adapter: every `minikube` invocation goes through `run()`.

minikube has no stable library API; its CLI is the interface (with `-o json` where it offers one).
`run()` finds the executable, passes the profile, captures output, and turns a missing binary or a
failing command into one `PlatformError` naming the command and minikube's own last words.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from platformctl import ui
from platformctl.errors import PlatformError

MINIKUBE = "minikube"


@dataclass(frozen=True)
class Completed:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str


def executable() -> str:
    found = shutil.which(MINIKUBE)
    if found is None:
        raise PlatformError(
            "minikube is not installed (not found on PATH)",
            hint="install it (https://minikube.sigs.k8s.io/docs/start/) "
            "or use an existing cluster with --context",
        )
    return found


def run(
    args: Sequence[str],
    *,
    profile: str | None = None,
    check: bool = True,
    timeout: float | None = None,
) -> Completed:
    """Run `minikube ARGS [-p PROFILE]`; raise a one-line `PlatformError` when it fails and `check`."""
    argv = [executable(), *args]
    if profile is not None:
        argv += ["-p", profile]
    ui.debug("$ " + " ".join(argv))
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as e:
        raise PlatformError(f"`minikube {' '.join(args)}` did not finish within {timeout:.0f}s") from e
    except OSError as e:
        raise PlatformError(f"cannot run minikube: {e.strerror}") from e
    done = Completed(argv, proc.returncode, proc.stdout, proc.stderr)
    if check and proc.returncode != 0:
        raise PlatformError(
            f"`minikube {' '.join(args)}` failed (exit {proc.returncode}): {last_words(done)}",
            hint=f"see `minikube logs{f' -p {profile}' if profile else ''}`",
        )
    return done


def last_words(done: Completed) -> str:
    """minikube's most useful line: its last non-empty stderr line (or stdout's)."""
    for stream in (done.stderr, done.stdout):
        lines = [line.strip() for line in stream.splitlines() if line.strip()]
        if lines:
            return lines[-1]
    return "no output"


# --- images (issue 4) ------------------------------------------------------------------------------
# The image cache needs to know, per profile, whether the node is running and which container runtime it
# uses, what the node's runtime already holds, and what minikube's persistent cache holds. Formats are
# minikube's own: `profile list -o json` marshals {"invalid": [...], "valid": [config.Profile...]}
# (cmd/minikube/cmd/config/profile_list.go); `image ls --format json` is a list of
# {"id", "repoDigests", "repoTags", "size"} (kubernetes/minikube#12996); `cache list` prints one
# `{{.CacheImage}}` per line (DefaultCacheListFormat); `docker-env --shell none` prints KEY=VALUE lines
# (kubernetes/minikube#1792).

# Status names minikube reports for a profile whose control plane answers. Older releases said
# "Running"; current ones say "OK" (and "Degraded" when a worker node is down but the API server is up).
_RUNNING = frozenset({"OK", "Running", "Degraded"})


@dataclass(frozen=True)
class Profile:
    name: str
    status: str
    driver: str
    container_runtime: str  # "docker", "containerd" or "crio"

    @property
    def running(self) -> bool:
        return self.status in _RUNNING


def profile(name: str) -> Profile:
    """The profile's status and container runtime, from `minikube profile list -o json`."""
    import json

    # With no profile at all minikube exits non-zero and prints {"error": ...}: that is "not found", not
    # a failure of minikube itself, so read the output before judging the exit code.
    done = run(["profile", "list", "-o", "json"], check=False)
    try:
        listing = json.loads(done.stdout or "{}")
    except json.JSONDecodeError as e:
        if done.returncode != 0:
            raise PlatformError(
                f"`minikube profile list` failed (exit {done.returncode}): {last_words(done)}"
            ) from e
        raise PlatformError(f"`minikube profile list -o json` printed something that is not JSON: {e}") from e
    for entry in listing.get("valid") or []:
        if not isinstance(entry, dict) or entry.get("Name") != name:
            continue
        config = entry.get("Config") or {}
        kubernetes = config.get("KubernetesConfig") or {}
        # An empty runtime predates the field; minikube then ran Docker.
        runtime = str(kubernetes.get("ContainerRuntime") or "docker")
        return Profile(name, str(entry.get("Status") or "Unknown"), str(config.get("Driver") or ""), runtime)
    raise PlatformError(
        f"minikube profile {name!r} does not exist",
        hint=f"start it with `platformctl up` (or `minikube start -p {name}`)",
    )


def require_running(name: str) -> Profile:
    """The profile, or a one-line error when its node is not running (nothing can be listed or loaded)."""
    found = profile(name)
    if not found.running:
        raise PlatformError(
            f"minikube profile {name!r} is not running (status: {found.status})",
            hint=f"start it with `platformctl up` (or `minikube start -p {name}`)",
        )
    return found


def image_ls(profile_name: str) -> list[str]:
    """Every reference (tags and digests) the node's container runtime holds."""
    import json

    done = run(["image", "ls", "--format", "json"], profile=profile_name)
    try:
        listing = json.loads(done.stdout or "[]")
    except json.JSONDecodeError as e:
        raise PlatformError(
            f"`minikube image ls --format json` printed something that is not JSON: {e}"
        ) from e
    refs: list[str] = []
    for entry in listing if isinstance(listing, list) else []:
        if isinstance(entry, dict):
            refs += [str(r) for r in entry.get("repoTags") or []]
            refs += [str(r) for r in entry.get("repoDigests") or []]
    return refs


def image_load(profile_name: str, image: str) -> None:
    """Load IMAGE into the node from the host's daemon or minikube's cache (minikube decides)."""
    run(["image", "load", image], profile=profile_name)


def cache_list() -> list[str]:
    """The images in minikube's persistent cache (shared by every profile, kept across `minikube delete`)."""
    done = run(["cache", "list"])
    return [line.strip() for line in done.stdout.splitlines() if line.strip()]


def cache_add(image: str) -> None:
    """Add IMAGE to minikube's persistent cache; minikube also loads it into running nodes.

    minikube takes the image from the host's Docker daemon when it is there and from the registry
    otherwise (pkg/minikube/image/image.go, retrieveImage). A fully qualified name skips its registry
    lookup of short names, so a canonical reference keeps this step off the network.
    """
    run(["cache", "add", image])


def docker_env(profile_name: str) -> dict[str, str]:
    """The environment (DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH, ...) of the node's Docker daemon."""
    done = run(["docker-env", "--shell", "none"], profile=profile_name)
    env: dict[str, str] = {}
    for line in done.stdout.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key and not key.startswith("#"):
            env[key] = value
    if "DOCKER_HOST" not in env:
        raise PlatformError(f"`minikube docker-env` gave no DOCKER_HOST for profile {profile_name!r}")
    return env
