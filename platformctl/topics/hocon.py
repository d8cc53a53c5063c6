"""HOCON topic files, parsed within bounds a file from a pull request cannot escape, with the line of every key.

pyhocon does more than parse. It reads any file an `include` names (absolute paths, `../..`, globs,
files inside installed Python packages, FIFOs and devices included), fetches URLs, falls back to the
process environment for `${VAR}`, and expands substitutions without limit (`b = ${a} ${a}`,
`c = ${b} ${b}`, ... doubles at every line). A topic file comes from a repository and a review, so every
one of those is bounded here, in this one place: `parse` parses with `_HoconSafety` installed
around pyhocon's hooks, after `key_lines` has refused nesting deeper than `inputfile.MAX_DEPTH`.
Everything after it only sees the parsed tree.

pyhocon keeps no positions for values, so `key_lines` scans the text once for the line of every key (a
small scanner for keys, braces, brackets, strings and comments; values stay pyhocon's business). If the
scanner ever misreads a file, errors simply lose their line number, never their file and field.
"""

from __future__ import annotations

import bisect
import os
import re
from pathlib import Path
from typing import Any, NoReturn

from platformctl import inputfile
from platformctl.errors import InputError
from platformctl.sourcemap import LineMap, PathKey

MAX_INCLUDE_DEPTH = 8  # a file including itself stops here


def parse(text: str, path: Path) -> tuple[Any, LineMap]:
    data, lines, _ = parse_with_includes(text, path)
    return data, lines


def parse_with_includes(text: str, path: Path) -> tuple[Any, LineMap, list[tuple[Path, str]]]:
    """The plain data and line map of a HOCON text, and every file its includes read (with its text)."""
    from pyhocon import ConfigFactory
    from pyhocon.exceptions import ConfigException
    from pyparsing import ParseBaseException

    lines = key_lines(text, path)  # first: it refuses nesting pyhocon's recursive grammar cannot take
    try:
        with _HoconSafety(path, text) as safety:
            tree = ConfigFactory.parse_string(text, basedir=str(path.parent))
        if _depth(tree) > inputfile.MAX_DEPTH:
            raise InputError(f"{_too_deep()} (once includes and substitutions are expanded)", path=path)
        return tree.as_plain_ordered_dict(), lines, safety.included
    except ParseBaseException as e:
        raise InputError(f"invalid HOCON: {_parse_problem(e)}", path=path, line=e.lineno) from e
    except ConfigException as e:
        # pyhocon puts the position in the text ("Cannot resolve variable ${x} (line: 3, col: 16)").
        message, line = str(e), None
        where = _HOCON_POSITION.search(message)
        if where:
            message, line = message[: where.start()].rstrip(), int(where.group(1))
        hint = None
        if message.startswith("Cannot resolve variable"):
            hint = "a ${substitution} refers to values in the topic files; environment variables are never read"
        raise InputError(
            f"invalid HOCON: {message[:1].lower()}{message[1:]}", path=path, line=line, hint=hint
        ) from e
    except (TypeError, AttributeError) as e:
        raise _unmergeable(path) from e
    except RecursionError as e:  # a substitution inside the value it names: `a { b = ${a} }`
        raise InputError(
            f"{_too_deep()} (does a ${{substitution}} refer to the value that contains it?)", path=path
        ) from e


_HOCON_POSITION = re.compile(r"\s*\(line: (\d+), col: \d+\)")


def _unmergeable(path: Path) -> InputError:
    # pyhocon merges a list and an object under one key (`a = []` then `a.t = 0`, or `a.t += []`) with
    # Python operators that do not take both: the TypeError/AttributeError is about the file, not a bug
    # here, and says nothing a user can act on, so it is not repeated.
    return InputError(
        "invalid HOCON: a key holds a list and is then given fields (or the other way round)",
        path=path,
        hint="give the key one kind of value: a list `[...]` or an object `{...}`",
    )


def _too_deep() -> str:
    return f"nested more than {inputfile.MAX_DEPTH} levels deep"


class _NoEnvironment:
    """The `os` module as pyhocon sees it while it parses a topic file: all of it but the environment, so
    `${HOME}` is an unresolved substitution instead of a value (then echoed in errors) from this shell."""

    environ: dict[str, str] = {}  # noqa: RUF012 (read-only stand-in)

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)


