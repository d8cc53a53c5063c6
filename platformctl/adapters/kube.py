"""The Kubernetes adapter; with adapters/kubeconfig.py and adapters/portforward.py, the only modules
importing the `kubernetes` client.

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

What platformctl does with a cluster through this adapter (apply, wait, tear down) is platform/kubesync.py.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import urllib3
from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException

from platformctl import hints, ui
from platformctl.adapters.kubeconfig import Target, api_client, one_line
from platformctl.errors import PlatformError

# urllib3 logs each connection retry as a WARNING through Python's last-resort handler (stderr):
# the one-line error below says it better.
logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
# (connect, read) seconds for one request; a hung API server becomes an error, not a hang.
REQUEST_TIMEOUT: tuple[float, float] = (5.0, 30.0)


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
# Not rendered but created by the StatefulSet controller from volumeClaimTemplates, with platformctl's
# labels: `down` lists them, says what data goes with them, and keeps them with --keep-data.
CLAIMS = Kind("v1", "PersistentVolumeClaim", "persistentvolumeclaims", True)
_BY_KIND = {(k.api_version, k.kind): k for k in (*KINDS, CLAIMS)}
NAMESPACE = KINDS[0]
EVENTS = Kind("v1", "Event", "events", True)
PODS = Kind("v1", "Pod", "pods", True)
REPLICASETS = Kind("apps/v1", "ReplicaSet", "replicasets", True)
WORKLOADS = {"Deployment": _BY_KIND[("apps/v1", "Deployment")], "StatefulSet": _BY_KIND[("apps/v1", "StatefulSet")]}


def quantity(text: str) -> Decimal:
    """A Kubernetes quantity (`250m`, `768Mi`, `2`) as a number, by the client's own parser."""
    from kubernetes.utils.quantity import parse_quantity

    try:
        return Decimal(parse_quantity(text))
    except ValueError as e:
        raise PlatformError(f"not a Kubernetes quantity: {text!r}") from e


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


# --- requests and errors ------------------------------------------------------------------------

_WARNING = re.compile(r'\d{3} \S+ "((?:[^"\\]|\\.)*)"')


@dataclass
class Response:
    status: int
    body: bytes
    warnings: list[str] = field(default_factory=list)

    def json(self) -> Any:
        return json.loads(self.body or b"null")


def transport_error(e: Exception, server: str, context: str, what: str) -> UnreachableError:
    """The API server could not be reached (refused, unresolvable, timed out): one line, the OS's reason
    rather than urllib3's retry report, and what to check. Every command that talks to a cluster says it
    the same way (and exits 1)."""
    reason: Any = getattr(e, "reason", None) or e
    # urllib3's NewConnectionError subclasses ConnectTimeoutError: a refused connection is not a timeout.
    errors = urllib3.exceptions
    refused = isinstance(reason, errors.NewConnectionError) or isinstance(e, errors.NewConnectionError)
    timed_out = isinstance(reason, errors.TimeoutError) or isinstance(e, errors.TimeoutError)
    if timed_out and not refused:
        return UnreachableError(
            f"the API server at {server} (context {context!r}) did not answer in time while {what}",
            hint="the cluster may be overloaded or starting; run the command again (it converges)",
        )
    detail = one_line(str(getattr(reason, "reason", None) or reason))
    if isinstance(e, ApiException):
        detail = one_line(str(e.reason))
    # "HTTPSConnection(host='10.0.0.1', port=8443): Failed to establish a new connection: [Errno 111]
    # Connection refused" says twice what the message already says: keep the OS's words.
    errno = re.search(r"\[Errno -?\d+\] (.+?)\)*$", detail)
    if errno:
        detail = errno.group(1).rstrip("'\")")
    return UnreachableError(
        f"cannot reach the API server at {server} (context {context!r}) while {what}: {detail}",
        hint="is the cluster running? `minikube status`, or check the context with `kubectl cluster-info "
        f"--context {context}`",
    )


def _status_message(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return one_line(body.decode(errors="replace"))[:300]
    if isinstance(data, dict) and data.get("message"):
        return one_line(str(data["message"]))
    return one_line(body.decode(errors="replace"))[:300]


class UnreachableError(PlatformError):
    """The API server did not answer (refused, unresolvable, timed out): the cluster is down or elsewhere."""


class Cluster:
    """One API server, reached through exactly one kube context; every request goes through here."""

    def __init__(self, target: Target, api: k8s_client.ApiClient) -> None:
        self.target = target
        self.api = api
        # For messages and status only: a kubeconfig may carry credentials in the URL (`https://user:pw@host`).
        self.server = ui.redact(str(api.configuration.host))

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
        return transport_error(e, self.server, self.target.context, what)

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
                hint="another field manager changed fields platformctl declares; "
                f"`{hints.command('up --force-conflicts')}` takes them back",
            )
        if status == 422:
            if "updates to statefulset spec for fields other than" in message:
                return PlatformError(
                    f"the API server refused {what}: a StatefulSet's volume claims, service name and pod "
                    "management cannot change in place (storage, a volume size, or a platform rendered by an "
                    "earlier platformctl)",
                    hint=f"`{hints.command('down --keep-data')}` removes the StatefulSets and keeps their data; "
                    f"`{hints.command('up')}` then creates them anew on the same claims",
                )
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

    def apply(self, doc: dict[str, Any], *, manager: str, dry_run: bool = False, force: bool = False) -> Response:
        """Server-side apply of one object as field manager `manager` (platformctl's: render.MANAGER)."""
        kind = kind_of(doc)
        meta = doc.get("metadata") or {}
        namespace = meta.get("namespace") if kind.namespaced else None
        query = [("fieldManager", manager)]
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
