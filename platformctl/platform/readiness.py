"""Is each workload ready, and if a pod cannot start, why? Read from objects, not guessed.

`kubesync.wait_ready` polls the workloads, their ReplicaSets, pods and the namespace's events and hands
the dicts to `assess()`. The failures worth stopping for at once, rather than waiting out the timeout:

- Pod Security (or PodSecurityPolicy, or a ValidatingAdmissionPolicy) refused the pods: no pod exists,
  and the ReplicaSet / StatefulSet controller records a `FailedCreate` event `... is forbidden: ...`
  (https://kubernetes.io/docs/concepts/security/pod-security-admission/: enforcement happens on pod
  creation, so a Deployment is accepted and only its pods are refused);
- the image cannot be pulled: `ErrImagePull`, `ImagePullBackOff`, `InvalidImageName`;
- the container crashes: `CrashLoopBackOff` (its last log lines are fetched by the caller);
- the container cannot be configured: `CreateContainerConfigError`;
- no node can take the pod: `PodScheduled=False` with reason `Unschedulable` (the caller allows a
  grace period: a node that has just started is briefly tainted not-ready), told apart when it is the
  pod's PersistentVolumeClaims that have no volume (a provisioner may take a moment too).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

IMAGE_FAILURES = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull")
CONFIG_FAILURES = ("CreateContainerConfigError", "CreateContainerError", "RunContainerError")


@dataclass
class Problem:
    """A reason the workload will not become ready by waiting."""

    kind: str  # "rejected", "image", "crash", "config", "unschedulable", "storage" (claims not bound)
    message: str
    pod: str | None = None
    container: str | None = None


@dataclass
class WorkloadState:
    name: str
    kind: str  # Deployment or StatefulSet
    desired: int = 0
    ready: int = 0
    exists: bool = True
    ready_now: bool = False
    waiting: str = ""  # what it is waiting for, in a few words
    problem: Problem | None = None
    pods: list[str] = field(default_factory=list)

    @property
    def summary(self) -> str:
        if not self.exists:
            return "missing"
        if self.ready_now:
            return "ready"
        if self.problem is not None:
            return self.problem.message
        return self.waiting or "starting"


def _labels_match(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    wanted = selector.get("matchLabels") or {}
    return all(labels.get(k) == v for k, v in wanted.items())


def _owned_by(obj: dict[str, Any], uid: str | None) -> bool:
    return any(ref.get("uid") == uid for ref in (obj.get("metadata") or {}).get("ownerReferences") or [])


def _event_time(event: dict[str, Any]) -> str:
    series = event.get("series") or {}
    return str(
        series.get("lastObservedTime") or event.get("lastTimestamp") or event.get("eventTime") or ""
    )


def _refused_by(event: dict[str, Any], controllers: dict[tuple[str, str], str | None]) -> bool:
    """A `FailedCreate ... is forbidden` event of one of these controllers (and this incarnation)."""
    if event.get("reason") != "FailedCreate":
        return False
    involved = event.get("involvedObject") or {}
    key = (str(involved.get("kind")), str(involved.get("name")))
    if key not in controllers or involved.get("uid") not in (None, controllers[key]):
        return False
    message = str(event.get("message") or event.get("note") or "").lower()
    # Right after a namespace is created its `default` ServiceAccount does not exist yet; the
    # controller retries, so "error looking up service account" is not a refusal worth stopping for.
    return "forbidden" in message and "service account" not in message and "serviceaccount" not in message


def workload_ready(obj: dict[str, Any]) -> tuple[bool, int, int, str]:
    """(ready, desired replicas, ready replicas, what it waits for) from a Deployment/StatefulSet."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    desired = int(spec.get("replicas", 1))
    ready = int(status.get("readyReplicas") or 0)
    generation = (obj.get("metadata") or {}).get("generation", 0)
    if int(status.get("observedGeneration") or 0) < int(generation or 0):
        return False, desired, ready, "controller has not seen the latest spec"
    # The rules of `kubectl rollout status` (kubectl/pkg/polymorphichelpers/rollout_status.go): a rollout is
    # done when every replica runs the new spec and no old one is left. Counting ready replicas alone says
    # "ready" while a Deployment's old pod still serves and its new one crash-loops.
    updated = int(status.get("updatedReplicas") or 0)
    available = int(status.get("availableReplicas", ready) or 0)
    if obj.get("kind") == "StatefulSet":
        rolled = updated >= desired or status.get("updateRevision") in (None, status.get("currentRevision"))
        old = 0 if rolled else desired - updated
    else:
        old = max(int(status.get("replicas", updated) or 0) - updated, 0)
        rolled = updated >= desired and old == 0
    if ready >= desired and available >= desired and rolled:
        return True, desired, ready, ""
    if not rolled and updated < desired:
        return False, desired, ready, f"rolling out ({updated}/{desired} updated)"
    if not rolled:
        return False, desired, ready, f"rolling out ({old} old replica(s) pending termination)"
    return False, desired, ready, f"{ready}/{desired} ready"


