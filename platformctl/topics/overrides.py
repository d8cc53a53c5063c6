"""Environment overrides: each environment's deviations from the topic files, kept in etcd.

The topic file is production's truth; a one-broker dev cluster cannot honour replication factor 3, and
editing the file for dev is how production settings drift. So each environment keeps its deviations in
the platform's etcd (DESIGN.md section 6), as JSON in the same shape as a topic file's body:

    /platformctl/envs/<env>/topic-defaults   {"replication-factor": 1, "config": {"min.insync.replicas": "1"}}
    /platformctl/envs/<env>/topics/<topic>   same shape; wins over topic-defaults

Every value is validated by `topicspec.validate_value`, exactly as a topic file's value is (same rules,
same messages), and stored normalized (fields as integers, configs as the strings Kafka stores). Every
write is compare-and-swap on the revision that was read, so a concurrent writer is an error, never a
silent overwrite. `layers_for` turns the stored overrides into the `Layer`s that `topics plan/apply`
puts on top of the files, each naming its etcd key and revision.

No Typer here: `commands/overrides.py` parses, this module decides, `adapters/etcd.py` talks to etcd.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from platformctl import sourcemap
from platformctl.adapters import etcd
from platformctl.adapters.etcd import EtcdStore
from platformctl.errors import InputError, InputErrors
from platformctl.topics import spec as topicspec
from platformctl.topics.provenance import Layer, Source
from platformctl.topics.spec import TOPIC_FIELDS

Values = dict[str, int | str]

# What a one-broker cluster needs: `up` and `overrides seed` write these when the environment has no
# topic-defaults yet, and never over a value a user set.
SEED_TOPIC_DEFAULTS: Values = {"replication-factor": 1, "min.insync.replicas": "1"}


def seed_values(brokers: int) -> Values | None:
    """The topic-defaults a platform of `brokers` needs: None once it has production's replication.

    Production's topics ask for replication 3 (min ISR 2); with fewer brokers every such topic needs the
    replication lowered to the broker count (and min ISR to 1, so one broker down still takes writes). With
    three or more, the topic files apply exactly as written, so nothing is seeded.
    """
    from platformctl.settings import PRODUCTION_REPLICATION

    if brokers >= PRODUCTION_REPLICATION:
        return None
    if brokers == 1:
        return dict(SEED_TOPIC_DEFAULTS)
    return {"replication-factor": brokers, "min.insync.replicas": "1"}

COMMAND_LINE = "command line"


@dataclass(frozen=True)
class Target:
    """What one etcd key overrides: every topic of the environment (`topic-defaults`) or one topic."""

    topic: str | None = None  # None: topic-defaults

    @classmethod
    def parse(cls, topic: str | None, *, defaults: bool) -> Target:
        if defaults and topic is not None:
            raise InputError(
                "give a topic or --defaults, not both",
                path=COMMAND_LINE,
                field="TOPIC",
                hint=f"got {topic!r}",
            )
        if defaults:
            return cls(None)
        if topic is None:
            raise InputError("name a topic, or --defaults for every topic", path=COMMAND_LINE, field="TOPIC")
        if "=" in topic:
            raise InputError(
                f"expected a topic name, got {topic!r}",
                path=COMMAND_LINE,
                field="TOPIC",
                hint="name the topic first (`overrides set TOPIC KEY=VALUE`), or use --defaults",
            )
        problem = topicspec.topic_name_problem(topic)
        if problem is not None:
            raise InputError(problem, path=COMMAND_LINE, field="TOPIC")
        return cls(topic)

    def key(self, env: str) -> str:
        return etcd.topic_defaults_key(env) if self.topic is None else etcd.topic_key(env, self.topic)

    def label(self) -> str:
        return "topic-defaults" if self.topic is None else self.topic


@dataclass(frozen=True)
class Stored:
    """One override entry as read from etcd."""

    target: Target
    key: str
    revision: int
    values: Values

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target.label(),
            "topic": self.target.topic,
            "key": self.key,
            "revision": self.revision,
            "values": to_document(self.values),
        }


@dataclass(frozen=True)
class Change:
    """What a write did to one entry (before/after are flat values; empty `after` = the key is gone)."""

    target: Target
    key: str
    before: Values
    after: Values
    revision: int = 0  # store revision after the write; 0 when nothing was written

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def lines(self) -> list[str]:
        """`KEY: OLD -> NEW` for every key that differs, in key order."""
        out: list[str] = []
        for name in _ordered(set(self.before) | set(self.after)):
            old, new = self.before.get(name), self.after.get(name)
            if old == new:
                continue
            if old is None:
                out.append(f"+ {name} = {new}")
            elif new is None:
                out.append(f"- {name} (was {old})")
            else:
                out.append(f"~ {name}: {old} -> {new}")
        return out


# --- values and the stored shape -----------------------------------------------------------------


def _ordered(keys: Iterable[str]) -> list[str]:
    """Topic fields first (in their usual order), then config names alphabetically."""
    present = set(keys)
    return [k for k in TOPIC_FIELDS if k in present] + sorted(present - set(TOPIC_FIELDS))


def to_document(values: Mapping[str, int | str]) -> dict[str, Any]:
    """Flat values -> the stored JSON shape: topic fields at the top, Kafka configs under `config`."""
    doc: dict[str, Any] = {k: values[k] for k in TOPIC_FIELDS if k in values}
    config = {k: values[k] for k in sorted(values) if k not in TOPIC_FIELDS}
    if config:
        doc["config"] = config
    return doc


def from_document(
    doc: object,
    *,
    path: str,
    lines: sourcemap.LineMap | None = None,
    at: sourcemap.PathKey = (),
    allow_unknown_config: bool = False,
) -> tuple[Values, list[InputError]]:
    """The stored (or imported) JSON shape -> validated flat values, and every problem found."""

    def error(message: str, rel: sourcemap.PathKey) -> InputError:
        full = (*at, *rel)
        return InputError(
            message,
            path=path,
            line=lines.line(full) if lines is not None else None,
            field=".".join(str(p) for p in full) or None,
        )

    values: Values = {}
    errors: list[InputError] = []
    if doc is None:
        return values, errors
    if not isinstance(doc, dict):
        return values, [error(f"must be a mapping of topic fields and config (got {type(doc).__name__})", ())]
    for name, raw in doc.items():
        if name == "config":
            if raw is None:
                continue
            if not isinstance(raw, dict):
                errors.append(
                    error(f"must be a mapping of Kafka topic configs (got {type(raw).__name__})", ("config",))
                )
                continue
            for config_name, config_raw in raw.items():
                config_key = str(config_name)
                if config_key in TOPIC_FIELDS:
                    errors.append(
                        error(
                            "is a topic field, not a Kafka config: put it next to config",
                            ("config", config_key),
                        )
                    )
                    continue
                try:
                    values[config_key] = topicspec.validate_value(
                        config_key, config_raw, allow_unknown_config=allow_unknown_config
                    )
                except ValueError as e:
                    errors.append(error(str(e), ("config", config_key)))
        elif name in TOPIC_FIELDS:
            try:
                values[name] = topicspec.validate_value(name, raw)
            except ValueError as e:
                errors.append(error(str(e), (name,)))
        else:
            hint = "Kafka configs go under config" if topicspec.known_config(str(name)) else None
            message = f"unknown key (expected {', '.join(TOPIC_FIELDS)} or config)"
            if hint:
                message = f"{message}; {hint}"
            errors.append(error(message, (str(name),)))
    return {k: values[k] for k in _ordered(values)}, errors


def parse_assignments(args: Sequence[str], *, allow_unknown_config: bool = False) -> Values:
    """`KEY=VALUE` arguments -> validated values. VALUE is read as a YAML scalar (`3` is an integer,
    `true` a boolean, `compact,delete` a string) and then validated like the same key in a topic file."""
    values: Values = {}
    errors: list[InputError] = []
    if not args:
        raise InputError("give at least one KEY=VALUE", path=COMMAND_LINE, field="KEY=VALUE")
    for arg in args:
        name, sep, text = arg.partition("=")
        name = name.strip()
        if not sep or not name:
            errors.append(
                InputError(f"expected KEY=VALUE, got {arg!r}", path=COMMAND_LINE, field="KEY=VALUE")
            )
            continue
        if name in values:
            errors.append(InputError("given twice", path=COMMAND_LINE, field=name))
            continue
        raw = _scalar(text)
        try:
            values[name] = topicspec.validate_value(name, raw, allow_unknown_config=allow_unknown_config)
        except ValueError as e:
            errors.append(InputError(str(e), path=COMMAND_LINE, field=name))
    InputErrors.raise_if_any(errors)
    return values


def _scalar(text: str) -> object:
    return sourcemap.scalar(text)  # not YAML (or beyond its bounds): validation judges the plain string


def parse_keys(names: Sequence[str], *, allow_unknown_config: bool = False) -> list[str]:
    """Key names for `get`/`unset`: each must be a topic field or a known Kafka topic config."""
    errors: list[InputError] = []
    for name in names:
        if "=" in name:
            errors.append(InputError("expected a key name, not KEY=VALUE", path=COMMAND_LINE, field=name))
        elif name not in TOPIC_FIELDS and topicspec.known_config(name) is None and not allow_unknown_config:
            errors.append(InputError(topicspec.unknown_config_message(name), path=COMMAND_LINE, field=name))
    InputErrors.raise_if_any(errors)
    return list(dict.fromkeys(names))


# --- reading -------------------------------------------------------------------------------------


def _stored(entry: etcd.Entry, target: Target, *, allow_unknown_config: bool = False) -> Stored:
    """Validate what etcd holds: a value edited by hand (etcdctl) gets the same checks as a file."""
    values, errors = from_document(entry.value, path=entry.key, allow_unknown_config=allow_unknown_config)
    InputErrors.raise_if_any(errors)
    return Stored(target=target, key=entry.key, revision=entry.mod_revision, values=values)


def read(store: EtcdStore, env: str, target: Target, *, allow_unknown_config: bool = True) -> Stored | None:
    entry = store.get(target.key(env))
    return None if entry is None else _stored(entry, target, allow_unknown_config=allow_unknown_config)


def list_all(store: EtcdStore, env: str, *, allow_unknown_config: bool = True) -> list[Stored]:
    """topic-defaults first (when set), then each topic's entry by name. Two range reads."""
    found: list[Stored] = []
    defaults = store.get(etcd.topic_defaults_key(env))
    if defaults is not None:
        found.append(_stored(defaults, Target(None), allow_unknown_config=allow_unknown_config))
    prefix = etcd.topics_prefix(env)
    for entry in store.list(prefix):
        found.append(
            _stored(entry, Target(entry.key[len(prefix) :]), allow_unknown_config=allow_unknown_config)
        )
    return found


