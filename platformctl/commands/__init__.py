"""Every command of platformctl, one module per area, registered on the one Typer `app` (base.py).

Importing a command module registers its commands; the import order is the order `--help` lists them.
Command modules only parse options, call a logic module and print; they import heavy clients and the
adapter modules inside the command functions, so `platformctl --help` stays fast.
"""

# The import order is the order `--help` lists the commands in.
# isort: off
from platformctl.commands import cluster as _cluster  # noqa: F401  (registration)
from platformctl.commands import render as _render  # noqa: F401
from platformctl.commands import forward as _forward  # noqa: F401
from platformctl.commands import images as _images  # noqa: F401
from platformctl.commands import topics as _topics  # noqa: F401
from platformctl.commands import overrides as _overrides  # noqa: F401
from platformctl.commands import schemalevels as _schemalevels  # noqa: F401
from platformctl.commands import shell as _shell  # noqa: F401
from platformctl.commands.base import app
# isort: on

__all__ = ["app"]
