"""The etcd adapter: the only module that imports the etcd client.

Each environment's deviations from the topic files live in the platform's etcd (DESIGN.md section 6),
next to what `topics apply` last applied and a lock that keeps two applies from racing. This module owns
the key layout under `/platformctl/envs/<env>/` and speaks to etcd through `etcd3gw`, the JSON gateway
client (`etcd3` is unmaintained and breaks with current protobuf). Every client exception is turned into a
`PlatformError` naming the endpoint, here and nowhere else.

Writes are compare-and-swap on a key's `mod_revision`: a writer says which revision it read (0 = "the key
was absent") and etcd refuses the write if anyone else wrote in between, so two terminals can never
silently overwrite each other. Values are UTF-8 JSON (etcd3gw would encode a `str` as latin-1).
"""

from __future__ import annotations

import base64
import contextlib
import getpass
import json
import os
import socket
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NoReturn

import etcd3gw
from etcd3gw import exceptions as etcd_exceptions

from platformctl.errors import InputError, PlatformError

ROOT = "/platformctl/envs"
DEFAULT_PORT = 2379
DEFAULT_TIMEOUT = 5.0
# etcd refuses a transaction with more operations than its --max-txn-ops (default 128): "too many
# operations in txn request" (https://etcd.io/docs/v3.5/op-guide/configuration/#--max-txn-ops).
MAX_TXN_OPS = 128
# Long enough that a busy laptop never loses the lock between keep-alives (sent every TTL/3), short
# enough that a crashed apply (SIGKILL, a closed laptop lid) frees the environment within a minute.
DEFAULT_LOCK_TTL = 30


# --- key layout (DESIGN.md section 6) ------------------------------------------------------------


def env_prefix(env: str) -> str:
    return f"{ROOT}/{env}/"


def topic_defaults_key(env: str) -> str:
    return f"{ROOT}/{env}/topic-defaults"


def topics_prefix(env: str) -> str:
    return f"{ROOT}/{env}/topics/"


def topic_key(env: str, topic: str) -> str:
    return f"{topics_prefix(env)}{topic}"


def applied_prefix(env: str) -> str:
    return f"{ROOT}/{env}/applied/"


def applied_key(env: str, topic: str) -> str:
    return f"{applied_prefix(env)}{topic}"


def lock_key(env: str) -> str:
    return f"{ROOT}/{env}/lock"


# --- values --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One key as read from etcd: its JSON value and the revision a compare-and-swap must name."""

    key: str
    value: Any
    mod_revision: int
    create_revision: int


@dataclass(frozen=True)
class Write:
    """One step of an atomic multi-key write: put `value` (or delete when `value` is None) at `key`,
    provided the key is still at `expect_revision` (0: still absent)."""

    key: str
    value: Any | None
    expect_revision: int


# The two states of a record under `/platformctl/envs/<env>/applied/<topic>`. `topics apply` writes an
# intent for every topic it is about to create or change BEFORE it sends anything to Kafka, then marks it
# applied once Kafka accepted the change. A record without a `state` field (written before intents
# existed) is applied.
INTENT = "intent"
APPLIED = "applied"


@dataclass(frozen=True)
class Applied:
    """One record of `topics apply` for one topic: the record `--prune` trusts as "platformctl's".

    `state` is `applied` (Kafka accepted `spec`) or `intent` (platformctl was about to apply `spec` when
    the record was written, and has not confirmed it since: the run stopped, or etcd went away, before
    the record could be completed). `--prune` treats both alike as managed.
    """

    topic: str
    spec: Mapping[str, Any]
    applied_at: str
    plan_digest: str
    by: str
    mod_revision: int
    state: str = APPLIED
    intended_at: str = ""

    @property
    def is_intent(self) -> bool:
        return self.state == INTENT


class ConflictError(PlatformError):
    """A compare-and-swap lost: someone else wrote the key after it was read. Nothing was written."""


