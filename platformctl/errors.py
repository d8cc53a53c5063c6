"""The error vocabulary every module speaks, and the exit codes users script against.

Adapters (kube, kafka, etcd, minikube, docker) catch their client's exceptions at the boundary and raise
one of these, `from` the original, so the CLI has exactly one place that turns an error into a message and
an exit code (`platformctl/commands/base.py`). Nothing else prints an error or calls `sys.exit`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import IntEnum
from pathlib import Path


class ExitCode(IntEnum):
    OK = 0
    FAULT = 1  # something outside the user's input went wrong: API server, broker, etcd, minikube
    INPUT = 2  # bad input or the wrong target: fix the command line or the file and run again
    INTERRUPTED = 130  # 128 + SIGINT, what shells expect from Ctrl-C


class PlatformError(Exception):
    """A fault: the operation could not complete for a reason outside the user's input.

    `hint` is the next thing to try ("run `platformctl up` first"); it is printed on its own line.
    """

    exit_code: ExitCode = ExitCode.FAULT

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class InputError(PlatformError):
    """Bad input: names the file, the line (where known) and the field, so the user can go straight there."""

    exit_code = ExitCode.INPUT

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.path = str(path) if path is not None else None
        self.line = line
        self.field = field

    def location(self) -> str:
        """`file:line: field` (each part only when known), the prefix compilers and linters use."""
        where = ""
        if self.path is not None:
            path = _printable(self.path)  # a file name is any text a user or a script passed
            where = path if self.line is None else f"{path}:{self.line}"
        if self.field:
            field = _printable(self.field)
            where = f"{where}: {field}" if where else field
        return where

    def __str__(self) -> str:
        where = self.location()
        return f"{where}: {self.message}" if where else self.message


def _printable(text: str) -> str:
    """Control characters escaped, so a key like "a\\nb" from a file cannot break the one-line message."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class WrongTargetError(InputError):
    """The command would act on a cluster (or broker, or etcd) that is not the intended one."""


class InputErrors(InputError):
    """Every problem found in the input, reported together so one run shows the whole list."""

    def __init__(self, errors: Sequence[InputError]) -> None:
        if not errors:
            raise ValueError("InputErrors needs at least one error")
        self.errors = list(errors)
        super().__init__(
            "\n".join(str(e) for e in self.errors),
            hint=next((e.hint for e in self.errors if e.hint), None),
        )

    def __str__(self) -> str:
        return self.message

    @classmethod
    def raise_if_any(cls, errors: Iterable[InputError]) -> None:
        collected = list(errors)
        if len(collected) == 1:
            raise collected[0]
        if collected:
            raise cls(collected)
