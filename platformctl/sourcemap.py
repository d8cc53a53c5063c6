"""YAML loading that remembers the line of every value, within bounds a hostile file cannot escape.

Error messages must name the line (`platformctl.yaml:12: kafka.image: ...`), and PyYAML's `safe_load`
throws positions away. Composing the node tree first keeps them: this module returns the plain data plus
a map from each value's path (`("kafka", "image")`, `("topics", 0, "name")`) to its 1-based line.
Syntax errors become `InputError`s with the line PyYAML reports.

Every YAML platformctl reads (topic files, platformctl.yaml, overrides import, `overrides set` values)
comes through here, and between composing and constructing the tree is surveyed once, each node visited
once however many aliases name it, for what PyYAML itself lets through:
- aliases that expand a small file into billions of values ("billion laughs") or refer to themselves;
- nesting deeper than `inputfile.MAX_DEPTH` (PyYAML and everything that walks its result recurse);
- integers too long to convert (Python refuses more than 4,300 digits);
- duplicate keys, which PyYAML silently resolves as last-wins (`namespace: dev` ... `namespace: prod`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from platformctl import inputfile
from platformctl.errors import InputError, InputErrors

PathKey = tuple[str | int, ...]

_INT_TAG = "tag:yaml.org,2002:int"
_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"


class LineMap:
    """Lines of the values in one document, looked up by path; falls back to the nearest known parent."""

    def __init__(self, lines: dict[PathKey, int] | None = None) -> None:
        self._lines: dict[PathKey, int] = lines or {}

    def __setitem__(self, key: PathKey, line: int) -> None:
        self._lines[key] = line

    def line(self, path: PathKey) -> int | None:
        for cut in range(len(path), -1, -1):
            found = self._lines.get(tuple(path[:cut]))
            if found is not None:
                return found
        return None

    def exact(self, path: PathKey) -> int | None:
        return self._lines.get(tuple(path))

    def items(self) -> list[tuple[PathKey, int]]:
        return list(self._lines.items())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LineMap) and self._lines == other._lines

    __hash__ = None  # type: ignore[assignment]  # mutable


def field_name(path: PathKey) -> str:
    """`topics[0].config.retention.ms` for ("topics", 0, "config", "retention.ms")."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


class _Constructor(yaml.constructor.SafeConstructor):
    """SafeConstructor whose scalar conversions fail as YAML errors at the value: `!!int abc` raises a bare
    ValueError in PyYAML, `!!timestamp x` an AttributeError."""


def _strict(tag: str) -> None:
    convert = yaml.constructor.SafeConstructor.yaml_constructors[tag]

    def construct(constructor: yaml.constructor.SafeConstructor, node: yaml.Node) -> Any:
        try:
            return convert(constructor, node)
        except (ValueError, TypeError, AttributeError, OverflowError) as e:
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read {node.value!r} as {tag.rsplit(':', 1)[-1]}", node.start_mark
            ) from e

    _Constructor.add_constructor(tag, construct)  # type: ignore[type-var]  # (the stubs expect a Loader)


for _tag in ("int", "float", "timestamp", "bool", "binary"):
    _strict(f"tag:yaml.org,2002:{_tag}")


class _TooDeep(yaml.composer.ComposerError):
    pass


