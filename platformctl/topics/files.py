"""Topic files (HOCON `.conf` or YAML), read into `TopicSpec`s with every problem reported at once.

Schema (the same in both syntaxes; DESIGN.md section 5):

    topic  { name, partitions, replication-factor, config { <kafka topic config> } }   # one topic
    topics = [ { name = ..., ... }, ... ]                                             # several
    cluster-id = "..."     # optional: apply refuses to act on a cluster with another id

`load(paths)` takes files and directories (every `.conf`, `.yaml`, `.yml` below them, sorted) and
validates all of them before returning: syntax, unknown keys, wrong types, missing required fields, Kafka's
topic-name rules, config keys and values (`platformctl.topics.spec`), incoherent combinations, and names
declared twice or colliding across files. Every problem becomes an `InputError` naming file, line and
field; they are raised together as `InputErrors`, so one run shows the whole list and nothing is sent.

Two quirks handled here:
- HOCON reads the unquoted key `cleanup.policy` as the path `cleanup -> policy`, so the `config` subtree is
  flattened back to dotted Kafka names (a quoted `"cleanup.policy"` stays one key and flattens the same).
- pyhocon keeps no positions for values, so `_hocon_lines` scans the text once for the line of every key
  (a small scanner for keys, braces, brackets, strings and comments; values stay pyhocon's business).
  If the scanner ever misreads a file, errors simply lose their line number, never their file and field.
- pyhocon's parse is slow (a pure-Python grammar), so a HOCON file's parse (data and line map) goes through
  `hoconcache`, which reuses it while the file, its includes and platformctl are unchanged.
"""

from __future__ import annotations

import bisect
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NoReturn

from platformctl import inputfile, sourcemap
from platformctl.errors import InputError, InputErrors
from platformctl.sourcemap import LineMap, PathKey
from platformctl.topics import hoconcache
from platformctl.topics import spec as topicspec
from platformctl.topics.provenance import Source
from platformctl.topics.schemas import spec as schemaspec
from platformctl.topics.spec import TopicSpec

SUFFIXES = (".conf", ".yaml", ".yml")
TOPIC_KEYS = ("name", "partitions", "replication-factor", "config", "key-schema", "value-schema")
_TOP_KEYS = ("topic", "topics", "cluster-id")


def load(paths: Sequence[str | Path], *, allow_unknown_config: bool = False) -> list[TopicSpec]:
    """Every topic in these files/directories, validated; raises `InputError(s)` listing every problem."""
    errors: list[InputError] = []
    files: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES and p.is_file())
            if not found:
                errors.append(
                    InputError(
                        f"no topic files ({', '.join('*' + s for s in SUFFIXES)}) in directory", path=path
                    )
                )
            files.extend(found)
        elif not path.exists():
            errors.append(InputError("file not found", path=path))
        elif path.suffix not in SUFFIXES:
            errors.append(
                InputError("unknown file type (expected .conf for HOCON, .yaml or .yml)", path=path)
            )
        else:
            files.append(path)
    if not paths:
        errors.append(InputError("no topic files given", hint="name one or more FILE or DIR arguments"))

    specs: list[TopicSpec] = []
    named: list[_Named] = []  # every topic with a legal name, valid or not: collisions are found in one pass
    for path in dict.fromkeys(files):  # the same file named twice is read once
        specs.extend(_load_file(path, errors, named, allow_unknown_config=allow_unknown_config))
    errors.extend(_cross_file_problems(named))
    if not errors:
        errors.extend(schemaspec.check([decl for spec in specs for decl in spec.schemas]))
    InputErrors.raise_if_any(errors)
    return specs


@dataclass(frozen=True)
class _Named:
    """Where a topic name is declared (the topic may have other problems)."""

    name: str
    path: str
    line: int | None


def _cross_file_problems(specs: Sequence[_Named]) -> list[InputError]:
    errors: list[InputError] = []
    by_name: dict[str, _Named] = {}
    by_collision: dict[str, _Named] = {}
    for spec in specs:
        first = by_name.get(spec.name)
        if first is not None:
            errors.append(
                InputError(
                    f"topic {spec.name!r} is declared twice (first at {_where(first)})",
                    path=spec.path,
                    line=spec.line,
                    field="name",
                )
            )
            continue
        by_name[spec.name] = spec
        key = topicspec.collision_key(spec.name)
        other = by_collision.get(key)
        if other is not None:
            errors.append(
                InputError(
                    f"topic {spec.name!r} collides with {other.name!r} ({_where(other)}): Kafka treats '.' "
                    "and '_' alike in metric names and refuses the second one; rename one of them",
                    path=spec.path,
                    line=spec.line,
                    field="name",
                )
            )
        else:
            by_collision[key] = spec
    return errors


