"""The environment lock that serialises `topics apply` runs, built on an etcd lease.

`/platformctl/envs/<env>/lock` is created only if absent and attached to a lease that a background thread
renews every TTL/3; leaving the block revokes the lease (the key goes with it). If the process dies, etcd
deletes the key once the lease's TTL runs out, so a crashed apply frees the environment by itself.

Holding the lock is not a promise that nothing else writes: a run paused for longer than the TTL (SIGSTOP,
a suspended laptop, a stalled VM) comes back to find its lease gone and maybe another apply holding the
lock. So every write made in the lock's name is fenced (`Fence`: the transaction compares the lock key's
lease, see `EtcdStore.write`), and `EnvLock.verify` checks it before each step that cannot be fenced
(a request to Kafka).

When the lock is held, the error names the holder; when the holder is a process of this machine that no
longer runs (killed, or it ended while etcd was unreachable and could not release), it says so and how
long until the lease expires, instead of "wait for it to finish".
"""

from __future__ import annotations

import contextlib
import getpass
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from platformctl.adapters.etcd import Entry, EtcdStore, Fence, lock_key, lock_lost
from platformctl.errors import PlatformError

# Revoking the lease on the way out is a courtesy (the lease runs out by itself): never wait long for it.
RELEASE_TIMEOUT = 1.0
# Long enough that a busy laptop never loses the lock between keep-alives (sent every TTL/3), short
# enough that a crashed apply (SIGKILL, a closed laptop lid) frees the environment within a minute.
DEFAULT_LOCK_TTL = 30


class LockHeldError(PlatformError):
    """The environment's apply lock is held by another process."""

    def __init__(self, message: str, *, holder: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.holder = holder


_identity: tuple[int, str] | None = None


def holder_identity() -> str:
    """`user@host pid N`: enough for the person blocked by a lock to find the process holding it. Kept per
    process (it goes into every record, and asking the system for the user costs ~0.1 ms each time)."""
    global _identity
    pid = os.getpid()
    if _identity is None or _identity[0] != pid:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):  # no passwd entry (containers with an arbitrary uid)
            user = str(os.getuid())
        _identity = (pid, f"{user}@{socket.gethostname()} pid {pid}")
    return _identity[1]


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def boot_id() -> str:
    """This machine's current boot (Linux): a pid means something only within the boot that issued it."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
            return f.read().strip()
    except OSError:
        return ""


def process_gone(pid: int) -> bool:
    """True only when no process with this pid exists here (signal 0 probes without signalling)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # EPERM: it exists, as another user's process
        return False
    return False


@contextlib.contextmanager
def hold(store: EtcdStore, env: str, *, ttl: int | None = None, purpose: str = "topics apply") -> Iterator[EnvLock]:
    """Hold the environment's lock for the duration of the block; `LockHeldError` if another process holds
    it. The lease's TTL is `DEFAULT_LOCK_TTL` unless given."""
    held = acquire(store, env, ttl=ttl or DEFAULT_LOCK_TTL, purpose=purpose)
    try:
        yield held
    finally:
        held.release()


def acquire(store: EtcdStore, env: str, *, ttl: int, purpose: str) -> EnvLock:
    key = lock_key(env)
    lease_id = store.grant(ttl)
    holder = holder_identity()
    since = now()
    value = {
        "holder": holder,
        "since": since,
        "purpose": purpose,
        "lease": lease_id,
        # Enough to tell, from this machine, whether the holder still runs.
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "boot-id": boot_id(),
    }
    try:
        other = store.create_leased(key, value, lease_id)
    except BaseException:
        store.revoke(lease_id, timeout=RELEASE_TIMEOUT)
        raise
    if other is not None:
        store.revoke(lease_id, timeout=RELEASE_TIMEOUT)
        raise held_error(store, env, other, ttl)
    return EnvLock(store, fence=Fence(env=env, key=key, lease_id=lease_id, ttl=ttl), holder=holder, since=since)


def held_error(store: EtcdStore, env: str, entry: Entry, ttl: int) -> LockHeldError:
    other = entry.value if isinstance(entry.value, dict) else {}
    who = str(other.get("holder", "another process"))
    what = f" ({other['purpose']})" if other.get("purpose") else ""
    since_text = f" since {other['since']}" if other.get("since") else ""
    message = f"environment {env!r} is locked by {who}{what}{since_text}"
    hint = (
        f"wait for it to finish; if that process is gone the lock expires by itself within {ttl} s "
        f"(etcd key {entry.key})"
    )
    pid = other.get("pid")
    here = other.get("host") == socket.gethostname() and other.get("boot-id", "") == boot_id()
    if here and isinstance(pid, int) and pid > 0 and process_gone(pid):
        left = store.time_to_live(entry.lease) if entry.lease else None
        expiry = f"the lock expires in {left} s" if left else "the lock expires within seconds"
        message += f": that process (pid {pid} on this machine) is no longer running; {expiry}"
        hint = (
            "it ended without releasing the lock (killed, or etcd was unreachable as it ended); run the command "
            f"again once the lock has expired (etcd key {entry.key})"
        )
    return LockHeldError(message, holder=who, hint=hint)


@dataclass
class EnvLock:
    """A held environment lock; `release()` is idempotent.

    A background thread renews the lease every TTL/3 through a store of its own (the run's store is busy
    on the main thread, and one HTTP session is not shared across threads). `fence` is what every write
    made in the lock's name compares.
    """

    store: EtcdStore
    fence: Fence
    holder: str
    since: str
    lost: bool = False
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def env(self) -> str:
        return self.fence.env

    @property
    def ttl(self) -> int:
        return self.fence.ttl

    @property
    def lease_id(self) -> int:
        return self.fence.lease_id

    def __post_init__(self) -> None:
        renewer = EtcdStore(self.store.endpoint, timeout=self.store.timeout)
        self._thread = threading.Thread(
            target=self._keep_alive, args=(renewer,), name=f"etcd-lock-{self.env}", daemon=True
        )
        self._thread.start()

    def _keep_alive(self, renewer: EtcdStore) -> None:
        interval = max(self.ttl / 3, 0.2)
        while not self._stop.wait(interval):
            try:
                if renewer.keepalive(self.lease_id) <= 0:
                    self.lost = True
                    return
            except PlatformError:
                # etcd briefly unreachable: keep trying; writes are fenced whatever happens here.
                continue

    def check(self) -> None:
        """Raise `LockLostError` if the keep-alive already saw the lease expire (no request)."""
        if self.lost:
            raise lock_lost(self.fence, None)

    def verify(self) -> None:
        """Raise `LockLostError` unless the lock key carries this lease right now (one read)."""
        self.check()
        current = self.store.get(self.fence.key)
        if current is None or current.lease != self.lease_id:
            self.lost = True
            raise lock_lost(self.fence, current)

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            # A keep-alive stuck on a frozen etcd must not hold up the command's exit (a daemon thread).
            self._thread.join(timeout=RELEASE_TIMEOUT)
        self.store.revoke(self.lease_id, timeout=RELEASE_TIMEOUT)
