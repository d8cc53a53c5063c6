"""What platformctl does with a cluster lives apart from how it talks to one (adapters/kube.py), because the two change
for different reasons: adapters/kube.py is the transport and the target guard (kubeconfig, `Cluster.request`,
client errors turned into `PlatformError`s), while the policies here are platformctl's own: converge by
writing only what differs, stop waiting at a problem that waiting cannot fix, delete only what carries
platformctl's labels. Everything here goes through `Cluster`; this module never imports `kubernetes` itself,
but importing it imports adapters/kube.py, so it too is imported only inside the functions that need it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from platformctl import hints, ui
from platformctl.adapters.kube import (
    CLAIMS,
    EVENTS,
    KINDS,
    NAMESPACE,
    PODS,
    REPLICASETS,
    WORKLOADS,
    Cluster,
    Kind,
    Response,
    describe,
    kind_of,
    ref,
)
from platformctl.adapters.kubeconfig import one_line
from platformctl.errors import PlatformError, WrongTargetError
from platformctl.platform import drift, readiness
from platformctl.platform.render import MANAGER

# A pod that has just been created may be Unschedulable for a moment (a freshly started node is
# tainted not-ready); only a condition that persists this long stops the wait.
UNSCHEDULABLE_GRACE = 20.0
# Poll backoff while waiting: quick at first (most waits are short), never more than this apart.
POLL_FIRST, POLL_MAX = 0.25, 4.0


# --- apply: read first, write only what differs -------------------------------------------------


@dataclass
class Outcome:
    """What `sync` did with one rendered object."""

    kind: str
    namespace: str | None
    name: str
    component: str  # app.kubernetes.io/name
    action: str  # created, updated, unchanged
    reasons: list[str] = field(default_factory=list)


def _live_objects(
    cluster: Cluster, kinds: Iterable[Kind], namespace: str, selector: str
) -> dict[tuple[str, str | None, str], dict[str, Any]]:
    """Every labelled object of these kinds: one LIST per kind, not one GET per object."""
    live: dict[tuple[str, str | None, str], dict[str, Any]] = {}
    kinds = list(kinds)
    namespace_exists = True
    if NAMESPACE in kinds:
        for obj in cluster.list_objects(NAMESPACE, None, selector):
            live[ref(obj)] = obj
        namespace_exists = any(name == namespace for _, _, name in live)
        if not namespace_exists and cluster.get(NAMESPACE, None, namespace) is not None:
            # Applying would label someone else's namespace as platformctl's, and `down` deletes by that
            # label: the namespace and everything in it, unlabelled objects included.
            raise WrongTargetError(
                f"namespace {namespace!r} already exists and was not created by platformctl (it lacks the "
                f"labels {selector}); `platformctl down` would delete it with everything in it",
                field="--namespace",
                hint="choose a namespace of its own with --namespace (or PLATFORMCTL_NAMESPACE)",
            )
    for kind in kinds:
        if kind is NAMESPACE or (kind.namespaced and not namespace_exists):
            continue
        for obj in cluster.list_objects(kind, namespace if kind.namespaced else None, selector):
            live[ref(obj)] = obj
    return live


def sync(
    cluster: Cluster,
    documents: Sequence[dict[str, Any]],
    *,
    namespace: str,
    selector: str,
    force: bool = False,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Apply `documents` in order, sending a write only for objects whose live state differs.

    A document missing from the cluster is applied at once. One that exists is compared locally
    (`drift.drift`); when that finds a difference the server is asked with a dry-run apply, and the
    object is written only if the dry-run result differs from the live object: server defaults and
    normalisation can never cause a write, and a re-run with nothing changed writes nothing.
    """
    live = _live_objects(cluster, dict.fromkeys(kind_of(d) for d in documents), namespace, selector)
    outcomes: list[Outcome] = []
    seen_warnings: set[str] = set()

    def warn(response: Response, name: str) -> None:
        for text in response.warnings:
            if text not in seen_warnings:
                seen_warnings.add(text)
                ui.warn(f"{name}: {text}")

    for doc in documents:
        kind = kind_of(doc)
        meta = doc.get("metadata") or {}
        ns = meta.get("namespace") if kind.namespaced else None
        name = str(meta.get("name"))
        label = describe(kind, ns, name)
        component = str((meta.get("labels") or {}).get("app.kubernetes.io/name", name))
        current = live.get((kind.kind, ns, name))
        if current is None:
            response = cluster.apply(doc, manager=MANAGER, force=force)
            warn(response, label)
            outcome = Outcome(kind.kind, ns, name, component, "created" if response.status == 201 else "updated")
        else:
            reasons = drift.drift(doc, current)
            action = "unchanged"
            if reasons:
                checked = cluster.apply(doc, manager=MANAGER, dry_run=True, force=force)
                warn(checked, label)
                if drift.same_object(checked.json(), current):
                    ui.debug(f"{label}: server says unchanged ({'; '.join(reasons)})")
                    reasons = []
                else:
                    warn(cluster.apply(doc, manager=MANAGER, force=force), label)
                    action = "updated"
            outcome = Outcome(kind.kind, ns, name, component, action, reasons)
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
    return outcomes