def _pod_problem(pod: dict[str, Any]) -> Problem | None:
    name = (pod.get("metadata") or {}).get("name")
    status = pod.get("status") or {}
    statuses = [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]
    for cs in statuses:
        waiting = (cs.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason") or ""
        detail = waiting.get("message") or ""
        container = cs.get("name")
        if reason in IMAGE_FAILURES:
            return Problem(
                "image",
                f"image {cs.get('image')!r} cannot be pulled ({reason}){': ' + detail if detail else ''}",
                name,
                container,
            )
        if reason == "CrashLoopBackOff":
            last = ((cs.get("lastState") or {}).get("terminated")) or {}
            code = last.get("exitCode")
            how = f"exit code {code}" if code is not None else "crashing"
            return Problem(
                "crash", f"container {container!r} keeps crashing ({how}, CrashLoopBackOff)", name, container
            )
        if reason in CONFIG_FAILURES:
            return Problem("config", f"container {container!r}: {reason}: {detail}".rstrip(": "), name, container)
    for condition in status.get("conditions") or []:
        if (
            condition.get("type") == "PodScheduled"
            and condition.get("status") == "False"
            and condition.get("reason") == "Unschedulable"
        ):
            message = str(condition.get("message", ""))
            if "unbound" in message and "PersistentVolumeClaims" in message:
                # No volume for the pod's claims (yet): a provisioner may still be creating one.
                return Problem("storage", f"pod cannot be scheduled: its volume claims are not bound ({message})", name)
            return Problem("unschedulable", f"pod cannot be scheduled: {message}", name)
    return None


def assess(
    workload: dict[str, Any],
    replicasets: list[dict[str, Any]],
    pods: list[dict[str, Any]],
    events: list[dict[str, Any]],
) -> WorkloadState:
    """The state of one workload, with the problem that stops it if there is one."""
    meta = workload.get("metadata") or {}
    kind = str(workload.get("kind") or "")
    state = WorkloadState(name=str(meta.get("name")), kind=kind)
    ready, state.desired, state.ready, state.waiting = workload_ready(workload)
    state.ready_now = ready
    spec = workload.get("spec") or {}
    selector = spec.get("selector") or {}

    # Controllers (the ReplicaSets of a Deployment, or the StatefulSet itself) whose events matter.
    controllers: dict[tuple[str, str], str | None] = {}
    if kind == "Deployment":
        revision = (meta.get("annotations") or {}).get("deployment.kubernetes.io/revision")
        for rs in replicasets:
            rs_meta = rs.get("metadata") or {}
            if not _owned_by(rs, meta.get("uid")):
                continue
            rs_revision = (rs_meta.get("annotations") or {}).get("deployment.kubernetes.io/revision")
            if revision is None or rs_revision == revision:
                controllers[("ReplicaSet", str(rs_meta.get("name")))] = rs_meta.get("uid")
    else:
        controllers[(kind, str(meta.get("name")))] = meta.get("uid")

    mine = [
        p
        for p in pods
        if _labels_match(selector, (p.get("metadata") or {}).get("labels") or {})
        and not (p.get("metadata") or {}).get("deletionTimestamp")
    ]
    state.pods = [str((p.get("metadata") or {}).get("name")) for p in mine]
    if ready:
        return state
    for pod in mine:
        problem = _pod_problem(pod)
        if problem is not None:
            state.problem = problem
            return state

    # During a rollout the old ReplicaSet's pods still run: only pods of the current controllers count
    # (a pod without owners, created by hand, counts as the workload's).
    current_uids = {uid for uid in controllers.values() if uid}
    current = [
        p
        for p in mine
        if not (p.get("metadata") or {}).get("ownerReferences") or any(_owned_by(p, uid) for uid in current_uids)
    ]
    if len(current) < state.desired:
        # Pods missing: was their creation refused? The newest FailedCreate of our controllers says.
        refused = [e for e in events if _refused_by(e, controllers)]
        if refused:
            newest = max(refused, key=_event_time)
            # The event recorder folds repeats into one event prefixed "(combined from similar events): ".
            message = str(newest.get("message") or newest.get("note") or "")
            message = message.removeprefix("(combined from similar events): ")
            state.problem = Problem("rejected", f"pods refused: {message}")
            return state
        if not mine:
            state.waiting = "no pods yet"
    return state
