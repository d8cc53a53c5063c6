"""drift: deciding without a request whether a live object already holds what platformctl applies."""

from __future__ import annotations

import copy
from typing import Any

from platformctl.platform import drift

DESIRED: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "ui", "namespace": "dev", "labels": {"app": "ui"}},
    "spec": {
        "template": {
            "spec": {
                "containers": [
                    {
                        "name": "ui",
                        "image": "kafbat/kafka-ui:v1.4.2",
                        "ports": [{"containerPort": 8080}],
                        "resources": {"limits": {"cpu": "1000m", "memory": "768Mi"}},
                    }
                ]
            }
        }
    },
}

OWNED = {
    "f:metadata": {"f:labels": {"f:app": {}}},
    "f:spec": {
        "f:template": {
            "f:spec": {
                "f:containers": {
                    'k:{"name":"ui"}': {
                        ".": {},
                        "f:name": {},
                        "f:image": {},
                        "f:ports": {'k:{"containerPort":8080,"protocol":"TCP"}': {".": {}, "f:containerPort": {}}},
                        "f:resources": {"f:limits": {"f:cpu": {}, "f:memory": {}}},
                    }
                }
            }
        }
    },
}


def live_copy() -> dict[str, Any]:
    """What a real server returns: defaults filled in, quantities canonical, our managedFields entry."""
    live = copy.deepcopy(DESIRED)
    live.pop("apiVersion")
    live.pop("kind")
    live["metadata"].update(
        resourceVersion="7",
        uid="u1",
        labels={"app": "ui", "pod-template-hash": "x"},
        managedFields=[{"manager": "platformctl", "operation": "Apply", "fieldsV1": OWNED}],
    )
    live["spec"]["replicas"] = 1
    container = live["spec"]["template"]["spec"]["containers"][0]
    container["terminationMessagePath"] = "/dev/termination-log"
    container["ports"][0]["protocol"] = "TCP"
    container["resources"]["limits"]["cpu"] = "1"
    live["status"] = {"readyReplicas": 1}
    return live


def test_defaults_status_and_canonical_quantities_are_not_drift() -> None:
    assert drift.drift(DESIRED, live_copy()) == []


def test_a_changed_value_is_drift() -> None:
    desired = copy.deepcopy(DESIRED)
    desired["spec"]["template"]["spec"]["containers"][0]["image"] = "kafbat/kafka-ui:v1.4.3"
    assert drift.drift(desired, live_copy()) == [".spec.template.spec.containers[0].image differs"]


def test_a_field_dropped_from_the_render_is_drift_through_managed_fields() -> None:
    desired = copy.deepcopy(DESIRED)
    del desired["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"]
    reasons = drift.drift(desired, live_copy())
    assert reasons == ['.spec.template.spec.containers[{"name":"ui"}].resources.limits.memory no longer set']


def test_a_dropped_list_element_is_drift() -> None:
    desired = copy.deepcopy(DESIRED)
    desired["spec"]["template"]["spec"]["containers"][0]["ports"] = []
    assert any("ports" in r for r in drift.drift(desired, live_copy()))


def test_an_object_platformctl_never_applied_is_drift() -> None:
    live = live_copy()
    live["metadata"]["managedFields"] = [{"manager": "kubectl", "operation": "Update", "fieldsV1": {}}]
    assert drift.drift(DESIRED, live) == ["not applied by platformctl yet"]


def test_quantities_compare_by_value() -> None:
    assert drift.quantity("500m") == drift.quantity("0.5")
    assert drift.quantity("1Gi") == drift.quantity("1024Mi")
    assert drift.quantity("1G") != drift.quantity("1Gi")
    assert drift.quantity("kafka") is None


def test_same_object_ignores_only_volatile_metadata() -> None:
    live = live_copy()
    answer = copy.deepcopy(live)
    answer["metadata"]["resourceVersion"] = "8"
    answer["metadata"]["managedFields"][0]["time"] = "2026-02-02T00:00:00Z"
    assert drift.same_object(answer, live)
    answer["spec"]["replicas"] = 2
    assert not drift.same_object(answer, live)


def test_a_moving_status_is_not_a_difference() -> None:
    # Pods become ready between the read and the dry-run; status is the controllers', never applied.
    live = {
        "kind": "StatefulSet",
        "metadata": {"name": "kafka"},
        "spec": {"replicas": 1},
        "status": {"readyReplicas": 0},
    }
    later = {**live, "status": {"readyReplicas": 1}}
    assert drift.same_object(later, live)
    assert not drift.same_object({**later, "spec": {"replicas": 2}}, live)


def test_a_status_writer_appearing_in_managed_fields_is_not_a_difference() -> None:
    # A real API server writes a ValidatingAdmissionPolicy's status (type checking) just after each apply:
    # between platformctl's read and its dry-run a `status` managedFields entry appears.
    apply = {"manager": "platformctl", "operation": "Apply", "fieldsV1": {"f:spec": {}}, "time": "t1"}
    status = {
        "manager": "kube-apiserver",
        "operation": "Update",
        "subresource": "status",
        "fieldsV1": {"f:status": {"f:typeChecking": {}}},
        "time": "t2",
    }
    live = {"kind": "ValidatingAdmissionPolicy", "metadata": {"name": "p", "managedFields": [apply]}, "spec": {}}
    later = {**live, "metadata": {"name": "p", "managedFields": [apply, status]}, "status": {"typeChecking": {}}}
    assert drift.same_object(later, live)
    other = {**status, "manager": "kubectl-edit", "subresource": None, "fieldsV1": {"f:spec": {"f:x": {}}}}
    assert not drift.same_object({**live, "metadata": {"name": "p", "managedFields": [apply, other]}}, live)
