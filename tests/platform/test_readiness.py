"""readiness.assess: each failure a pod can be stuck in, read from recorded object states and events."""

from __future__ import annotations

from typing import Any

from platformctl.platform import readiness

SELECTOR = {"matchLabels": {"app.kubernetes.io/name": "kafka"}}


def statefulset(ready: int = 0) -> dict[str, Any]:
    return {
        "kind": "StatefulSet",
        "metadata": {"name": "kafka", "uid": "sts-1", "generation": 1},
        "spec": {"replicas": 1, "selector": SELECTOR},
        "status": {"observedGeneration": 1, "readyReplicas": ready, "currentRevision": "a", "updateRevision": "a"},
    }


def pod(**status: Any) -> dict[str, Any]:
    return {"metadata": {"name": "kafka-0", "labels": {"app.kubernetes.io/name": "kafka"}}, "status": status}


def waiting(reason: str, message: str = "", **extra: Any) -> dict[str, Any]:
    return {
        "containerStatuses": [
            {
                "name": "kafka",
                "image": "apache/kafka:4.2.0",
                "state": {"waiting": {"reason": reason, "message": message}},
                **extra,
            }
        ]
    }


PSA_MESSAGE = (
    'pods "kafka-0" is forbidden: violates PodSecurity "restricted:v1.36": allowPrivilegeEscalation != false '
    '(container "kafka" must set securityContext.allowPrivilegeEscalation=false)'
)


def failed_create(message: str, uid: str = "sts-1", kind: str = "StatefulSet", name: str = "kafka") -> dict[str, Any]:
    return {
        "reason": "FailedCreate",
        "type": "Warning",
        "message": message,
        "involvedObject": {"kind": kind, "name": name, "uid": uid},
        "lastTimestamp": "2026-01-01T00:00:01Z",
    }


def test_ready() -> None:
    state = readiness.assess(statefulset(ready=1), [], [], [])
    assert state.ready_now and state.summary == "ready"


def test_pod_security_rejection_from_statefulset_event() -> None:
    state = readiness.assess(statefulset(), [], [], [failed_create(PSA_MESSAGE)])
    assert state.problem is not None and state.problem.kind == "rejected"
    assert "violates PodSecurity" in state.problem.message


def test_rejection_of_a_deployment_is_read_from_its_current_replicaset() -> None:
    deployment = {
        "kind": "Deployment",
        "metadata": {
            "name": "ui",
            "uid": "d-1",
            "generation": 2,
            "annotations": {"deployment.kubernetes.io/revision": "2"},
        },
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "ui"}}},
        "status": {"observedGeneration": 2},
    }
    old_rs = {
        "metadata": {
            "name": "ui-old",
            "uid": "rs-1",
            "ownerReferences": [{"uid": "d-1"}],
            "annotations": {"deployment.kubernetes.io/revision": "1"},
        }
    }
    new_rs = {
        "metadata": {
            "name": "ui-new",
            "uid": "rs-2",
            "ownerReferences": [{"uid": "d-1"}],
            "annotations": {"deployment.kubernetes.io/revision": "2"},
        }
    }
    stale = failed_create(PSA_MESSAGE, uid="rs-1", kind="ReplicaSet", name="ui-old")
    state = readiness.assess(deployment, [old_rs, new_rs], [], [stale])
    assert state.problem is None, "an event of an old ReplicaSet is history"
    current = failed_create(PSA_MESSAGE, uid="rs-2", kind="ReplicaSet", name="ui-new")
    state = readiness.assess(deployment, [old_rs, new_rs], [], [stale, current])
    assert state.problem is not None and state.problem.kind == "rejected"


def test_events_of_an_earlier_incarnation_and_transient_service_account_errors_are_ignored() -> None:
    earlier = failed_create(PSA_MESSAGE, uid="sts-0")
    transient = failed_create(
        'pods "kafka-0" is forbidden: error looking up service account dev/default: serviceaccount "default" not found'
    )
    state = readiness.assess(statefulset(), [], [], [earlier, transient])
    assert state.problem is None


def test_image_pull_failure() -> None:
    state = readiness.assess(statefulset(), [], [pod(**waiting("ImagePullBackOff", "Back-off pulling image"))], [])
    assert state.problem is not None and state.problem.kind == "image"
    assert "apache/kafka:4.2.0" in state.problem.message


def test_crash_loop_names_the_container_and_exit_code() -> None:
    crashing = waiting("CrashLoopBackOff", lastState={"terminated": {"exitCode": 1}})
    state = readiness.assess(statefulset(), [], [pod(**crashing)], [])
    assert state.problem is not None and state.problem.kind == "crash"
    assert (state.problem.pod, state.problem.container) == ("kafka-0", "kafka")
    assert "exit code 1" in state.problem.message


def test_unschedulable() -> None:
    conditions = [
        {
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": "0/1 nodes are available: 1 Insufficient memory.",
        }
    ]
    state = readiness.assess(statefulset(), [], [pod(conditions=conditions)], [])
    assert state.problem is not None and state.problem.kind == "unschedulable"
    assert "Insufficient memory" in state.problem.message


def test_a_starting_pod_is_no_problem() -> None:
    state = readiness.assess(statefulset(), [], [pod(**waiting("ContainerCreating"))], [])
    assert state.problem is None and not state.ready_now
    assert state.summary == "0/1 ready"


def test_not_observed_yet_is_not_ready() -> None:
    sts = statefulset(ready=1)
    sts["metadata"]["generation"] = 2
    ready, *_ = readiness.workload_ready(sts)
    assert not ready


def deployment(**status: Any) -> dict[str, Any]:
    return {
        "kind": "Deployment",
        "metadata": {"name": "kafka-ui", "uid": "d-1", "generation": 2},
        "spec": {"replicas": 1, "selector": SELECTOR},
        "status": {"observedGeneration": 2, **status},
    }


def test_a_deployment_whose_old_pod_still_serves_is_not_ready() -> None:
    # What a real API server reports while the new ReplicaSet's pod crash-loops and the old one runs on.
    rolling = deployment(replicas=2, updatedReplicas=1, readyReplicas=1, availableReplicas=1, unavailableReplicas=1)
    assert readiness.workload_ready(rolling) == (False, 1, 1, "rolling out (1 old replica(s) pending termination)")
    done = deployment(replicas=1, updatedReplicas=1, readyReplicas=1, availableReplicas=1)
    assert readiness.workload_ready(done) == (True, 1, 1, "")
    not_updated = deployment(replicas=1, updatedReplicas=0, readyReplicas=1, availableReplicas=1)
    assert readiness.workload_ready(not_updated) == (False, 1, 1, "rolling out (0/1 updated)")
