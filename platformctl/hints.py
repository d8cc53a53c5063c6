"""The commands platformctl suggests ("next:" lines, `hint:` lines), spelled so they can be pasted as they are.

A hint that says `platformctl status` after `platformctl --context realk8s up` would look at minikube, not
at the cluster the user meant. Once a command has its settings (`config.settings`), the options that pick
the target and the environment are remembered here, and every suggested command carries them:
`platformctl --context realk8s status`. Before that (a usage error), a suggestion is plain `platformctl X`.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from platformctl.settings import Settings

_flags: list[str] = []


def reset() -> None:
    """Forget the previous run's options (tests run many commands in one process)."""
    _flags.clear()


def remember(settings: Settings, config: Path | None) -> None:
    """The options that reach this run's cluster, namespace and environment, from wherever they came
    (flag, env var or file): a pasted hint reaches the same place in another shell or directory."""
    fields = type(settings).model_fields
    flags: list[str] = []
    if config is not None:
        flags += ["--config", str(config)]
    if settings.context:
        flags += ["--context", settings.context]
    if settings.namespace != fields["namespace"].default:
        flags += ["-n", settings.namespace]
    if settings.env != fields["env"].default:
        flags += ["--env", settings.env]
    _flags[:] = flags


def reference_topic_file() -> str:
    """The reference topic file shipped with platformctl (`examples/twitter-topic.conf`), as a path that
    works from here: relative when it is under the working directory (a checkout), else absolute (inside
    the installed package)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "examples", here.parent / "examples"):
        path = candidate / "twitter-topic.conf"
        if path.is_file():
            try:
                return str(path.relative_to(Path.cwd()))
            except ValueError:
                return str(path)
    return "examples/twitter-topic.conf"  # pragma: no cover  (an installation without its data)


def command(rest: str) -> str:
    """`platformctl [the run's options] REST`; REST is written as it should be typed."""
    return " ".join(["platformctl", *(shlex.quote(f) for f in _flags), rest])
