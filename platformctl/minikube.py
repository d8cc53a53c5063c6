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
