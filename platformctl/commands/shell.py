"""`platformctl completion SHELL`: the completion script for bash, zsh or fish (logic: commands/completion.py)."""

from __future__ import annotations

import enum
from typing import Annotated

import typer

from platformctl import ui
from platformctl.commands import base


class Shell(enum.StrEnum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"


@base.command(base.app, "completion", short_help="Print the shell completion script (bash, zsh, fish).")
def completion_script(
    ctx: typer.Context,
    shell: Annotated[Shell, typer.Argument(metavar="bash|zsh|fish", help="The shell to complete in.")],
) -> None:
    """Print the script that completes platformctl's commands, options, port-forward targets,
    environments and topic names in SHELL. Load it now, or for every new shell:

    \b
      bash:  source <(platformctl completion bash)      # or into ~/.bashrc
      zsh:   source <(platformctl completion zsh)       # after compinit; or into ~/.zshrc
      fish:  platformctl completion fish | source      # or save it as ~/.config/fish/completions/platformctl.fish
    """
    from platformctl.commands import completion

    ui.data(completion.script(shell.value))
