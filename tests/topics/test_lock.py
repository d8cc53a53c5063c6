"""The environment lock (platformctl/topics/lock.py) against a real etcd: one holder at a time, named to
the others; released on error and Ctrl-C; kept alive past its TTL while held; and gone with a killed
holder once its lease runs out, the next one told that the holder no longer runs."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from platformctl.adapters import etcd
from platformctl.topics import lock as etcdlock


@pytest.fixture
def store(etcd_endpoint: str) -> etcd.EtcdStore:
    return etcd.EtcdStore(etcd_endpoint)


def test_second_lock_holder_fails_naming_the_first(store: etcd.EtcdStore, etcd_env: str) -> None:
    with etcdlock.hold(store, etcd_env, ttl=5) as held:
        with pytest.raises(etcdlock.LockHeldError) as caught, etcdlock.hold(etcd.EtcdStore(store.endpoint), etcd_env):
            pass
        assert held.holder in str(caught.value)
        assert "topics apply" in str(caught.value)
    with etcdlock.hold(store, etcd_env):  # released on success
        pass


def test_lock_is_released_on_error_and_on_interrupt(store: etcd.EtcdStore, etcd_env: str) -> None:
    with pytest.raises(RuntimeError), etcdlock.hold(store, etcd_env):
        raise RuntimeError("apply failed")
    assert store.get(etcd.lock_key(etcd_env)) is None
    with pytest.raises(KeyboardInterrupt), etcdlock.hold(store, etcd_env):
        raise KeyboardInterrupt
    assert store.get(etcd.lock_key(etcd_env)) is None


def test_lock_survives_longer_than_its_ttl_while_held(store: etcd.EtcdStore, etcd_env: str) -> None:
    # The keep-alive thread refreshes the lease every TTL/3: held for 1.5 x the TTL, the key must still be
    # there (without keep-alives etcd would have deleted it).
    with etcdlock.hold(store, etcd_env, ttl=2) as held:
        time.sleep(3)
        held.check()
        entry = store.get(etcd.lock_key(etcd_env))
        assert entry is not None and entry.value["holder"] == held.holder
    assert store.get(etcd.lock_key(etcd_env)) is None


def test_lock_expires_when_its_process_is_killed(etcd_endpoint: str, etcd_env: str) -> None:
    script = textwrap.dedent(
        f"""
        import sys, time
        from platformctl.adapters import etcd
        from platformctl.topics import lock as etcdlock
        store = etcd.EtcdStore({etcd_endpoint!r})
        held = etcdlock.acquire(store, {etcd_env!r}, ttl=3, purpose="topics apply")
        print("locked", flush=True)
        time.sleep(600)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "locked"
        store = etcd.EtcdStore(etcd_endpoint)
        with pytest.raises(etcdlock.LockHeldError) as caught, etcdlock.hold(store, etcd_env):
            pass
        assert f"pid {child.pid}" in str(caught.value)
        assert "no longer running" not in str(caught.value)  # it is running
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    # Killed on this machine: the next one to try is told the holder is gone, and how long the lock lasts.
    with pytest.raises(etcdlock.LockHeldError) as gone, etcdlock.hold(store, etcd_env):
        pass
    message = str(gone.value)
    assert message.startswith(f"environment {etcd_env!r} is locked by {etcdlock.holder_identity().rsplit(' ', 1)[0]}")
    gone_text = rf": that process \(pid {child.pid} on this machine\) is no longer running; the lock expires in (\d) s$"
    match = re.search(gone_text, message)
    assert match is not None, message
    assert 0 < int(match.group(1)) <= 3
    # The lease (TTL 3 s) is no longer kept alive: etcd deletes the key once it runs out.
    deadline = time.monotonic() + 60
    while True:
        try:
            with etcdlock.hold(store, etcd_env, ttl=2):
                break
        except etcdlock.LockHeldError:
            assert time.monotonic() < deadline, "the dead process's lock never expired"
            time.sleep(0.2)