# --- readiness ----------------------------------------------------------------------------------


def workload_states(
    cluster: Cluster, namespace: str, selector: str, workloads: Sequence[tuple[str, str]]
) -> list[readiness.WorkloadState]:
    """One snapshot of each (kind, name) workload, with the problem that stops it if any."""
    live: dict[tuple[str, str], dict[str, Any]] = {}
    for kind_name in sorted({k for k, _ in workloads}):
        for obj in cluster.list_objects(WORKLOADS[kind_name], namespace, selector):
            live[(kind_name, str(obj["metadata"]["name"]))] = obj
    states = []
    pending = [w for w in workloads if w in live and not readiness.workload_ready(live[w])[0]]
    pods = cluster.list_objects(PODS, namespace, selector) if pending else []
    replicasets = (
        cluster.list_objects(REPLICASETS, namespace, selector) if any(k == "Deployment" for k, _ in pending) else []
    )
    events = cluster.list_objects(EVENTS, namespace) if pending else []
    for kind_name, name in workloads:
        found = live.get((kind_name, name))
        if found is None:
            states.append(readiness.WorkloadState(name=name, kind=kind_name, exists=False))
        else:
            states.append(readiness.assess(found, replicasets, pods, events))
    return states


def _diagnosis(cluster: Cluster, namespace: str, state: readiness.WorkloadState) -> PlatformError:
    problem = state.problem
    assert problem is not None
    hint = f"kubectl --context {cluster.target.context} -n {namespace} describe {state.kind.lower()}/{state.name}"
    if problem.kind == "crash" and problem.pod:
        more = f"kubectl --context {cluster.target.context} -n {namespace} logs {problem.pod} --previous"
        try:
            lines = cluster.pod_log(namespace, problem.pod, problem.container)
        except PlatformError as e:
            # The kubelet cannot always give the log (rotated away, node unreachable): the crash is still the
            # diagnosis, and the reason the log is missing goes with it.
            return PlatformError(
                f"{state.name}: {problem.message}", hint=f"its log could not be read ({e.message}); try: {more}"
            )
        if lines:
            last = one_line(lines[-1])
            hint = "last log lines:\n  " + "\n  ".join(lines) + f"\nmore: {more}"
            return PlatformError(f"{state.name}: {problem.message}; last log line: {last}", hint=hint)
    if problem.kind == "rejected":
        hint = "the pod spec does not pass the namespace's security policy; check the settings that change it"
    elif problem.kind == "image":
        hint = f"check the image tag in platformctl.yaml, or cache it with `{hints.command('images cache')}`"
    elif problem.kind == "unschedulable":
        hint = "give the cluster more memory/CPUs (minikube.memory, minikube.cpus) or lower the resources"
    elif problem.kind == "storage":
        hint = (
            f"no volume for the claims (`kubectl --context {cluster.target.context} -n {namespace} get pvc`): the "
            "cluster needs a default StorageClass with a provisioner (minikube: `minikube addons enable "
            "default-storageclass storage-provisioner`), or set storage-class in platformctl.yaml, or "
            "storage: ephemeral"
        )
    return PlatformError(f"{state.name}: {problem.message}", hint=hint)


