"""What a topic file may say about its key and value schemas, and whether the schemas are legal Avro,
before anything reaches a Schema Registry.

A topic declares its schemas next to its settings (both syntaxes; paths are relative to the topic file):

    value-schema = schemas/tweet.avsc                  # short form: the subject is <topic>-value
    key-schema {
      file = schemas/tweet-key.avsc
      subject = tweets-key                            # optional: another subject name
      compatibility = FULL                            # optional: the subject's level (else left as it is)
      references = [ { name = com.example.User, subject = user-value, version = 2 } ]
    }

Avro is the format: the registry's default, the one the platform's story (schema evolution of tweets)
is about, and the one whose compatibility a registry that runs here (Apicurio) decides. Each schema file
is read as JSON (an error names its line), then parsed by Apache Avro's own package and by fastavro,
because each lets through what the other refuses and the registry (Java Avro) refuses both: Apache Avro's
parser rejects records without fields and duplicate field names, fastavro defaults that do not match their
type. Avro references name other subjects: a reference to a subject these files declare is resolved
from that file (its version is the one the registry has for it at plan time); any other reference must
give its version, and its schema is read from the registry when planning (`schemaplan`).

Schemas are sent in one compact JSON form (the file's key order kept), so reformatting a file is not a new
version, whatever the registry's own lookup makes of whitespace.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from platformctl import inputfile
from platformctl.errors import InputError
from platformctl.sourcemap import PathKey
from platformctl.topics.provenance import Source

Role = Literal["key", "value"]

LEVELS = (
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
    "NONE",
)
ROLES: tuple[Role, ...] = ("key", "value")
FIELDS = tuple(f"{role}-schema" for role in ROLES)
SCHEMA_KEYS = ("file", "subject", "compatibility", "references")
REFERENCE_KEYS = ("name", "subject", "version")
AVRO = "AVRO"
# A schema file larger than this is a mistake (a data file named .avsc), not a schema: refuse, do not read.
MAX_SCHEMA_BYTES = 1024 * 1024
_MAX_SUBJECT = 255


@dataclass(frozen=True)
class Reference:
    """An Avro named type this schema takes from another subject."""

    name: str  # the full name the schema uses, e.g. com.example.User
    subject: str
    version: int | None  # None: the subject is declared in the files; its version is resolved when planning


@dataclass(frozen=True)
class SchemaDecl:
    """One subject's schema as a topic file declares it."""

    topic: str
    role: Role
    subject: str
    file: str  # the schema file, as a path the user can open
    text: str  # the compact JSON sent to the registry
    compatibility: str | None
    references: tuple[Reference, ...]
    source: Source  # where it was declared (topic file:line)
    field: str  # the declaration in errors: `topic.value-schema`, `topics[2].key-schema`
    compatibility_source: Source | None = None
    schema_type: str = AVRO

    def to_json(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "topic": self.topic,
            "role": self.role,
            "file": self.file,
            "type": self.schema_type,
            "references": [{"name": r.name, "subject": r.subject, "version": r.version} for r in self.references],
        }


def level_problem(raw: object) -> str | None:
    if isinstance(raw, str) and raw.strip().upper() in LEVELS:
        return None
    return f"must be one of {', '.join(LEVELS)} (got {raw!r})"


def subject_problem(raw: object) -> str | None:
    if not isinstance(raw, str) or not raw.strip():
        return f"must be a subject name (got {raw!r})"
    if len(raw) > _MAX_SUBJECT:
        return f"is {len(raw)} characters long; at most {_MAX_SUBJECT}"
    if not raw.isprintable() or raw != raw.strip():
        return f"must be printable, without surrounding spaces (got {raw!r})"
    return None


ErrorFn = Callable[[str, PathKey, str], None]


