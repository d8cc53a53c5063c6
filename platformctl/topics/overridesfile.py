"""Overrides as a file: `overrides export` writes an environment's overrides as YAML, `overrides import`
reads such a file back (into the same or another environment).

Kept apart from overrides.py, which owns what an override may say and how it is stored: this module owns
the file's shape and its transfer. An import file is validated as a whole before anything is written
(every problem reported at once, with file, line and key), and an import is one etcd transaction (all or
nothing) when it fits in one; with `replace`, the entries the file does not list are deleted too, after
`confirm` saw them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from platformctl import sourcemap
from platformctl.adapters import etcd
from platformctl.adapters.etcd import EtcdStore
from platformctl.errors import InputError, InputErrors
from platformctl.topics import spec as topicspec
from platformctl.topics.overrides import (
    Change,
    Confirm,
    Stored,
    Target,
    Values,
    check_coherent,
    from_document,
    list_all,
    to_document,
)


def export(stored: Sequence[Stored]) -> dict[str, Any]:
    """The environment's overrides in the file format `import` reads."""
    doc: dict[str, Any] = {}
    topics: dict[str, Any] = {}
    for entry in stored:
        if entry.target.topic is None:
            doc["topic-defaults"] = to_document(entry.values)
        else:
            topics[entry.target.topic] = to_document(entry.values)
    if topics:
        doc["topics"] = topics
    return doc


def dump_yaml(doc: Mapping[str, Any], env: str) -> str:
    header = (
        f"# platformctl overrides of environment {env!r} (`platformctl overrides import FILE` reads this)\n"
    )
    body = yaml.safe_dump(dict(doc), sort_keys=False, default_flow_style=False) if doc else "{}\n"
    return header + body


@dataclass
class ImportDoc:
    """A validated import file: the entries it sets (an empty mapping deletes that entry)."""

    path: str
    entries: dict[Target, Values] = field(default_factory=dict)


def load_import(path: Path, *, allow_unknown_config: bool = False) -> ImportDoc:
    """Read and fully validate an export file (YAML or JSON); every problem is reported at once."""
    data, lines = sourcemap.load(path)
    where = str(path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(
            "must be a mapping with topic-defaults and/or topics (the format `overrides export` writes)",
            path=where,
            line=lines.line(()),
        )
    result = ImportDoc(path=where)
    errors: list[InputError] = []
    for name in data:
        if name not in ("topic-defaults", "topics"):
            errors.append(
                InputError(
                    "unknown key (expected topic-defaults or topics)",
                    path=where,
                    line=lines.line((name,)),
                    field=str(name),
                )
            )
    if "topic-defaults" in data:
        values, problems = from_document(
            data["topic-defaults"],
            path=where,
            lines=lines,
            at=("topic-defaults",),
            allow_unknown_config=allow_unknown_config,
        )
        errors.extend(problems)
        result.entries[Target(None)] = values
    topics = data.get("topics") or {}
    if not isinstance(topics, dict):
        errors.append(
            InputError(
                "must be a mapping of topic name to overrides",
                path=where,
                line=lines.line(("topics",)),
                field="topics",
            )
        )
        topics = {}
    for topic, body in topics.items():
        problem = topicspec.topic_name_problem(topic)
        if problem is not None:
            errors.append(
                InputError(problem, path=where, line=lines.line(("topics", topic)), field=f"topics.{topic}")
            )
            continue
        values, problems = from_document(
            body, path=where, lines=lines, at=("topics", topic), allow_unknown_config=allow_unknown_config
        )
        errors.extend(problems)
        result.entries[Target(topic)] = values
    InputErrors.raise_if_any(errors)
    return result


def import_(
    store: EtcdStore, env: str, doc: ImportDoc, *, replace: bool = False, confirm: Confirm | None = None
) -> list[Change]:
    """Make each entry of `doc` exactly what the file says, in one transaction (all or nothing) when it
    has at most `etcd.MAX_TXN_OPS` changed entries.

    With `replace`, entries the file does not mention are deleted too, so the environment ends up
    exactly as exported; `confirm` sees those deletions before anything is written, and raises to stop
    the import. Unchanged entries are not written; a concurrent writer fails the whole import.
    """
    current = {s.target: s for s in list_all(store, env)}
    desired: dict[Target, Values] = dict(doc.entries)
    if replace:
        for target in current:
            desired.setdefault(target, {})
    changes: list[Change] = []
    writes: list[etcd.Write] = []
    for target in sorted(desired, key=lambda t: (t.topic is not None, t.topic or "")):
        stored = current.get(target)
        before = dict(stored.values) if stored is not None else {}
        after = desired[target]
        if before == after:
            continue
        key = target.key(env)
        writes.append(
            etcd.Write(key, to_document(after) if after else None, stored.revision if stored else 0)
        )
        changes.append(Change(target=target, key=key, before=before, after=after))
    final = {t: dict(s.values) for t, s in current.items()}
    for target, values in desired.items():
        if values:
            final[target] = dict(values)
        else:
            final.pop(target, None)
    check_coherent(env, final, changed={c.target for c in changes if c.after})
    dropped = [c for c in changes if c.target not in doc.entries]
    if confirm is not None and dropped:
        confirm(dropped)
    # One transaction when etcd allows it (up to MAX_TXN_OPS entries): all or nothing. A larger import
    # goes in chunks, each all-or-nothing; a conflict says how far it got, and a re-run finishes it
    # (entries already as the file says are skipped).
    done: list[Change] = []
    size = etcd.MAX_TXN_OPS
    for start in range(0, len(writes), size):
        try:
            revision = store.write(writes[start : start + size])
        except etcd.ConflictError as e:
            if not done:
                raise
            raise etcd.ConflictError(
                f"{e.message.replace('; nothing was written', '')}; the first {len(done)} of {len(writes)} "
                f"entries were written (etcd takes at most {size} per transaction), the rest were not",
                hint="run the import again: entries that already match the file are skipped",
            ) from e
        done += [Change(c.target, c.key, c.before, c.after, revision) for c in changes[start : start + size]]
    return done
