"""The etcd adapter: the only module that imports the etcd client.

Each environment's deviations from the topic files live in the platform's etcd (DESIGN.md section 6),
next to what `topics apply` last applied (topics/records.py) and a lock that keeps two applies from
racing (topics/lock.py). This module owns the key layout under `/platformctl/envs/<env>/` and speaks to
etcd through `etcd3gw`, the JSON gateway client (`etcd3` is unmaintained and breaks with current
protobuf). Every client exception is turned into a `PlatformError` naming the endpoint, here and nowhere
else.

Writes are compare-and-swap on a key's `mod_revision`: a writer says which revision it read (0 = "the key
was absent") and etcd refuses the write if anyone else wrote in between, so two terminals can never
silently overwrite each other. Values are UTF-8 JSON (etcd3gw would encode a `str` as latin-1).

Writes made under the environment lock are fenced: each transaction also compares the lock key's lease
with the one this run holds, so a run that was paused past the lease's TTL (SIGSTOP, a suspended laptop)
and lost the lock to another apply cannot write another record when it wakes up (`LockLostError`). A
series of requests can share one deadline (`EtcdStore.deadline`): a frozen etcd then costs that deadline
once, not a request timeout per key.
"""

from __future__ import annotations

import base64
import builtins
import contextlib
import json
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

import etcd3gw
from etcd3gw import exceptions as etcd_exceptions

from platformctl import hints
from platformctl.errors import InputError, PlatformError

ROOT = "/platformctl/envs"
DEFAULT_PORT = 2379
DEFAULT_TIMEOUT = 5.0
# etcd refuses a transaction with more operations than its --max-txn-ops (default 128): "too many
# operations in txn request" (https://etcd.io/docs/v3.5/op-guide/configuration/#--max-txn-ops).
MAX_TXN_OPS = 128
# Transactions `write_chunked` keeps in flight at once. Each is independent (its own keys' revisions and
# the fence), so their order does not matter; a few connections hide the round trip and etcd's commit
# without flooding a shared etcd. Measured at 10,000 records on 2 cores: 1 lane 0.33-0.35 s, 4 lanes
# 0.27-0.28 s, 8 lanes 0.21-0.25 s (the JSON work is this process's, under one GIL).
WRITE_LANES = 4


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
    lease: int = 0  # the lease the key is attached to (0: none)


@dataclass(frozen=True)
class Write:
    """One step of an atomic multi-key write: put `value` (or delete when `value` is None) at `key`,
    provided the key is still at `expect_revision` (0: still absent)."""

    key: str
    value: Any | None
    expect_revision: int


class ConflictError(PlatformError):
    """A compare-and-swap lost: someone else wrote the key after it was read. Nothing was written."""


class LockLostError(PlatformError):
    """The lock's lease expired while this run held it: another run may hold it now. Nothing more may be
    written in its name."""


class DeadlineError(PlatformError):
    """A series of etcd requests sharing one deadline ran out of time."""