def declaration(
    raw: Any,
    role: Role,
    topic: str,
    where: PathKey,
    label: str,
    topic_file: Path,
    line: Callable[[PathKey], int | None],
    error: ErrorFn,
) -> SchemaDecl | None:
    """A `key-schema` / `value-schema` entry of one topic, its file read and checked as JSON; None after an
    error (reported through `error(message, path, field)`). Avro itself is checked by `check_avro`."""
    field = f"{label}.{role}-schema"
    at = (*where, f"{role}-schema")
    spec: dict[str, Any]
    if isinstance(raw, str):
        spec = {"file": raw}
    elif isinstance(raw, dict):
        spec = raw
        for key in spec:
            if key not in SCHEMA_KEYS:
                error(f"unknown key (expected {', '.join(SCHEMA_KEYS)})", (*at, key), f"{field}.{key}")
    else:
        error(f"must be a schema file path or a mapping with file (got {type(raw).__name__})", at, field)
        return None
    ok = True
    file = spec.get("file")
    if not isinstance(file, str) or not file.strip():
        error("missing (required): the schema file" if file is None else f"must be a path (got {file!r})",
              (*at, "file") if "file" in spec else at, f"{field}.file")  # fmt: skip
        ok = False
    subject = spec.get("subject", f"{topic}-{role}")
    problem = subject_problem(subject)
    if problem:
        error(problem, (*at, "subject"), f"{field}.subject")
        ok = False
    level = spec.get("compatibility")
    if level is not None and level_problem(level):
        error(str(level_problem(level)), (*at, "compatibility"), f"{field}.compatibility")
        ok = False
    references = _references(spec.get("references"), (*at, "references"), f"{field}.references", error)
    if references is None or not ok:
        return None
    assert isinstance(file, str) and isinstance(subject, str)
    path = topic_file.parent / file
    try:
        text = _read(path)
    except ValueError as e:
        mapping = isinstance(raw, dict)
        error(f"{path}: {e}", (*at, "file") if mapping else at, f"{field}.file" if mapping else field)
        return None

    def source(key: PathKey) -> Source:
        found = line(key)
        return Source("file", f"{topic_file}:{found}" if found else str(topic_file))

    return SchemaDecl(
        topic=topic,
        role=role,
        subject=subject,
        file=str(path),
        text=text,
        compatibility=level.strip().upper() if isinstance(level, str) else None,
        references=references,
        source=source(at),
        field=field,
        compatibility_source=source((*at, "compatibility")) if level is not None else None,
    )


def _references(raw: Any, at: PathKey, field: str, error: ErrorFn) -> tuple[Reference, ...] | None:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        error(f"must be a list of {{name, subject, version}} (got {type(raw).__name__})", at, field)
        return None
    found: list[Reference] = []
    ok = True
    for i, item in enumerate(raw):
        here, label = (*at, i), f"{field}[{i}]"
        if not isinstance(item, dict):
            error(f"must be a mapping with name, subject and version (got {type(item).__name__})", here, label)
            ok = False
            continue
        for key in item:
            if key not in REFERENCE_KEYS:
                error(f"unknown key (expected {', '.join(REFERENCE_KEYS)})", (*here, key), f"{label}.{key}")
                ok = False
        name, subject, version = item.get("name"), item.get("subject"), item.get("version")
        if not isinstance(name, str) or not name.strip():
            error(f"must be the Avro full name the schema uses (got {name!r})", (*here, "name"), f"{label}.name")
            ok = False
        if subject_problem(subject):
            error(str(subject_problem(subject)), (*here, "subject"), f"{label}.subject")
            ok = False
        if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 1):
            error(f"must be a version number, at least 1 (got {version!r})", (*here, "version"), f"{label}.version")
            ok = False
        if ok:
            found.append(Reference(str(name), str(subject), version))
    return tuple(found) if ok else None


