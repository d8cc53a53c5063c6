"""Plans and results as text live apart from computing them (topics.py) because they change for other
reasons: this is what people read before they answer "Apply these changes?", so its layout is tuned for
reading, while the plan's logic is tuned for being right. The JSON form stays with the data (`to_json` on
each dataclass), so what scripts parse is the plan itself, not a view of it.
"""

from __future__ import annotations

from platformctl.topiclayers import Value
from platformctl.topics import Applied, Plan
from platformctl.topicspec import Source


def describe_source(value: Value) -> str:
    """`file.conf:7`, `etcd /platformctl/envs/dev/topic-defaults@12`, `--set`, `derived: why`."""
    text = _source_text(value.source)
    if value.replaced:
        earlier = ", ".join(f"{v} from {_source_text(s)}" for v, s in value.replaced)
        text += f" (replaces {earlier})"
    return text


def _source_text(source: Source) -> str:
    if source.kind == "etcd":
        return f"etcd {source.ref}" + (f"@{source.revision}" if source.revision is not None else "")
    if source.kind == "derived":
        return f"derived: {source.note or source.ref}"
    return source.ref


def format_plan(result: Plan) -> str:
    """The plan as a table per topic, then a one-line summary."""
    out: list[str] = []
    for t in result.topics:
        if t.action == "prune":
            out.append(f"{t.name}: delete (--prune: managed by platformctl, no longer in the files)")
            out.append("")
            continue
        out.append(f"{t.name}: {t.action}")
        rows = [("KEY", "ACTION", "CURRENT", "DESIRED", "SOURCE")]
        for c in t.changes:
            rows.append(
                (
                    c.key,
                    c.action,
                    "-" if c.current is None else str(c.current),
                    "-" if c.desired is None else str(c.desired.value),
                    "" if c.desired is None else describe_source(c.desired),
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        for row in rows:
            cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:4])]
            out.append(("  " + "  ".join(cells) + "  " + row[4]).rstrip())
        for c in t.changes:
            if c.reason:
                marker = "!" if c.action == "impossible" else "~"
                out.append(f"  {marker} {c.key}: {c.reason}")
        out.append("")
    counts = result.counts()
    summary = (
        f"plan: {counts['create']} to create, {counts['change']} to change, "
        f"{counts['unchanged']} unchanged, {counts['impossible']} impossible"
    )
    if counts["prune"]:
        summary += f", {counts['prune']} to delete"
    extra = sum(1 for t in result.topics for c in t.changes if c.action == "extra")
    if extra:
        summary += (
            f" ({extra} config key(s) on the cluster not in the files, kept; --destructive removes them)"
        )
    out.append(summary)
    return "\n".join(out)


def format_applied(done: Applied) -> str:
    lines = [f"created {name}" for name in done.created]
    lines += [f"partitions of {name}: now {count}" for name, count in done.partitions.items()]
    lines += [f"config of {name}: {', '.join(changes)}" for name, changes in done.configured.items()]
    lines += [f"deleted {name}" for name in done.pruned]
    changed = len(set(done.partitions) | set(done.configured))
    lines.append(f"applied: {len(done.created)} created, {changed} changed, {len(done.pruned)} deleted")
    return "\n".join(lines)
