"""The etcd adapter against a real etcd: compare-and-swap, put-if-absent, the applied records, and one
clear error when etcd is gone (the environment lock built on it: tests/topics/test_lock.py)."""

from __future__ import annotations

import re

import pytest

from platformctl.adapters import etcd
from platformctl.errors import InputError, PlatformError
from platformctl.topics import lock as etcdlock
from platformctl.topics.records import applied_record
from platformctl.topics.records import read as read_records
from tests.plugins.etcd import EtcdServer, free_port


@pytest.fixture
def store(etcd_endpoint: str) -> etcd.EtcdStore:
    return etcd.EtcdStore(etcd_endpoint)


def test_put_get_list_delete_round_trip(store: etcd.EtcdStore, etcd_env: str) -> None:
    key = etcd.topic_key(etcd_env, "orders")
    assert store.get(key) is None
    value = {"partitions": 3, "config": {"retention.ms": "1000"}, "note": "ünïcode"}
    store.put(key, value, expect_revision=0)
    entry = store.get(key)
    assert entry is not None
    assert entry.value == value
    assert entry.mod_revision > 0
    store.put(etcd.topic_key(etcd_env, "a-first"), {"partitions": 1}, expect_revision=0)
    assert [e.key for e in store.list(etcd.topics_prefix(etcd_env))] == [
        etcd.topic_key(etcd_env, "a-first"),
        key,
    ]
    store.delete(key, expect_revision=entry.mod_revision)
    assert store.get(key) is None


def test_compare_and_swap_refuses_a_write_over_another_writer(store: etcd.EtcdStore, etcd_env: str) -> None:
    key = etcd.topic_defaults_key(etcd_env)
    store.put(key, {"replication-factor": 1}, expect_revision=0)
    read = store.get(key)
    assert read is not None
    other = etcd.EtcdStore(store.endpoint)  # a second terminal
    other.put(key, {"replication-factor": 2}, expect_revision=read.mod_revision)
    with pytest.raises(etcd.ConflictError) as caught:
        store.put(key, {"replication-factor": 3}, expect_revision=read.mod_revision)
    assert key in str(caught.value)
    assert f"revision {read.mod_revision} when read" in str(caught.value)
    assert "nothing was written" in str(caught.value)
    after = store.get(key)
    assert after is not None and after.value == {"replication-factor": 2}


def test_multi_key_write_is_all_or_nothing(store: etcd.EtcdStore, etcd_env: str) -> None:
    a, b = etcd.topic_key(etcd_env, "a"), etcd.topic_key(etcd_env, "b")
    store.put(b, {"partitions": 1}, expect_revision=0)
    with pytest.raises(etcd.ConflictError):
        store.write([etcd.Write(a, {"partitions": 2}, 0), etcd.Write(b, {"partitions": 2}, 0)])
    assert store.get(a) is None


def test_create_is_put_if_absent(store: etcd.EtcdStore, etcd_env: str) -> None:
    key = etcd.topic_defaults_key(etcd_env)
    assert store.create(key, {"replication-factor": 1}) is True
    assert store.create(key, {"replication-factor": 5}) is False
    entry = store.get(key)
    assert entry is not None and entry.value == {"replication-factor": 1}


def test_applied_records(store: etcd.EtcdStore, etcd_env: str) -> None:
    records_in = (("orders", {"partitions": 3}, "sha256:abc"), ("clicks", {"partitions": 1}, "sha256:def"))
    for topic, spec, digest in records_in:
        store.put(etcd.applied_key(etcd_env, topic), applied_record(topic, spec, digest), expect_revision=0)
    records = read_records(store, etcd_env)
    assert sorted(records) == ["clicks", "orders"]
    assert records["orders"].spec == {"partitions": 3}
    assert records["orders"].plan_digest == "sha256:abc"
    assert records["orders"].by == etcdlock.holder_identity()
    orders = read_records(store, etcd_env)["orders"]
    store.delete(etcd.applied_key(etcd_env, "orders"), expect_revision=orders.mod_revision)
    assert sorted(read_records(store, etcd_env)) == ["clicks"]


def test_unreachable_etcd_is_one_clear_fault() -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    store = etcd.EtcdStore(endpoint)
    with pytest.raises(PlatformError) as caught:
        store.get("/platformctl/envs/dev/topic-defaults")
    assert str(caught.value) == f"etcd at {endpoint} is unreachable"
    assert caught.value.exit_code == 1
    assert "--etcd-endpoint" in (caught.value.hint or "")


def test_etcd_stopped_mid_session(etcd_server: EtcdServer, etcd_env: str) -> None:
    store = etcd.EtcdStore(etcd_server.endpoint)
    with etcd_server.stopped(), pytest.raises(PlatformError, match="is unreachable"):
        store.ping()
    store.ping()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("127.0.0.1:2380", ("http", "127.0.0.1", 2380)),
        ("http://localhost", ("http", "localhost", 2379)),
        ("https://etcd.example:443/", ("https", "etcd.example", 443)),
    ],
)
def test_parse_endpoint(given: str, expected: tuple[str, str, int]) -> None:
    assert etcd.parse_endpoint(given) == expected


@pytest.mark.parametrize("given", ["ftp://x:1", "http://:2379", "http://host:99999", "http://host/path"])
def test_bad_endpoint_is_input_error(given: str) -> None:
    with pytest.raises(InputError, match="--etcd-endpoint"):
        etcd.parse_endpoint(given)


def test_chunked_writes_go_side_by_side_and_say_which_were_not_written(
    store: etcd.EtcdStore, etcd_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Four records a transaction, four lanes: nine transactions, several in flight at once (real etcd).
    monkeypatch.setattr(etcd, "MAX_TXN_OPS", 4)
    keys = [etcd.applied_key(etcd_env, f"t{i:02d}") for i in range(36)]
    revisions = store.write_chunked([etcd.Write(k, {"i": i}, 0) for i, k in enumerate(keys)])
    assert [e.key for e in store.list(etcd.applied_prefix(etcd_env))] == keys
    assert revisions == [store.get(k).mod_revision for k in keys]  # type: ignore[union-attr]
    assert len(set(revisions)) == 9  # one transaction per chunk

    # Another writer moved one key of the fifth chunk: that transaction writes nothing, is the error, and
    # the revisions say which writes went through (0: not written).
    store.put(keys[17], {"moved": True}, expect_revision=revisions[17])
    again = [etcd.Write(k, {"i": i, "again": True}, r) for i, (k, r) in enumerate(zip(keys, revisions, strict=True))]
    written = [0] * len(again)
    with pytest.raises(etcd.ConflictError, match=re.escape(keys[17])):
        store.write_chunked(again, revisions=written)
    assert written[16:20] == [0, 0, 0, 0]
    for key, revision in zip(keys, written, strict=True):
        value = store.get(key).value  # type: ignore[union-attr]
        assert bool(revision) == (value.get("again") is True)