def layers_for(
    store: EtcdStore,
    env: str,
    topic_names: Iterable[str],
    *,
    allow_unknown_config: bool = False,
    seen: dict[str, int] | None = None,
) -> dict[str, list[Layer]]:
    """The etcd layers of each topic, in precedence order: topic-defaults, then topics/<topic>.

    Every topic named gets an entry (an empty list when the environment overrides nothing for it), so
    callers can tell "read etcd, nothing there" from "did not read etcd". Raises `PlatformError` if etcd
    cannot be reached and `InputError` if a stored value is invalid: never falls back to the files.
    `seen` (when given) receives the revision of every key read, for a later check that none moved.
    """
    names = list(dict.fromkeys(topic_names))
    stored_all = list_all(store, env, allow_unknown_config=allow_unknown_config)
    if seen is not None:
        seen.update({s.key: s.revision for s in stored_all})
    by_topic = {s.target.topic: s for s in stored_all}
    defaults = by_topic.pop(None, None)
    layers: dict[str, list[Layer]] = {}
    for name in names:
        stack: list[Layer] = []
        for stored in (defaults, by_topic.get(name)):
            if stored is not None and stored.values:
                source = Source(kind="etcd", ref=stored.key, revision=stored.revision)
                stack.append(Layer(source=source, values=dict(stored.values)))
        layers[name] = stack
    return layers