def _where(spec: _Named) -> str:
    return f"{spec.path}:{spec.line}" if spec.line else spec.path


def _load_file(
    path: Path, errors: list[InputError], named: list[_Named], *, allow_unknown_config: bool
) -> list[TopicSpec]:
    try:
        text = inputfile.read_text(path)
        if path.suffix == ".conf":
            data, lines = hoconcache.parse(text, path, _parse_hocon_with_includes)
        else:
            data, lines = sourcemap.loads(text, path)
    except InputError as e:
        errors.append(e)
        return []
    return _topics(data, lines, path, errors, named, allow_unknown_config=allow_unknown_config)


# --- HOCON safety ---------------------------------------------------------------------------------
# pyhocon does more than parse. It reads any file an `include` names (absolute paths, `../..`, globs,
# files inside installed Python packages, FIFOs and devices included), fetches URLs, falls back to the
# process environment for `${VAR}`, and expands substitutions without limit (`b = ${a} ${a}`,
# `c = ${b} ${b}`, ... doubles at every line). A topic file comes from a repository and a review, so every
# one of those is bounded here, in this one place: `_parse_hocon` parses with `_HoconSafety` installed
# around pyhocon's hooks, after `_hocon_lines` has refused nesting deeper than `inputfile.MAX_DEPTH`.
# Everything after it only sees the parsed tree.

MAX_INCLUDE_DEPTH = 8  # a file including itself stops here


def _parse_hocon(text: str, path: Path) -> tuple[Any, LineMap]:
    data, lines, _ = _parse_hocon_with_includes(text, path)
    return data, lines


def _parse_hocon_with_includes(text: str, path: Path) -> tuple[Any, LineMap, list[tuple[Path, str]]]:
    """The plain data and line map of a HOCON text, and every file its includes read (with its text)."""
    from pyhocon import ConfigFactory
    from pyhocon.exceptions import ConfigException
    from pyparsing import ParseBaseException

    lines = _hocon_lines(text, path)  # first: it refuses nesting pyhocon's recursive grammar cannot take
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
    except RecursionError as e:  # a substitution inside the value it names: `a { b = ${a} }`
        raise InputError(
            f"{_too_deep()} (does a ${{substitution}} refer to the value that contains it?)", path=path
        ) from e


_HOCON_POSITION = re.compile(r"\s*\(line: (\d+), col: \d+\)")


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
        _hocon_lines(content, path)  # the same nesting bound as the topic file's own text
        self.budget += len(content)
        self.including.append((path, content))
        try:
            resolve = kwargs.get("resolve", args[2] if len(args) > 2 else True)
            unresolved = kwargs.get("unresolved_value", args[3] if len(args) > 3 else None)
            return cls.parse_string(content, str(path.parent), resolve, unresolved)
        except ParseBaseException as e:
            raise InputError(f"invalid HOCON: {_parse_problem(e)}", path=path, line=e.lineno) from e
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
_OBJECT_COST = 10


def _measure(value: Any, cap: int) -> tuple[int, int]:
    """(cost, depth) of copying a pyhocon value: characters of strings, one per list item or other value,
    `_OBJECT_COST` per object; stops counting past `cap`."""
    size, deepest = 0, 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack and size <= cap:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(item, str):
            size += len(item)
        elif isinstance(item, dict):
            size += _OBJECT_COST
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


def _topics(
    data: Any,
    lines: LineMap,
    path: Path,
    errors: list[InputError],
    named: list[_Named],
    *,
    allow_unknown_config: bool,
) -> list[TopicSpec]:
    def error(message: str, where: PathKey, field: str | None = None) -> None:
        errors.append(InputError(message, path=path, line=lines.line(where), field=field))

    if data is None or data == {}:
        error("empty file: expected `topic { ... }` or `topics = [ ... ]`", ())
        return []
    if not isinstance(data, dict):
        error(f"expected a mapping with `topic` or `topics` (got {type(data).__name__})", ())
        return []
    for key in data:
        if key not in _TOP_KEYS:
            error("unknown key (expected topic, topics or cluster-id)", (key,), field=str(key))
    entries: list[tuple[PathKey, str, Any]] = []
    if "topic" in data:
        entries.append((("topic",), "topic", data["topic"]))
    reported = False
    if "topics" in data:
        topics = data["topics"]
        if not isinstance(topics, list):
            error(f"must be a list of topics (got {type(topics).__name__})", ("topics",), field="topics")
            reported = True
        else:
            entries.extend((("topics", i), f"topics[{i}]", item) for i, item in enumerate(topics))
    if not entries and not reported and all(key in _TOP_KEYS for key in data):
        error("no topics: expected `topic { ... }` or `topics = [ ... ]`", ())
    cluster_id = data.get("cluster-id")
    if cluster_id is not None and topicspec.cluster_id_problem(cluster_id):
        error(str(topicspec.cluster_id_problem(cluster_id)), ("cluster-id",), field="cluster-id")
        cluster_id = None
    specs = []
    for where, label, item in entries:
        name = item.get("name") if isinstance(item, dict) else None
        if isinstance(name, str) and not topicspec.topic_name_problem(name):
            named.append(_Named(name, str(path), lines.line((*where, "name"))))
        spec = _topic(item, where, label, lines, path, errors, allow_unknown_config=allow_unknown_config)
        if spec is not None:
            specs.append(replace(spec, cluster_id=cluster_id))
    return specs


