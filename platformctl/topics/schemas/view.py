"""The schema plan and its result as text, apart from computing them (topics/schemas/plan.py) for the reason
topics/view.py gives: this is what people read before they answer "Apply these changes?"."""

from __future__ import annotations

from platformctl.topics.provenance import Source
from platformctl.topics.schemas.plan import SchemaApplied, SchemaPlan, SubjectPlan


def _source(source: Source) -> str:
    if source.kind == "etcd":
        return f"etcd {source.ref}" + (f"@{source.revision}" if source.revision is not None else "")
    return source.ref


def _headline(s: SubjectPlan) -> str:
    what = f"{s.subject} ({s.decl.role} of {s.decl.topic}, {s.decl.file})"
    if s.action == "register":
        return f"{what}: register (new subject)"
    if s.action == "unchanged":
        latest = "" if s.version == s.latest else f"; the latest is version {s.latest}"
        return f"{what}: unchanged (the registry has it as version {s.version}{latest})"
    under = s.level.level if s.level is not None and not s.level_change else s.current_level
    if s.action == "incompatible":
        return f"{what}: INCOMPATIBLE with version {s.latest} (the registry's verdict, level {under})"
    if s.waits_for:
        return f"{what}: new version (checked when applied, after {', '.join(s.waits_for)})"
    verdict = "compatible" if s.compatible else "INCOMPATIBLE, registered anyway (--allow-incompatible)"
    if s.level_change and s.level is not None and s.level.level == "NONE":
        return f"{what}: new version after {s.latest} (level NONE from now: nothing is checked)"
    return f"{what}: new version after {s.latest}, {verdict} (the registry's verdict, level {under})"


def format_plan(result: SchemaPlan, *, show_unchanged: bool = False) -> str:
    """Each subject to register, version or re-level; unchanged ones only counted (like the topics'
    plan), unless `show_unchanged`."""
    out = [f"schemas (registry {result.registry}):"]
    for s in result.subjects:
        if s.action == "unchanged" and not s.level_change and not show_unchanged:
            continue
        out.append(f"  {_headline(s)}")
        if s.level is not None:
            replaced = "".join(f" (replaces {v} from {_source(src)})" for v, src in s.level.replaced)
            if s.level_change:
                now = s.current_level if s.own_level else f"{s.current_level} (global)"
                out.append(f"    compatibility: {now} -> {s.level.level}  {_source(s.level.source)}{replaced}")
            else:
                out.append(f"    compatibility: {s.level.level} (unchanged)  {_source(s.level.source)}{replaced}")
        if s.forced:
            back = s.level.level if s.level is not None else s.current_level
            out.append(f"    ~ the level is lowered to NONE for this registration only, then set to {back}")
        for reason in s.reasons:
            if not s.compatible:
                out.append(f"    ! {reason}")
        out.extend(f"    {line}" for line in s.diff)
    counts = result.counts()
    out.append(
        f"schemas: {counts['register']} to register, {counts['new-version']} new version(s), "
        f"{counts['unchanged']} unchanged, {counts['level-change']} level change(s), "
        f"{counts['incompatible']} incompatible"
    )
    return "\n".join(out)


def format_applied(done: SchemaApplied) -> str:
    lines = [f"registered {subject} (schema id {sid})" for subject, sid in done.registered.items()]
    lines += [f"compatibility of {subject}: {level}" for subject, level in done.levels.items()]
    lines.append(f"schemas applied: {len(done.registered)} registered, {len(done.levels)} level(s) set")
    return "\n".join(lines)
