"""The console-script entry point: `platformctl` is `platformctl.cli:main`.

The commands live in `platformctl/commands/`: `base.py` holds the Typer `app`, the global options and the
single error boundary (every `PlatformError` becomes one line on stderr and its exit code there, and nowhere
else); each other module there registers one area's commands on that app (`cluster.py`: up, down, status,
doctor; `topics.py`: topics plan/apply; the list is `commands/__init__.py`). Commands are thin: they parse
options, make one call into the logic (`platformctl/topics/`, `platformctl/platform/`, which never import
Typer), and print. Heavy clients (kubernetes, confluent_kafka, docker, etcd3gw, pyhocon, pydantic) are
imported inside the command that needs them, so `platformctl --help` stays fast (ruff's TID253 and
tests/commands/test_cli.py enforce it).
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
