"""The effective spec of a topic lives apart from the plan (topics/plan.py) because more than the plan reads it:
the plan diffs it against the cluster, the plan's text (topics/view.py) shows where each value came from and
what it replaced, and applied topics are recorded from it (topics/run.py). Layering (the file, then etcd
topic-defaults, etcd per-topic and `--set`, later wins) and provenance are then one short thing to read,
as is the one place a bad layer value becomes an error that points at its source: a file line, an etcd key
or the command line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from platformctl.errors import InputError
from platformctl.topics import spec as topicspec
from platformctl.topics.provenance import Layer, Source
from platformctl.topics.spec import TopicSpec

Scalar = int | str


@dataclass(frozen=True)
class Value:
    """One effective value, where it came from, and what it replaced (earliest first)."""

    value: Scalar
    source: Source
    replaced: tuple[tuple[Scalar, Source], ...] = ()
    layer: int = 0  # 0: the file; n: the n-th layer (derived values take the layer that caused them)

    def to_json(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "source": _source_json(self.source),
            "replaced": [{"value": v, "source": _source_json(s)} for v, s in self.replaced],
        }


def _source_json(source: Source) -> dict[str, Any]:
    return {"kind": source.kind, "ref": source.ref, "revision": source.revision, "note": source.note}


@dataclass(frozen=True)
class EffectiveTopic:
    """A topic as it should be on this cluster: file + layers, with provenance."""

    name: str
    values: Mapping[str, Value]  # "partitions", "replication-factor" and Kafka config names
    path: str = ""

    @property
    def partitions(self) -> int:
        return int(self.values["partitions"].value)

    @property
    def replication_factor(self) -> int:
        return int(self.values["replication-factor"].value)

    @property
    def config(self) -> dict[str, str]:
        return {k: str(v.value) for k, v in self.values.items() if k not in topicspec.TOPIC_FIELDS}


def effective(spec: TopicSpec, layers: Sequence[Layer] = ()) -> EffectiveTopic:
    """File spec, then each layer in order; see topics/plan.py's module docstring. Layer values must be validated."""
    values: dict[str, Value] = {}
    for key, raw in spec.values().items():
        source = spec.sources.get(key, Source("file", spec.path))
        values[key] = Value(raw, source)
    for index, layer in enumerate(layers, start=1):
        for key, raw in layer.values.items():
            old = values.get(key)
            replaced = (*old.replaced, (old.value, old.source)) if old is not None else ()
            values[key] = Value(raw, layer.source, replaced, index)
    rf, misr = values["replication-factor"], values.get("min.insync.replicas")
    if misr is not None and _int(misr.value) > _int(rf.value) and rf.layer > misr.layer:
        note = (
            f"lowered to replication-factor {rf.value} set by {rf.source.ref}: "
            f"min.insync.replicas {misr.value} would reject every acks=all write"
        )
        values["min.insync.replicas"] = Value(
            str(rf.value),
            Source("derived", "min.insync.replicas", note=note),
            (*misr.replaced, (misr.value, misr.source)),
            rf.layer,
        )
    return EffectiveTopic(spec.name, values, spec.path)


def _int(value: Scalar) -> int:
    try:
        return int(value)
    except ValueError:
        return 0


def check_layers(
    specs: Sequence[TopicSpec], layers: Mapping[str, Sequence[Layer]], allow_unknown_config: bool
) -> list[InputError]:
    """Every bad layer value, and every `--set` for a topic the files do not declare (returned, not raised)."""
    errors: list[InputError] = []
    names = {s.name for s in specs}
    for topic, topic_layers in layers.items():
        for layer in topic_layers:
            if topic not in names:
                if layer.source.kind == "cli":
                    errors.append(
                        InputError(
                            f"no topic {topic!r} in the files", path="command line", field=layer.source.ref
                        )
                    )
                continue  # etcd may hold overrides for topics these files do not declare
            for key, raw in layer.values.items():
                try:
                    topicspec.validate_value(key, raw, allow_unknown_config=allow_unknown_config)
                except ValueError as e:
                    errors.append(layer_error(layer.source, f"{topic}.{key}", str(e)))
    return errors


def layer_error(source: Source, field: str, message: str) -> InputError:
    """An error that points at where a value came from: the command line, a file line, or an etcd key."""
    if source.kind == "cli":
        return InputError(message, path="command line", field=f"{source.ref} {field}")
    if source.kind == "file":
        path, _, line = source.ref.rpartition(":")
        if line.isdigit():
            return InputError(message, path=path, line=int(line), field=field)
        return InputError(message, path=source.ref, field=field)
    return InputError(message, path=str(source), field=field)