def wait_ready(
    cluster: Cluster,
    namespace: str,
    selector: str,
    workloads: Sequence[tuple[str, str]],
    *,
    timeout: float,
    on_progress: Callable[[list[readiness.WorkloadState]], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> list[readiness.WorkloadState]:
    """Poll (with backoff) until every workload is ready; stop at once on a problem waiting cannot fix."""
    deadline = clock() + timeout
    delay = POLL_FIRST
    unschedulable_since: dict[str, float] = {}
    while True:
        states = workload_states(cluster, namespace, selector, workloads)
        if on_progress is not None:
            on_progress(states)
        if all(s.ready_now for s in states):
            return states
        now = clock()
        for state in states:
            if state.problem is None:
                unschedulable_since.pop(state.name, None)
                continue
            if state.problem.kind in ("unschedulable", "storage"):
                first = unschedulable_since.setdefault(state.name, now)
                if now - first < UNSCHEDULABLE_GRACE:
                    continue
            raise _diagnosis(cluster, namespace, state)
        if now >= deadline:
            waiting = "; ".join(f"{s.name}: {s.summary}" for s in states if not s.ready_now)
            raise PlatformError(
                f"timed out after {timeout:g}s waiting for the platform to be ready ({waiting})",
                hint=f"`{hints.command('status')}` shows where it stands; raise --timeout on a slow machine",
            )
        sleep(min(delay, max(deadline - now, 0.0)))
        delay = min(delay * 2, POLL_MAX)


# --- teardown -----------------------------------------------------------------------------------


def _matches(obj: dict[str, Any], selector: str) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    pairs = [part.split("=", 1) for part in selector.split(",") if part]
    return all(labels.get(key) == value for key, value in pairs)


def find_labelled(cluster: Cluster, namespace: str, selector: str) -> list[dict[str, Any]]:
    """Everything carrying platformctl's labels for this namespace, in apply order."""
    live = _live_objects(cluster, KINDS, namespace, selector)
    order = {k.kind: i for i, k in enumerate(KINDS)}
    found = [obj for obj in live.values() if _matches(obj, selector)]
    return sorted(found, key=lambda obj: order[str(obj["kind"])])


def find_claims(cluster: Cluster, namespace: str, selector: str) -> list[dict[str, Any]]:
    """The PersistentVolumeClaims the platform's StatefulSets created (they carry its labels), by name."""
    found = [c for c in cluster.list_objects(CLAIMS, namespace, selector) if _matches(c, selector)]
    return sorted(found, key=lambda c: str(c["metadata"]["name"]))


def delete_objects(
    cluster: Cluster, objects: Sequence[dict[str, Any]], selector: str, *, on_delete: Callable[[str], None]
) -> None:
    """Delete in reverse apply order; re-checks the labels so nothing unlabelled is ever touched."""
    for obj in reversed(objects):
        if not _matches(obj, selector):
            continue
        kind_name, namespace, name = ref(obj)
        kind = kind_of(obj)
        if cluster.delete(kind, namespace, name):
            on_delete(describe(kind_name, namespace, name))


def wait_gone(
    cluster: Cluster,
    objects: Sequence[dict[str, Any]],
    namespace: str,
    selector: str,
    *,
    timeout: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Poll until none of `objects` is left (a namespace takes a while: it empties itself first)."""
    deadline = clock() + timeout
    delay = POLL_FIRST
    kinds = list(dict.fromkeys(kind_of(obj) for obj in objects))
    while True:
        left = [ref(obj) for obj in _live_objects(cluster, kinds, namespace, selector).values()]
        if not left:
            return
        if clock() >= deadline:
            names = ", ".join(describe(k, ns, n) for k, ns, n in left[:5])
            raise PlatformError(
                f"timed out after {timeout:g}s waiting for deletion: still there: {names}",
                hint="a finalizer may be holding it; `kubectl get -o yaml` shows which",
            )
        sleep(min(delay, max(deadline - clock(), 0.0)))
        delay = min(delay * 2, POLL_MAX)
