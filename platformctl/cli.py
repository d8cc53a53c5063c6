"""The console-script entry point: `platformctl` is `platformctl.cli:main`.

The commands live in `platformctl/commands/`: `base.py` holds the Typer `app`, the global options and
the single error boundary (every `PlatformError` becomes one line on stderr and its exit code there, and
nowhere else); `platform/render.py`, `cluster.py` (up, down, status, doctor), `platform/images.py`, `forward.py`
(port-forward), `topics/plan.py` and `topics/overrides.py` each register one area's commands on that app. Commands
are thin: they parse options, call a logic module (lifecycle, images, forward, topicrun, overrides,
reach, ...) that never imports Typer, and print. Heavy clients (kubernetes, confluent_kafka, docker,
etcd3gw, pyhocon, pydantic) are imported inside the command that needs them, so `platformctl --help`
stays fast (ruff's TID253 and tests/commands/test_cli.py enforce it).
"""

from __future__ import annotations

import sys

from platformctl.commands import app

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point."""
    app(prog_name="platformctl")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())  # type: ignore[func-returns-value]
