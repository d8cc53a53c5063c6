"""Reading a file a user names, within bounds, and the limits every input loader shares.

Topic files, `platformctl.yaml`, `overrides import` files and HOCON includes all go through `read_text`,
so a FIFO (which blocks a reader forever), `/dev/zero` (which never ends) or a multi-gigabyte file is
refused in one place, with one message, before any parser sees it: only regular files are read, and at
most `MAX_BYTES` of them. The other limits here bound what a small file can make a parser do: nesting
(parsers recurse), alias and substitution expansion (a few hundred bytes can describe billions of values),
and digits of an integer (Python refuses to convert more than 4,300, and no Kafka value has more than 20).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from platformctl.errors import InputError

# A topic file of 10,000 topics is about 1.5 MiB; beyond this, split the topics across files in a directory.
MAX_BYTES = 16 * 1024 * 1024
# Containers inside containers (mappings, lists, HOCON objects and dotted key paths). platformctl's own
# files need about 5; parsers that recurse (pyhocon's grammar fails near 60) stay far from their limits.
MAX_DEPTH = 32
# The most digits an integer in a file may have; Kafka's longs have at most 19.
MAX_INT_DIGITS = 100
# Aliases (YAML) and substitutions (HOCON) may expand a document by at most this many values (or
# characters, for HOCON strings), or by twice its size as written when that is more.
MAX_EXPANSION = 100_000


def expansion_limit(written: int) -> int:
    """How large a document of `written` values (or characters) may become once expanded."""
    return max(MAX_EXPANSION, 2 * written)


def _kind(mode: int) -> str:
    kinds = (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((name for test, name in kinds if test(mode)), "not a file")


_LIMIT = f"platformctl reads files of at most {MAX_BYTES // (1024 * 1024)} MiB"


def problem(path: Path) -> str | None:
    """Why `read_text` would refuse `path` without reading it (None if it is a regular file within bounds)."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return "file not found"
    except OSError as e:
        return f"cannot read: {e.strerror}"
    return _mode_problem(info)


def _mode_problem(info: os.stat_result) -> str | None:
    if not stat.S_ISREG(info.st_mode):
        return f"not a regular file ({_kind(info.st_mode)}); platformctl reads only regular files"
    if info.st_size > MAX_BYTES:
        return f"too large ({info.st_size:,} bytes; {_LIMIT})"
    return None


def read_text(path: Path) -> str:
    """The UTF-8 text of a regular file of at most `MAX_BYTES`; `InputError` naming the file otherwise.

    The file is checked before it is opened (opening a FIFO blocks, opening some devices acts) and again
    once open, non-blocking, so it cannot be swapped for something else in between.
    """
    refused = problem(path)
    if refused is not None:
        raise InputError(refused, path=path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror}", path=path) from e
    with os.fdopen(fd, "rb") as f:
        refused = _mode_problem(os.fstat(fd))
        if refused is not None:
            raise InputError(refused, path=path)
        try:
            data = f.read(MAX_BYTES + 1)
        except OSError as e:
            raise InputError(f"cannot read: {e.strerror}", path=path) from e
    if len(data) > MAX_BYTES:  # a file that grew, or one whose size the kernel does not report (procfs)
        raise InputError(f"too large ({_LIMIT})", path=path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError("not UTF-8 text", path=path) from e
