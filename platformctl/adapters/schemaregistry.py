"""The Schema Registry adapter: the only module that imports confluent_kafka's schema_registry client.

platformctl speaks Confluent's REST API (what the platform's `confluentinc/cp-schema-registry` serves, and
Apicurio's `/apis/ccompat/v7`). The client's public methods cover registering, looking up and levels; two
answers it does not expose go through the same client's REST session (`_rest_client`, the one place):
the compatibility check's reasons (`verbose=true`: Confluent answers `messages`, Apicurio `reason`) and
whether a subject has a level of its own (the client's `get_compatibility` hides the 404 that says not).

The API has no batch calls, so reads for many subjects go out concurrently (`map`), a few at a time.
Every client error becomes a `PlatformError` naming the registry here: unreachable or 5xx is a fault
(exit 1); a schema the registry refuses (422) is bad input (exit 2); an incompatible registration (409)
is `IncompatibleError`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

from confluent_kafka.schema_registry import Schema, SchemaReference, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from platformctl import hints
from platformctl.errors import InputError, PlatformError

T = TypeVar("T")
R = TypeVar("R")

# Confluent's error codes (io.confluent.kafka.schemaregistry.rest.exceptions.Errors).
SUBJECT_NOT_FOUND = 40401
VERSION_NOT_FOUND = 40402
SCHEMA_NOT_FOUND = 40403
SUBJECT_LEVEL_NOT_SET = 40408
PARALLEL = 8


class IncompatibleError(InputError):
    """The registry refused a new version as incompatible under the subject's level (exit 2, like the plan)."""


@dataclass(frozen=True)
class Ref:
    name: str
    subject: str
    version: int


@dataclass(frozen=True)
class Registered:
    subject: str
    version: int
    schema_id: int
    text: str
    schema_type: str
    references: tuple[Ref, ...]


class Registry:
    """One registry, by its base URL (`http://host:8081`, or Apicurio's `.../apis/ccompat/v7`)."""

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        # Retries are platformctl's business (a re-run converges); the client's would only hide a dead server.
        self._client = SchemaRegistryClient({"url": self.url, "timeout": timeout, "max.retries": 0})

    def close(self) -> None:
        self._client.close()

    def _fail(self, e: Exception, what: str) -> NoReturn:
        if isinstance(e, SchemaRegistryError):
            detail = f"{e.http_status_code} {e.error_message}".strip()
            if e.http_status_code == 422:
                raise InputError(f"the schema registry refused {what}: {e.error_message}") from e
            if e.http_status_code == 409:
                raise IncompatibleError(f"the schema registry refused {what} as incompatible: {e.error_message}") from e
            raise PlatformError(f"schema registry at {self.url} failed {what}: {detail}") from e
        raise PlatformError(
            f"schema registry at {self.url} is unreachable ({type(e).__name__}: {e})",
            hint=f"check --schema-registry, or start the platform (`{hints.command('up')}`)",
        ) from e

    @staticmethod
    def _missing(e: Exception, *codes: int) -> bool:
        return isinstance(e, SchemaRegistryError) and (
            e.error_code in codes or (e.http_status_code == 404 and not codes)
        )

    @staticmethod
    def _schema(text: str, refs: Sequence[Ref], schema_type: str) -> Schema:
        references = [SchemaReference(r.name, r.subject, r.version) for r in refs]
        return Schema(text, schema_type, references)

    @staticmethod
    def _registered(subject: str, found: Any) -> Registered:
        schema = found.schema
        return Registered(
            subject=subject,
            version=int(found.version or 0),
            schema_id=int(found.schema_id or 0),
            text=str(schema.schema_str),
            schema_type=str(schema.schema_type or "AVRO"),
            references=tuple(Ref(r.name, r.subject, int(r.version)) for r in schema.references or ()),
        )

    # -- reads

    def latest(self, subject: str) -> Registered | None:
        """The subject's latest version, or None when the subject does not exist."""
        try:
            found = self._client.get_latest_version(subject)
        except Exception as e:
            if self._missing(e, SUBJECT_NOT_FOUND, VERSION_NOT_FOUND):
                return None
            self._fail(e, f"reading subject {subject}")
        return self._registered(subject, found)

    def version(self, subject: str, version: int) -> Registered | None:
        try:
            found = self._client.get_version(subject, version)
        except Exception as e:
            if self._missing(e, SUBJECT_NOT_FOUND, VERSION_NOT_FOUND):
                return None
            self._fail(e, f"reading version {version} of subject {subject}")
        return self._registered(subject, found)

    def lookup(self, subject: str, text: str, refs: Sequence[Ref] = (), schema_type: str = "AVRO") -> int | None:
        """The version under which the subject already has this schema (the registry's own lookup), or None."""
        try:
            found = self._client.lookup_schema(subject, self._schema(text, refs, schema_type))
        except Exception as e:
            if self._missing(e, SUBJECT_NOT_FOUND, SCHEMA_NOT_FOUND):
                return None
            self._fail(e, f"looking up a schema in subject {subject}")
        return int(found.version or 0)

    def level(self, subject: str) -> tuple[str, bool]:
        """The subject's compatibility level, and whether it is the subject's own (else the global level)."""
        try:
            found = self._client._rest_client.get(f"config/{_quote(subject)}")
            return str(found["compatibilityLevel"]), True
        except Exception as e:
            if not self._missing(e, SUBJECT_NOT_FOUND, SUBJECT_LEVEL_NOT_SET):
                self._fail(e, f"reading the compatibility level of {subject}")
        try:
            return str(self._client.get_compatibility()), False
        except Exception as e:
            self._fail(e, "reading the global compatibility level")

    def check(
        self, subject: str, text: str, refs: Sequence[Ref] = (), schema_type: str = "AVRO"
    ) -> tuple[bool, tuple[str, ...]]:
        """The registry's verdict on `text` as the subject's next version under its level, with its reasons."""
        body = self._schema(text, refs, schema_type).to_dict()
        try:
            found = self._client._rest_client.post(
                f"compatibility/subjects/{_quote(subject)}/versions/latest?verbose=true", body=body
            )
        except Exception as e:
            self._fail(e, f"checking compatibility in subject {subject}")
        compatible = bool(found.get("is_compatible"))
        reasons = found.get("messages") or ([found["reason"]] if found.get("reason") else [])
        return compatible, tuple(str(r) for r in reasons)

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """`fn` over `items`, a few requests at a time (the API has no batch reads)."""
        listed = list(items)
        if len(listed) <= 1:
            return [fn(item) for item in listed]
        with ThreadPoolExecutor(max_workers=min(PARALLEL, len(listed))) as pool:
            return list(pool.map(fn, listed))

    # -- writes

    def set_level(self, subject: str, level: str) -> None:
        try:
            self._client.set_compatibility(subject, level)
        except Exception as e:
            self._fail(e, f"setting the compatibility level of {subject} to {level}")

    def register(self, subject: str, text: str, refs: Sequence[Ref] = (), schema_type: str = "AVRO") -> int:
        """Register `text` as a new version of `subject`; returns the schema id."""
        try:
            return int(self._client.register_schema(subject, self._schema(text, refs, schema_type)))
        except Exception as e:
            self._fail(e, f"a new version of subject {subject}")


def _quote(subject: str) -> str:
    from urllib.parse import quote

    return quote(subject, safe="")