class _HoconSafety:
    """While installed: includes only of regular files inside the topic file's directory tree, at most
    `MAX_INCLUDE_DEPTH` deep and `inputfile.MAX_BYTES` in all; no URLs, globs or package resources; no
    environment; substitutions that copy at most `inputfile.expansion_limit` values and characters."""

    def __init__(self, path: Path, text: str) -> None:
        self.top = path
        self.root = path.parent.resolve()
        self.including: list[tuple[Path, str]] = [(path, text)]  # the file whose include is being read
        self.read = len(text.encode("utf-8"))
        self.budget = inputfile.expansion_limit(len(text))
        self.copied = 0
        self.included: list[tuple[Path, str]] = []  # every file an include read, for the cache's key
        self._saved: list[tuple[object, str, object]] = []

    def __enter__(self) -> _HoconSafety:
        from pyhocon import ConfigFactory, config_parser
        from pyhocon.config_parser import ConfigParser

        # The originals are read from the class dicts (classmethod objects), so restoring is exact.
        self._substitute = ConfigParser.__dict__["_do_substitute"].__func__
        for owner, name, value in (
            (ConfigFactory, "parse_file", classmethod(self._include_file)),
            (ConfigFactory, "parse_URL", classmethod(self._include_url)),
            (ConfigParser, "resolve_package_path", classmethod(self._include_package)),
            (ConfigParser, "_do_substitute", classmethod(self._do_substitute)),
            (config_parser, "glob", self._include_glob),
            (config_parser, "os", _NoEnvironment()),
        ):
            self._saved.append((owner, name, vars(owner)[name]))
            setattr(owner, name, value)
        return self

    def __exit__(self, *exc: object) -> None:
        for owner, name, value in reversed(self._saved):
            setattr(owner, name, value)

    def _refuse(self, written: str, problem: str) -> NoReturn:
        path, text = self.including[-1]
        raise InputError(f"{written!r}: {problem}", path=path, line=_include_line(text, written), field="include")

    def _include_file(self, cls: Any, filename: str, *args: Any, **kwargs: Any) -> Any:
        from pyparsing import ParseBaseException

        path = Path(filename)
        written = self._written(filename)
        real = path.resolve()
        if not real.is_relative_to(self.root):
            self._refuse(written, f"includes must stay inside the topic file's directory ({self.top.parent})")
        if len(self.including) > MAX_INCLUDE_DEPTH:
            self._refuse(written, f"includes nested more than {MAX_INCLUDE_DEPTH} deep (does a file include itself?)")
        try:
            content = inputfile.read_text(path)
        except InputError as e:
            self._refuse(written, e.message)
        self.included.append((path, content))
        self.read += len(content.encode("utf-8"))
        if self.read > inputfile.MAX_BYTES:
            self._refuse(written, f"the topic file and its includes are more than {inputfile.MAX_BYTES} bytes")
        key_lines(content, path)  # the same nesting bound as the topic file's own text
        self.budget += len(content)
        self.including.append((path, content))
        try:
            resolve = kwargs.get("resolve", args[2] if len(args) > 2 else True)
            unresolved = kwargs.get("unresolved_value", args[3] if len(args) > 3 else None)
            return cls.parse_string(content, str(path.parent), resolve, unresolved)
        except ParseBaseException as e:
            raise InputError(f"invalid HOCON: {_parse_problem(e)}", path=path, line=e.lineno) from e
        except (TypeError, AttributeError) as e:
            raise _unmergeable(path) from e
        finally:
            self.including.pop()

    def _include_url(self, _cls: Any, url: str, *args: Any, **kwargs: Any) -> NoReturn:
        # Fetching would make a plan depend on the network and reach out from a reviewer's machine.
        path, text = self.including[-1]
        raise InputError(
            f"include of {url} is not allowed: topic files may include files, never URLs",
            path=path,
            line=_include_line(text, url),
            field="include",
        )

    def _include_package(self, _cls: Any, package_path: str) -> NoReturn:
        # Finding a package imports its parents: a topic file must not run code.
        self._refuse(package_path, "package(...) includes are not allowed: include files next to the topic file")

    def _include_glob(self, pattern: str, **kwargs: Any) -> NoReturn:
        self._refuse(self._written(pattern), "wildcard includes are not supported: name each file")

    def _written(self, filename: str) -> str:
        """The name as the include wrote it: pyhocon joined it to the including file's directory."""
        base = str(self.including[-1][0].parent) + os.sep
        return filename[len(base) :] if filename.startswith(base) else filename

    def _do_substitute(self, cls: Any, substitution: Any, resolved_value: Any, *args: Any) -> Any:
        size, depth = _measure(resolved_value, self.budget - self.copied + 1)
        self.copied += size
        path, text = self.including[-1]
        line = text.count("\n", 0, substitution.loc) + 1 if substitution.instring is text else None
        if self.copied > self.budget:
            raise InputError(
                f"substitutions expand this file to more than {self.budget:,} values and characters; "
                "platformctl refuses to expand it",
                path=path,
                line=line,
            )
        if depth > inputfile.MAX_DEPTH:
            raise InputError(f"{_too_deep()} (through substitutions)", path=path, line=line)
        return self._substitute(cls, substitution, resolved_value, *args)


def _include_line(text: str, name: str) -> int | None:
    """The line of the include naming `name` (pyhocon keeps no position for it)."""
    for number, line in enumerate(text.splitlines(), 1):
        if "include" in line and name in line:
            return number
    return None


# pyhocon deep-copies every value it substitutes; an object (a ConfigTree) costs about ten times what a
# list item does, so it counts ten times against the budget, which then bounds time as well as memory.
OBJECT_COST = 10