# --- writing -------------------------------------------------------------------------------------


def _write(store: EtcdStore, target: Target, key: str, current: Stored | None, after: Values) -> Change:
    before = dict(current.values) if current is not None else {}
    change = Change(target=target, key=key, before=before, after=after)
    if not change.changed:
        return change  # nothing to do: send nothing
    expect = current.revision if current is not None else 0
    value = to_document(after) if after else None
    revision = store.write([etcd.Write(key, value, expect)])
    return Change(target=target, key=key, before=before, after=after, revision=revision)


def set_values(store: EtcdStore, env: str, target: Target, values: Mapping[str, int | str]) -> Change:
    """Merge `values` into the entry, written only if nobody else wrote it since it was read, and only if
    the environment's layers stay coherent (`check_coherent`)."""
    current = read(store, env, target)
    after = dict(current.values) if current is not None else {}
    after.update(values)
    if after != (current.values if current is not None else {}):
        entries = {s.target: dict(s.values) for s in list_all(store, env)}
        entries[target] = after
        check_coherent(env, entries, changed={target})
    return _write(store, target, target.key(env), current, after)


def check_coherent(env: str, entries: Mapping[Target, Values], *, changed: Iterable[Target]) -> None:
    """Refuse (exit 2, nothing written) overrides that contradict each other once layered: topic-defaults
    alone, and each topic's entry over them, as a plan would stack them (min.insync.replicas above the
    replication factor, compaction settings with a cleanup.policy that does not compact, a minimum lag
    above the maximum). Only what the layers themselves state is judged: a key they leave to the topic
    files (a compacted topic's cleanup.policy) is not assumed.

    `changed` are the entries being written; a problem must involve one of them (an incoherence already
    in etcd is the plan's to report, not a reason to refuse an unrelated write).
    """
    changed = set(changed)
    defaults = dict(entries.get(Target(None), {}))
    stacks = [(Target(None), defaults, {k: Target(None) for k in defaults})]
    for target, values in sorted(entries.items(), key=lambda item: item[0].topic or ""):
        if target.topic is None:
            continue
        merged = {**defaults, **values}
        origin = {k: (target if k in values else Target(None)) for k in merged}
        stacks.append((target, merged, origin))
    errors: list[InputError] = []
    for target, merged, origin in stacks:
        # Without a cleanup.policy of their own, the layers leave it to the files: judged as if compacted.
        judged = merged if "cleanup.policy" in merged else {**merged, "cleanup.policy": "compact"}
        for field_, message in topicspec.coherence_problems(judged):
            keys = [field_, *(k for k in merged if k != field_ and k in message)]  # what the problem is about
            if not {origin[k] for k in keys} & changed:
                continue
            where = ", ".join(f"{k} {merged[k]} from {origin[k].label()}" for k in keys)
            errors.append(
                InputError(
                    f"{message} (once layered for {target.label()}: {where})",
                    path=COMMAND_LINE,
                    field=f"{target.label()}.{field_}",
                    hint=f"the environment {env!r} would make every plan of these topics fail; change or unset "
                    "one of the values",
                )
            )
    InputErrors.raise_if_any(errors)



Confirm = Callable[[Sequence["Change"]], None]


def unset(
    store: EtcdStore, env: str, target: Target, names: Sequence[str], *, confirm: Confirm | None = None
) -> Change:
    """Remove `names` from the entry (every key when `names` is empty); an emptied entry is deleted.

    `confirm` sees the change first when it removes the whole entry, and raises to stop it.
    """
    current = read(store, env, target)
    before = dict(current.values) if current is not None else {}
    after = {} if not names else {k: v for k, v in before.items() if k not in names}
    if confirm is not None and before and not names:
        confirm([Change(target=target, key=target.key(env), before=before, after=after)])
    return _write(store, target, target.key(env), current, after)


def seed(store: EtcdStore, env: str, values: Values = SEED_TOPIC_DEFAULTS) -> bool:
    """Write the topic-defaults (by default the one-broker ones) if the environment has none. True if written.

    Put-if-absent in one request: a value a user set (even one that differs) is never overwritten.
    """
    return store.create(etcd.topic_defaults_key(env), to_document(values))
