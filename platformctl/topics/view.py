"""Plans and results as text live apart from computing them (topics/plan.py) because they change for other
reasons: this is what people read before they answer "Apply these changes?", so its layout is tuned for
reading, while the plan's logic is tuned for being right. The JSON form stays with the data (`to_json` on
each dataclass), so what scripts parse is the plan itself, not a view of it.

The layout is terraform's: what changes, marked `+` (create, new key), `~` (change), `-` (delete) and `!`
(impossible), each value with where it came from; then one line counting everything, the unchanged
included. A plan of 400 topics with one change is that change and the count: the unchanged topics (and
the unchanged keys of a changed topic) are shown only when asked (`show_unchanged`). On a terminal the
markers are coloured.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from platformctl.topics.execute import Applied
from platformctl.topics.layers import Value
from platformctl.topics.plan import Change, Plan, TopicPlan
from platformctl.topics.provenance import Source
from platformctl.ui import printable

_COLOURS = {"+": "32", "~": "33", "-": "31", "!": "1;31"}  # green, yellow, red, bold red (ANSI SGR)


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


@dataclass(frozen=True)
class _Row:
    marker: str  # "+", "~", "-", "!" or " " (unchanged, or on the cluster only)
    key: str
    value: str
    source: str
    reason: str | None = None


def _show(value: object) -> str:
    return "-" if value is None else str(value)


def _row(c: Change) -> _Row:
    # Keys and values may come from a file or etcd (any text with --allow-unknown-config): shown escaped,
    # a newline or a terminal escape in one cannot fake lines of the plan a person is about to confirm.
    row = _raw_row(c)
    reason = None if row.reason is None else printable(row.reason)
    return _Row(row.marker, printable(row.key), printable(row.value), printable(row.source), reason)


def _raw_row(c: Change) -> _Row:
    desired = None if c.desired is None else c.desired.value
    source = "" if c.desired is None else describe_source(c.desired)
    if c.action == "create" or (c.action == "set" and c.current is None):
        return _Row("+", c.key, _show(desired), source)
    if c.action in ("set", "add-partitions"):
        return _Row("~", c.key, f"{c.current} -> {desired}", source)
    if c.action == "delete":
        return _Row("-", c.key, f"{c.current} -> (default)", "--destructive")
    if c.action == "impossible":
        value = f"{_show(c.current)} -> {_show(desired)}" if c.current is not None else _show(desired)
        return _Row("!", c.key, value, source, c.reason)
    if c.action == "extra":
        return _Row(" ", c.key, _show(c.current), "on the cluster only: kept (--destructive removes it)")
    return _Row(" ", c.key, _show(desired), source)  # unchanged


_TOPIC_MARKERS = {"create": "+", "change": "~", "prune": "-", "impossible": "!", "unchanged": " "}


def _paint(marker: str, text: str, colour: bool) -> str:
    code = _COLOURS.get(marker)
    return f"\x1b[{code}m{text}\x1b[0m" if colour and code else text


def _topic_lines(t: TopicPlan, show_unchanged: bool, colour: bool) -> list[str]:
    marker = _TOPIC_MARKERS[t.action]
    if t.action == "prune":
        note = "delete: platformctl applied it, and it is no longer in the files (--prune)"
        return [f"{_paint(marker, marker, colour)} {t.name}  {note}"]
    head = f"{_paint(marker, marker, colour)} {t.name}"
    rows = [_row(c) for c in t.changes]
    if not show_unchanged:
        # What changes; for a blocked topic only what blocks it (none of its other changes will happen).
        wanted = "!" if t.action == "impossible" else "+~-!"
        rows = [r for r in rows if r.marker in wanted]
    if not rows:
        return [head]
    key_width = max(len(r.key) for r in rows)
    value_width = max(len(r.value) for r in rows)
    lines = [head]
    for r in rows:
        text = f"{r.key.ljust(key_width)}  {r.value.ljust(value_width)}  {r.source}".rstrip()
        lines.append(f"    {_paint(r.marker, r.marker, colour)} {text}")
        if r.reason:
            lines.append(f"        {r.reason}")
    return lines


def format_plan(
    result: Plan, *, show_unchanged: bool = False, colour: bool = False, left_the_files: Sequence[str] = ()
) -> str:
    """The plan as text: each topic that changes (every topic with `show_unchanged`), then one summary line.

    `left_the_files`: topics platformctl applied that are no longer in the files and that this plan does
    not delete (no --prune), mentioned so that a deletion is never a surprise and never silently skipped.
    """
    out: list[str] = []
    for t in result.topics:
        if t.action == "unchanged" and not show_unchanged:
            continue
        out += _topic_lines(t, show_unchanged, colour)
    counts = result.counts()
    summary = (
        f"plan: {counts['create']} to create, {counts['change']} to change, {counts['prune']} to delete, "
        f"{counts['unchanged']} unchanged"
    )
    if counts["impossible"]:
        summary += f", {counts['impossible']} impossible"
    extra = sum(1 for t in result.topics for c in t.changes if c.action == "extra")
    if extra:
        summary += (
            f" ({extra} config key(s) on the cluster not in the files, kept: --show-unchanged lists them, "
            "--destructive removes them)"
        )
    if left_the_files:
        out.append(
            f"note: {len(left_the_files)} topic(s) platformctl applied are no longer in the files and are kept: "
            f"{', '.join(left_the_files)} (--prune deletes them)"
        )
    out.append(summary)
    return "\n".join(out)


def format_applied(done: Applied) -> str:
    lines = [f"created {name}" for name in done.created]
    lines += [f"partitions of {name}: now {count}" for name, count in done.partitions.items()]
    lines += [f"config of {name}: {printable(', '.join(changes))}" for name, changes in done.configured.items()]
    lines += [f"deleted {name}" for name in done.pruned]
    changed = len(set(done.partitions) | set(done.configured))
    lines.append(f"applied: {len(done.created)} created, {changed} changed, {len(done.pruned)} deleted")
    return "\n".join(lines)
