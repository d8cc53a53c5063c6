"""The plan for every subject the topic files declare, against the Schema Registry, and its execution.

Like topics: validate (schemaspec, at load), then diff, then mutate. Per subject the plan says
- `register`: the subject does not exist; the schema becomes its version 1;
- `new-version`: the registry does not have this schema in the subject (its own lookup, not a string
  compare); the plan carries a diff against the latest version and the registry's verdict under the
  subject's level (its compatibility endpoint, with its reasons);
- `unchanged`: the registry already has the schema in the subject (maybe not as its latest version: a
  registry never adds a version for a schema it has, so re-registering it would change nothing);
- `incompatible`: the registry says the new version breaks the level: blocks the apply, unless
  `--allow-incompatible`, which registers it with the level lowered to NONE for that one registration and
  set back right after, shown in the plan (the level is never lowered silently);
and whether the level changes (the file's `compatibility`, then the environment's overrides).

The apply order is the issue's: levels of existing subjects first (so the registry checks the new
versions under the new level; each such version is checked again before it is registered), then new
versions in reference order (a subject before the subjects that reference it), then the levels of
subjects that did not exist before (a registry may refuse a level for an unknown subject).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from platformctl.adapters.schemaregistry import IncompatibleError, Ref, Registered, Registry
from platformctl.errors import InputError, InputErrors, PlatformError
from platformctl.topics.provenance import Source
from platformctl.topics.schemas.spec import SchemaDecl, avro_problem

Action = Literal["register", "new-version", "unchanged", "incompatible"]
LevelLayer = tuple[str, Source]


@dataclass(frozen=True)
class Level:
    """The level a subject should have, where that came from, and what it replaced (earliest first)."""

    level: str
    source: Source
    replaced: tuple[LevelLayer, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "source": _source_json(self.source),
            "replaced": [{"level": v, "source": _source_json(s)} for v, s in self.replaced],
        }


def _source_json(source: Source) -> dict[str, Any]:
    return {"kind": source.kind, "ref": source.ref, "revision": source.revision}


@dataclass(frozen=True)
class SubjectPlan:
    decl: SchemaDecl
    action: Action
    refs: tuple[Ref, ...] = ()  # references as sent (versions resolved); see `waits_for`
    latest: int | None = None  # the subject's latest version
    version: int | None = None  # unchanged: the version that has this schema
    current_level: str | None = None  # the subject's level now (its own, else the global one)
    own_level: bool = False  # whether `current_level` is the subject's own (else it follows the global level)
    level: Level | None = None  # the level the files and overrides ask for; None: left as it is
    compatible: bool | None = None  # the registry's verdict; None: not asked (new subject, unchanged, waits)
    reasons: tuple[str, ...] = ()
    diff: tuple[str, ...] = ()
    forced: bool = False  # --allow-incompatible
    waits_for: tuple[str, ...] = ()  # declared subjects it references that this apply registers first

    @property
    def subject(self) -> str:
        return self.decl.subject

    @property
    def level_change(self) -> bool:
        """A declared level becomes the subject's own, even when it equals the global level it follows now
        (a later change of the global level must not change it)."""
        return self.level is not None and (self.level.level != self.current_level or not self.own_level)

    @property
    def mutating(self) -> bool:
        return self.action in ("register", "new-version") or self.level_change

    def to_json(self) -> dict[str, Any]:
        return {
            **self.decl.to_json(),
            "action": self.action,
            "latest-version": self.latest,
            "version": self.version,
            "compatibility": {
                "current": self.current_level,
                "current-is-global": not self.own_level,
                "desired": self.level.to_json() if self.level else None,
                "change": self.level_change,
            },
            "compatible": self.compatible,
            "reasons": list(self.reasons),
            "diff": list(self.diff),
            "allow-incompatible": self.forced,
            "after": list(self.waits_for),
        }


@dataclass(frozen=True)
class SchemaPlan:
    subjects: tuple[SubjectPlan, ...]
    registry: str

    @property
    def blocked(self) -> list[SubjectPlan]:
        return [s for s in self.subjects if s.action == "incompatible"]

    @property
    def mutating(self) -> bool:
        return any(s.mutating for s in self.subjects)

    def counts(self) -> dict[str, int]:
        counts = {a: 0 for a in ("register", "new-version", "unchanged", "incompatible")}
        for s in self.subjects:
            counts[s.action] += 1
        counts["level-change"] = sum(1 for s in self.subjects if s.level_change)
        return counts

    def to_json(self) -> dict[str, Any]:
        return {"registry": self.registry, "summary": self.counts(), "subjects": [s.to_json() for s in self.subjects]}


def effective_level(decl: SchemaDecl, layers: Sequence[LevelLayer]) -> Level | None:
    """The file's `compatibility`, then each environment layer (later wins)."""
    chain: list[LevelLayer] = []
    if decl.compatibility is not None:
        chain.append((decl.compatibility, decl.compatibility_source or decl.source))
    chain.extend(layers)
    if not chain:
        return None
    level, source = chain[-1]
    return Level(level, source, tuple(chain[:-1]))


