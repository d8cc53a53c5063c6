"""The test control plane keeps its promises (tests/plugins/kube_real.py): what other tests build on.

A Ready node whose lease kwok keeps fresh, claims that bind to the PersistentVolumes a test makes (and stay
Pending without one), and the failure modes its docstring offers.
"""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from tests.plugins.kube_real import FAIL_ANNOTATION, MISSING_IMAGE_REGISTRY, NODE, RealCluster

pytestmark = pytest.mark.kube_real


def test_the_node_is_ready_with_a_fresh_lease(real_cluster: RealCluster) -> None:
    node = real_cluster.get(f"/api/v1/nodes/{NODE}")
    conditions = {c["type"]: c["status"] for c in node["status"]["conditions"]}
    assert conditions["Ready"] == "True" and not node["spec"].get("taints")
    assert node["status"]["allocatable"]["cpu"] == "64" and node["status"]["allocatable"]["memory"] == "256Gi"
    lease = real_cluster.get(f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{NODE}")
    renewed = datetime.datetime.fromisoformat(lease["spec"]["renewTime"].replace("Z", "+00:00"))
    age = datetime.datetime.now(datetime.UTC) - renewed
    assert age.total_seconds() < lease["spec"]["leaseDurationSeconds"], lease["spec"]


def _namespace(cluster: RealCluster) -> str:
    cluster.plane.api(
        "POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": cluster.namespace}}
    )
    return cluster.namespace


def _claim(cluster: RealCluster, name: str, size: str, volume: str | None = None) -> None:
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}
    if volume is not None:  # this volume only: the volumes other tests leave Available would do as well
        spec["selector"] = {"matchLabels": {"platformctl-test/pv-name": volume}}
    cluster.plane.api(
        "POST",
        f"/api/v1/namespaces/{cluster.namespace}/persistentvolumeclaims",
        {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name}, "spec": spec},
    )


def _phase(cluster: RealCluster, name: str) -> str:
    return str(cluster.get(f"/api/v1/namespaces/{cluster.namespace}/persistentvolumeclaims/{name}")["status"]["phase"])


def test_a_claim_binds_to_a_volume_the_test_made_and_stays_pending_without_one(real_cluster: RealCluster) -> None:
    plane = real_cluster.plane
    _namespace(real_cluster)
    (volume,) = plane.add_persistent_volumes(1, capacity="2Gi")
    try:
        _claim(real_cluster, "data", "1Gi", volume)  # the default StorageClass `standard`, as on minikube
        plane.wait_until(lambda: _phase(real_cluster, "data") == "Bound")
        claim = real_cluster.get(f"/api/v1/namespaces/{real_cluster.namespace}/persistentvolumeclaims/data")
        assert claim["spec"]["volumeName"] == volume and claim["spec"]["storageClassName"] == "standard"
        _claim(real_cluster, "more", "100Gi")  # no volume that large (each real_cluster adds two of 10Gi)
        events = f"/api/v1/namespaces/{real_cluster.namespace}/events?fieldSelector=involvedObject.name=more"
        plane.wait_until(lambda: bool(real_cluster.get(events)["items"]))
        assert _phase(real_cluster, "more") == "Pending"
    finally:
        plane.request("DELETE", f"/api/v1/persistentvolumes/{volume}")


def _pod(cluster: RealCluster, name: str, image: str, annotations: dict[str, str]) -> dict[str, Any]:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "annotations": annotations},
        "spec": {"containers": [{"name": "main", "image": image}]},
    }
    return dict(cluster.plane.api("POST", f"/api/v1/namespaces/{cluster.namespace}/pods", pod))


def _waiting_reason(cluster: RealCluster, name: str) -> str | None:
    pod = cluster.get(f"/api/v1/namespaces/{cluster.namespace}/pods/{name}")
    statuses = pod["status"].get("containerStatuses") or []
    return statuses[0]["state"].get("waiting", {}).get("reason") if statuses else None


def test_pods_run_unless_told_to_fail(real_cluster: RealCluster) -> None:
    plane = real_cluster.plane
    _namespace(real_cluster)
    plane.wait_until(
        lambda: real_cluster.get(f"/api/v1/namespaces/{real_cluster.namespace}/serviceaccounts/default") is not None
    )
    _pod(real_cluster, "runs", "busybox:1.37", {})
    _pod(real_cluster, "missing", f"{MISSING_IMAGE_REGISTRY}/busybox:1.37", {})
    _pod(real_cluster, "pull", "busybox:1.37", {FAIL_ANNOTATION: "image-pull"})
    _pod(real_cluster, "crash", "busybox:1.37", {FAIL_ANNOTATION: "crash-loop"})
    path = f"/api/v1/namespaces/{real_cluster.namespace}/pods/runs"
    plane.wait_until(lambda: real_cluster.get(path)["status"].get("phase") == "Running")
    ready = {c["type"]: c["status"] for c in real_cluster.get(path)["status"]["conditions"]}
    assert ready["Ready"] == "True" and real_cluster.get(path)["status"]["podIP"].startswith("10.244.")
    for name, reason in (("missing", "ErrImagePull"), ("pull", "ErrImagePull"), ("crash", "CrashLoopBackOff")):
        plane.wait_until(lambda name=name: _waiting_reason(real_cluster, name) is not None)
        assert _waiting_reason(real_cluster, name) == reason, name
