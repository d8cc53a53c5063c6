"""A cache of parsed HOCON topic files, because pyhocon takes ~20x YAML's time to parse the same topics.

pyhocon parses with a pure-Python pyparsing grammar (about 900 parser calls per topic; 10,000 topics take
minutes on a busy machine), and there is no better-kept HOCON parser for Python to move to. Topic files
change rarely and are planned often, so the result of a parse (the plain data and its line map) is kept
under `$XDG_CACHE_HOME/platformctl/hocon/` (`~/.cache/...` without it), one JSON file per topic file.

An entry is used only when it is exactly what a parse would give now:
- its name and its `key` digest the file's text, its resolved directory (includes are relative to it),
  platformctl's version and the source of the modules that parse, pyhocon's and pyparsing's versions and
  the input limits; a parse reads nothing else (the environment is never read: `${VAR}` stays unresolved);
- it lists every file the parse included with the digest of its text, and each is read again (through
  `inputfile.read_text`, inside the topic file's directory) and must match;
- only parses that succeeded are stored, and only when every value is one JSON keeps exactly (str, int,
  float, bool, None, lists, ordered mappings; pyhocon's durations are parsed every time).
Anything else (a corrupt, foreign, truncated or oversized entry, a FIFO in its place, an unwritable
directory) is a miss, never an error: the file is parsed as if there were no cache. The directory is kept
under `MAX_CACHE_BYTES`, the least recently used entries removed first.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from platformctl import inputfile
from platformctl.errors import InputError
from platformctl.sourcemap import LineMap

FORMAT = "platformctl-hocon-cache/1"
MAX_CACHE_BYTES = 64 * 1024 * 1024

# (included file, its text): what a parse read besides the topic file itself.
Included = Sequence[tuple[Path, str]]
Parse = Callable[[str, Path], tuple[Any, LineMap, Included]]

# The modules whose code decides what a parse returns: an edited checkout must not reuse older results.
_PARSING_MODULES = (
    "topics/files.py", "topics/hocon.py", "topics/hoconcache.py", "inputfile.py", "sourcemap.py", "__init__.py"
)
_environment: str | None = None


def directory() -> Path:
    base = os.environ.get("XDG_CACHE_HOME")
    # The XDG spec: a relative $XDG_CACHE_HOME is invalid and ignored.
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".cache"
    return root / "platformctl" / "hocon"


def parse(text: str, path: Path, parse_file: Parse) -> tuple[Any, LineMap]:
    """`parse_file(text, path)`'s data and line map, from the cache when an entry matches exactly."""
    try:
        key = _key(text, path)
        entry = directory() / f"{key}.json"
    except (OSError, ValueError, RuntimeError, ImportError):  # no home directory, no package metadata
        return parse_file(text, path)[:2]
    found = _lookup(entry, key, path)
    if found is not None:
        return found
    data, lines, included = parse_file(text, path)
    _store(entry, key, data, lines, included)
    return data, lines


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _environment_digest() -> str:
    """What, besides the files, decides a parse's result: computed once per process."""
    global _environment
    if _environment is None:
        from importlib import metadata

        import platformctl

        here = Path(__file__).resolve().parents[1]
        parts = [FORMAT, platformctl.__version__, metadata.version("pyhocon"), metadata.version("pyparsing")]
        parts += [str(limit) for limit in (inputfile.MAX_BYTES, inputfile.MAX_DEPTH, inputfile.MAX_INT_DIGITS)]
        parts += [str(inputfile.MAX_EXPANSION)]
        parts += [hashlib.sha256((here / name).read_bytes()).hexdigest() for name in _PARSING_MODULES]
        _environment = hashlib.sha256("\0".join(parts).encode()).hexdigest()
    return _environment


def _key(text: str, path: Path) -> str:
    parts = (_environment_digest(), str(path.parent.resolve()), _digest(text))
    return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def _lookup(entry: Path, key: str, path: Path) -> tuple[Any, LineMap] | None:
    try:
        stored = json.loads(inputfile.read_text(entry), object_pairs_hook=OrderedDict)
        if not isinstance(stored, dict) or stored.get("format") != FORMAT or stored.get("key") != key:
            return None
        root = path.parent.resolve()
        for name, digest in stored["includes"]:
            included = Path(name)
            if not included.resolve().is_relative_to(root) or _digest(inputfile.read_text(included)) != digest:
                return None
        lines = LineMap({tuple(_path_key(where)): int(line) for where, line in stored["lines"]})
        data = stored["data"]
    except (InputError, OSError, ValueError, TypeError, KeyError, RecursionError):
        return None  # no entry, or not one of ours: parse
    with contextlib.suppress(OSError):
        os.utime(entry)  # recently used: evicted last
    return data, lines


def _path_key(where: Any) -> list[str | int]:
    if not isinstance(where, list) or not all(type(part) in (str, int) for part in where):
        raise ValueError("not a path")
    return where


def _exact(value: Any) -> bool:
    """Whether JSON gives `value` back as it is (same types, same order), without recursion."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is OrderedDict:
            if not all(type(k) is str for k in item):
                return False
            stack.extend(item.values())
        elif kind is list:
            stack.extend(item)
        elif kind is float:
            if item != item or item in (float("inf"), float("-inf")):
                return False
        elif item is not None and kind not in (str, int, bool):
            return False
    return True


def _store(entry: Path, key: str, data: Any, lines: LineMap, included: Included) -> None:
    if not _exact(data):
        return
    document = {
        "format": FORMAT,
        "key": key,
        "includes": [[str(p.resolve()), _digest(text)] for p, text in included],
        "lines": [[list(where), line] for where, line in lines.items()],
        "data": data,
    }
    try:
        # ASCII: a lone surrogate (HOCON's "\\ud800") is written as an escape and read back as itself.
        encoded = json.dumps(document, separators=(",", ":"))
        if len(encoded) > inputfile.MAX_BYTES:
            return  # it could not be read back
        entry.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, temporary = tempfile.mkstemp(dir=entry.parent, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write(encoded)
            os.replace(temporary, entry)  # readers see the whole entry or none
        except BaseException:
            os.unlink(temporary)
            raise
        _evict(entry.parent, keep=entry)
    except (OSError, ValueError, RecursionError):
        return  # a cache that cannot be written costs time, never a result


def _evict(folder: Path, keep: Path) -> None:
    """Remove the least recently used entries while the folder holds more than `MAX_CACHE_BYTES`."""
    entries = []
    for child in folder.iterdir():
        try:
            info = child.lstat()
        except OSError:
            continue
        entries.append((info.st_mtime_ns, info.st_size, child))
    total = sum(size for _, size, _ in entries)
    for _, size, child in sorted(entries):
        if total <= MAX_CACHE_BYTES:
            break
        if child == keep:
            continue
        try:
            child.unlink()
        except OSError:
            continue
        total -= size
