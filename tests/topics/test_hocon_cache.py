"""The cache of parsed HOCON topic files (platformctl/topics/hoconcache.py): a hit is exactly what a parse gives.

The property generates HOCON documents (scalars of every kind pyhocon reads, durations, nested objects and
lists, dotted and quoted keys, substitutions, an included file) and checks that the result through the
cache, cold and then warm, is the parse's own result: the same values of the same types in the same order,
and the same line map; a failure is the same failure, and is not cached. The other tests change one thing
a cached result depends on (an included file, the code, a limit) or spoil the entry (garbage, another
file's entry, a FIFO, a directory, an oversized file) and check the file is parsed again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from platformctl import inputfile
from platformctl.errors import InputError
from platformctl.sourcemap import LineMap
from platformctl.topics import files as topicfile
from platformctl.topics import hocon, hoconcache


def same(a: Any, b: Any) -> bool:
    """Equal, with the same types all the way down and mappings in the same order."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return repr(a) == repr(b)  # -0.0 is not 0.0
    if type(a).__name__ == "NoneValue":  # pyhocon's null inside a list: a fresh object each parse, no __eq__
        return True
    return bool(a == b)


class Counting:
    """The real parse, counted: a hit does not call it."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, text: str, path: Path) -> tuple[Any, LineMap, list[tuple[Path, str]]]:
        self.calls += 1
        return hocon.parse_with_includes(text, path)


def outcome(call: Callable[[], tuple[Any, LineMap]]) -> tuple[str, Any, Any]:
    try:
        data, lines = call()
    except InputError as e:
        return ("refused", str(e), None)
    return ("parsed", data, lines)


@contextmanager
def cache_home(path: Path) -> Iterator[None]:
    saved = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(path)
    try:
        yield
    finally:
        if saved is None:
            del os.environ["XDG_CACHE_HOME"]
        else:
            os.environ["XDG_CACHE_HOME"] = saved


# --- documents -------------------------------------------------------------------------------------

scalars = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["true", "false", "null", "yes", "off", "10 seconds", "3 days", "1.5", "-0", "0.0"]),
    st.text(max_size=12).map(json.dumps),  # a quoted string: JSON's escapes are HOCON's
    st.text(max_size=12).map(lambda s: json.dumps(s, ensure_ascii=False)),
    st.from_regex(r"[a-z][a-z0-9 ]{0,10}[a-z0-9]", fullmatch=True),  # an unquoted string
    st.just('"""triple "quoted" text"""'),
)
keys = st.one_of(
    st.from_regex(r"[a-z][a-z0-9-]{0,6}", fullmatch=True),
    st.from_regex(r"[a-z]{1,4}\.[a-z]{1,4}", fullmatch=True),  # a path: cleanup.policy
    st.text(min_size=1, max_size=6).map(json.dumps),  # quoted: one key, dots and all
)


def values(depth: int) -> st.SearchStrategy[str]:
    if depth == 0:
        return scalars
    inner = values(depth - 1)
    return st.one_of(
        scalars,
        st.lists(inner, max_size=4).map(lambda items: "[" + ", ".join(items) + "]"),
        st.lists(st.tuples(keys, inner), max_size=4).map(
            lambda pairs: "{\n" + "".join(f"  {k} = {v}\n" for k, v in pairs) + "}"
        ),
    )


@st.composite
def documents(draw: st.DrawFn) -> tuple[str, str | None]:
    """(topic file text, the text of inc.conf it includes, or None)."""
    pairs = draw(st.lists(st.tuples(keys, values(3)), min_size=1, max_size=6))
    lines = [f"{k} = {v}" for k, v in pairs]
    if draw(st.booleans()):  # a substitution of an earlier plain key
        plain = [k for k, _ in pairs if not k.startswith('"')]
        if plain:
            lines.append(f"copy = ${{{draw(st.sampled_from(plain))}}}")
    lines.append("topic { name = t, partitions = 1, replication-factor = 1, config { retention.ms = 1000 } }")
    included = None
    if draw(st.booleans()):
        included = "\n".join(f"{k} = {v}" for k, v in draw(st.lists(st.tuples(keys, values(2)), max_size=4)))
        lines.insert(draw(st.integers(min_value=0, max_value=len(lines))), 'include "inc.conf"')
    return "\n".join(lines) + "\n", included


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(documents())
def test_a_cached_result_is_exactly_what_a_parse_gives(document: tuple[str, str | None]) -> None:
    text, included = document
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "topics"
        folder.mkdir()
        path = folder / "t.conf"
        path.write_text(text)
        if included is not None:
            (folder / "inc.conf").write_text(included)
        with cache_home(Path(tmp) / "cache"):
            expected = outcome(lambda: hocon.parse(text, path))
            parse = Counting()
            cold = outcome(lambda: hoconcache.parse(text, path, parse))
            warm = outcome(lambda: hoconcache.parse(text, path, parse))
        for got in (cold, warm):
            assert got[0] == expected[0] and same(got[1], expected[1]) and got[2] == expected[2], (got, expected)
        stored = list((Path(tmp) / "cache" / "platformctl" / "hocon").glob("*.json"))
        if expected[0] == "parsed" and hoconcache._exact(expected[1]):
            assert parse.calls == 1 and len(stored) == 1  # the second was a hit
        else:  # failures and durations are not cached: parsed every time
            assert parse.calls == 2 and not stored


# --- what an entry depends on ------------------------------------------------------------------------

TOPIC = "topic { name = a, partitions = 1, replication-factor = 1, config { retention.ms = ${retention} } }\n"


@pytest.fixture
def topic(tmp_path: Path) -> Path:
    folder = tmp_path / "topics"
    folder.mkdir()
    (folder / "retention.conf").write_text("retention = 1000\n")
    path = folder / "t.conf"
    path.write_text('include "retention.conf"\n' + TOPIC)
    return path


def load(path: Path) -> tuple[int, Any, LineMap]:
    """(parses, data, lines) of one load through the cache."""
    parse = Counting()
    data, lines = hoconcache.parse(inputfile.read_text(path), path, parse)
    return parse.calls, data, lines


def entries() -> list[Path]:
    return sorted(hoconcache.directory().glob("*.json"))


def test_the_cache_lives_under_xdg_cache_home(topic: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert load(topic)[0] == 1
    assert [p.parent for p in entries()] == [tmp_path / "xdg" / "platformctl" / "hocon"]
    assert load(topic)[0] == 0
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert hoconcache.directory() == tmp_path / "home" / ".cache" / "platformctl" / "hocon"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/dir")  # invalid by the XDG spec: ignored
    assert hoconcache.directory() == tmp_path / "home" / ".cache" / "platformctl" / "hocon"


def test_a_changed_include_is_parsed_again(topic: Path) -> None:
    calls, data, _ = load(topic)
    assert calls == 1 and data["topic"]["config"]["retention"]["ms"] == 1000
    assert load(topic)[0] == 0
    (topic.parent / "retention.conf").write_text("retention = 2000\n")
    calls, data, _ = load(topic)
    assert calls == 1 and data["topic"]["config"]["retention"]["ms"] == 2000


def test_an_include_replaced_by_a_link_outside_the_directory_is_refused_again(topic: Path, tmp_path: Path) -> None:
    assert load(topic)[0] == 1
    outside = tmp_path / "secret.conf"
    outside.write_text("retention = 1000\n")  # the same text: only where it is differs
    (topic.parent / "retention.conf").unlink()
    (topic.parent / "retention.conf").symlink_to(outside)
    with pytest.raises(InputError, match="includes must stay inside the topic file's directory"):
        load(topic)


def test_the_same_text_in_another_directory_reads_that_directorys_includes(topic: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "retention.conf").write_text("retention = 3000\n")
    copy = other / "t.conf"
    copy.write_text(topic.read_text())
    assert load(topic)[2] is not None
    calls, data, _ = load(copy)
    assert calls == 1 and data["topic"]["config"]["retention"]["ms"] == 3000


def test_other_code_or_limits_make_another_key(topic: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert load(topic)[0] == 1
    monkeypatch.setattr(hoconcache, "_environment", "another platformctl")
    assert load(topic)[0] == 1
    monkeypatch.setattr(hoconcache, "_environment", None)
    monkeypatch.setattr(inputfile, "MAX_DEPTH", inputfile.MAX_DEPTH + 1)
    assert load(topic)[0] == 1
    assert len(entries()) == 3


def test_a_refusal_is_not_cached_and_the_environment_is_never_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECRET_TOKEN", "hunter2")
    path = tmp_path / "t.conf"
    path.write_text("topic { name = a, partitions = ${SECRET_TOKEN}, replication-factor = 1 }\n")
    for _ in range(2):
        with pytest.raises(InputError) as refused:
            load(path)
        assert "cannot resolve variable ${SECRET_TOKEN}" in str(refused.value)
        assert "hunter2" not in str(refused.value)
    assert entries() == []


@pytest.mark.parametrize("spoil", ["garbage", "truncated", "other-key", "fifo", "directory", "oversized", "deep"])
def test_a_spoilt_entry_is_ignored(topic: Path, spoil: str) -> None:
    assert load(topic)[0] == 1
    (entry,) = entries()
    good = entry.read_text()
    _, expected, expected_lines = load(topic)
    entry.unlink()
    if spoil == "garbage":
        entry.write_bytes(b"\x00\xff not json")
    elif spoil == "truncated":
        entry.write_text(good[: len(good) // 2])
    elif spoil == "other-key":  # a well-formed entry for another text, under this text's name
        document = json.loads(good)
        document["key"] = "0" * 64
        document["data"]["topic"]["partitions"] = 99
        entry.write_text(json.dumps(document))
    elif spoil == "fifo":
        os.mkfifo(entry)
    elif spoil == "directory":
        entry.mkdir()
    elif spoil == "oversized":
        with entry.open("wb") as f:
            f.truncate(inputfile.MAX_BYTES + 1)
    elif spoil == "deep":
        entry.write_text("[" * 100_000 + "]" * 100_000)
    calls, data, lines = load(topic)
    assert calls == 1 and same(data, expected) and lines == expected_lines
    if spoil != "directory":  # replaced by a good entry, used from then on
        assert load(topic)[0] == 0


def test_an_unwritable_cache_costs_time_not_a_result(
    topic: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    calls, data, _ = load(topic)
    assert calls == 1 and data["topic"]["name"] == "a"
    assert load(topic)[0] == 1


def test_the_cache_stays_within_its_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hoconcache, "MAX_CACHE_BYTES", 4096)
    paths = []
    for i in range(12):
        path = tmp_path / f"t{i}.conf"
        path.write_text(
            f'topic {{ name = t{i}, partitions = 1, replication-factor = 1, config {{ x = "{"y" * 600}" }} }}\n'
        )
        paths.append(path)
        before = set(entries())
        assert load(path)[0] == 1
        for new in set(entries()) - before:  # written in order, whatever the file system's clock resolution
            os.utime(new, ns=((i + 1) * 10**9, (i + 1) * 10**9))
    assert sum(p.stat().st_size for p in hoconcache.directory().iterdir()) <= 4096
    assert load(paths[-1])[0] == 0  # the newest stays
    assert load(paths[0])[0] == 1  # the oldest went


def test_topic_files_load_the_same_cold_and_warm(tmp_path: Path) -> None:
    """End to end through `topicfile.load`: the TopicSpecs (values, sources, lines) are the same."""
    (tmp_path / "partitions.conf").write_text("topic.partitions = 2\n")
    path = tmp_path / "t.conf"
    path.write_text("topic {\n  name = a\n  replication-factor = 1\n  config { retention.ms = 1000 }\n}\n")
    with path.open("a") as f:
        f.write('include "partitions.conf"\n')
    cold = topicfile.load([path])
    assert len(entries()) == 1
    warm = topicfile.load([path])
    assert cold == warm
    assert (cold[0].partitions, cold[0].config, cold[0].line) == (2, {"retention.ms": "1000"}, 2)
    assert str(cold[0].sources["retention.ms"]) == f"{path}:4"


def test_a_warm_load_never_imports_pyhocon(tmp_path: Path) -> None:
    """A hit costs no parser: pyhocon and pyparsing (hundreds of milliseconds to import) stay unloaded."""
    topic = tmp_path / "t.conf"
    topic.write_text("topic { name = a, partitions = 1, replication-factor = 1 }\n")
    code = (
        "import sys; from pathlib import Path; from platformctl.topics import files as topicfile; "
        f"topicfile.load([Path({str(topic)!r})]); "
        "print(sorted(m for m in sys.modules if m in ('pyhocon', 'pyparsing')))"
    )
    cold, warm = (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
        for _ in range(2)
    )
    assert (cold, warm) == ("['pyhocon', 'pyparsing']", "[]")
