"""`up`'s target guard and the API server's refusals, on the real Kubernetes 1.36 control plane.

A context kubeconfig lacks, or minikube's context missing, is refused before any request (the API server's
audit log shows none); bad credentials are the real server's 401, missing RBAC permission its 403.
"""

from __future__ import annotations

import pytest

from tests.conftest import RunCli
from tests.lifecycle import error_line, up
from tests.plugins.fake_minikube import FakeMinikube
from tests.plugins.kube_real import RealCluster

pytestmark = pytest.mark.kube_real


def test_a_context_missing_from_kubeconfig_is_refused_before_any_request(
    run_cli: RunCli, real_cluster: RealCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = real_cluster.plane.write_kubeconfig(
        real_cluster.kubeconfig.with_name("current"), {"lab": real_cluster.credentials}, current="lab"
    )
    monkeypatch.setenv("KUBECONFIG", str(path))
    result = run_cli("--context", "prod", "--namespace", real_cluster.namespace, "up", "--no-wait")
    assert result.exit_code == 2
    assert "kube context 'prod' not found" in result.stderr
    assert "current context is 'lab', which platformctl never uses implicitly" in result.stderr
    assert real_cluster.requests() == []


@pytest.mark.fake_minikube
def test_minikube_mode_never_falls_back_to_the_current_context(
    run_cli: RunCli, real_cluster: RealCluster, fake_minikube: FakeMinikube, monkeypatch: pytest.MonkeyPatch
) -> None:
    # minikube says its profile runs, but kubeconfig only knows `work` (current): nothing may reach it.
    fake_minikube.set_profile("minikube", status="OK", version="v1.35.0")
    path = real_cluster.plane.write_kubeconfig(
        real_cluster.kubeconfig.with_name("work"), {"work": real_cluster.credentials}, current="work"
    )
    monkeypatch.setenv("KUBECONFIG", str(path))
    result = run_cli("--namespace", real_cluster.namespace, "up", "--no-wait")
    assert result.exit_code == 2, result.stderr
    assert "minikube.profile: kube context 'minikube' not found" in result.stderr
    assert real_cluster.requests() == []


def test_credentials_the_server_does_not_accept_are_one_line(
    run_cli: RunCli, real_cluster: RealCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = real_cluster.plane.write_kubeconfig(real_cluster.kubeconfig.with_name("expired"), {"lab": "expired-token"})
    monkeypatch.setenv("KUBECONFIG", str(path))
    code, _, err = up(run_cli, real_cluster, "--no-wait")
    assert code == 1
    assert error_line(err) == (
        f"error: the API server at {real_cluster.plane.server} rejected the credentials of context 'lab' "
        "(401 Unauthorized) while reading the server version"
    )
    assert "Traceback" not in err


def test_a_request_rbac_forbids_names_the_object(
    run_cli: RunCli, real_cluster: RealCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    ns, plane = real_cluster.namespace, real_cluster.plane
    user = f"limited-{ns}"
    labels = {"app.kubernetes.io/instance": ns}  # so the fixture's cleanup removes them
    rw = ["get", "list", "watch", "create", "update", "patch", "delete"]
    plane.api("POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles", {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": user, "labels": labels},
        "rules": [
            {"apiGroups": ["", "admissionregistration.k8s.io", "policy"], "resources": ["*"], "verbs": rw},
            {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["*"], "verbs": [*rw, "bind", "escalate"]},
            {"apiGroups": ["apps"], "resources": ["deployments", "replicasets"], "verbs": rw},
            {"apiGroups": ["apps"], "resources": ["statefulsets"], "verbs": ["get", "list", "watch"]},
        ],
    })  # fmt: skip
    plane.api("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": user, "labels": labels},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": user},
        "subjects": [{"kind": "User", "name": user, "apiGroup": "rbac.authorization.k8s.io"}],
    })  # fmt: skip
    path = plane.write_kubeconfig(real_cluster.kubeconfig.with_name("limited"), {"lab": plane.user(user, admin=False)})
    monkeypatch.setenv("KUBECONFIG", str(path))
    # RBAC caches refresh asynchronously: wait until the server grants the binding (a namespaces list).
    plane.wait_until(
        lambda: plane.request("GET", "/api/v1/namespaces", as_user=plane.user(user, admin=False))[0] == 200
    )
    code, _, err = up(run_cli, real_cluster, "--no-wait")
    assert code == 1
    assert error_line(err) == (
        f'error: forbidden while applying StatefulSet {ns}/kafka: statefulsets.apps "kafka" is forbidden: '
        f'User "{user}" cannot patch resource "statefulsets" in API group "apps" in the namespace "{ns}"'
    )
    assert "needs RBAC permission" in err