def _read(path: Path) -> str:
    """The file as compact JSON; ValueError naming the line for what cannot be a schema."""
    try:
        size = path.stat().st_size
        if size > MAX_SCHEMA_BYTES:
            raise ValueError(f"is {size} bytes; a schema file may have at most {MAX_SCHEMA_BYTES}")
        if path.is_dir():
            raise ValueError("is a directory, not a schema file")
        text = inputfile.read_text(path)  # regular files only: a FIFO would block, /dev/zero never end
    except FileNotFoundError:
        raise ValueError("schema file not found") from None
    except InputError as e:
        raise ValueError("schema file not found" if e.message == "file not found" else e.message) from None
    except OSError as e:
        raise ValueError(f"cannot read: {e.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{e.lineno}: not valid JSON: {e.msg}") from None
    except RecursionError:
        raise ValueError("not a schema: nested too deeply") from None
    return compact(data)


def compact(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def avro_problem(text: str, named: Mapping[str, str] = {}) -> str | None:
    """Why Avro refuses this schema, or None. `named`: schema texts of referenced subjects, by subject,
    parsed first (in order) so their named types are known."""
    import avro.errors
    import avro.schema
    import fastavro.schema

    names = avro.schema.Names()  # type: ignore[attr-defined]
    fast: dict[str, Any] = {}
    try:
        for other in named.values():
            avro.schema.make_avsc_object(json.loads(other), names)
            fastavro.schema.parse_schema(json.loads(other), named_schemas=fast, _write_hint=False)
        avro.schema.make_avsc_object(json.loads(text), names)
        fastavro.schema.parse_schema(json.loads(text), named_schemas=fast, _write_hint=False)
    except (avro.errors.AvroException, fastavro.schema.SchemaParseException) as e:
        return f"not a valid Avro schema: {_first_line(str(e))}"
    except fastavro.schema.UnknownType as e:
        return f"not a valid Avro schema: unknown type {e.name!r}"
    except (TypeError, AttributeError, KeyError, ValueError, RecursionError) as e:
        # Both parsers assume the JSON has the shapes Avro's spec names (a dict where a dict belongs).
        return f"not a valid Avro schema: {type(e).__name__}: {_first_line(str(e))}"
    return None


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else "rejected"
    return line if len(line) <= 200 else line[:197] + "..."


def check(decls: Sequence[SchemaDecl]) -> list[InputError]:
    """What only all the files together can tell: one subject declared twice differently, references
    to declared subjects (cycles, unknown names), and every schema that Avro refuses. References to
    subjects outside the files are left to the plan, which reads them from the registry."""
    errors: list[InputError] = []
    by_subject: dict[str, SchemaDecl] = {}
    for decl in decls:
        first = by_subject.setdefault(decl.subject, decl)
        if first is not decl and (first.text, first.compatibility, first.references) != (
            decl.text,
            decl.compatibility,
            decl.references,
        ):
            errors.append(_error(decl, f"subject {decl.subject!r} is also declared at {first.source.ref}, differently"))
    for decl in decls:
        if by_subject[decl.subject] is not decl:
            continue
        if any(r.subject not in by_subject for r in decl.references):
            continue  # the plan resolves it with the registry
        try:
            named = dict(_resolve(decl, by_subject, ()))
        except ValueError as e:
            errors.append(_error(decl, str(e)))
            continue
        problem = avro_problem(decl.text, named)
        if problem:
            errors.append(_error(decl, f"{decl.file}: {problem}"))
    return errors


def _resolve(
    decl: SchemaDecl, by_subject: Mapping[str, SchemaDecl], seen: tuple[str, ...]
) -> Iterable[tuple[str, str]]:
    """(subject, text) of every declared subject `decl` references, dependencies first."""
    for ref in decl.references:
        if ref.subject in seen or ref.subject == decl.subject:
            raise ValueError(f"references form a cycle: {' -> '.join([*seen, decl.subject, ref.subject])}")
        other = by_subject[ref.subject]
        yield from _resolve(other, by_subject, (*seen, decl.subject))
        yield ref.subject, other.text


def _error(decl: SchemaDecl, message: str) -> InputError:
    path, _, line = decl.source.ref.rpartition(":")
    if line.isdigit():
        return InputError(message, path=path, line=int(line), field=decl.field)
    return InputError(message, path=decl.source.ref, field=decl.field)
