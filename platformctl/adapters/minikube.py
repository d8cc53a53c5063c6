"""The minikube adapter: every `minikube` invocation goes through `run()`.

minikube has no stable library API; its CLI is the interface (with `-o json` where it offers one).
`run()` finds the executable, passes the profile, captures output, and turns a missing binary or a
failing command into one `PlatformError` naming the command and minikube's own last words.
On top of it: the profile's state (`profile list -o json`, `status -o json`), start with pinned
arguments, stop, delete, and the PodSecurityPolicy bootstrap file for clusters older than 1.25.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from platformctl import hints, ui
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
            hint="install it (https://minikube.sigs.k8s.io/docs/start/) or use an existing cluster with --context",
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


# --- profile state, start, stop, delete ---------------------------------------------------------

# `minikube profile list -o json` reports "OK" (newer releases) or the apiserver state "Running" (older
# ones), and "Degraded" when a worker node is down but the API server answers.
_RUNNING = frozenset({"OK", "Running", "Degraded"})


@dataclass(frozen=True)
class Profile:
    """A minikube profile as `minikube profile list -o json` describes it."""

    name: str
    status: str  # OK / Running, Stopped, Paused, Starting, Degraded, Unknown, ...
    kubernetes_version: str | None  # "v1.35.0"
    driver: str | None = None
    memory: int | None = None
    cpus: int | None = None
    container_runtime: str = "docker"  # "docker", "containerd" or "crio"

    @property
    def running(self) -> bool:
        return self.status in _RUNNING


def _json(done: Completed) -> Any:
    text = done.stdout.strip()
    # minikube may print an update notice or a warning line before the JSON document.
    start = min((i for i in (text.find("{"), text.find("[")) if i >= 0), default=-1)
    if start < 0:
        raise ValueError("no JSON in output")
    return json.loads(text[start:])


def profile(name: str) -> Profile | None:
    """The named profile, or None when minikube has no such profile."""
    done = run(["profile", "list", "-o", "json"], check=False, timeout=120)
    try:
        data = _json(done)
    except ValueError as e:
        if done.returncode != 0:
            # No profile at all: older releases exit non-zero with a message instead of empty JSON.
            if "no minikube profile" in (done.stdout + done.stderr).lower():
                return None
            raise PlatformError(f"`minikube profile list` failed (exit {done.returncode}): {last_words(done)}") from e
        raise PlatformError(f"cannot parse `minikube profile list -o json`: {e}") from e
    if not isinstance(data, dict):
        raise PlatformError("unexpected output from `minikube profile list -o json` (not an object)")
    if data.get("error") and not data.get("valid"):
        raise PlatformError(f"`minikube profile list` failed: {data['error']}")
    for entry in data.get("valid") or []:
        if entry.get("Name") != name:
            continue
        config = entry.get("Config") or {}
        kubernetes = config.get("KubernetesConfig") or {}
        return Profile(
            name=name,
            status=str(entry.get("Status") or "Unknown"),
            kubernetes_version=kubernetes.get("KubernetesVersion"),
            driver=config.get("Driver"),
            memory=config.get("Memory"),
            cpus=config.get("CPUs"),
            # An empty runtime predates the field; minikube then ran Docker.
            container_runtime=str(kubernetes.get("ContainerRuntime") or "docker"),
        )
    return None


def node_status(name: str) -> dict[str, Any] | None:
    """`minikube status -o json` of the control-plane node, or None when the profile does not exist.

    Exit status is a bitmask (1 host, 2 cluster, 4 kubeconfig not OK), so non-zero is normal for a
    stopped cluster; 85 (and no JSON) means the profile does not exist.
    """
    done = run(["status", "-o", "json"], profile=name, check=False, timeout=120)
    try:
        data = _json(done)
    except ValueError:
        if done.returncode != 0:
            return None
        raise PlatformError(f"cannot parse `minikube status -o json -p {name}`: {last_words(done)}") from None
    nodes = data if isinstance(data, list) else [data]
    for node in nodes:
        if isinstance(node, dict) and not node.get("Worker"):
            return node
    return None


def minikube_home() -> Path:
    """minikube's state directory: $MINIKUBE_HOME (itself, or its .minikube child) or ~/.minikube."""
    env = os.environ.get("MINIKUBE_HOME")
    if not env:
        return Path.home() / ".minikube"
    home = Path(env)
    return home if home.name == ".minikube" else home / ".minikube"


def install_psp_addon(source: Path) -> Path:
    """Copy psp.yaml where minikube applies it at boot, before the PodSecurityPolicy plugin is on.

    Without policies, the admission plugin refuses every pod, minikube's own included
    (https://minikube.sigs.k8s.io/docs/tutorials/using_psp/).
    """
    target = minikube_home() / "files" / "etc" / "kubernetes" / "addons" / "psp.yaml"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    except OSError as e:
        raise PlatformError(f"cannot copy {source} to {target}: {e.strerror}") from e
    return target


def start_args(
    *, kubernetes_version: str, memory: int, cpus: int, driver: str | None, pod_security_policy: bool
) -> list[str]:
    """The `minikube start` arguments for a pinned, reproducible cluster."""
    args = ["start", f"--kubernetes-version={kubernetes_version}", f"--memory={memory}", f"--cpus={cpus}"]
    if driver:
        args.append(f"--driver={driver}")
    if pod_security_policy:
        args.append("--extra-config=apiserver.enable-admission-plugins=PodSecurityPolicy")
    return args


def start(name: str, args: Sequence[str], *, timeout: float = 900) -> None:
    run(args, profile=name, timeout=timeout)


def stop(name: str) -> None:
    run(["stop"], profile=name, timeout=300)


def delete(name: str) -> None:
    run(["delete"], profile=name, timeout=300)


# --- images ---------------------------------------------------------------------------------------
# The image cache needs to know, per profile, whether the node is running and which container runtime it
# uses, what the node's runtime already holds, and what minikube's persistent cache holds. Formats are
# minikube's own: `profile list -o json` marshals {"invalid": [...], "valid": [config.Profile...]}
# (cmd/minikube/cmd/config/profile_list.go); `image ls --format json` is a list of
# {"id", "repoDigests", "repoTags", "size"} (kubernetes/minikube#12996); `cache list` prints one
# `{{.CacheImage}}` per line (DefaultCacheListFormat); `docker-env --shell none` prints KEY=VALUE lines
# (kubernetes/minikube#1792).


def require_running(name: str) -> Profile:
    """The profile, or a one-line error when its node is not running (nothing can be listed or loaded)."""
    found = profile(name)
    if found is None:
        raise PlatformError(
            f"minikube profile {name!r} does not exist",
            hint=f"start it with `{hints.command('up')}` (or `minikube start -p {name}`)",
        )
    if not found.running:
        raise PlatformError(
            f"minikube profile {name!r} is not running (status: {found.status})",
            hint=f"start it with `{hints.command('up')}` (or `minikube start -p {name}`)",
        )
    return found


def image_ls(profile_name: str) -> list[str]:
    """Every reference (tags and digests) the node's container runtime holds."""

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
