"""Where each value of an effective topic came from: a `Source` (a file and line, an etcd key and revision,
`--set`, or a value derived from another), and a `Layer` of values from one source.

Every plan shows the source next to each value, and topic specs, schema declarations, overrides and
`--set` all carry them. They live apart from the spec (spec.py) so that everything that says where a value
came from, the schema declarations (schemas/spec.py) included, can depend on them without depending on
the spec, which itself holds those schema declarations.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Source:
    """Where one value came from, shown next to it in every plan."""

    kind: Literal["file", "etcd", "cli", "derived"]
    ref: str  # "twitter-topic.conf:7", "/platformctl/envs/dev/topic-defaults", "--set", ...
    revision: int | None = None  # etcd mod_revision for kind == "etcd"
    note: str | None = None  # why, for kind == "derived"

    def __str__(self) -> str:
        text = self.ref
        if self.revision is not None:
            text = f"{text}@{self.revision}"
        if self.note:
            text = f"{text} ({self.note})"
        return text


@dataclass(frozen=True)
class Layer:
    """Values from one source, applied over a topic's file spec; later layers win."""

    source: Source
    values: Mapping[str, int | str]  # flat keys: "partitions", "replication-factor", or Kafka config names