class LockHeldError(PlatformError):
    """The environment's apply lock is held by another process."""

    def __init__(self, message: str, *, holder: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.holder = holder


def holder_identity() -> str:
    """`user@host pid N`: enough for the person blocked by a lock to find the process holding it."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers with an arbitrary uid)
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()} pid {os.getpid()}"


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_endpoint(endpoint: str, *, origin: str = "--etcd-endpoint") -> tuple[str, str, int]:
    """`http://host:port`, `https://host:port` or `host:port` -> (scheme, host, port)."""
    from platformctl.settings import split_etcd_endpoint

    try:
        return split_etcd_endpoint(endpoint, default_port=DEFAULT_PORT)
    except ValueError as e:
        raise InputError(str(e), path="command line", field=origin) from None


def _b64(data: str | bytes) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.b64encode(raw).decode("ascii")


def _unb64(data: str) -> bytes:
    return base64.b64decode(data)


def _encode_value(value: Any) -> str:
    return _b64(json.dumps(value, sort_keys=True, separators=(",", ":")))


def _range_end(prefix: str) -> str:
    raw = bytearray(prefix.encode())
    raw[-1] += 1
    return _b64(bytes(raw))


class EtcdStore:
    """A connection to one etcd endpoint, with the operations platformctl needs and nothing more."""

    def __init__(self, endpoint: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        scheme, host, port = parse_endpoint(endpoint)
        self.endpoint = f"{scheme}://{host}:{port}"
        # api_path pinned: every etcd we support (>= 3.4) serves /v3/, and skipping version discovery
        # saves one round trip per command.
        self._client = etcd3gw.Etcd3Client(
            host=host, port=port, protocol=scheme, timeout=timeout, api_path="/v3/"
        )

    # -- transport

    def _fail(self, e: Exception) -> NoReturn:
        if isinstance(e, etcd_exceptions.ConnectionTimeoutError):
            reason = "timed out"
        elif isinstance(e, etcd_exceptions.ConnectionFailedError):
            reason = "unreachable"
        else:
            detail = getattr(e, "detail_text", None) or str(e) or type(e).__name__
            raise PlatformError(f"etcd at {self.endpoint} failed: {detail}") from e
        raise PlatformError(
            f"etcd at {self.endpoint} is {reason}",
            hint="start the platform (`platformctl up`) or a port-forward to its etcd, check "
            "--etcd-endpoint, or pass --no-overrides to use the files' values on purpose",
        ) from e

    def _post(self, path: str, payload: Mapping[str, Any]) -> Any:
        try:
            return self._client.post(self._client.get_url(path), data=json.dumps(payload))
        except etcd_exceptions.Etcd3Exception as e:
            self._fail(e)

    def ping(self) -> None:
        """Fail now, with one clear line, if etcd cannot be reached."""
        self._post("/maintenance/status", {})

    # -- reads

    @staticmethod
    def _entry(kv: Mapping[str, Any]) -> Entry:
        key = _unb64(kv["key"]).decode()
        raw = _unb64(kv.get("value", ""))
        try:
            value = json.loads(raw) if raw else None
        except ValueError:
            value = raw.decode(errors="replace")  # not ours: show it, never crash on it
        return Entry(
            key=key,
            value=value,
            mod_revision=int(kv.get("mod_revision", 0)),
            create_revision=int(kv.get("create_revision", 0)),
        )

    def get(self, key: str) -> Entry | None:
        result = self._post("/kv/range", {"key": _b64(key)})
        kvs = result.get("kvs") or []
        return self._entry(kvs[0]) if kvs else None

    def list(self, prefix: str) -> list[Entry]:
        """Every key under `prefix`, sorted by key."""
        result = self._post(
            "/kv/range", {"key": _b64(prefix), "range_end": _range_end(prefix), "sort_order": 1}
        )
        return [self._entry(kv) for kv in result.get("kvs") or []]

    # -- writes

    @staticmethod
    def _compare(key: str, revision: int) -> dict[str, Any]:
        # An absent key has mod_revision 0, so "expect 0" is put-if-absent.
        return {"key": _b64(key), "result": "EQUAL", "target": "MOD", "mod_revision": revision}

    @staticmethod
    def _request(write: Write) -> dict[str, Any]:
        if write.value is None:
            return {"request_delete_range": {"key": _b64(write.key)}}
        return {"request_put": {"key": _b64(write.key), "value": _encode_value(write.value)}}

    def write(self, writes: Sequence[Write]) -> int:
        """Apply every write in one transaction, only if every key is still at the revision it was read
        at. Returns the new store revision; raises `ConflictError` (nothing written) otherwise."""
        if not writes:
            return 0
        if len(writes) > MAX_TXN_OPS:
            raise ValueError(f"{len(writes)} writes in one transaction; etcd allows {MAX_TXN_OPS}")
        txn = {
            "compare": [self._compare(w.key, w.expect_revision) for w in writes],
            "success": [self._request(w) for w in writes],
            # On failure, read the keys back so the error can say which one moved and to what revision.
            "failure": [{"request_range": {"key": _b64(w.key)}} for w in writes],
        }
        result = self._post("/kv/txn", txn)
        if result.get("succeeded"):
            return int(result.get("header", {}).get("revision", 0))
        moved: list[str] = []
        for write, response in zip(writes, result.get("responses") or [], strict=False):
            kvs = response.get("response_range", {}).get("kvs") or []
            current = int(kvs[0].get("mod_revision", 0)) if kvs else 0
            if current != write.expect_revision:
                now_at = f"revision {current}" if current else "deleted"
                was = f"revision {write.expect_revision}" if write.expect_revision else "absent"
                moved.append(f"{write.key} ({was} when read, now {now_at})")
        what = ", ".join(moved) or ", ".join(w.key for w in writes)
        raise ConflictError(
            f"etcd key changed by another writer while this command ran: {what}; nothing was written",
            hint="look at the new value (`platformctl overrides get`) and run the command again",
        )

    def put(self, key: str, value: Any, *, expect_revision: int) -> int:
        return self.write([Write(key, value, expect_revision)])

    def delete(self, key: str, *, expect_revision: int) -> int:
        return self.write([Write(key, None, expect_revision)])

    def create(self, key: str, value: Any) -> bool:
        """Put-if-absent: True if written, False if the key already existed (it is left untouched)."""
        try:
            self.put(key, value, expect_revision=0)
        except ConflictError:
            return False
        return True

    def write_chunked(self, writes: Sequence[Write]) -> int:
        """`write` in as few transactions as etcd allows (`MAX_TXN_OPS` writes each); returns how many
        transactions were written. Each is all or nothing; a failure leaves the earlier ones written."""
        size = MAX_TXN_OPS
        count = 0
        for start in range(0, len(writes), size):
            self.write(writes[start : start + size])
            count += 1
        return count

    # -- applied records

    @staticmethod
    def intent_record(topic: str, spec: Mapping[str, Any], plan_digest: str) -> dict[str, Any]:
        """The record written before Kafka is asked to create or change `topic` into `spec`."""
        return {
            "topic": topic,
            "state": INTENT,
            "spec": dict(spec),
            "intended-at": now(),
            "plan-digest": plan_digest,
            "by": holder_identity(),
        }

    @staticmethod
    def applied_record(
        topic: str, spec: Mapping[str, Any], plan_digest: str, *, intended_at: str = "", recovered: bool = False
    ) -> dict[str, Any]:
        """The record of a topic Kafka has as `spec`. `recovered`: completed by a later run from an intent
        whose topic was found on Kafka as planned (the run that applied it could not record it)."""
        record: dict[str, Any] = {
            "topic": topic,
            "state": APPLIED,
            "spec": dict(spec),
            "applied-at": now(),
            "plan-digest": plan_digest,
            "by": holder_identity(),
        }
        if intended_at:
            record["intended-at"] = intended_at
        if recovered:
            record["recovered"] = True
        return record

    def record_applied(
        self, env: str, topic: str, spec: Mapping[str, Any], plan_digest: str, *, intended_at: str = ""
    ) -> None:
        """Remember that platformctl applied `spec` to `topic` (last write wins: the env lock serialises
        applies, so there is no race to guard against here)."""
        record = self.applied_record(topic, spec, plan_digest, intended_at=intended_at)
        self._post("/kv/put", {"key": _b64(applied_key(env, topic)), "value": _encode_value(record)})

    def applied(self, env: str) -> dict[str, Applied]:
        """Every topic platformctl has applied, or was about to apply (`state` intent), in `env`, by name."""
        records: dict[str, Applied] = {}
        prefix = applied_prefix(env)
        for entry in self.list(prefix):
            value = entry.value if isinstance(entry.value, dict) else {}
            topic = entry.key[len(prefix) :]
            records[topic] = Applied(
                topic=topic,
                spec=value.get("spec") or {},
                applied_at=str(value.get("applied-at", "")),
                plan_digest=str(value.get("plan-digest", "")),
                by=str(value.get("by", "")),
                mod_revision=entry.mod_revision,
                state=INTENT if value.get("state") == INTENT else APPLIED,
                intended_at=str(value.get("intended-at", "")),
            )
        return records

    def forget_applied(self, env: str, topic: str) -> None:
        """Drop the record of a topic that `--prune` deleted."""
        self._post("/kv/deleterange", {"key": _b64(applied_key(env, topic))})

    # -- the environment lock

    @contextlib.contextmanager
    def lock(
        self, env: str, *, ttl: int = DEFAULT_LOCK_TTL, purpose: str = "topics apply"
    ) -> Iterator[EnvLock]:
        """Hold `/platformctl/envs/<env>/lock` for the duration of the block.

        The key is attached to a lease that a background thread keeps alive; it is revoked when the block
        exits for any reason (success, error, Ctrl-C), and if the process dies etcd deletes the key when
        the lease's TTL runs out. A second holder gets `LockHeldError` naming the first.
        """
        held = self._acquire(env, ttl=ttl, purpose=purpose)
        try:
            yield held
        finally:
            held.release()

    def _acquire(self, env: str, *, ttl: int, purpose: str) -> EnvLock:
        key = lock_key(env)
        lease = self._post("/lease/grant", {"TTL": ttl, "ID": 0})
        lease_id = int(lease["ID"])
        holder = holder_identity()
        since = now()
        value = {"holder": holder, "since": since, "purpose": purpose, "lease": lease_id}
        put = {"key": _b64(key), "value": _encode_value(value), "lease": lease_id}
        txn = {
            "compare": [{"key": _b64(key), "result": "EQUAL", "target": "CREATE", "create_revision": 0}],
            "success": [{"request_put": put}],
            "failure": [{"request_range": {"key": _b64(key)}}],
        }
        try:
            result = self._post("/kv/txn", txn)
        except BaseException:
            self._revoke(lease_id)
            raise
        if not result.get("succeeded"):
            self._revoke(lease_id)
            kvs = (result.get("responses") or [{}])[0].get("response_range", {}).get("kvs") or []
            other = self._entry(kvs[0]).value if kvs else None
            other = other if isinstance(other, dict) else {}
            who = str(other.get("holder", "another process"))
            what = f" ({other['purpose']})" if other.get("purpose") else ""
            since_text = f" since {other['since']}" if other.get("since") else ""
            raise LockHeldError(
                f"environment {env!r} is locked by {who}{what}{since_text}",
                holder=who,
                hint=f"wait for it to finish; if that process is gone the lock expires by itself within "
                f"{ttl} s (etcd key {key})",
            )
        return EnvLock(self, env=env, key=key, lease_id=lease_id, ttl=ttl, holder=holder, since=since)

    def _revoke(self, lease_id: int) -> None:
        with contextlib.suppress(PlatformError):
            self._post("/lease/revoke", {"ID": lease_id})

    def _keepalive(self, lease_id: int) -> int:
        result = self._post("/lease/keepalive", {"ID": lease_id})
        return int((result.get("result") or {}).get("TTL", -1))


@dataclass
class EnvLock:
    """A held environment lock; `release()` is idempotent."""

    store: EtcdStore
    env: str
    key: str
    lease_id: int
    ttl: int
    holder: str
    since: str
    lost: bool = False
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=self._keep_alive, name=f"etcd-lock-{self.env}", daemon=True)
        self._thread.start()

    def _keep_alive(self) -> None:
        interval = max(self.ttl / 3, 0.2)
        while not self._stop.wait(interval):
            try:
                if self.store._keepalive(self.lease_id) <= 0:
                    self.lost = True
                    return
            except PlatformError:
                # etcd briefly unreachable: keep trying until the TTL would have run out.
                continue

    def check(self) -> None:
        """Raise if the lease expired under us (etcd unreachable for longer than the TTL)."""
        if self.lost:
            raise PlatformError(
                f"lost the lock on environment {self.env!r} (etcd lease expired)",
                hint="check that etcd is reachable and run the command again",
            )

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self.store._revoke(self.lease_id)
