"""Property-based tests of the bounds on input (YAML and HOCON loaders): aliases, nesting, non-regular files.

Each property has an exact oracle where one exists: a document of aliases is refused exactly when its
expansion exceeds `inputfile.expansion_limit` of its size as written; a document is refused for nesting
exactly when it has more than `inputfile.MAX_DEPTH` containers one inside the other; a FIFO, a device, a
socket or a directory (or a link to one of them) is refused as "not a regular file", and a file is refused
as "too large" exactly when it has more than `inputfile.MAX_BYTES`. Substitutions in HOCON have no simple
oracle for when they are refused, so that property checks the result is bounded whenever one is returned.

The properties run in a child process with its address space limited and a timeout (tests/limited_cli.py):
a loader that expands what it should refuse, or blocks on a FIFO, fails the test instead of exhausting the
machine or hanging the suite. The tests collected here only start those children; the `_property`
functions are what runs inside them.
"""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from platformctl import config, inputfile, sourcemap
from platformctl.errors import InputError
from platformctl.topics import files as topicfile
from platformctl.topics import hocon
from tests.limited_cli import Limits, run_function

LIMITS = Limits(memory_mib=768, seconds=240)
EXAMPLES = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
TOO_DEEP = f"nested more than {inputfile.MAX_DEPTH} levels deep"


def refused(load: Callable[[], Any]) -> InputError | None:
    """The InputError `load` raises, or None; any other exception fails the property."""
    try:
        load()
    except InputError as e:
        return e
    return None


# --- aliases ---------------------------------------------------------------------------------------


@st.composite
def alias_documents(draw: st.DrawFn) -> tuple[str, int, int]:
    """(YAML text, values as written, values once every alias is expanded): anchors that refer to earlier
    anchors any number of times, then a topic whose config uses one of them."""
    leaf = draw(st.integers(min_value=1, max_value=9))
    lines = ["a0: &a0 [" + ", ".join(["x"] * leaf) + "]"]
    sizes = [1 + leaf]  # the expanded size of each anchored list
    written = 1 + 2 + leaf  # the root mapping, key and list a0, its scalars
    for i in range(1, draw(st.integers(min_value=1, max_value=12))):
        # Mostly the previous anchor or the one before: chains of those are what grow exponentially.
        fanout = draw(st.integers(min_value=1, max_value=9))
        refs = draw(st.lists(st.integers(min_value=max(0, i - 2), max_value=i - 1), min_size=fanout, max_size=9))
        if draw(st.booleans()):
            refs.append(draw(st.integers(min_value=0, max_value=i - 1)))
        lines.append(f"a{i}: &a{i} [" + ", ".join(f"*a{j}" for j in refs) + "]")
        sizes.append(1 + sum(sizes[j] for j in refs))
        written += 2
    use = draw(st.integers(min_value=0, max_value=len(sizes) - 1))
    lines.append(f"topic: {{name: t, partitions: 1, replication-factor: 1, config: {{x: *a{use}}}}}")
    # The topic: its key, its mapping, three keys and values, config's key and mapping, and x's key.
    written += 1 + 1 + 6 + 2 + 1
    expanded = 1 + sum(1 + s for s in sizes) + 1 + 1 + 6 + 2 + 1 + sizes[use]
    return "\n".join(lines) + "\n", written, expanded


@EXAMPLES
@given(alias_documents())
def _aliases_property(document: tuple[str, int, int]) -> None:
    text, written, expanded = document
    error = refused(lambda: sourcemap.loads(text, "t.yaml"))
    limit = inputfile.expansion_limit(written)
    if expanded > limit:
        assert error is not None, (expanded, limit)
        assert f"expand this document to more than {limit:,} values ({written:,} as written)" in error.message
    else:
        assert error is None, error