def plan(
    decls: Sequence[SchemaDecl],
    registry: Registry,
    levels: Mapping[str, Sequence[LevelLayer]] | None = None,
    *,
    allow_incompatible: bool = False,
) -> SchemaPlan:
    """Read what the registry has for each declared subject and classify it; see the module docstring."""
    levels = levels or {}
    unique = list({d.subject: d for d in reversed(decls)}.values())[::-1]
    declared = {d.subject: d for d in unique}
    order = _dependency_order(unique)
    _check_external_refs(unique, registry)

    def external(decl: SchemaDecl) -> list[Ref] | None:
        """Its references with versions, when none names a declared subject (else None: resolved in order)."""
        if any(r.subject in declared for r in decl.references):
            return None
        return [Ref(r.name, r.subject, r.version) for r in decl.references if r.version is not None]

    def read(decl: SchemaDecl) -> tuple[Registered | None, tuple[str, bool], int | None]:
        latest, level = registry.latest(decl.subject), registry.level(decl.subject)
        refs = external(decl)
        looked = registry.lookup(decl.subject, decl.text, refs) if latest and refs is not None else None
        return latest, level, looked

    # Every read that does not depend on another subject's outcome goes out a few at a time.
    state = dict(zip([d.subject for d in order], registry.map(read, order), strict=True))
    found: dict[str, SubjectPlan] = {}
    checks: list[tuple[SchemaDecl, tuple[Ref, ...]]] = []
    for decl in order:
        latest, (current, own), looked = state[decl.subject]
        refs: list[Ref] = []
        waits: list[str] = []
        for ref in decl.references:
            if ref.subject in declared:
                dep = found[ref.subject]
                if dep.action == "unchanged" and dep.version is not None:
                    refs.append(Ref(ref.name, ref.subject, dep.version))
                else:
                    waits.append(ref.subject)
            else:
                assert ref.version is not None  # schemaspec: required for subjects outside the files
                refs.append(Ref(ref.name, ref.subject, ref.version))
        level = effective_level(decl, levels.get(decl.subject, ()))
        common: dict[str, Any] = {
            "refs": tuple(refs),
            "latest": latest.version if latest else None,
            "current_level": current,
            "own_level": own,
            "level": level,
            "waits_for": tuple(waits),
        }
        if latest is None:
            found[decl.subject] = SubjectPlan(decl, "register", **common)
            continue
        if external(decl) is not None:
            version = looked
        else:
            version = None if waits else registry.lookup(decl.subject, decl.text, refs)
        if version is not None:
            found[decl.subject] = SubjectPlan(decl, "unchanged", version=version, **common)
            continue
        found[decl.subject] = SubjectPlan(decl, "new-version", diff=_diff(latest, decl), **common)
        if waits:
            continue  # checked when applied, once the subjects it references are registered
        if level is not None and level.level == "NONE" and level.level != current:
            # The apply sets NONE first: the registry will check nothing. (A level read as NONE is still
            # asked about: Apicurio reports NONE for a subject that has no level of its own.)
            found[decl.subject] = replace(
                found[decl.subject], compatible=True, reasons=("level NONE: the registry checks nothing",)
            )
        else:
            checks.append((decl, tuple(refs)))
    verdicts = registry.map(lambda c: registry.check(c[0].subject, c[0].text, c[1]), checks)
    for (decl, _), (compatible, reasons) in zip(checks, verdicts, strict=True):
        action: Action = "new-version" if compatible or allow_incompatible else "incompatible"
        forced = not compatible and allow_incompatible
        found[decl.subject] = replace(
            found[decl.subject], action=action, compatible=compatible, reasons=reasons, forced=forced
        )
    return SchemaPlan(tuple(found[d.subject] for d in order), registry.url)


def _dependency_order(decls: Sequence[SchemaDecl]) -> list[SchemaDecl]:
    """Subjects before the declared subjects that reference them (schemaspec refused cycles)."""
    by_subject = {d.subject: d for d in decls}
    done: dict[str, SchemaDecl] = {}

    def visit(decl: SchemaDecl) -> None:
        if decl.subject in done:
            return
        for ref in decl.references:
            if ref.subject in by_subject:
                visit(by_subject[ref.subject])
        done[decl.subject] = decl

    for decl in decls:
        visit(decl)
    return list(done.values())