class _PyLoader(yaml.SafeLoader):
    """The pure-Python loader, used to compose when libyaml is missing or rejects a document (for its
    messages). Its composer recurses once per level, so it stops at `MAX_DEPTH` instead of at Python's
    recursion limit."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > inputfile.MAX_DEPTH + 1:  # containers, plus the scalar inside the last one
                raise _TooDeep(None, None, _too_deep(), self.peek_event().start_mark)  # type: ignore[no-untyped-call]
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _too_deep() -> str:
    return f"nested more than {inputfile.MAX_DEPTH} levels deep"


def loads(text: str, path: str | Path) -> tuple[Any, LineMap]:
    """Parse one YAML document; returns (data, lines). An empty document is `None`.

    The node tree is composed on libyaml when present (ten times faster on a file of 1,000 topics); a
    document libyaml rejects is composed again by the pure-Python loader, so error messages are the same
    with or without libyaml. Then it is surveyed (see the module docstring) and only then constructed.
    """
    node = _compose(text, path)
    if node is None:
        return None, LineMap()
    lines = _survey(node, path)
    try:
        data = _Constructor().construct_document(node)
    except yaml.YAMLError as e:
        raise _input_error(e, text, path) from e
    return data, lines


def _compose(text: str, path: str | Path) -> yaml.Node | None:
    fast = getattr(yaml, "CSafeLoader", None)
    if fast is not None:
        try:
            return yaml.compose(text, Loader=fast)
        except yaml.YAMLError:
            pass
    try:
        return yaml.compose(text, Loader=_PyLoader)
    except yaml.YAMLError as e:
        raise _input_error(e, text, path) from e


def _input_error(e: yaml.YAMLError, text: str, path: str | Path) -> InputError:
    if isinstance(e, _TooDeep):
        mark = e.problem_mark
        return InputError(_too_deep(), path=path, line=mark.line + 1 if mark is not None else None)
    if isinstance(e, yaml.MarkedYAMLError):
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = e.problem or e.context or "invalid YAML"
        return InputError(f"invalid YAML: {problem}", path=path, line=line)
    if isinstance(e, yaml.reader.ReaderError):  # a control character: PyYAML's message spans two lines
        line = text.count("\n", 0, e.position) + 1
        char = f"#x{e.character:04x}" if isinstance(e.character, int) else repr(e.character)
        return InputError(f"invalid YAML: unacceptable character {char}: {e.reason}", path=path, line=line)
    return InputError(f"invalid YAML: {str(e).splitlines()[0]}", path=path)  # e.g. more than one document


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _survey(root: yaml.Node, path: str | Path) -> LineMap:
    """Check the bounds (module docstring) and map every path to its line; raises `InputError(s)`.

    One walk top-down visits each node once: lines, duplicate keys, long integers and the nesting of what
    is written. Only a document with aliases (a node reached twice) gets the second, bottom-up pass that
    sizes what the aliases expand to, finds aliases inside their own anchor and the nesting through them.
    """
    lines = LineMap()
    errors: list[InputError] = []
    seen: set[int] = set()
    aliases: list[tuple[yaml.Node, PathKey, int]] = []  # where a node is reached again, in document order
    keys = _KeyReader()
    walk: list[tuple[yaml.Node, PathKey, int]] = [(root, (), 0)]
    lines[()] = root.start_mark.line + 1
    while walk:
        node, at, level = walk.pop()
        if id(node) in seen:
            aliases.append((node, at, level))
            continue
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            if node.tag == _INT_TAG and len(node.value) > inputfile.MAX_INT_DIGITS:
                errors.append(
                    InputError(
                        f"integer too long ({len(node.value)} characters; at most {inputfile.MAX_INT_DIGITS})",
                        path=path,
                        line=node.start_mark.line + 1,
                        field=field_name(at) or None,
                    )
                )
            continue
        if level + 1 > inputfile.MAX_DEPTH:
            raise InputError(_too_deep(), path=path, line=node.start_mark.line + 1)
        if isinstance(node, yaml.SequenceNode):
            for index in range(len(node.value) - 1, -1, -1):
                item = node.value[index]
                lines[(*at, index)] = item.start_mark.line + 1
                walk.append((item, (*at, index), level + 1))
            continue
        first: dict[Any, yaml.Node] = {}
        pending = []
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE_TAG:
                pending.append((value_node, at, level + 1))  # merged mappings: their own keys, their own lines
                continue
            child = (*at, key_node.value)
            lines[child] = key_node.start_mark.line + 1
            pending.append((value_node, child, level + 1))
            value = keys.read(key_node)
            earlier = first.get(value)
            if earlier is not None:
                errors.append(
                    InputError(
                        f"duplicate key (first at line {earlier.start_mark.line + 1})",
                        path=path,
                        line=key_node.start_mark.line + 1,
                        field=field_name(child),
                    )
                )
            else:
                first[value] = key_node
        walk.extend(reversed(pending))
    if aliases:
        _check_aliases(root, aliases, lines, path)
    InputErrors.raise_if_any(sorted(errors, key=lambda e: e.line or 0))
    return lines


def _check_aliases(
    root: yaml.Node, aliases: list[tuple[yaml.Node, PathKey, int]], lines: LineMap, path: str | Path
) -> None:
    """The size and depth each node has once every alias in it is expanded, bottom-up: each node is
    counted once (aliases share nodes), so this is linear in the file, not in its expansion."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    visiting: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            kids = _children(node)
            size[key] = 1 + sum(size[id(k)] for k in kids)
            depth[key] = 1 + max((depth[id(k)] for k in kids), default=0)
            visiting.discard(key)
            continue
        if key in size:
            continue
        if key in visiting:  # reached again from inside itself: `&a [*a]`
            raise InputError(
                "a YAML alias refers to a value that contains it (a recursive structure)",
                path=path,
                line=node.start_mark.line + 1,
            )
        visiting.add(key)
        stack.append((node, True))
        stack.extend((k, False) for k in _children(node) if id(k) not in size)
    limit = inputfile.expansion_limit(len(size))
    if size[id(root)] > limit:
        raise InputError(
            f"YAML aliases expand this document to more than {limit:,} values ({len(size):,} as written); "
            "platformctl refuses to expand it",
            path=path,
            line=_alias_line(aliases[0][1], lines),
        )
    for node, at, level in aliases:
        if level + depth[id(node)] > inputfile.MAX_DEPTH + 1:  # containers, plus the scalar in the last
            raise InputError(_too_deep(), path=path, line=_alias_line(at, lines))


def _alias_line(at: PathKey, lines: LineMap) -> int | None:
    """Where an alias is written: its key's line, or for a list item its list's (an alias keeps no
    position of its own: PyYAML hands back the anchored node, with the anchor's position)."""
    return lines.line(at[:-1] if at and isinstance(at[-1], int) else at)


class _KeyReader:
    """A mapping key as the constructor will read it (`1` and `0x1` are the same key, `"1"` another)."""

    def __init__(self) -> None:
        self._constructor = _Constructor()

    def read(self, node: yaml.ScalarNode) -> Any:
        if node.tag == _STR_TAG:
            return ("str", node.value)
        if node.tag == _INT_TAG and len(node.value) > inputfile.MAX_INT_DIGITS:
            return (node.tag, node.value)
        try:
            return (type(value := self._constructor.construct_object(node)).__name__, value)
        except yaml.YAMLError:
            return (node.tag, node.value)  # reported when the document is constructed


def scalar(text: str) -> Any:
    """One value written on the command line (`overrides set KEY=VALUE`), read as YAML within the same
    bounds as a file; text that is not valid YAML (or is blank) stays the plain string."""
    if not text.strip():
        return text
    try:
        data, _ = loads(text, "command line")
    except InputError:
        return text
    return data


def load(path: Path) -> tuple[Any, LineMap]:
    """Read (regular files only, at most `inputfile.MAX_BYTES`) and parse one YAML file."""
    return loads(inputfile.read_text(path), path)