def _topic(
    item: Any,
    where: PathKey,
    label: str,
    lines: LineMap,
    path: Path,
    errors: list[InputError],
    *,
    allow_unknown_config: bool,
) -> TopicSpec | None:
    before = len(errors)

    def error(message: str, at: PathKey, field: str) -> None:
        errors.append(InputError(message, path=path, line=lines.line(at), field=field))

    def line(at: PathKey) -> int | None:
        return lines.line(at)

    def source(at: PathKey) -> Source:
        found = line(at)
        return Source("file", f"{path}:{found}" if found else str(path))

    if not isinstance(item, dict):
        error(
            f"must be a mapping (name, partitions, replication-factor, config), got {type(item).__name__}",
            where,
            label,
        )
        return None
    for key in item:
        if key not in TOPIC_KEYS:
            error(f"unknown key (expected {', '.join(TOPIC_KEYS)})", (*where, key), f"{label}.{key}")

    values: dict[str, int | str] = {}
    sources: dict[str, Source] = {}
    name = item.get("name")
    if "name" not in item:
        error("missing (required)", where, f"{label}.name")
    else:
        problem = topicspec.topic_name_problem(name)
        if problem:
            error(f"illegal topic name: {problem}", (*where, "name"), f"{label}.name")
    for key in topicspec.TOPIC_FIELDS:
        if key not in item:
            error("missing (required)", where, f"{label}.{key}")
            continue
        try:
            values[key] = topicspec.validate_value(key, item[key])
            sources[key] = source((*where, key))
        except ValueError as e:
            error(str(e), (*where, key), f"{label}.{key}")

    config = item.get("config", {})
    config_where: dict[str, PathKey] = {}
    if not isinstance(config, dict):
        error(
            f"must be a mapping of Kafka topic configs (got {type(config).__name__})",
            (*where, "config"),
            f"{label}.config",
        )
        config = {}
    for key, raw, at in _flatten(config, (*where, "config")):
        field = f"{label}.config.{key}"
        if key in config_where:
            error(f"given twice (first at line {line(config_where[key])})", at, field)
            continue
        config_where[key] = at
        if raw is None or isinstance(raw, dict):
            error("must be a value (got nothing)" if raw is None else "must be a value", at, field)
            continue
        try:
            values[key] = topicspec.validate_value(key, raw, allow_unknown_config=allow_unknown_config)
            sources[key] = source(at)
        except ValueError as e:
            error(str(e), at, field)

    schemas = []
    for role in schemaspec.ROLES:
        if f"{role}-schema" in item and isinstance(name, str) and not topicspec.topic_name_problem(name):
            decl = schemaspec.declaration(item[f"{role}-schema"], role, name, where, label, path, line, error)
            if decl is not None:
                schemas.append(decl)

    # Across keys, in the same pass as the field errors: judged on the values that are valid, and only when
    # none of the keys a problem is about was given with a bad value (its message would be about a guess).
    given = {*item, *config_where}
    for key, message in topicspec.coherence_problems(values):
        about = [key, *(k for k in given if k != key and k in message)]
        if any(k in given and k not in values for k in about):
            continue
        at = config_where.get(key, (*where, key))
        error(message, at, f"{label}.config.{key}" if key in config_where else f"{label}.{key}")
    if len(errors) != before:
        return None
    assert isinstance(name, str)
    config_values = {k: str(v) for k, v in values.items() if k not in topicspec.TOPIC_FIELDS}
    return TopicSpec(
        name=name,
        partitions=int(values["partitions"]),
        replication_factor=int(values["replication-factor"]),
        config=config_values,
        sources=sources,
        path=str(path),
        line=line((*where, "name")),
        schemas=tuple(schemas),
    )


def _flatten(tree: dict[Any, Any], where: PathKey, prefix: str = "") -> Iterable[tuple[str, Any, PathKey]]:
    """(dotted key, value, path) for every leaf of a config subtree; lists are values, not subtrees."""
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        at = (*where, key)
        if isinstance(value, dict) and value:
            yield from _flatten(value, at, dotted + ".")
        else:
            yield dotted, value, at


def _hocon_lines(text: str, path: Path) -> LineMap:
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