def _check_external_refs(decls: Sequence[SchemaDecl], registry: Registry) -> None:
    """The registered schemas that references outside the files name, each checked as Avro with the schema
    that uses it; an unknown subject/version or a schema Avro refuses is bad input (exit 2)."""
    wanted = sorted({(r.subject, r.version) for d in decls for r in d.references if r.version is not None})
    declared = {d.subject for d in decls}
    wanted = [(s, v) for s, v in wanted if s not in declared]
    texts: dict[tuple[str, int], str] = {}
    for (subject, version), got in zip(wanted, registry.map(lambda w: registry.version(*w), wanted), strict=True):
        if got is not None:
            texts[(subject, version)] = got.text
    errors: list[InputError] = []
    for decl in decls:
        named: dict[str, str] = {}
        for ref in decl.references:
            if ref.subject in declared or ref.version is None:
                continue
            text = texts.get((ref.subject, ref.version))
            if text is None:
                errors.append(_decl_error(decl, f"references {ref.subject} version {ref.version}, which the "
                                                f"schema registry at {registry.url} does not have"))  # fmt: skip
            else:
                named[ref.subject] = text
        if named and len(named) == len([r for r in decl.references if r.subject not in declared]):
            problem = avro_problem(decl.text, named)
            if problem:
                errors.append(_decl_error(decl, f"{decl.file}: {problem}"))
    InputErrors.raise_if_any(errors)


def _decl_error(decl: SchemaDecl, message: str) -> InputError:
    path, _, line = decl.source.ref.rpartition(":")
    if line.isdigit():
        return InputError(message, path=path, line=int(line), field=decl.field)
    return InputError(message, path=decl.source.ref, field=decl.field)


def _pretty(text: str) -> list[str]:
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False).splitlines()
    except ValueError:
        return text.splitlines()


def _diff(latest: Registered, decl: SchemaDecl) -> tuple[str, ...]:
    """The schema against the latest registered version, as a unified diff of their pretty JSON."""
    lines = difflib.unified_diff(
        _pretty(latest.text),
        _pretty(decl.text),
        f"{latest.subject} version {latest.version} (registered)",
        decl.file,
        n=2,
        lineterm="",
    )
    return tuple(lines)


# --- apply ------------------------------------------------------------------------------------------


@dataclass
class SchemaApplied:
    levels: dict[str, str] = field(default_factory=dict)  # subject -> level set
    registered: dict[str, int] = field(default_factory=dict)  # subject -> schema id

    def to_json(self) -> dict[str, Any]:
        return {"levels": self.levels, "registered": self.registered}


def apply(result: SchemaPlan, registry: Registry) -> SchemaApplied:
    """Execute a plan that is not blocked: levels, new versions, then the new subjects' levels."""
    if result.blocked:
        raise InputError(
            "incompatible schema(s), nothing registered: " + ", ".join(s.subject for s in result.blocked),
            hint="make the change compatible, or pass --allow-incompatible if every consumer can cope",
        )
    done = SchemaApplied()
    versions: dict[str, int] = {}
    for s in result.subjects:
        if s.action != "register" and s.level_change and s.level is not None and not s.forced:
            registry.set_level(s.subject, s.level.level)
            done.levels[s.subject] = s.level.level
    for s in result.subjects:
        if s.action not in ("register", "new-version"):
            if s.version is not None:
                versions[s.subject] = s.version
            continue
        refs = [*s.refs]
        for name in s.waits_for:
            ref = next(r for r in s.decl.references if r.subject == name)
            refs.append(Ref(ref.name, name, versions[name]))
        if s.action == "new-version" and not s.forced and (s.waits_for or s.level_change):
            # Checked under the old level (or not yet: a reference was new); the registry decides now.
            compatible, reasons = registry.check(s.subject, s.decl.text, refs)
            if not compatible:
                raise IncompatibleError(
                    f"{s.subject}: the schema registry says the new version is incompatible: "
                    f"{'; '.join(reasons) or 'no reason given'} (nothing registered for it; "
                    f"registered so far: {', '.join(done.registered) or 'none'})",
                    hint="make the change compatible, or pass --allow-incompatible",
                )
        if s.forced:
            registry.set_level(s.subject, "NONE")
        try:
            done.registered[s.subject] = registry.register(s.subject, s.decl.text, refs)
        finally:
            if s.forced:
                back = s.level.level if s.level is not None else s.current_level or "BACKWARD"
                try:
                    registry.set_level(s.subject, back)
                except PlatformError as e:
                    raise PlatformError(
                        f"{s.subject}: registered with the level lowered to NONE, but could not set it back "
                        f"to {back}: {e}",
                        hint=f'set it by hand: PUT {registry.url}/config/{s.subject} {{"compatibility": "{back}"}}',
                    ) from e
                done.levels[s.subject] = back
        latest = registry.latest(s.subject)
        versions[s.subject] = latest.version if latest else 1
    for s in result.subjects:
        if s.action == "register" and s.level is not None and s.level_change:
            registry.set_level(s.subject, s.level.level)
            done.levels[s.subject] = s.level.level
    return done
