"""YAML loading that remembers the line of every value.

Error messages must name the line (`platformctl.yaml:12: kafka.image: ...`), and PyYAML's `safe_load`
throws positions away. Composing the node tree first keeps them: this module returns the plain data plus
a map from each value's path (`("kafka", "image")`, `("topics", 0, "name")`) to its 1-based line.
Syntax errors become `InputError`s with the line PyYAML reports.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from platformctl.errors import InputError

PathKey = tuple[str | int, ...]


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


def _walk(node: yaml.Node, path: PathKey, lines: LineMap) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                child = (*path, key_node.value)
                _walk(value_node, child, lines)
                # A key's own line is the better pointer for "unknown key" errors than its value's.
                lines[child] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), lines)


def loads(text: str, path: str | Path) -> tuple[Any, LineMap]:
    """Parse one YAML document; returns (data, lines). An empty document is `None`.

    The node tree is composed once and the data constructed from it, on libyaml when present (ten times
    faster on a file of 1,000 topics); a document libyaml rejects is parsed again by the pure-Python
    loader, so error messages are the same with or without libyaml.
    """
    fast = getattr(yaml, "CSafeLoader", None)
    if fast is not None:
        try:
            return _load(text, fast)
        except yaml.YAMLError:
            pass
    try:
        return _load(text, yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = e.problem or e.context or "invalid YAML"
        raise InputError(f"invalid YAML: {problem}", path=path, line=line) from e
    except yaml.reader.ReaderError as e:  # a control character: PyYAML's message spans two lines
        line = text.count("\n", 0, e.position) + 1
        char = f"#x{e.character:04x}" if isinstance(e.character, int) else repr(e.character)
        problem = f"unacceptable character {char}: {e.reason}"
        raise InputError(f"invalid YAML: {problem}", path=path, line=line) from e
    except yaml.YAMLError as e:  # e.g. more than one document
        raise InputError(f"invalid YAML: {str(e).splitlines()[0]}", path=path) from e


def _load(text: str, loader: Any) -> tuple[Any, LineMap]:
    node = yaml.compose(text, Loader=loader)
    data = loader("").construct_document(node) if node is not None else None
    lines = LineMap()
    if node is not None:
        _walk(node, (), lines)
    return data, lines


def load(path: Path) -> tuple[Any, LineMap]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise InputError("file not found", path=path) from e
    except UnicodeDecodeError as e:
        raise InputError("not UTF-8 text", path=path) from e
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror}", path=path) from e
    return loads(text, path)