def _measure(value: Any, cap: int) -> tuple[int, int]:
    """(cost, depth) of copying a pyhocon value: characters of strings, one per list item or other value,
    `OBJECT_COST` per object; stops counting past `cap`."""
    size, deepest = 0, 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack and size <= cap:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(item, str):
            size += len(item)
        elif isinstance(item, dict):
            size += OBJECT_COST
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            size += 1
            stack.extend((child, depth + 1) for child in item)
        elif hasattr(item, "tokens"):  # ConfigValues: the pieces of a value still being resolved
            stack.extend((child, depth) for child in item.tokens)
        else:
            size += 1
    return size, deepest


def _depth(tree: Any) -> int:
    """The nesting of a parsed tree, without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(tree, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is not None:
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in children)
    return deepest


def _parse_problem(e: Any) -> str:
    """pyparsing's message, unless it is a dump of the grammar (a key with no value after it is one)."""
    message = str(e.msg)
    if "\n" not in message and len(message) <= 80:
        return message
    found = getattr(e, "found", None) or "end of text"
    if "'='" in message and "':'" in message:
        return f"expected '=', ':' or '{{' after a key (found {found})"
    return f"syntax error at column {e.col} (found {found})"


def key_lines(text: str, path: Path) -> LineMap:
    """The line of every key in a HOCON text, by path (unquoted dotted keys split, as pyhocon does).

    Raises `InputError` for nesting deeper than `inputfile.MAX_DEPTH` (objects, lists and dotted keys
    alike): this scan has no recursion, pyhocon's grammar and tree do.
    """
    lines = LineMap()
    newlines = [i for i, c in enumerate(text) if c == "\n"]

    def line_at(pos: int) -> int:
        return bisect.bisect_right(newlines, pos - 1) + 1

    n = len(text)
    pos = 0
    # Each frame: (path, kind, next list index).
    stack: list[list[Any]] = [[(), "obj", 0]]
    stop = set(' \t\r\n=:{}[],#"+')

    def skip_blank(p: int) -> int:
        while p < n:
            c = text[p]
            if c in " \t\r\n,":
                p += 1
            elif c == "#" or text.startswith("//", p):
                end = text.find("\n", p)
                p = n if end < 0 else end
            else:
                break
        return p

    def skip_string(p: int) -> int:
        if text.startswith('"""', p):
            end = text.find('"""', p + 3)
            return n if end < 0 else end + 3
        p += 1
        while p < n and text[p] != '"':
            p += 2 if text[p] == "\\" else 1
        return p + 1

    def skip_scalar(p: int) -> int:
        while p < n:
            c = text[p]
            if c in "\n,}]" or c == "#" or text.startswith("//", p):
                return p
            if c == '"':
                p = skip_string(p)
            elif text.startswith("${", p):
                end = text.find("}", p)
                p = n if end < 0 else end + 1
            else:
                p += 1
        return p

    def too_deep(at: PathKey, pos: int) -> None:
        if len(at) > inputfile.MAX_DEPTH:
            raise InputError(_too_deep(), path=path, line=line_at(pos))

    def value(p: int, at: PathKey) -> int:
        p = skip_blank(p)
        if p < n and text[p] in "{[":
            too_deep((*at, 0), p)  # the container's own contents are one level further in
        if p < n and text[p] == "{":
            stack.append([at, "obj", 0])
            return p + 1
        if p < n and text[p] == "[":
            stack.append([at, "list", 0])
            return p + 1
        return skip_scalar(p)

    if skip_blank(0) < n and text[skip_blank(0)] == "{":
        pos = skip_blank(0) + 1  # a root wrapped in braces is the same root object
    while True:
        pos = skip_blank(pos)
        if pos >= n:
            break
        frame = stack[-1]
        char = text[pos]
        if char in "}]":
            if len(stack) > 1:
                stack.pop()
            pos += 1
            continue
        if frame[1] == "list":
            at = (*frame[0], frame[2])
            frame[2] += 1
            too_deep(at, pos)
            lines[at] = line_at(pos)
            pos = value(pos, at)
            continue
        # A key: unquoted segments split on '.', quoted segments kept whole.
        segments: list[str] = []
        start = pos
        while pos < n:
            if text[pos] == '"':
                end = skip_string(pos)
                segments.append(text[pos + 1 : end - 1])
                pos = end
            elif text[pos] == ".":
                pos += 1
            elif text[pos] not in stop:
                end = pos
                while end < n and text[end] not in stop and text[end] != ".":
                    end += 1
                segments.append(text[pos:end])
                pos = end
            else:
                break
        if pos == start:
            pos += 1  # not a key (stray character): step over it
            continue
        at = frame[0]
        for segment in segments:
            at = (*at, segment)
            too_deep(at, start)
            if lines.exact(at) is None:
                lines[at] = line_at(start)
        while pos < n and text[pos] in " \t":
            pos += 1
        if text.startswith("+=", pos):
            pos += 2
        elif pos < n and text[pos] in "=:":
            pos += 1
        pos = value(pos, at)
    return lines
