"""The Kubernetes adapter: the only module that imports the official `kubernetes` client.

Everything that talks to an API server goes through `Cluster.request`, so client and transport errors
become one-line `PlatformError`s naming the object in one place (`raise ... from e`), and the rest of
platformctl deals in dicts and plain values. `import kubernetes` costs ~0.6 s: this module is imported
only by commands that need it.

Requests are built with the generated client's own serialiser and auth (`param_serialize` +
`call_api`, so tokens, exec plugins and client certificates from kubeconfig all work) but sent raw,
for three reasons the typed API methods cannot serve:
- server-side apply of arbitrary rendered dicts (`application/apply-patch+yaml`, field manager
  `platformctl`) without a model class per kind;
- the `Warning` response headers, where Pod Security admission reports what it would refuse
  (https://kubernetes.io/blog/2020/09/03/warnings/): the typed methods drop them;
- one static table of the kinds platformctl renders (`KINDS`) instead of discovery round-trips.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import urllib3
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from platformctl import drift, readiness, ui
from platformctl.errors import InputError, PlatformError, WrongTargetError

MANAGER = "platformctl"
# urllib3 logs each connection retry as a WARNING through Python's last-resort handler (stderr):
# the one-line error below says it better.
logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
# (connect, read) seconds for one request; a hung API server becomes an error, not a hang.
REQUEST_TIMEOUT: tuple[float, float] = (5.0, 30.0)
# A pod that has just been created may be Unschedulable for a moment (a freshly started node is
# tainted not-ready); only a condition that persists this long stops the wait.
UNSCHEDULABLE_GRACE = 20.0
# Poll backoff while waiting: quick at first (most waits are short), never more than this apart.
POLL_FIRST, POLL_MAX = 0.25, 4.0


# --- kinds --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    api_version: str
    kind: str
    plural: str
    namespaced: bool

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        base = f"/apis/{self.api_version}" if "/" in self.api_version else f"/api/{self.api_version}"
        if self.namespaced:
            if namespace is None:
                raise ValueError(f"{self.kind} is namespaced")
            base += f"/namespaces/{quote(namespace, safe='')}"
        base += f"/{self.plural}"
        return base if name is None else f"{base}/{quote(name, safe='')}"


# Every kind platformctl renders, in apply order (`down` deletes in reverse). Cluster-scoped ones
# (PodSecurityPolicy, ClusterRole, ValidatingAdmissionPolicy + binding) are found by label too.
KINDS: tuple[Kind, ...] = (
    Kind("v1", "Namespace", "namespaces", False),
    Kind("v1", "ServiceAccount", "serviceaccounts", True),
    Kind("rbac.authorization.k8s.io/v1", "Role", "roles", True),
    Kind("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings", True),
    Kind("policy/v1beta1", "PodSecurityPolicy", "podsecuritypolicies", False),
    Kind("rbac.authorization.k8s.io/v1", "ClusterRole", "clusterroles", False),
    Kind("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy", "validatingadmissionpolicies", False),
    Kind(
        "admissionregistration.k8s.io/v1",
        "ValidatingAdmissionPolicyBinding",
        "validatingadmissionpolicybindings",
        False,
    ),
    Kind("v1", "ConfigMap", "configmaps", True),
    Kind("v1", "Service", "services", True),
    Kind("apps/v1", "StatefulSet", "statefulsets", True),
    Kind("apps/v1", "Deployment", "deployments", True),
)
_BY_KIND = {(k.api_version, k.kind): k for k in KINDS}
NAMESPACE = KINDS[0]
EVENTS = Kind("v1", "Event", "events", True)
PODS = Kind("v1", "Pod", "pods", True)
REPLICASETS = Kind("apps/v1", "ReplicaSet", "replicasets", True)
WORKLOADS = {"Deployment": _BY_KIND[("apps/v1", "Deployment")], "StatefulSet": _BY_KIND[("apps/v1", "StatefulSet")]}


def kind_of(doc: dict[str, Any]) -> Kind:
    key = (str(doc.get("apiVersion")), str(doc.get("kind")))
    if key not in _BY_KIND:
        raise PlatformError(f"platformctl cannot apply {key[1]} ({key[0]}): not a kind it manages")
    return _BY_KIND[key]


def describe(kind: Kind | str, namespace: str | None, name: str) -> str:
    """`StatefulSet dev/kafka`, `Namespace dev`: how errors and progress name an object."""
    label = kind.kind if isinstance(kind, Kind) else kind
    return f"{label} {namespace}/{name}" if namespace else f"{label} {name}"


def ref(obj: dict[str, Any]) -> tuple[str, str | None, str]:
    meta = obj.get("metadata") or {}
    return str(obj.get("kind")), meta.get("namespace"), str(meta.get("name"))


# --- kubeconfig and the target guard -----------------------------------------------------------


def kubeconfig_path() -> str:
    """$KUBECONFIG (read now, not at import as the client's default is) or ~/.kube/config."""
    return os.environ.get("KUBECONFIG") or str(Path("~/.kube/config").expanduser())


def kubeconfig_contexts() -> tuple[list[str], str | None]:
    """(all context names, the current one) from the user's kubeconfig; ([], None) when there is none."""
    path = kubeconfig_path()
    if not any(Path(p).is_file() for p in path.split(os.pathsep) if p):
        return [], None
    try:
        contexts, current = k8s_config.list_kube_config_contexts(config_file=path)
    except (k8s_config.ConfigException, OSError, ValueError) as e:
        raise PlatformError(f"cannot read kubeconfig {path}: {e}", hint="is KUBECONFIG set correctly?") from e
    names = [c["name"] for c in contexts or []]
    return names, (current or {}).get("name")


@dataclass(frozen=True)
class Target:
    """The one kube context a command may talk to, resolved from kubeconfig before any request."""

    context: str
    current: str | None  # kubeconfig's current-context, for messages only: never used implicitly


def resolve_target(intended: str, *, origin: str) -> Target:
    """Refuse (exit 2, nothing sent) unless kubeconfig has exactly the intended context.

    `intended` is minikube's profile name or the `--context` given. platformctl never falls back to
    kubeconfig's current-context: acting on whatever cluster a shell last pointed at is how a dev
    tool deletes production.
    """
    names, current = kubeconfig_contexts()
    if intended not in names:
        where = f"kubeconfig {kubeconfig_path()}"
        also = f"; its current context is {current!r}, which platformctl never uses implicitly" if current else ""
        raise WrongTargetError(
            f"kube context {intended!r} not found in {where} (have: {', '.join(names) or 'none'}){also}",
            field=origin,
            hint="start the cluster with `platformctl up` (minikube) or pass --context with one of the names above",
        )
    return Target(context=intended, current=current)


def api_client(context: str) -> k8s_client.ApiClient:
    """An API client for exactly this context (never the kubeconfig's current one by accident)."""
    names, _ = kubeconfig_contexts()
    if context not in names:
        raise InputError(
            f"kube context {context!r} not found in kubeconfig (have: {', '.join(names) or 'none'})",
            field="--context",
        )
    try:
        return k8s_config.new_client_from_config(config_file=kubeconfig_path(), context=context)
    except (k8s_config.ConfigException, OSError, ValueError) as e:
        raise PlatformError(f"kube context {context!r} is unusable: {e}") from e


# --- requests and errors ------------------------------------------------------------------------

_WARNING = re.compile(r'\d{3} \S+ "((?:[^"\\]|\\.)*)"')


@dataclass
class Response:
    status: int
    body: bytes
    warnings: list[str] = field(default_factory=list)

    def json(self) -> Any:
        return json.loads(self.body or b"null")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _status_message(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return _one_line(body.decode(errors="replace"))[:300]
    if isinstance(data, dict) and data.get("message"):
        return _one_line(str(data["message"]))
    return _one_line(body.decode(errors="replace"))[:300]


class UnreachableError(PlatformError):
    """The API server did not answer (refused, unresolvable, timed out): the cluster is down or elsewhere."""


class Cluster:
    """One API server, reached through exactly one kube context; every request goes through here."""

    def __init__(self, target: Target, api: k8s_client.ApiClient) -> None:
        self.target = target
        self.api = api
        self.server = str(api.configuration.host)

    @classmethod
    def connect(cls, target: Target) -> Cluster:
        """A client for the target's context (reads kubeconfig; sends nothing)."""
        return cls(target, api_client(target.context))

    def close(self) -> None:
        self.api.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        query: Sequence[tuple[str, str]] = (),
        body: Any = None,
        content_type: str | None = None,
        missing_ok: bool = False,
    ) -> Response:
        """Send one request; any failure becomes a one-line `PlatformError` naming `what`."""
        headers = {"Accept": "application/json, */*"}
        if content_type:
            headers["Content-Type"] = content_type
        try:
            _, url, headers, body, _ = self.api.param_serialize(
                method=method,
                resource_path=path,
                query_params=list(query),
                header_params=headers,
                body=body,
                auth_settings=["BearerToken"],
            )
            raw = self.api.call_api(method, url, header_params=headers, body=body, _request_timeout=REQUEST_TIMEOUT)
            data = raw.read()
        except (urllib3.exceptions.HTTPError, ApiException, OSError) as e:
            raise self._transport_error(e, what) from e
        header = raw.headers.get("Warning") if raw.headers is not None else None
        warnings = [re.sub(r"\\(.)", r"\1", text) for text in _WARNING.findall(header or "")]
        response = Response(raw.status, data or b"", warnings)
        ui.debug(f"{method} {path} -> {raw.status}")
        if 200 <= raw.status < 300 or (missing_ok and raw.status == 404):
            return response
        raise self._status_error(raw.status, data or b"", what)

    def _transport_error(self, e: Exception, what: str) -> UnreachableError:
        reason: Any = getattr(e, "reason", None) or e
        # urllib3's NewConnectionError subclasses ConnectTimeoutError: a refused connection is not a timeout.
        errors = urllib3.exceptions
        refused = isinstance(reason, errors.NewConnectionError) or isinstance(e, errors.NewConnectionError)
        timed_out = isinstance(reason, errors.TimeoutError) or isinstance(e, errors.TimeoutError)
        if timed_out and not refused:
            return UnreachableError(
                f"the API server at {self.server} (context {self.target.context!r}) did not answer in time "
                f"while {what}",
                hint="the cluster may be overloaded or starting; run the command again (it converges)",
            )
        detail = _one_line(str(getattr(reason, "reason", None) or reason))
        if isinstance(e, ApiException):
            detail = _one_line(str(e.reason))
        return UnreachableError(
            f"cannot reach the API server at {self.server} (context {self.target.context!r}) while {what}: {detail}",
            hint="is the cluster running? `minikube status`, or check the context with `kubectl cluster-info "
            f"--context {self.target.context}`",
        )

    def _status_error(self, status: int, body: bytes, what: str) -> PlatformError:
        message = _status_message(body)
        context = self.target.context
        if status == 401:
            return PlatformError(
                f"the API server at {self.server} rejected the credentials of context {context!r} "
                f"(401 Unauthorized) while {what}",
                hint="refresh them (`minikube update-context`, or log in to the cluster again)",
            )
        if status == 403:
            return PlatformError(
                f"forbidden while {what}: {message}",
                hint=f"the user of context {context!r} needs RBAC permission for this; ask a cluster admin",
            )
        if status == 409:
            return PlatformError(
                f"conflict while {what}: {message}",
                hint="another field manager changed fields platformctl declares; `platformctl up --force-conflicts` "
                "takes them back",
            )
        if status == 422:
            return PlatformError(f"the API server refused {what}: {message}")
        if status == 404:
            return PlatformError(f"not found while {what}: {message}")
        return PlatformError(
            f"the API server answered {status} while {what}: {message}",
            hint="run the command again; it converges",
        )

    # --- reads --------------------------------------------------------------------------------

    def version(self) -> str:
        """The server's gitVersion, e.g. `v1.36.0`."""
        data = self.request("GET", "/version", what="reading the server version").json()
        return str(data.get("gitVersion") or f"v{data.get('major')}.{data.get('minor')}")

    def get(self, kind: Kind, namespace: str | None, name: str) -> dict[str, Any] | None:
        response = self.request(
            "GET", kind.path(namespace, name), what=f"reading {describe(kind, namespace, name)}", missing_ok=True
        )
        if response.status == 404:
            return None
        obj: dict[str, Any] = response.json()
        return obj

    def list_objects(self, kind: Kind, namespace: str | None, selector: str | None = None) -> list[dict[str, Any]]:
        """Objects of a kind (by label selector); [] when the server does not serve the kind."""
        query = [("labelSelector", selector)] if selector else []
        where = f" in namespace {namespace}" if kind.namespaced else ""
        response = self.request(
            "GET",
            kind.path(namespace if kind.namespaced else None),
            what=f"listing {kind.plural}{where}",
            query=query,
            missing_ok=True,
        )
        if response.status == 404:
            return []
        items = (response.json() or {}).get("items") or []
        # List items carry no apiVersion/kind on the wire: put them back.
        return [{"apiVersion": kind.api_version, "kind": kind.kind, **item} for item in items]

    def pod_log(self, namespace: str, pod: str, container: str | None, *, tail: int = 10) -> list[str]:
        """The last lines a container wrote (its previous run when it crashed); [] if none."""
        for previous in ("true", "false"):
            query = [("tailLines", str(tail)), ("previous", previous)]
            if container:
                query.append(("container", container))
            response = self.request(
                "GET",
                f"{PODS.path(namespace, pod)}/log",
                what=f"reading the log of pod {namespace}/{pod}",
                query=query,
                missing_ok=True,
            )
            if response.status == 200 and response.body.strip():
                return response.body.decode(errors="replace").rstrip("\n").splitlines()[-tail:]
        return []

    # --- writes -------------------------------------------------------------------------------

    def apply(self, doc: dict[str, Any], *, dry_run: bool = False, force: bool = False) -> Response:
        """Server-side apply of one object as field manager `platformctl`."""
        kind = kind_of(doc)
        meta = doc.get("metadata") or {}
        namespace = meta.get("namespace") if kind.namespaced else None
        query = [("fieldManager", MANAGER)]
        if force:
            query.append(("force", "true"))
        if dry_run:
            query.append(("dryRun", "All"))
        return self.request(
            "PATCH",
            kind.path(namespace, str(meta.get("name"))),
            what=f"{'checking' if dry_run else 'applying'} {describe(kind, namespace, str(meta.get('name')))}",
            query=query,
            body=doc,
            content_type="application/apply-patch+yaml",
        )

    def delete(self, kind: Kind, namespace: str | None, name: str) -> bool:
        """Delete one object (dependents in the background); False when it was already gone."""
        response = self.request(
            "DELETE",
            kind.path(namespace if kind.namespaced else None, name),
            what=f"deleting {describe(kind, namespace, name)}",
            query=[("propagationPolicy", "Background")],
            missing_ok=True,
        )
        return response.status != 404


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
        namespace_exists = any(name == namespace for _, _, name in live) or (
            cluster.get(NAMESPACE, None, namespace) is not None
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
            response = cluster.apply(doc, force=force)
            warn(response, label)
            outcome = Outcome(kind.kind, ns, name, component, "created" if response.status == 201 else "updated")
        else:
            reasons = drift.drift(doc, current)
            action = "unchanged"
            if reasons:
                checked = cluster.apply(doc, dry_run=True, force=force)
                warn(checked, label)
                if drift.same_object(checked.json(), current):
                    ui.debug(f"{label}: server says unchanged ({'; '.join(reasons)})")
                    reasons = []
                else:
                    warn(cluster.apply(doc, force=force), label)
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
        lines = cluster.pod_log(namespace, problem.pod, problem.container)
        if lines:
            last = _one_line(lines[-1])
            more = f"kubectl -n {namespace} logs {problem.pod} --previous"
            hint = "last log lines:\n  " + "\n  ".join(lines) + f"\nmore: {more}"
            return PlatformError(f"{state.name}: {problem.message}; last log line: {last}", hint=hint)
    if problem.kind == "rejected":
        hint = "the pod spec does not pass the namespace's security policy; check the settings that change it"
    elif problem.kind == "image":
        hint = "check the image tag in platformctl.yaml, or cache it with `platformctl images cache`"
    elif problem.kind == "unschedulable":
        hint = "give the cluster more memory/CPUs (minikube.memory, minikube.cpus) or lower the resources"
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
            if state.problem.kind == "unschedulable":
                first = unschedulable_since.setdefault(state.name, now)
                if now - first < UNSCHEDULABLE_GRACE:
                    continue
            raise _diagnosis(cluster, namespace, state)
        if now >= deadline:
            waiting = "; ".join(f"{s.name}: {s.summary}" for s in states if not s.ready_now)
            raise PlatformError(
                f"timed out after {timeout:g}s waiting for the platform to be ready ({waiting})",
                hint="`platformctl status` shows where it stands; raise --timeout on a slow machine",
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
