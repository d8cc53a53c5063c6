"""`up`, `down` and `status` against the real Kubernetes 1.36 control plane (tests/plugins/kube_real.py).

Pod Security admission enforces `restricted` on the namespace `up` creates, the ValidatingAdmissionPolicy is
real, the workload controllers, the scheduler and kwok move the pods; minikube is never involved (`--context`).
Each test has a namespace and a user of its own on the one control plane of the session; what the commands
sent is read from the API server's audit log (`real_cluster.requests()`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from platformctl.adapters import etcd
from platformctl.adapters.etcd import EtcdStore
from platformctl.platform import drift, kubesync
from tests.conftest import RunCli
from tests.lifecycle import COMPONENTS, OBJECTS, config_file, error_line, labelled, up
from tests.plugins.kube_real import MISSING_IMAGE_REGISTRY, RealCluster

pytestmark = pytest.mark.kube_real

# --- up: apply, idempotence, drift, conflicts ---------------------------------------------------------


def test_up_from_nothing_waits_until_ready_and_summarises(run_cli: RunCli, real_cluster: RealCluster) -> None:
    code, out, err = up(run_cli, real_cluster, "--timeout", "120")
    assert code == 0, err
    for component in COMPONENTS:
        assert f"{component}: 1/1 ready" in err  # plain progress lines off a terminal
    assert out.count("│ ready") == len(COMPONENTS)
    assert "created (" in out and "next:" in out
    # Seeded through a real port-forward: API server -> kwok (the "kubelet") -> the etcd behind the pod.
    assert f"topic-defaults of environment '{real_cluster.env}': seeded" in out
    seeded = EtcdStore(real_cluster.etcd.endpoint).get(etcd.topic_defaults_key(real_cluster.env))
    assert seeded is not None and seeded.value == {"replication-factor": 1, "config": {"min.insync.replicas": "1"}}
    forwards = [e for e in real_cluster.requests() if e.uri.endswith("/portforward?ports=2379")]
    assert [(e.namespace, e.name, e.code) for e in forwards] == [(real_cluster.namespace, "etcd-0", 101)]
    writes = [w for w in real_cluster.writes() if w.resource != "pods"]  # the forward is a `create pods/portforward`
    assert len(writes) == OBJECTS and {w.verb for w in writes} == {"patch"}
    assert all("fieldManager=platformctl" in w.uri and "force=" not in w.uri for w in writes)
    assert [w.resource for w in writes][:2] == ["namespaces", "serviceaccounts"]
    # What the real controllers made of it: every workload's pod Running on the node, admitted by PSA.
    ns = real_cluster.get(f"/api/v1/namespaces/{real_cluster.namespace}")
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    pods = real_cluster.get(f"/api/v1/namespaces/{real_cluster.namespace}/pods")["items"]
    assert sorted(p["metadata"]["labels"]["app.kubernetes.io/name"] for p in pods) == sorted(COMPONENTS)
    assert {p["status"]["phase"] for p in pods} == {"Running"} and {p["spec"]["nodeName"] for p in pods} == {"minikube"}


def test_second_up_sends_no_write_and_changes_no_resource_version(run_cli: RunCli, real_cluster: RealCluster) -> None:
    assert up(run_cli, real_cluster, "--timeout", "120")[0] == 0
    before, seen = labelled(real_cluster), len(real_cluster.requests())
    code, out, err = up(run_cli, real_cluster, "--timeout", "120")
    assert code == 0, err
    again = real_cluster.requests()[seen:]
    assert [e for e in again if e.verb not in ("get", "list")] == [], "not even a dry-run"
    assert labelled(real_cluster) == before
    # One row each for the namespace, its user, the security policy and the five components.
    assert "created (" not in out and "updated (" not in out and out.count("│ unchanged (") == 8


def test_drift_is_put_back_and_only_the_drifted_objects_are_written(run_cli: RunCli, real_cluster: RealCluster) -> None:
    ns = real_cluster.namespace
    assert up(run_cli, real_cluster, "--no-wait")[0] == 0
    plane = real_cluster.plane
    # `kubectl scale sts kafka --replicas=0`, `kubectl label svc etcd app.kubernetes.io/part-of-`, and a
    # ConfigMap deleted by hand.
    plane.api(
        "PATCH",
        f"/apis/apps/v1/namespaces/{ns}/statefulsets/kafka/scale?fieldManager=kubectl",
        {"spec": {"replicas": 0}},
        content_type="application/merge-patch+json",
    )
    plane.api(
        "PATCH",
        f"/api/v1/namespaces/{ns}/services/etcd?fieldManager=kubectl-label",
        {"metadata": {"labels": {"app.kubernetes.io/part-of": None}}},
        content_type="application/strategic-merge-patch+json",
    )
    plane.api("DELETE", f"/api/v1/namespaces/{ns}/configmaps/fluentd-config")
    seen = len(real_cluster.requests())
    code, _, err = up(run_cli, real_cluster, "--no-wait")
    assert code == 0, err
    writes = [(w.resource, w.name) for w in real_cluster.requests()[seen:] if w.is_write]
    assert sorted(writes) == [("configmaps", "fluentd-config"), ("services", "etcd"), ("statefulsets", "kafka")]
    assert real_cluster.get(f"/apis/apps/v1/namespaces/{ns}/statefulsets/kafka")["spec"]["replicas"] == 1
    labels = real_cluster.get(f"/api/v1/namespaces/{ns}/services/etcd")["metadata"]["labels"]
    assert labels["app.kubernetes.io/part-of"] == "platformctl"
    assert real_cluster.get(f"/api/v1/namespaces/{ns}/configmaps/fluentd-config") is not None


def test_a_changed_setting_writes_only_the_objects_it_changes(
    run_cli: RunCli, real_cluster: RealCluster, tmp_path: Path
) -> None:
    assert up(run_cli, real_cluster, "--timeout", "120")[0] == 0
    before, seen = labelled(real_cluster), len(real_cluster.requests())
    config = config_file(tmp_path, "kafka-ui:\n  image: kafbat/kafka-ui:v1.4.1\n")
    code, out, err = up(run_cli, real_cluster, "--timeout", "120", config=config)
    assert code == 0, err
    writes = [(w.verb, w.resource, w.name) for w in real_cluster.requests()[seen:] if w.is_write]
    assert writes == [("patch", "deployments", "kafka-ui")]
    after = labelled(real_cluster)
    assert [k for k in after if after[k] != before.get(k)] == [("Deployment", real_cluster.namespace, "kafka-ui")]
    assert "kafka-ui        │ updated (2)" in out and "kafka-ui: 1/1 ready" in err


def test_a_quantity_the_server_normalises_is_not_a_difference(
    run_cli: RunCli, real_cluster: RealCluster, tmp_path: Path
) -> None:
    config = config_file(
        tmp_path,
        "kafka-ui:\n  resources:\n    requests: {cpu: 100m, memory: 384Mi}\n    limits: {cpu: 1000m, memory: 768Mi}\n",
    )
    assert up(run_cli, real_cluster, "--no-wait", config=config)[0] == 0
    live = real_cluster.get(f"/apis/apps/v1/namespaces/{real_cluster.namespace}/deployments/kafka-ui")
    assert live["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] == "1"
    seen = len(real_cluster.requests())
    assert up(run_cli, real_cluster, "--no-wait", config=config)[0] == 0
    assert [e for e in real_cluster.requests()[seen:] if e.verb == "patch"] == []


def test_when_the_local_check_is_unsure_the_server_dry_run_decides_and_nothing_is_written(
    run_cli: RunCli, real_cluster: RealCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The real server's defaulting and normalisation, not the local comparison, have the last word. (Ready
    # first: until then the controllers still write the workloads' status, which moves resourceVersions.)
    assert up(run_cli, real_cluster, "--timeout", "120")[0] == 0
    before, seen = labelled(real_cluster), len(real_cluster.requests())
    monkeypatch.setattr(drift, "drift", lambda desired, live, manager="platformctl": ["unsure"])
    assert up(run_cli, real_cluster, "--no-wait")[0] == 0
    rerun = real_cluster.requests()[seen:]
    assert len([e for e in rerun if e.verb == "patch" and e.dry_run]) == OBJECTS
    assert [e for e in rerun if e.is_write] == []
    assert labelled(real_cluster) == before


def test_a_field_another_manager_owns_is_a_conflict_unless_force_conflicts(
    run_cli: RunCli, real_cluster: RealCluster
) -> None:
    ns = real_cluster.namespace
    assert up(run_cli, real_cluster, "--no-wait")[0] == 0
    # `kubectl edit` (an update, not an apply) takes the field over from platformctl.
    real_cluster.plane.api(
        "PATCH",
        f"/apis/apps/v1/namespaces/{ns}/deployments/fluentd?fieldManager=kubectl-edit",
        {"metadata": {"labels": {"app.kubernetes.io/part-of": "x"}}},
        content_type="application/strategic-merge-patch+json",
    )
    seen = len(real_cluster.requests())
    code, _, err = up(run_cli, real_cluster, "--no-wait")
    assert code == 1
    assert error_line(err) == (
        f"error: conflict while checking Deployment {ns}/fluentd: Apply failed with 1 conflict: conflict with "
        '"kubectl-edit" using apps/v1: .metadata.labels.app.kubernetes.io/part-of'
    )
    assert "--force-conflicts" in err and "Traceback" not in err
    assert [e for e in real_cluster.requests()[seen:] if e.is_write] == []
    code, _, err = up(run_cli, real_cluster, "--no-wait", "--force-conflicts")
    assert code == 0, err
    live = real_cluster.get(f"/apis/apps/v1/namespaces/{ns}/deployments/fluentd")
    assert live["metadata"]["labels"]["app.kubernetes.io/part-of"] == "platformctl"
    owners = {e["manager"] for e in live["metadata"]["managedFields"] if "f:app.kubernetes.io/part-of" in json.dumps(e)}
    assert owners == {"platformctl"}


def test_the_servers_pod_security_warnings_are_shown(
    run_cli: RunCli, real_cluster: RealCluster, tmp_path: Path
) -> None:
    # fast-data-dev runs as root: the namespace enforces `baseline` but still warns at `restricted`, and the
    # real admission plugin says so on the apply of the StatefulSet.
    config = config_file(tmp_path, "kafka:\n  flavor: fast-data-dev\n")
    code, _, err = up(run_cli, real_cluster, "--no-wait", config=config)
    assert code == 0, err
    text = " ".join(err.split())
    assert f'StatefulSet {real_cluster.namespace}/kafka: would violate PodSecurity "restricted:v1.36"' in text
    assert "runAsNonRoot != true" in text


def test_an_existing_namespace_platformctl_did_not_create_is_refused_not_adopted(
    run_cli: RunCli, real_cluster: RealCluster
) -> None:
    real_cluster.plane.api(
        "POST",
        "/api/v1/namespaces",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": real_cluster.namespace}},
    )
    code, _, err = up(run_cli, real_cluster, "--no-wait")
    assert code == 2
    assert error_line(err).startswith(
        f"error: --namespace: namespace '{real_cluster.namespace}' already exists and was not created by platformctl"
    )
    assert real_cluster.writes() == []


# --- the wait and its diagnosis ---------------------------------------------------------------------------


def test_a_pod_violating_restricted_is_diagnosed_from_the_real_failed_create_event(
    run_cli: RunCli, real_cluster: RealCluster
) -> None:
    ns = real_cluster.namespace
    assert up(run_cli, real_cluster, "--timeout", "120")[0] == 0
    # Someone adds hostPID to the pod template: the Deployment is accepted, its new pods are refused.
    real_cluster.plane.api(
        "PATCH",
        f"/apis/apps/v1/namespaces/{ns}/deployments/fluentd?fieldManager=kubectl-patch",
        {"spec": {"template": {"spec": {"hostPID": True}}}},
        content_type="application/strategic-merge-patch+json",
    )
    code, _, err = up(run_cli, real_cluster, "--timeout", "120")
    assert code == 1
    assert (
        error_line(err).startswith('error: fluentd: pods refused: Error creating: pods "fluentd-')
        and 'is forbidden: violates PodSecurity "restricted:v1.36": host namespaces (hostPID=true)' in err
    )
    assert "security policy" in err


def test_an_image_that_cannot_be_pulled_fails_fast(run_cli: RunCli, real_cluster: RealCluster, tmp_path: Path) -> None:
    image = f"{MISSING_IMAGE_REGISTRY}/fluent/fluentd:v9.9.9"
    code, _, err = up(
        run_cli, real_cluster, "--timeout", "120", config=config_file(tmp_path, f"fluentd:\n  image: {image}\n")
    )
    assert code == 1
    assert error_line(err).startswith(f"error: fluentd: image '{image}' cannot be pulled (ErrImagePull)")
    assert "images cache`" in err


def test_a_crash_loop_shows_the_containers_last_log_lines(run_cli: RunCli, real_cluster: RealCluster) -> None:
    ns = real_cluster.namespace
    assert up(run_cli, real_cluster, "--timeout", "120")[0] == 0
    real_cluster.plane.previous_logs.write_text(
        "2026-01-01T00:00:00.000000000Z stdout F starting etcd\n"
        '2026-01-01T00:00:01.000000000Z stderr F {"level":"fatal","msg":"cannot access data directory"}\n'
    )
    real_cluster.plane.fail(ns, "StatefulSet", "etcd", "crash-loop")
    code, _, err = up(run_cli, real_cluster, "--timeout", "120")
    assert code == 1
    assert error_line(err) == (
        "error: etcd: container 'etcd' keeps crashing (exit code 1, CrashLoopBackOff); last log line: "
        '{"level":"fatal","msg":"cannot access data directory"}'
    )
    assert "starting etcd" in err  # the lines before it, read through the API server from the "kubelet"
    log_reads = [e for e in real_cluster.requests() if e.resource == "pods" and "/log" in e.uri]
    assert log_reads and "previous=true" in log_reads[0].uri


def test_a_pod_no_node_can_take_fails_after_the_grace_period(
    run_cli: RunCli, real_cluster: RealCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kubesync, "UNSCHEDULABLE_GRACE", 0.0)
    config = config_file(
        tmp_path,
        "kafka:\n  resources:\n    requests: {cpu: 250m, memory: 512Gi}\n    limits: {cpu: '1', memory: 512Gi}\n",
    )
    code, _, err = up(run_cli, real_cluster, "--timeout", "120", config=config)
    assert code == 1
    # The scheduler's own words (they continue with what preemption could do).
    assert error_line(err).startswith(
        "error: kafka: pod cannot be scheduled: 0/1 nodes are available: 1 Insufficient memory."
    )
    assert "minikube.memory" in err


def test_the_timeout_is_one_line_naming_what_is_not_ready(run_cli: RunCli, real_cluster: RealCluster) -> None:
    code, _, err = up(run_cli, real_cluster, "--timeout", "0")
    assert code == 1
    line = error_line(err)
    assert line.startswith("error: timed out after 0s waiting for the platform to be ready (")
    assert any(f"({c}: " in line or f"; {c}: " in line for c in COMPONENTS), line
    assert err.strip().splitlines()[-1].startswith("hint:")


def test_a_crash_loop_whose_log_cannot_be_read_is_still_diagnosed(run_cli: RunCli, real_cluster: RealCluster) -> None:
    # The kubelet cannot always give the previous run's log (rotated away, node unreachable): kwok here has
    # no file to serve, and the API server relays its error. The crash is still the diagnosis.
    assert up(run_cli, real_cluster, "--timeout", "120")[0] == 0
    real_cluster.plane.previous_logs.unlink()
    try:
        real_cluster.plane.fail(real_cluster.namespace, "StatefulSet", "etcd", "crash-loop")
        code, _, err = up(run_cli, real_cluster, "--timeout", "120")
    finally:
        real_cluster.plane.previous_logs.touch()
    assert code == 1
    assert error_line(err) == "error: etcd: container 'etcd' keeps crashing (exit code 1, CrashLoopBackOff)"
    assert "its log could not be read" in err
