"""Two consoles: data on stdout, progress and diagnostics on stderr.

Scripts pipe stdout (`platformctl render | kubectl diff -f -`, `status --output json | jq`), so nothing
but data may ever reach it. Verbosity is counted (`-v`, `-vv`, `-q`) and applies to stderr only. Rich is
imported on first use so `--version` and `--help` do not pay for consoles they never open.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

_verbosity = 0
_out: Console | None = None
_err: Console | None = None


def set_verbosity(verbose: int, quiet: int) -> None:
    global _verbosity
    _verbosity = verbose - quiet


def verbosity() -> int:
    return _verbosity


def out() -> Console:
    """The stdout console, for data."""
    global _out
    if _out is None:
        from rich.console import Console

        _out = Console(file=sys.stdout, highlight=False, soft_wrap=True)
    return _out


def err() -> Console:
    """The stderr console, for progress, warnings and errors."""
    global _err
    if _err is None:
        from rich.console import Console

        _err = Console(file=sys.stderr, highlight=False, soft_wrap=True)
    return _err


def reset() -> None:
    """Forget the consoles (tests swap sys.stdout/sys.stderr between invocations)."""
    global _out, _err, _verbosity
    _out = _err = None
    _verbosity = 0


def data(text: str) -> None:
    """Plain data on stdout, byte for byte (no markup, no wrapping)."""
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


def stdout_closed() -> bool:
    """Whether the reader of stdout went away (`platformctl ... | head`). If so, stdout is pointed at
    /dev/null first, so that the interpreter's last flush does not fail again on the way out."""
    import os
    import select

    try:
        fd = sys.stdout.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        events = poller.poll(0)
    except (OSError, ValueError, AttributeError):  # not a file (tests capture stdout)
        return False
    if not any(event & select.POLLERR for _, event in events):  # a pipe with no reader polls as an error
        return False
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)
    return True


def colour_stdout() -> bool:
    """Whether data on stdout may carry colour: a terminal, and the user did not ask for none
    (https://no-color.org; TERM=dumb)."""
    import os

    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return sys.stdout.isatty()


_SGR = {"green": "32", "yellow": "33", "red": "31", "bold red": "1;31"}


def paint(text: str, colour: str) -> str:
    """`text` in an ANSI colour (for data on a terminal: check `colour_stdout` first)."""
    return f"\x1b[{_SGR[colour]}m{text}\x1b[0m"


def data_json(value: Any) -> None:
    data(json.dumps(value, indent=2, sort_keys=True, default=str))


def info(message: str) -> None:
    """Progress a user wants by default; silenced by -q."""
    if _verbosity >= 0:
        err().print(_escape(message))


def detail(message: str) -> None:
    """Extra progress, shown with -v."""
    if _verbosity >= 1:
        err().print(f"[dim]{_escape(message)}[/dim]")


def debug(message: str) -> None:
    """Shown with -vv: requests and raw answers."""
    if _verbosity >= 2:
        err().print(f"[dim]{_escape(message)}[/dim]")


def warn(message: str) -> None:
    """Always shown, even with -q: a warning the user must not miss."""
    err().print(f"[bold yellow]warning:[/bold yellow] {_escape(message)}")


def error(message: str, hint: str | None = None) -> None:
    err().print(f"[bold red]error:[/bold red] {_escape(message)}")
    if hint:
        err().print(f"[dim]hint:[/dim] {_escape(hint)}")


def _escape(text: str) -> str:
    """Every message on stderr: credentials in URLs hidden, control characters shown as escapes (lines
    stay lines), and rich's markup escaped (a `[bold]` in a value is text)."""
    from rich.markup import escape

    return escape("\n".join(printable(line) for line in redact(text).split("\n")))


def printable(text: str) -> str:
    """`text` with control characters (newlines, terminal escapes, bidi overrides) written as escapes, so
    a value from a file or etcd can neither fake lines of a plan nor drive the terminal that shows it."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


# `scheme://user:password@` or `scheme://token@` in any URL: a kubeconfig's server, an etcd endpoint.
_CREDENTIALS = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^/?#@\s:]*)(?P<password>:[^/?#@\s]*)?@")


def redact(text: str) -> str:
    """`text` with the credentials of every URL in it replaced: `https://admin:****@host`."""

    def hide(match: re.Match[str]) -> str:
        if match.group("password") is None:
            return f"{match.group('scheme')}****@"
        return f"{match.group('scheme')}{match.group('user')}:****@"

    return _CREDENTIALS.sub(hide, text) if "@" in text else text


@contextmanager
def status(message: str) -> Iterator[None]:
    """A spinner on a terminal; one plain line otherwise (CI logs, pipes), never animation codes."""
    if _verbosity < 0:
        yield
        return
    console = err()
    if console.is_terminal:
        with console.status(message):
            yield
    else:
        console.print(message)
        yield
