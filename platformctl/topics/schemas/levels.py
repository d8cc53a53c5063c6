"""Each environment's compatibility levels for subjects, kept in etcd next to the topic overrides.

A scratch environment may want NONE where production wants BACKWARD; the topic files keep production's
level (`compatibility` in a `value-schema`), and the deviation lives in the platform's etcd, shown with
its key and revision in every plan:

    /platformctl/envs/<env>/schema-defaults        {"compatibility": "NONE"}    every declared subject
    /platformctl/envs/<env>/subjects/<subject>     {"compatibility": "FULL"}    one subject; wins

Precedence: the file's `compatibility` < schema-defaults < subjects/<subject>. Values are validated on
write and again on read (a value edited by hand gets the same check), and every write is a
compare-and-swap on the revision read, like the topic overrides (topics/overrides.py). The etcd client is
imported only by the functions that talk to etcd, so a run that never reads etcd does not load it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from platformctl.errors import InputError, InputErrors
from platformctl.topics.provenance import Source
from platformctl.topics.schemas.spec import level_problem, subject_problem

if TYPE_CHECKING:
    from platformctl.adapters import etcd
    from platformctl.adapters.etcd import EtcdStore

# etcd.ROOT, without importing the etcd client.
ROOT = "/platformctl/envs"


def schema_defaults_key(env: str) -> str:
    return f"{ROOT}/{env}/schema-defaults"


def subjects_prefix(env: str) -> str:
    return f"{ROOT}/{env}/subjects/"


def subject_key(env: str, subject: str | None) -> str:
    """The key of one subject's level, or of the schema-defaults (`subject` None)."""
    return schema_defaults_key(env) if subject is None else f"{subjects_prefix(env)}{subject}"


def parse_level(raw: object, *, path: str, field: str = "compatibility") -> str:
    problem = level_problem(raw)
    if problem:
        raise InputError(problem, path=path, field=field)
    return str(raw).strip().upper()


def parse_subject(raw: str) -> str:
    problem = subject_problem(raw)
    if problem:
        raise InputError(problem, path="command line", field="SUBJECT")
    return raw


def parse_document(value: Any, key: str) -> str:
    """A stored level (`{"compatibility": LEVEL}`), or InputError naming the etcd key."""
    if not isinstance(value, dict) or set(value) != {"compatibility"}:
        raise InputError('must be {"compatibility": LEVEL}', path=key, field="compatibility")
    return parse_level(value["compatibility"], path=key)


@dataclass(frozen=True)
class StoredLevel:
    subject: str | None  # None: schema-defaults
    key: str
    level: str
    revision: int

    def to_json(self) -> dict[str, Any]:
        target = "schema-defaults" if self.subject is None else self.subject
        return {
            "target": target,
            "subject": self.subject,
            "key": self.key,
            "level": self.level,
            "revision": self.revision,
        }


def list_levels(store: EtcdStore, env: str) -> list[StoredLevel]:
    """schema-defaults first (when set), then each subject by name. Two range reads; every bad value at once."""
    errors: list[InputError] = []
    found: list[StoredLevel] = []
    entries: list[tuple[str | None, etcd.Entry | None]] = [(None, store.get(schema_defaults_key(env)))]
    prefix = subjects_prefix(env)
    entries += [(e.key[len(prefix) :], e) for e in store.list(prefix)]
    for subject, entry in entries:
        if entry is None:
            continue
        try:
            found.append(StoredLevel(subject, entry.key, parse_document(entry.value, entry.key), entry.mod_revision))
        except InputError as e:
            errors.append(e)
    InputErrors.raise_if_any(errors)
    return found


def levels_for(store: EtcdStore, env: str, subjects: Iterable[str]) -> dict[str, list[tuple[str, Source]]]:
    """Each subject's environment layers, in precedence order: schema-defaults, then its own entry."""
    stored = list_levels(store, env)
    by_subject = {s.subject: s for s in stored}
    defaults = by_subject.pop(None, None)
    layers: dict[str, list[tuple[str, Source]]] = {}
    for subject in subjects:
        layers[subject] = [
            (s.level, Source("etcd", s.key, revision=s.revision))
            for s in (defaults, by_subject.get(subject))
            if s is not None
        ]
    return layers


def set_level(store: EtcdStore, env: str, subject: str | None, level: str) -> tuple[str | None, int]:
    """Write the level (compare-and-swap on what was read); returns (the level before, revision or 0 when
    nothing had to be written)."""
    from platformctl.adapters import etcd

    key = subject_key(env, subject)
    entry = store.get(key)
    before = parse_document(entry.value, key) if entry is not None else None
    if before == level:
        return before, 0
    return before, store.write([etcd.Write(key, {"compatibility": level}, entry.mod_revision if entry else 0)])


def unset_level(store: EtcdStore, env: str, subject: str | None) -> tuple[str | None, int]:
    """Delete the entry; returns (the level it had, revision or 0 when there was none)."""
    from platformctl.adapters import etcd

    key = subject_key(env, subject)
    entry: etcd.Entry | None = store.get(key)
    if entry is None:
        return None, 0
    before = entry.value.get("compatibility") if isinstance(entry.value, dict) else None
    return (str(before) if before is not None else None), store.write([etcd.Write(key, None, entry.mod_revision)])
