"""What the namespace's policies enforce, `status` and `down`, on the real Kubernetes 1.36 control plane.

The ValidatingAdmissionPolicy and the RBAC of the platform's user are enforced by the real API server;
`status` reads what the real controllers and kwok (tests/plugins/kube_real.py) made of the platform; `down`
meets the real namespace finalization and garbage collection.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import RunCli
from tests.lifecycle import COMPONENTS, OBJECTS, labelled, up
from tests.plugins.kube_real import RealCluster

pytestmark = pytest.mark.kube_real


# --- what the namespace's policies enforce ---------------------------------------------------------------


def _service(namespace: str, name: str, service_type: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"type": service_type, "selector": {"app": name}, "ports": [{"port": 80}]},
    }


def test_the_admission_policy_refuses_a_node_port_service_in_the_namespace_only(
    run_cli: RunCli, real_cluster: RealCluster
) -> None:
    ns = real_cluster.namespace
    assert up(run_cli, real_cluster, "--no-wait")[0] == 0
    plane = real_cluster.plane
    # The API server loads a new policy asynchronously (its informer): right after `up` there is a short
    # window in which it is not enforced yet. Ask with dry runs until it is.
    dry_run = f"/api/v1/namespaces/{ns}/services?dryRun=All"
    plane.wait_until(lambda: plane.request("POST", dry_run, _service(ns, "web", "NodePort"))[0] == 403)
    status, body = plane.request("POST", f"/api/v1/namespaces/{ns}/services", _service(ns, "web", "NodePort"))
    assert status == 403, body
    assert f"ValidatingAdmissionPolicy 'platformctl-{ns}-clusterip-only'" in body["message"]
    assert "only ClusterIP Services are allowed here" in body["message"]
    assert plane.request("POST", f"/api/v1/namespaces/{ns}/services", _service(ns, "web", "ClusterIP"))[0] == 201
    # The binding selects this namespace only: elsewhere a NodePort Service is nobody's business of ours.
    assert plane.request("POST", "/api/v1/namespaces/default/services", _service("default", ns, "NodePort"))[0] == 201
    plane.api("DELETE", f"/api/v1/namespaces/default/services/{ns}")


def _can(
    real_cluster: RealCluster, user: str, verb: str, resource: str, namespace: str | None, group: str = ""
) -> bool:
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": user,
            "groups": [
                "system:serviceaccounts",
                f"system:serviceaccounts:{real_cluster.namespace}",
                "system:authenticated",
            ],
            "resourceAttributes": {"verb": verb, "resource": resource, "group": group, "namespace": namespace or ""},
        },
    }
    answer = real_cluster.plane.api("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", review)
    return bool(answer["status"].get("allowed"))


def test_the_platform_user_can_edit_in_its_namespace_and_nothing_outside_it(
    run_cli: RunCli, real_cluster: RealCluster
) -> None:
    ns = real_cluster.namespace
    assert up(run_cli, real_cluster, "--no-wait")[0] == 0
    user = f"system:serviceaccount:{ns}:{ns}"  # the ServiceAccount named after the namespace
    assert real_cluster.get(f"/api/v1/namespaces/{ns}/serviceaccounts/{ns}") is not None
    inside = [
        ("create", "pods", ""), ("delete", "services", ""), ("patch", "deployments", "apps"),
        ("update", "statefulsets", "apps"), ("get", "secrets", ""), ("create", "pods/portforward", ""),
        ("get", "pods/log", ""), ("list", "events", ""),
    ]  # fmt: skip
    for verb, resource, group in inside:
        assert _can(real_cluster, user, verb, resource, ns, group), (verb, resource)
    outside = [
        ("get", "pods", "default", ""), ("create", "deployments", "kube-system", "apps"),
        ("list", "namespaces", None, ""), ("delete", "namespaces", None, ""),
        ("create", "roles", ns, "rbac.authorization.k8s.io"),
        ("create", "rolebindings", ns, "rbac.authorization.k8s.io"),
        ("patch", "validatingadmissionpolicies", None, "admissionregistration.k8s.io"),
        ("update", "namespaces", None, ""),
    ]  # fmt: skip
    for verb, resource, where, group in outside:
        assert not _can(real_cluster, user, verb, resource, where, group), (verb, resource, where)
    # And with a real token of that ServiceAccount, as `kubectl create token` gives the user.
    token = real_cluster.plane.token(ns, ns)
    as_user = real_cluster.plane.write_kubeconfig(real_cluster.kubeconfig.with_name("dev"), {"dev": token})
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=str(as_user), context="dev")
    try:
        core = client.CoreV1Api(api)
        assert {p.metadata.labels["app.kubernetes.io/name"] for p in core.list_namespaced_pod(ns).items} <= set(
            COMPONENTS
        )
        with pytest.raises(client.ApiException) as refused:
            core.list_namespaced_pod("default")
        assert refused.value.status == 403
    finally:
        api.close()


# --- status ------------------------------------------------------------------------------------------------


def status(run_cli: RunCli, cluster: RealCluster) -> tuple[dict[str, Any], str]:
    as_json = run_cli(*cluster.args, "status", "--output", "json")
    assert as_json.exit_code == 0, as_json.stderr
    text = run_cli(*cluster.args, "status")
    assert text.exit_code == 0, text.stderr
    return json.loads(as_json.stdout), text.stdout


def test_status_of_an_absent_a_ready_and_a_half_ready_platform(run_cli: RunCli, real_cluster: RealCluster) -> None:
    report, text = status(run_cli, real_cluster)
    assert report["cluster"]["version"] == "v1.36.3" and report["cluster"]["server"] == real_cluster.plane.server
    assert report["security"]["in_force"] == "none" and report["security"]["namespace_exists"] is False
    assert {c["state"] for c in report["components"]} == {"missing"} and report["ready"] is False
    assert text.count("missing 0/0") == len(COMPONENTS)

    assert up(run_cli, real_cluster, "--timeout", "120")[0] == 0
    report, text = status(run_cli, real_cluster)
    assert report["security"]["in_force"] == "pod-security-admission (restricted)"
    assert report["security"]["clusterip_policy"] is True
    assert {c["name"]: c["state"] for c in report["components"]} == dict.fromkeys(COMPONENTS, "ready")
    assert report["ready"] is True and text.count("ready 1/1") == len(COMPONENTS)

    real_cluster.plane.fail(real_cluster.namespace, "StatefulSet", "etcd", "crash-loop")
    # `up` waits until the replaced pod's crash is visible (and stops there): then status sees it too.
    code, _, err = up(run_cli, real_cluster, "--timeout", "120")
    assert code == 1 and "keeps crashing" in err
    report, text = status(run_cli, real_cluster)
    states = {c["name"]: c["state"] for c in report["components"]}
    assert states == {**dict.fromkeys(COMPONENTS, "ready"), "etcd": "not ready"}
    etcd = next(c for c in report["components"] if c["name"] == "etcd")
    assert etcd["detail"] == "container 'etcd' keeps crashing (exit code 1, CrashLoopBackOff)"
    assert report["ready"] is False and "CrashLoopBackOff" in text and "not ready 1/1" not in text


# --- down ------------------------------------------------------------------------------------------------


def bystanders(cluster: RealCluster) -> list[str]:
    """Objects `down` must never touch: unlabelled, or labelled for another platform instance (their paths)."""
    ns, plane = cluster.namespace, cluster.plane
    other = {
        "app.kubernetes.io/managed-by": "platformctl",
        "app.kubernetes.io/part-of": "platformctl",
        "app.kubernetes.io/instance": f"{ns}-prod",
    }
    plane.api(
        "POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"{ns}-team"}}
    )
    plane.api(
        "POST",
        f"/api/v1/namespaces/{ns}-team/configmaps",
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"a": "1"}},
    )
    plane.api(
        "POST",
        "/apis/rbac.authorization.k8s.io/v1/clusterroles",
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": f"{ns}-viewer"}},
    )
    plane.api(
        "POST",
        "/apis/rbac.authorization.k8s.io/v1/clusterroles",
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": f"{ns}-prod", "labels": other},
        },
    )
    return [
        f"/api/v1/namespaces/{ns}-team",
        f"/api/v1/namespaces/{ns}-team/configmaps/settings",
        f"/apis/rbac.authorization.k8s.io/v1/clusterroles/{ns}-viewer",
        f"/apis/rbac.authorization.k8s.io/v1/clusterroles/{ns}-prod",
    ]


def test_down_deletes_only_what_is_labelled_and_waits_until_the_namespace_is_gone(
    run_cli: RunCli, real_cluster: RealCluster
) -> None:
    ns, plane = real_cluster.namespace, real_cluster.plane
    assert up(run_cli, real_cluster, "--timeout", "120")[0] == 0
    kept = bystanders(real_cluster)
    try:
        seen = len(real_cluster.requests())
        result = run_cli(*real_cluster.args, "down", "--yes")
        assert result.exit_code == 0, result.stderr
        # The rendered objects and the two claims the StatefulSet controller made (Kafka's, etcd's).
        assert f"removed {OBJECTS + 2} objects from context 'lab'" in result.stderr
        # It waited: the namespace finished terminating (its pods deleted by the real controllers, kwok
        # letting them go) before `down` returned.
        assert plane.request("GET", f"/api/v1/namespaces/{ns}")[0] == 404
        assert labelled(real_cluster) == {}
        for path in kept:
            assert plane.request("GET", path)[0] == 200, path
        deletes = [e for e in real_cluster.requests()[seen:] if e.verb == "delete"]
        assert len(deletes) == OBJECTS + 2 and (deletes[-1].resource, deletes[-1].name) == ("namespaces", ns)
        assert sorted(e.name for e in deletes if e.resource == "persistentvolumeclaims") == [
            "data-etcd-0",
            "data-kafka-0",
        ]
        assert {e.name for e in deletes if e.resource == "validatingadmissionpolicies"} == {
            f"platformctl-{ns}-clusterip-only"
        }
    finally:
        for path in kept:
            plane.request("DELETE", path)


def test_down_with_nothing_there_deletes_nothing(run_cli: RunCli, real_cluster: RealCluster) -> None:
    result = run_cli(*real_cluster.args, "down", "--yes")
    assert result.exit_code == 0, result.stderr
    assert "nothing to delete" in result.stderr
    assert real_cluster.writes() == []


def test_down_refuses_without_confirmation_when_not_interactive(run_cli: RunCli, real_cluster: RealCluster) -> None:
    assert up(run_cli, real_cluster, "--no-wait")[0] == 0
    seen = len(real_cluster.requests())
    result = run_cli(*real_cluster.args, "down")
    assert result.exit_code == 2 and "--yes" in result.stderr
    assert real_cluster.requests()[seen:] == [], "refused before any request"


def test_down_says_what_goes_with_the_namespace_and_deletes_nothing_when_declined(
    run_cli: RunCli, real_cluster: RealCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    from platformctl.commands import base

    monkeypatch.setattr(base, "interactive", lambda: True)
    assert up(run_cli, real_cluster, "--timeout", "120")[0] == 0  # ready: the claims are made and bound
    before = labelled(real_cluster)
    result = run_cli(*real_cluster.args, "down", input="n\n")
    assert result.exit_code == 1  # an answer, not an interruption (130)
    text = " ".join(result.stderr.split())
    assert f"delete {OBJECTS} objects labelled by platformctl" in text
    assert (
        "delete 2 PersistentVolumeClaims and the data on them (data-etcd-0 (10Gi), data-kafka-0 (10Gi)): every "
        "topic and message in Kafka, and the environment overrides and applied records in the platform's etcd. "
        "Continue?"
    ) in text
    assert "nothing deleted" in result.stderr
    assert labelled(real_cluster) == before
    result = run_cli(*real_cluster.args, "down", input="y\n")
    assert result.exit_code == 0, result.stderr
    assert labelled(real_cluster) == {}