def test_yaml_aliases_are_refused_exactly_beyond_the_expansion_limit() -> None:
    run_function(f"{__name__}:_aliases_property", LIMITS)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    topics=st.integers(min_value=1, max_value=60),
    merge=st.booleans(),
)
def _shared_config_property(topics: int, merge: bool) -> None:
    """Aliases as people use them (one config shared by every topic, or merged into each) still load."""
    lines = ["defaults: &defaults {cleanup.policy: compact, min.compaction.lag.ms: 1000}", "topics:"]
    for i in range(topics):
        config = "{<<: *defaults, retention.ms: 5}" if merge else "*defaults"
        lines.append(f"  - {{name: t{i}, partitions: 1, replication-factor: 1, config: {config}}}")
    data, _ = sourcemap.loads("\n".join(lines) + "\n", "t.yaml")
    assert len(data["topics"]) == topics
    assert all(t["config"]["cleanup.policy"] == "compact" for t in data["topics"])


def test_yaml_aliases_as_people_use_them_still_load() -> None:
    run_function(f"{__name__}:_shared_config_property", LIMITS)


# --- nesting ---------------------------------------------------------------------------------------


def nested(kind: str, depth: int) -> str:
    """A document whose key `x` holds `depth` containers one inside the other (with the root: depth + 1)."""
    if kind == "yaml-flow-lists":
        return "x: " + "[" * depth + "]" * depth + "\n"
    if kind == "yaml-flow-maps":
        return "x: " + "{a: " * depth + "1" + "}" * depth + "\n"
    if kind == "yaml-block-maps":
        return "x:\n" + "".join("  " * k + "a:\n" for k in range(1, depth)) + "  " * depth + "a: 1\n"
    if kind == "hocon-objects":
        return "x " + "{ a " * (depth - 1) + "{ a = 1 }" + " }" * (depth - 1) + "\n"
    if kind == "hocon-lists":
        return "x = " + "[" * depth + "]" * depth + "\n"
    if kind == "hocon-dotted-key":
        return "x" + ".a" * depth + " = 1\n"
    raise AssertionError(kind)


KINDS = ["yaml-flow-lists", "yaml-flow-maps", "yaml-block-maps", "hocon-objects", "hocon-lists", "hocon-dotted-key"]


@EXAMPLES
@given(
    kind=st.sampled_from(KINDS),
    # Around the limit, and far past libyaml's own limit of 1,000 (the pure-Python loader takes over there).
    depth=st.one_of(st.integers(min_value=1, max_value=80), st.integers(min_value=900, max_value=3000)),
)
def _nesting_property(kind: str, depth: int) -> None:
    if kind == "yaml-block-maps":
        depth = min(depth, 200)  # 3,000 levels of indentation is a 9 MB file; 200 is past the limit all the same
    text = nested(kind, depth)
    if kind.startswith("yaml"):
        error = refused(lambda: sourcemap.loads(text, "t.yaml"))
    else:
        error = refused(lambda: hocon.parse(text, Path("t.conf")))
    if depth + 1 > inputfile.MAX_DEPTH:
        assert error is not None and error.message.startswith(TOO_DEEP), (kind, depth, error)
    else:
        assert error is None, (kind, depth, error)


def test_nesting_is_refused_exactly_beyond_the_depth_limit() -> None:
    run_function(f"{__name__}:_nesting_property", LIMITS)


# --- substitutions (HOCON) -------------------------------------------------------------------------


@st.composite
def substitution_programs(draw: st.DrawFn) -> str:
    """Values made of earlier values: lists concatenated, strings concatenated, objects nested."""
    kind = draw(st.sampled_from(["list", "string", "object"]))
    first = {"list": "[1, 2]", "string": '"ab"', "object": "{ k = 1 }"}[kind]
    lines = [f"v0 = {first}"]
    for i in range(1, draw(st.integers(min_value=1, max_value=40))):
        fanout = draw(st.integers(min_value=1, max_value=4))
        refs = draw(st.lists(st.integers(min_value=max(0, i - 2), max_value=i - 1), min_size=fanout, max_size=4))
        if kind == "object":
            lines.append(f"v{i} = {{ " + ", ".join(f"k{n} = ${{v{j}}}" for n, j in enumerate(refs)) + " }")
        else:
            joiner = " " if kind == "list" else ""
            lines.append(f"v{i} = " + joiner.join(f"${{v{j}}}" for j in refs))
    return "\n".join(lines) + "\n"


