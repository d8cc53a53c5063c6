"""Kafka's and etcd's data on claims, and N brokers, against the real Kubernetes 1.36 control plane.

The StatefulSet controller makes the claims from the volumeClaimTemplates, the PersistentVolume controller
binds them to volumes of the default StorageClass `standard` (pre-made with `add_persistent_volumes`: no
provisioner runs here, as minikube's would), the scheduler places the pods on kwok's node, and `down` meets
the real pvc-protection finalizer and namespace finalization. Nothing runs in the pods (kwok): that Kafka
itself finds its topics again on a reused claim is the real-Kafka tests' part.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from platformctl.commands import base
from tests.conftest import RunCli
from tests.plugins.kube_real import RealCluster

pytestmark = pytest.mark.kube_real


def claims(cluster: RealCluster) -> dict[str, dict[str, Any]]:
    items = cluster.plane.api("GET", f"/api/v1/namespaces/{cluster.namespace}/persistentvolumeclaims")["items"]
    return {c["metadata"]["name"]: c for c in items}


def pods(cluster: RealCluster) -> dict[str, dict[str, Any]]:
    items = cluster.plane.api("GET", f"/api/v1/namespaces/{cluster.namespace}/pods")["items"]
    return {p["metadata"]["name"]: p for p in items}


def namespace_exists(cluster: RealCluster) -> bool:
    status, _ = cluster.plane.request("GET", f"/api/v1/namespaces/{cluster.namespace}")
    return status == 200


def claim_of(pod: dict[str, Any]) -> str:
    (volume,) = [v for v in pod["spec"]["volumes"] if v["name"] == "data"]
    return str(volume["persistentVolumeClaim"]["claimName"])


def test_up_binds_the_claims_down_keep_data_keeps_them_and_the_next_up_reuses_them(
    run_cli: RunCli, real_cluster: RealCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = run_cli(*real_cluster.args, "up", "--timeout", "120")  # on the fixture's two volumes
    assert first.exit_code == 0, first.stderr
    bound = claims(real_cluster)
    assert sorted(bound) == ["data-etcd-0", "data-kafka-0"]
    for claim in bound.values():
        assert claim["status"]["phase"] == "Bound"
        assert claim["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "platformctl"
    volumes = {name: c["spec"]["volumeName"] for name, c in bound.items()}
    uids = {name: c["metadata"]["uid"] for name, c in bound.items()}
    assert {claim_of(p) for p in pods(real_cluster).values() if p["metadata"]["name"] in ("kafka-0", "etcd-0")} == {
        "data-kafka-0",
        "data-etcd-0",
    }

    kept = run_cli(*real_cluster.args, "down", "--keep-data", "--yes", "--timeout", "120")
    assert kept.exit_code == 0, kept.stderr
    assert "kept namespace" in kept.stderr and "data-etcd-0, data-kafka-0" in kept.stderr
    assert namespace_exists(real_cluster)
    after = claims(real_cluster)
    assert {n: c["metadata"]["uid"] for n, c in after.items()} == uids
    assert all(c["status"]["phase"] == "Bound" for c in after.values())
    assert pods(real_cluster) == {}  # the workloads went; the data did not

    again = run_cli(*real_cluster.args, "up", "--timeout", "120")
    assert again.exit_code == 0, again.stderr
    reused = claims(real_cluster)
    assert {n: c["metadata"]["uid"] for n, c in reused.items()} == uids  # the same claims, not new ones
    assert {n: c["spec"]["volumeName"] for n, c in reused.items()} == volumes  # on the same volumes
    assert claim_of(pods(real_cluster)["kafka-0"]) == "data-kafka-0"

    # Without --keep-data, down names the claims and asks; "no" keeps everything.
    monkeypatch.setattr(base, "interactive", lambda: True)
    declined = run_cli(*real_cluster.args, "down", input="n\n")
    assert declined.exit_code == 1
    assert "delete 2 PersistentVolumeClaims and the data on them (data-etcd-0 (10Gi), data-kafka-0 (10Gi))" in (
        declined.stderr
    )
    assert sorted(claims(real_cluster)) == ["data-etcd-0", "data-kafka-0"]
    gone = run_cli(*real_cluster.args, "down", "--timeout", "120", input="y\n")
    assert gone.exit_code == 0, gone.stderr
    assert "PersistentVolumeClaim" in gone.stderr and "data-kafka-0 deleted" in gone.stderr
    assert not namespace_exists(real_cluster)
    for name in volumes.values():  # the claims let go of their volumes (reclaim policy Delete: released or gone)
        status, volume = real_cluster.plane.request("GET", f"/api/v1/persistentvolumes/{name}")
        assert status == 404 or volume["status"]["phase"] in ("Released", "Failed"), volume


def test_three_brokers_come_up_ready_each_on_its_own_claim(
    run_cli: RunCli, real_cluster: RealCluster, tmp_path: Path
) -> None:
    real_cluster.plane.add_persistent_volumes(2)  # with the fixture's two: three brokers and etcd
    config = tmp_path / "platformctl.yaml"
    config.write_text("kafka:\n  brokers: 3\n")
    result = run_cli("--config", str(config), *real_cluster.args, "up", "--timeout", "180")
    assert result.exit_code == 0, result.stderr
    assert "kafka: 3/3 ready" in result.stderr
    running = pods(real_cluster)
    brokers = sorted(name for name in running if name.startswith("kafka-") and not name.startswith("kafka-ui"))
    assert brokers == ["kafka-0", "kafka-1", "kafka-2"]
    assert [claim_of(running[b]) for b in brokers] == ["data-kafka-0", "data-kafka-1", "data-kafka-2"]
    assert all(c["status"]["phase"] == "Bound" for c in claims(real_cluster).values())
    # Each broker is reachable by name: the headless Service lists every broker pod (ready or not).
    slices = real_cluster.plane.api(
        "GET",
        f"/apis/discovery.k8s.io/v1/namespaces/{real_cluster.namespace}/endpointslices"
        "?labelSelector=kubernetes.io/service-name=kafka-brokers",
    )["items"]
    names = sorted(e["targetRef"]["name"] for s in slices for e in s.get("endpoints") or [])
    assert names == brokers
    # Three brokers replicate as production: nothing to seed.
    assert "not needed (3 brokers replicate topics as production does)" in result.stdout


def test_claims_without_a_volume_stop_up_with_what_to_do(
    run_cli: RunCli, real_cluster: RealCluster, tmp_path: Path
) -> None:
    config = tmp_path / "platformctl.yaml"
    config.write_text("storage-class: no-such-class\n")  # no volume of this class will ever exist
    result = run_cli("--config", str(config), *real_cluster.args, "up", "--timeout", "120")
    assert result.exit_code == 1
    error = next(line for line in result.stderr.splitlines() if line.startswith("error: "))
    assert "pod cannot be scheduled: its volume claims are not bound" in error
    assert "set storage-class in platformctl.yaml, or storage: ephemeral" in result.stderr
    assert {c["spec"]["storageClassName"] for c in claims(real_cluster).values()} == {"no-such-class"}


def test_a_storage_change_is_refused_with_what_to_do_and_down_keep_data_then_up_applies_it(
    run_cli: RunCli, real_cluster: RealCluster, tmp_path: Path
) -> None:
    """A StatefulSet's volumeClaimTemplates cannot change in place (the API server refuses the apply): what a
    platform up with emptyDirs (storage: ephemeral, or an earlier platformctl) meets when claims arrive."""
    ephemeral = tmp_path / "ephemeral.yaml"
    ephemeral.write_text("storage: ephemeral\n")
    first = run_cli("--config", str(ephemeral), *real_cluster.args, "up", "--timeout", "120")
    assert first.exit_code == 0, first.stderr
    assert claims(real_cluster) == {}
    refused = run_cli(*real_cluster.args, "up", "--timeout", "120")
    assert refused.exit_code == 1
    error = next(line for line in refused.stderr.splitlines() if line.startswith("error: "))
    assert f"StatefulSet {real_cluster.namespace}/kafka" in error
    assert "a StatefulSet's volume claims, service name and pod management cannot change in place" in error
    hint = " ".join(refused.stderr.split())
    assert f"--namespace {real_cluster.namespace}" in hint or f"-n {real_cluster.namespace}" in hint
    assert "down --keep-data` removes the StatefulSets and keeps their data" in hint
    kept = run_cli(*real_cluster.args, "down", "--keep-data", "--yes", "--timeout", "120")
    assert kept.exit_code == 0, kept.stderr
    again = run_cli(*real_cluster.args, "up", "--timeout", "120")
    assert again.exit_code == 0, again.stderr
    assert sorted(claims(real_cluster)) == ["data-etcd-0", "data-kafka-0"]
