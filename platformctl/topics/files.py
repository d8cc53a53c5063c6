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
- pyhocon keeps no positions for values, so hocon.py scans the text once for the line of every key; it
  also bounds what pyhocon would otherwise do with a hostile file (includes, the environment, expansion).
- pyhocon's parse is slow (a pure-Python grammar), so a HOCON file's parse (data and line map) goes through
  `hoconcache`, which reuses it while the file, its includes and platformctl are unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from platformctl import inputfile, sourcemap
from platformctl.errors import InputError, InputErrors
from platformctl.sourcemap import LineMap, PathKey
from platformctl.topics import hocon, hoconcache
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
            data, lines = hoconcache.parse(text, path, hocon.parse_with_includes)
        else:
            data, lines = sourcemap.loads(text, path)
    except InputError as e:
        errors.append(e)
        return []
    return _topics(data, lines, path, errors, named, allow_unknown_config=allow_unknown_config)


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