def _size(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return hocon.OBJECT_COST + sum(_size(v) for v in value.values())
    if isinstance(value, list):
        return 1 + sum(_size(v) for v in value)
    return 1


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(substitution_programs())
def _substitutions_property(text: str) -> None:
    try:
        data, _ = hocon.parse(text, Path("t.conf"))
    except InputError:
        return
    assert _size(data) <= len(text) + inputfile.expansion_limit(len(text))


def test_hocon_substitutions_expand_within_bounds() -> None:
    run_function(f"{__name__}:_substitutions_property", LIMITS)


# --- files that are not regular files, or too large ------------------------------------------------


def make(kind: str, path: Path, size: int) -> None:
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev-zero":
        path.symlink_to("/dev/zero")
    elif kind == "dev-null":
        path.symlink_to("/dev/null")
    elif kind == "directory":
        path.mkdir()
    elif kind == "symlink-to-fifo":  # a link inside the directory to a FIFO beside it
        os.mkfifo(path.with_name("fifo"))
        path.symlink_to(path.with_name("fifo"))
    elif kind == "symlink-to-directory":
        path.with_name("folder").mkdir()
        path.symlink_to(path.with_name("folder"))
    elif kind == "socket":
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))  # left bound: the child exits soon
    elif kind == "sparse":
        with path.open("wb") as f:
            f.truncate(size)
    else:
        raise AssertionError(kind)


def loaders(path: Path) -> dict[str, Callable[[], Any]]:
    """Every way platformctl reads a file a user names, by what it is for."""
    include = path.parent / "including.conf"
    include.write_text(f'include "{path.name}"\ntopic {{ name = a, partitions = 1, replication-factor = 1 }}\n')
    return {
        "yaml": lambda: sourcemap.load(path),
        "topic-file": lambda: topicfile.load([path]),
        "settings": lambda: config.load_settings(config.GlobalOptions(config=path)),
        "hocon-include": lambda: topicfile.load([include]),
    }


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    kind=st.sampled_from(
        ["fifo", "dev-zero", "dev-null", "directory", "socket", "sparse", "symlink-to-fifo", "symlink-to-directory"]
    ),
    loader=st.sampled_from(["yaml", "topic-file", "settings", "hocon-include"]),
    size=st.integers(min_value=inputfile.MAX_BYTES - 2, max_value=inputfile.MAX_BYTES + 2),
)
def _files_property(kind: str, loader: str, size: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        if kind in ("directory", "symlink-to-directory") and loader == "topic-file":
            return  # a directory of topic files is a different input (its files are read)
        path = Path(tmp) / "t.yaml"
        make(kind, path, size)
        error = refused(loaders(path)[loader])
        message = str(error)
        if kind == "sparse" and size <= inputfile.MAX_BYTES:
            # Read in full: 16 MiB of NUL bytes is no valid document, and is never refused for its size.
            assert error is not None and "too large" not in message, message
        elif kind == "sparse":
            assert error is not None and "too large" in message, message
        elif kind.startswith("dev-") and loader == "hocon-include":
            # A symlink to a device lies outside the topic file's directory: refused before it is looked at.
            assert error is not None and "includes must stay inside" in message, message
        else:
            assert error is not None and "not a regular file" in message, message
        assert "t.yaml" in message


def test_non_regular_and_oversized_files_are_refused_by_every_loader() -> None:
    run_function(f"{__name__}:_files_property", LIMITS)


@pytest.mark.parametrize("kind", KINDS)
def test_the_deepest_document_allowed_loads(kind: str) -> None:
    """In-process (cheap, and bounded by construction): exactly MAX_DEPTH levels load, one more does not."""
    deepest = nested(kind, inputfile.MAX_DEPTH - 1)
    if kind.startswith("yaml"):
        sourcemap.loads(deepest, "t.yaml")
        with pytest.raises(InputError, match=TOO_DEEP):
            sourcemap.loads(nested(kind, inputfile.MAX_DEPTH), "t.yaml")
    else:
        hocon.parse(deepest, Path("t.conf"))
        with pytest.raises(InputError, match=TOO_DEEP):
            hocon.parse(nested(kind, inputfile.MAX_DEPTH), Path("t.conf"))