@dataclass(frozen=True)
class Fence:
    """Holding the environment lock, as an etcd comparison: the lock key still carries this lease."""

    env: str
    key: str
    lease_id: int
    ttl: int


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
    """A connection to one etcd endpoint, with the operations platformctl needs and nothing more.

    Not thread-safe (one HTTP session): the lock's keep-alive thread has a store of its own.
    """

    def __init__(self, endpoint: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        scheme, host, port = parse_endpoint(endpoint)
        self.endpoint = f"{scheme}://{host}:{port}"
        self.timeout = timeout
        self._deadline: tuple[float, float, str] | None = None  # (monotonic end, seconds, what)
        # api_path pinned: every etcd we support (>= 3.4) serves /v3/, and skipping version discovery
        # saves one round trip per command.
        self._client = etcd3gw.Etcd3Client(
            host=host, port=port, protocol=scheme, timeout=timeout, api_path="/v3/"
        )

    # -- transport

    def _fail(self, e: Exception, wait: float) -> NoReturn:
        if isinstance(e, etcd_exceptions.ConnectionTimeoutError):
            if self._deadline is not None and time.monotonic() >= self._deadline[0] - 0.05:
                _, seconds, what = self._deadline
                raise DeadlineError(
                    f"etcd at {self.endpoint} did not answer within {seconds:g} s ({what})",
                    hint="check that etcd is running and reachable (a frozen or overloaded etcd looks like "
                    "this), then run the command again",
                ) from e
            problem = f"did not answer within {wait:g} s"
        elif isinstance(e, etcd_exceptions.ConnectionFailedError):
            problem = "is unreachable"
        else:
            detail = getattr(e, "detail_text", None) or str(e) or type(e).__name__
            raise PlatformError(f"etcd at {self.endpoint} failed: {detail}") from e
        raise PlatformError(
            f"etcd at {self.endpoint} {problem}",
            hint=f"start the platform (`{hints.command('up')}`) or a port-forward to its etcd, check "
            "--etcd-endpoint, or pass --no-overrides to use the files' values on purpose",
        ) from e

    def _post(self, path: str, payload: Mapping[str, Any], *, timeout: float | None = None) -> Any:
        wait = self.timeout if timeout is None else timeout
        if self._deadline is not None:
            end, seconds, what = self._deadline
            left = end - time.monotonic()
            if left <= 0:
                raise DeadlineError(
                    f"etcd at {self.endpoint} did not answer within {seconds:g} s ({what})",
                    hint="check that etcd is running and reachable, then run the command again",
                )
            wait = min(wait, left)
        # etcd3gw passes its own `timeout` to every request: set it per call (this store is single-threaded).
        self._client.timeout = wait
        try:
            return self._client.post(self._client.get_url(path), data=json.dumps(payload))
        except etcd_exceptions.Etcd3Exception as e:
            self._fail(e, wait)

    @contextlib.contextmanager
    def deadline(self, seconds: float, what: str) -> Iterator[None]:
        """Every request inside the block shares one deadline, `seconds` from now (nested: the earlier)."""
        outer = self._deadline
        end = time.monotonic() + seconds
        if outer is None or end < outer[0]:
            self._deadline = (end, seconds, what)
        try:
            yield
        finally:
            self._deadline = outer

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
        except (ValueError, RecursionError):  # a 1 MiB `[[[[...` by hand recurses past Python's limit
            value = raw.decode(errors="replace")  # not ours: show it, never crash on it
        return Entry(
            key=key,
            value=value,
            mod_revision=int(kv.get("mod_revision", 0)),
            create_revision=int(kv.get("create_revision", 0)),
            lease=int(kv.get("lease", 0)),
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

    def revisions(self, prefix: str) -> dict[str, int]:
        """The `mod_revision` of every key under `prefix` (keys only: one small range read)."""
        result = self._post(
            "/kv/range", {"key": _b64(prefix), "range_end": _range_end(prefix), "keys_only": True}
        )
        return {_unb64(kv["key"]).decode(): int(kv.get("mod_revision", 0)) for kv in result.get("kvs") or []}

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

    def write(self, writes: Sequence[Write], *, fence: Fence | None = None) -> int:
        """Apply every write in one transaction, only if every key is still at the revision it was read
        at (and, with `fence`, only if the lock key still carries the fence's lease). Returns the new
        store revision; raises `ConflictError` or `LockLostError` (nothing written) otherwise."""
        if not writes:
            return 0
        if len(writes) > txn_capacity(fence):
            raise ValueError(f"{len(writes)} writes in one transaction; etcd allows {MAX_TXN_OPS} operations")
        compare = [self._compare(w.key, w.expect_revision) for w in writes]
        failure = [{"request_range": {"key": _b64(w.key)}} for w in writes]
        if fence is not None:
            # etcd compares a key's lease with target LEASE (etcd >= 3.3); a deleted lock key has lease 0.
            held = {"key": _b64(fence.key), "result": "EQUAL", "target": "LEASE", "lease": str(fence.lease_id)}
            compare.insert(0, held)
            failure.insert(0, {"request_range": {"key": _b64(fence.key)}})
        # On failure, read the keys back so the error can say which one moved and to what revision.
        txn = {"compare": compare, "success": [self._request(w) for w in writes], "failure": failure}
        result = self._post("/kv/txn", txn)
        if result.get("succeeded"):
            return int(result.get("header", {}).get("revision", 0))
        responses = list(result.get("responses") or [])
        if fence is not None:
            kvs = (responses.pop(0) if responses else {}).get("response_range", {}).get("kvs") or []
            lock = self._entry(kvs[0]) if kvs else None
            if lock is None or lock.lease != fence.lease_id:
                raise lock_lost(fence, lock)
        moved: list[str] = []
        for write, response in zip(writes, responses, strict=False):
            kvs = response.get("response_range", {}).get("kvs") or []
            current = int(kvs[0].get("mod_revision", 0)) if kvs else 0
            if current != write.expect_revision:
                now_at = f"revision {current}" if current else "deleted"
                was = f"revision {write.expect_revision}" if write.expect_revision else "absent"
                moved.append(f"{write.key} ({was} when read, now {now_at})")
        what = ", ".join(moved) or ", ".join(w.key for w in writes)
        raise ConflictError(
            f"etcd key changed by another writer while this command ran: {what}; nothing was written",
            hint=f"look at the new value (`{hints.command('overrides get')}`) and run the command again",
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

    def write_chunked(
        self, writes: Sequence[Write], *, fence: Fence | None = None, revisions: builtins.list[int] | None = None
    ) -> builtins.list[int]:
        """`write` in as few transactions as etcd allows (`chunks`), up to `WRITE_LANES` of them in flight
        at once; returns the revision each write was written at, in order.

        Each transaction is all or nothing and carries the fence, so sending them side by side keeps the
        guarantees of sending them one by one: none is written once the lock is lost. The first failure
        stops the series (no transaction is sent after it; those already in flight end within the store's
        deadline) and is raised; `revisions`, when given (as long as `writes`, zeros), keeps the revision of
        every write that was written, 0 for the others, so a caller can say which records were not."""
        out = revisions if revisions is not None else [0] * len(writes)
        size = txn_capacity(fence)
        parts = [(start, writes[start : start + size]) for start in range(0, len(writes), size)]
        if len(parts) <= 1 or WRITE_LANES <= 1:
            for start, chunk in parts:
                out[start : start + len(chunk)] = [self.write(chunk, fence=fence)] * len(chunk)
            return out
        pending = iter(parts)
        take = threading.Lock()
        errors: builtins.list[Exception] = []
        stop = threading.Event()

        def lane(store: EtcdStore) -> None:
            while not stop.is_set():
                with take:
                    part = next(pending, None)
                if part is None:
                    return
                start, chunk = part
                try:
                    revision = store.write(chunk, fence=fence)
                except Exception as e:
                    errors.append(e)
                    stop.set()
                    return
                out[start : start + len(chunk)] = [revision] * len(chunk)

        # One HTTP session is not shared across threads: each lane has a store of its own, on this one's
        # deadline.
        threads = [
            threading.Thread(target=lane, args=(self._sibling(),), name="etcd-write", daemon=True)
            for _ in range(min(WRITE_LANES, len(parts)) - 1)
        ]
        for thread in threads:
            thread.start()
        try:
            lane(self)
        finally:
            stop.set()  # Ctrl-C here: the other lanes send nothing more (daemons: the exit does not wait)
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        return out

    def _sibling(self) -> EtcdStore:
        """A store on the same endpoint with this one's timeout and deadline (for another thread)."""
        other = EtcdStore(self.endpoint, timeout=self.timeout)
        other._deadline = self._deadline
        return other

    # -- leases (the environment lock is built on them: topics/lock.py)

    def grant(self, ttl: int) -> int:
        """A new lease of `ttl` seconds; returns its id."""
        return int(self._post("/lease/grant", {"TTL": ttl, "ID": 0})["ID"])

    def create_leased(self, key: str, value: Any, lease_id: int) -> Entry | None:
        """Put `value` at `key`, attached to the lease, only if the key does not exist. Returns None when
        written, else the key as it is (left untouched)."""
        put = {"key": _b64(key), "value": _encode_value(value), "lease": lease_id}
        txn = {
            "compare": [{"key": _b64(key), "result": "EQUAL", "target": "CREATE", "create_revision": 0}],
            "success": [{"request_put": put}],
            "failure": [{"request_range": {"key": _b64(key)}}],
        }
        result = self._post("/kv/txn", txn)
        if result.get("succeeded"):
            return None
        kvs = (result.get("responses") or [{}])[0].get("response_range", {}).get("kvs") or []
        # Gone between the compare and the read (its lease just ran out): report it as held, briefly.
        return self._entry(kvs[0]) if kvs else Entry(key, None, 0, 0)

    def time_to_live(self, lease_id: int) -> int | None:
        """Seconds until a lease expires (None when etcd does not say: it expired or cannot be asked)."""
        try:
            result = self._post("/lease/timetolive", {"ID": str(lease_id)})
        except PlatformError:
            return None
        ttl = int(result.get("TTL", -1))
        return ttl if ttl >= 0 else None

    def revoke(self, lease_id: int, *, timeout: float | None = None) -> None:
        """Revoke a lease (its keys go with it); best effort: an unreachable etcd lets it expire instead."""
        with contextlib.suppress(PlatformError):
            self._post("/lease/revoke", {"ID": lease_id}, timeout=timeout)

    def keepalive(self, lease_id: int) -> int:
        """Renew a lease; returns its new TTL (<= 0: it had already expired)."""
        result = self._post("/lease/keepalive", {"ID": lease_id})
        return int((result.get("result") or {}).get("TTL", -1))


def txn_capacity(fence: Fence | None) -> int:
    """How many writes one transaction can carry (the fence's comparison is an operation too)."""
    return MAX_TXN_OPS - (1 if fence else 0)


def chunks(writes: Sequence[Write], fence: Fence | None = None) -> Iterator[Sequence[Write]]:
    for start in range(0, len(writes), txn_capacity(fence)):
        yield writes[start : start + txn_capacity(fence)]


def lock_lost(fence: Fence, current: Entry | None) -> LockLostError:
    """The error for a run whose lease is no longer on the lock key (`current`: the key as it is now)."""
    other = current.value if current is not None and isinstance(current.value, dict) else {}
    now_held = f"; {other.get('holder', 'another process')} holds it now" if current is not None else ""
    return LockLostError(
        f"lost the lock on environment {fence.env!r}: its etcd lease expired (this run was paused, or could "
        f"not reach etcd, for longer than the lock's {fence.ttl} s TTL){now_held}",
        hint=f"nothing more was written in this run's name; run `{hints.command('topics plan')}` to see where Kafka "
        "and the records stand, then apply again",
    )
