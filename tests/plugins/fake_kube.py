"""A fake Kubernetes API server: a real HTTP server on 127.0.0.1 that the official client talks to.

Only for what the real control plane (tests/plugins/kube_real.py) cannot be: a PodSecurityPolicy-era
server (`version` below 1.25), since no such API server is built here. platformctl reaches it through a
generated kubeconfig, exactly as it reaches a real cluster, so the client's serialisation, auth header,
query strings and error handling are all exercised.

What it models:
- `/version`; GET, LIST (label selectors: `k=v`, `k==v`, `k!=v`, `k`, `!k`), DELETE of the kinds
  platformctl uses (plus pods, replicasets, events, secrets); list items without apiVersion/kind,
  as the real server sends them; 404 `Status` bodies; kinds served by version (PodSecurityPolicy
  only below 1.25, ValidatingAdmissionPolicy from 1.30);
- server-side apply (`PATCH application/apply-patch+yaml`): `fieldManager` required; creates (201) or
  merges (200) with `managedFields` (`fieldsV1` computed with associative-list keys for containers,
  env, ports, volumes, volumeMounts); fields a manager stops applying are removed; conflicts with
  another manager's fields give 409 unless `force=true`; `dryRun=All` answers without storing;
  `resourceVersion` (and `generation`, on spec changes) bump only when the object really changes;
- some server defaulting, so that naive equality with the rendered manifest fails as it does on a
  real server: Namespace `kubernetes.io/metadata.name` label and finalizer, Service `clusterIP`,
  `ipFamilies`, `sessionAffinity`, port `protocol`/`targetPort`, Deployment/StatefulSet `strategy`,
  `revisionHistoryLimit`, pod `restartPolicy`, `dnsPolicy`, container `terminationMessagePath`,
  ValidatingAdmissionPolicy `matchPolicy`/selectors, and CPU quantities in canonical form;
- DELETE: a Namespace goes `Terminating` for `namespace_lingers` reads, then disappears with every
  object in it; objects owned (ownerReferences) by a deleted object go with it;
- 401 without the expected bearer token, and a recorded list of every request (`requests`, `writes`).

What it does NOT model: admission of any kind (PodSecurityPolicy objects are stored, never enforced),
validation against OpenAPI schemas, defaulting beyond the fields above, controllers (no ReplicaSets, pods
or events appear, workloads never become ready), watch, discovery (`/api`, `/apis`), strategic-merge/JSON
patches, PUT/POST, subresources, field selectors, pagination, resourceVersion preconditions, RBAC, TLS.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
import yaml


@dataclass(frozen=True)
class Resource:
    api_version: str
    kind: str
    plural: str
    namespaced: bool
    since: tuple[int, int] = (1, 0)
    until: tuple[int, int] = (99, 0)  # removed in this version

    @property
    def group_version(self) -> str:
        return self.api_version


RESOURCES = [
    Resource("v1", "Namespace", "namespaces", False),
    Resource("v1", "ServiceAccount", "serviceaccounts", True),
    Resource("v1", "ConfigMap", "configmaps", True),
    Resource("v1", "Secret", "secrets", True),
    Resource("v1", "Service", "services", True),
    Resource("v1", "Pod", "pods", True),
    Resource("v1", "Event", "events", True),
    Resource("rbac.authorization.k8s.io/v1", "Role", "roles", True),
    Resource("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings", True),
    Resource("rbac.authorization.k8s.io/v1", "ClusterRole", "clusterroles", False),
    Resource("policy/v1beta1", "PodSecurityPolicy", "podsecuritypolicies", False, until=(1, 25)),
    Resource(
        "admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy", "validatingadmissionpolicies", False, (1, 30)
    ),
    Resource(
        "admissionregistration.k8s.io/v1",
        "ValidatingAdmissionPolicyBinding",
        "validatingadmissionpolicybindings",
        False,
        (1, 30),
    ),
    Resource("apps/v1", "StatefulSet", "statefulsets", True),
    Resource("apps/v1", "Deployment", "deployments", True),
    Resource("apps/v1", "ReplicaSet", "replicasets", True),
]

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: Any = None
    content_type: str | None = None

    @property
    def is_write(self) -> bool:
        return self.method in WRITE_METHODS and self.query.get("dryRun") != "All"


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message


def status_body(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


# --- field sets (fieldsV1) ------------------------------------------------------------------------

_LIST_KEYS = {
    "containers": ("name",),
    "initContainers": ("name",),
    "ephemeralContainers": ("name",),
    "volumes": ("name",),
    "env": ("name",),
    "imagePullSecrets": ("name",),
    "volumeMounts": ("mountPath",),
}


def _list_key(field_name: str, element: Any) -> dict[str, Any] | None:
    if not isinstance(element, dict):
        return None
    if field_name == "ports":
        port_field = "containerPort" if "containerPort" in element else "port"
        return {port_field: element.get(port_field), "protocol": element.get("protocol", "TCP")}
    names = _LIST_KEYS.get(field_name)
    if names is None:
        return None
    return {n: element.get(n) for n in names}


def fields_of(value: Any, field_name: str = "") -> dict[str, Any]:
    """The fieldsV1 set a value covers."""
    if isinstance(value, dict):
        return {f"f:{k}": fields_of(v, k) for k, v in value.items()}
    if isinstance(value, list) and value and all(_list_key(field_name, e) is not None for e in value):
        out: dict[str, Any] = {}
        for element in value:
            key = json.dumps(_list_key(field_name, element), sort_keys=True, separators=(",", ":"))
            out[f"k:{key}"] = {".": {}, **fields_of(element)}
        return out
    return {}


def applied_fields(body: dict[str, Any]) -> dict[str, Any]:
    content = {k: v for k, v in body.items() if k not in ("apiVersion", "kind", "status")}
    meta = {k: v for k, v in (content.get("metadata") or {}).items() if k not in ("name", "namespace")}
    if meta:
        content["metadata"] = meta
    else:
        content.pop("metadata", None)
    return fields_of(content)


def leaves(fields: dict[str, Any], prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    found: set[tuple[str, ...]] = set()
    for token, child in fields.items():
        if token == ".":
            continue
        path = (*prefix, token)
        if isinstance(child, dict) and any(t != "." for t in child):
            found |= leaves(child, path)
        else:
            found.add(path)
    return found


def _match(element: Any, key: dict[str, Any]) -> bool:
    if not isinstance(element, dict):
        return False
    return all(element.get(k, "TCP" if k == "protocol" else None) == v for k, v in key.items())


def lookup(obj: Any, path: tuple[str, ...]) -> tuple[bool, Any]:
    current = obj
    for token in path:
        prefix, _, rest = token.partition(":")
        if prefix == "f" and isinstance(current, dict) and rest in current:
            current = current[rest]
        elif prefix == "k" and isinstance(current, list):
            key = json.loads(rest)
            found = [e for e in current if _match(e, key)]
            if not found:
                return False, None
            current = found[0]
        else:
            return False, None
    return True, current


def remove(obj: Any, path: tuple[str, ...]) -> None:
    parent_path, last = path[:-1], path[-1]
    ok, parent = lookup(obj, parent_path)
    if not ok:
        return
    prefix, _, rest = last.partition(":")
    if prefix == "f" and isinstance(parent, dict):
        parent.pop(rest, None)
    elif prefix == "k" and isinstance(parent, list):
        key = json.loads(rest)
        parent[:] = [e for e in parent if not _match(e, key)]


def merge(live: Any, applied: Any, field_name: str = "") -> Any:
    """Applied values over live ones: maps recursively, keyed lists by key, other lists replaced."""
    if isinstance(live, dict) and isinstance(applied, dict):
        out = dict(live)
        for k, v in applied.items():
            out[k] = merge(live.get(k), v, k) if k in live else copy.deepcopy(v)
        return out
    if (
        isinstance(live, list)
        and isinstance(applied, list)
        and applied
        and all(_list_key(field_name, e) is not None for e in applied)
    ):
        out_list = []
        for element in applied:
            key = _list_key(field_name, element) or {}
            previous = [e for e in live if _match(e, key)]
            out_list.append(merge(previous[0], element) if previous else copy.deepcopy(element))
        return out_list
    return copy.deepcopy(applied)


def _remove_empty(obj: Any) -> None:
    """Drop maps emptied by removals (the real server does not keep `labels: {}` either)."""
    if isinstance(obj, dict):
        for k in list(obj):
            _remove_empty(obj[k])
            if obj[k] == {} and k in ("labels", "annotations"):
                del obj[k]
    elif isinstance(obj, list):
        for e in obj:
            _remove_empty(e)


# --- defaulting -----------------------------------------------------------------------------------


def _canonical_cpu(value: Any) -> Any:
    if isinstance(value, str) and value.endswith("m") and value[:-1].isdigit() and int(value[:-1]) % 1000 == 0:
        return str(int(value[:-1]) // 1000)
    if isinstance(value, str) and re.fullmatch(r"0\.\d+", value):
        return f"{round(float(value) * 1000)}m"
    return value


def _default_pod_spec(spec: dict[str, Any]) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("securityContext", {})
    for container in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        container.setdefault("imagePullPolicy", "IfNotPresent")
        container.setdefault("resources", {})
        for port in container.get("ports") or []:
            port.setdefault("protocol", "TCP")
        for kind in ("requests", "limits"):
            values = (container.get("resources") or {}).get(kind)
            if isinstance(values, dict) and "cpu" in values:
                values["cpu"] = _canonical_cpu(values["cpu"])


def default(obj: dict[str, Any], cluster_ip: str) -> None:
    kind = obj.get("kind")
    meta = obj.setdefault("metadata", {})
    spec = obj.get("spec")
    if kind == "Namespace":
        meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        obj.setdefault("status", {}).setdefault("phase", "Active")
    elif kind == "Service" and isinstance(spec, dict):
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("clusterIP", cluster_ip)
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("sessionAffinity", "None")
        spec.setdefault("internalTrafficPolicy", "Cluster")
        for port in spec.get("ports") or []:
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port.get("port"))
        obj.setdefault("status", {"loadBalancer": {}})
    elif kind in ("Deployment", "StatefulSet") and isinstance(spec, dict):
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        if kind == "Deployment":
            spec.setdefault("progressDeadlineSeconds", 600)
            spec.setdefault(
                "strategy", {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}
            )
        else:
            spec.setdefault("podManagementPolicy", "OrderedReady")
            spec.setdefault("updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
            spec.setdefault("persistentVolumeClaimRetentionPolicy", {"whenDeleted": "Retain", "whenScaled": "Retain"})
        template = spec.setdefault("template", {})
        template.setdefault("metadata", {}).setdefault("creationTimestamp", None)
        _default_pod_spec(template.setdefault("spec", {}))
    elif kind == "ValidatingAdmissionPolicy" and isinstance(spec, dict):
        constraints = spec.setdefault("matchConstraints", {})
        constraints.setdefault("matchPolicy", "Equivalent")
        constraints.setdefault("namespaceSelector", {})
        constraints.setdefault("objectSelector", {})
        for rule in constraints.get("resourceRules") or []:
            rule.setdefault("scope", "*")
        spec.setdefault("failurePolicy", "Fail")
    elif kind == "ValidatingAdmissionPolicyBinding" and isinstance(spec, dict):
        resources = spec.setdefault("matchResources", {})
        resources.setdefault("matchPolicy", "Equivalent")
        resources.setdefault("objectSelector", {})


def _selector_matches(selector: str, labels: dict[str, str]) -> bool:
    for part in filter(None, (p.strip() for p in selector.split(","))):
        if "!=" in part:
            k, v = part.split("!=", 1)
            if labels.get(k) == v:
                return False
        elif "==" in part or "=" in part:
            k, v = re.split("==?", part, maxsplit=1)
            if labels.get(k) != v:
                return False
        elif part.startswith("!"):
            if part[1:] in labels:
                return False
        elif part not in labels:
            return False
    return True


def _volatile_free(obj: dict[str, Any]) -> dict[str, Any]:
    clean = copy.deepcopy(obj)
    meta = clean.get("metadata") or {}
    meta.pop("resourceVersion", None)
    meta.pop("generation", None)
    for entry in meta.get("managedFields") or []:
        entry.pop("time", None)
    return clean


class FakeKube:
    """State and behaviour of the fake server; the HTTP handler below only translates."""

    def __init__(self, version: str = "v1.36.0", token: str = "fake-token") -> None:
        self.version = version
        self.token = token
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.requests: list[Request] = []
        self.namespace_lingers = 1
        self._lingering: dict[str, int] = {}
        self._rv = 100
        self._ip = 10
        self.lock = threading.RLock()
        self.server: ThreadingHTTPServer | None = None

    # --- setup helpers for tests ----------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def minor(self) -> tuple[int, int]:
        major, minor = re.match(r"v?(\d+)\.(\d+)", self.version).groups()  # type: ignore[union-attr]
        return int(major), int(minor)

    def resource(self, plural: str, api_version: str) -> Resource | None:
        for r in RESOURCES:
            if r.plural == plural and r.api_version == api_version and r.since <= self.minor < r.until:
                return r
        return None

    def by_kind(self, kind: str) -> Resource:
        return next(r for r in RESOURCES if r.kind == kind)

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def put(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Seed an object as-is (no managed fields unless given), like something another tool created."""
        with self.lock:
            obj = copy.deepcopy(obj)
            resource = self.by_kind(obj["kind"])
            meta = obj.setdefault("metadata", {})
            meta.setdefault("uid", str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", "2026-01-01T00:00:00Z")
            meta["resourceVersion"] = self._next_rv()
            ns = meta.get("namespace", "") if resource.namespaced else ""
            self.objects[(resource.plural, ns, meta["name"])] = obj
            return obj

    def get(self, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        resource = self.by_kind(kind)
        return self.objects.get((resource.plural, namespace or "" if resource.namespaced else "", name))

    @property
    def writes(self) -> list[Request]:
        return [r for r in self.requests if r.is_write]

    def resource_versions(self) -> dict[tuple[str, str, str], str]:
        return {key: obj["metadata"]["resourceVersion"] for key, obj in self.objects.items()}

    def kubeconfig(self, path: Path, contexts: dict[str, str | None], current: str | None = None) -> Path:
        """A kubeconfig whose contexts all point here; value = the user's token (None: the right one)."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": name, "cluster": {"server": self.url}} for name in contexts],
            "users": [{"name": name, "user": {"token": token or self.token}} for name, token in contexts.items()],
            "contexts": [
                {"name": name, "context": {"cluster": name, "user": name, "namespace": "default"}} for name in contexts
            ],
            "current-context": current or next(iter(contexts), ""),
        }
        path.write_text(yaml.safe_dump(config))
        return path

    # --- request handling -------------------------------------------------------------------------

    def handle(
        self, method: str, raw_path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(raw_path)
        path, query = parts.path, dict(parse_qsl(parts.query))
        content_type = headers.get("content-type")
        parsed: Any = None
        if body:
            try:
                parsed = yaml.safe_load(body.decode())
            except yaml.YAMLError:
                parsed = body.decode(errors="replace")
        with self.lock:
            self.requests.append(Request(method, path, query, parsed, content_type))
        if headers.get("authorization") != f"Bearer {self.token}":
            return self._json(401, status_body(401, "Unauthorized", "Unauthorized"))
        try:
            with self.lock:
                return self._route(method, path, query, parsed, content_type)
        except ApiError as e:
            return self._json(e.code, status_body(e.code, e.reason, e.message))

    def _json(self, code: int, data: Any, extra: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        return code, {"Content-Type": "application/json", **(extra or {})}, json.dumps(data).encode()

    def _route(
        self, method: str, path: str, query: dict[str, str], body: Any, content_type: str | None
    ) -> tuple[int, dict[str, str], bytes]:
        if path == "/version" and method == "GET":
            major, minor = self.minor
            return self._json(
                200, {"major": str(major), "minor": str(minor), "gitVersion": self.version, "platform": "linux/amd64"}
            )
        segments = [unquote(s) for s in path.strip("/").split("/")]
        if segments[:2] == ["api", "v1"]:
            api_version, rest = "v1", segments[2:]
        elif segments[:1] == ["apis"] and len(segments) >= 3:
            api_version, rest = f"{segments[1]}/{segments[2]}", segments[3:]
        else:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        namespace = ""
        if len(rest) >= 3 and rest[0] == "namespaces":
            namespace, rest = rest[1], rest[2:]
        if not rest:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        resource = self.resource(rest[0], api_version)
        if resource is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        name = rest[1] if len(rest) > 1 else None
        if len(rest) > 2:  # subresources are not modelled
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if method == "GET" and name is None:
            return self._json(200, self._list(resource, namespace, query.get("labelSelector", "")))
        if method == "GET":
            return self._json(200, self._get(resource, namespace, name or ""))
        if method == "PATCH" and name:
            if content_type != "application/apply-patch+yaml":
                raise ApiError(
                    415, "UnsupportedMediaType", f"the fake only supports server-side apply, not {content_type}"
                )
            code, obj = self._apply(resource, namespace, name, body, query)
            return self._json(code, obj)
        if method == "DELETE" and name:
            return self._json(200, self._delete(resource, namespace, name))
        raise ApiError(405, "MethodNotAllowed", f"{method} is not supported by the fake")

    def _visible(self, key: tuple[str, str, str]) -> bool:
        """A deleted namespace stays visible (Terminating) for a few reads, then goes with its content."""
        plural, _, name = key
        if plural != "namespaces" or name not in self._lingering:
            return True
        if self._lingering[name] > 0:
            self._lingering[name] -= 1
            return True
        del self._lingering[name]
        del self.objects[key]
        for other in [k for k in self.objects if k[1] == name]:
            del self.objects[other]
        return False

    def _items(self, resource: Resource, namespace: str) -> list[dict[str, Any]]:
        found = []
        for key in sorted(self.objects):
            plural, ns, _ = key
            if plural != resource.plural or (resource.namespaced and namespace and ns != namespace):
                continue
            if key in self.objects and self._visible(key):
                found.append(self.objects[key])
        return found

    def _list(self, resource: Resource, namespace: str, selector: str) -> dict[str, Any]:
        items = []
        for obj in self._items(resource, namespace):
            if _selector_matches(selector, (obj.get("metadata") or {}).get("labels") or {}):
                items.append({k: v for k, v in obj.items() if k not in ("apiVersion", "kind")})
        return {
            "kind": f"{resource.kind}List",
            "apiVersion": resource.api_version,
            "metadata": {"resourceVersion": str(self._rv)},
            "items": items,
        }

    def _get(self, resource: Resource, namespace: str, name: str) -> dict[str, Any]:
        key = (resource.plural, namespace if resource.namespaced else "", name)
        if key not in self.objects or not self._visible(key):
            group = resource.api_version.split("/")[0] if "/" in resource.api_version else ""
            raise ApiError(404, "NotFound", f'{resource.plural}{"." + group if group else ""} "{name}" not found')
        return self.objects[key]

    def _apply(
        self, resource: Resource, namespace: str, name: str, body: Any, query: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        manager = query.get("fieldManager")
        if not manager:
            raise ApiError(400, "BadRequest", "PATCH, application/apply-patch+yaml requires fieldManager")
        if (
            not isinstance(body, dict)
            or body.get("kind") != resource.kind
            or body.get("apiVersion") != resource.api_version
        ):
            raise ApiError(400, "BadRequest", f"apply body must be a {resource.kind} ({resource.api_version})")
        meta = body.get("metadata") or {}
        if meta.get("name") != name:
            raise ApiError(400, "BadRequest", "the name of the object does not match the name on the URL")
        if resource.namespaced:
            if meta.get("namespace", namespace) != namespace:
                raise ApiError(400, "BadRequest", "the namespace of the object does not match the namespace on the URL")
            if self._get_or_none(self.by_kind("Namespace"), "", namespace) is None:
                raise ApiError(404, "NotFound", f'namespaces "{namespace}" not found')
        dry_run = query.get("dryRun") == "All"
        force = query.get("force") == "true"
        key = (resource.plural, namespace if resource.namespaced else "", name)
        live = self.objects.get(key)
        fields = applied_fields(body)
        entry = {
            "manager": manager,
            "operation": "Apply",
            "apiVersion": resource.api_version,
            "fieldsType": "FieldsV1",
            "fieldsV1": fields,
            "time": "2026-01-01T00:00:00Z",
        }
        self._ip += 1
        if live is None or name in self._lingering:
            if name in self._lingering:
                raise ApiError(409, "Conflict", f'object is being deleted: {resource.plural} "{name}" already exists')
            obj = copy.deepcopy(body)
            obj.pop("status", None)
            obj["metadata"] = {
                **obj.get("metadata", {}),
                "uid": str(uuid.uuid4()),
                "creationTimestamp": "2026-01-01T00:00:00Z",
            }
            if resource.namespaced:
                obj["metadata"]["namespace"] = namespace
            obj["metadata"]["managedFields"] = [entry]
            default(obj, f"10.96.0.{self._ip % 250}")
            if "spec" in obj and resource.kind != "Namespace":
                obj["metadata"]["generation"] = 1
            obj["metadata"]["resourceVersion"] = str(self._rv + 1)
            if not dry_run:
                self._next_rv()
                self.objects[key] = obj
            return 201, obj
        # Conflicts: a field this apply sets with a different value, owned by another manager.
        others = [e for e in live["metadata"].get("managedFields") or [] if e.get("manager") != manager]
        conflicts = []
        applied_leaves = leaves(fields)
        for other in others:
            for path in leaves(other.get("fieldsV1") or {}) & applied_leaves:
                _, live_value = lookup(live, path)
                _, new_value = lookup(body, path)
                if live_value != new_value:
                    conflicts.append((other["manager"], path))
        if conflicts and not force:
            described = "\n".join(
                f'conflict with "{m}": .{".".join(t.split(":", 1)[1] for t in p)}' for m, p in conflicts
            )
            raise ApiError(
                409,
                "Conflict",
                f"Apply failed with {len(conflicts)} conflict{'s' if len(conflicts) > 1 else ''}: {described}",
            )
        new = copy.deepcopy(live)
        mine = next(
            (
                e
                for e in live["metadata"].get("managedFields") or []
                if e.get("manager") == manager and e.get("operation") == "Apply"
            ),
            None,
        )
        other_leaves = set().union(*(leaves(o.get("fieldsV1") or {}) for o in others)) if others else set()
        if mine is not None:
            for path in sorted(
                leaves(mine.get("fieldsV1") or {}) - applied_leaves - other_leaves, key=len, reverse=True
            ):
                remove(new, path)
        content = {k: v for k, v in body.items() if k not in ("status",)}
        new = merge(new, content)
        _remove_empty(new)
        default(new, live.get("spec", {}).get("clusterIP", "10.96.0.1") if isinstance(live.get("spec"), dict) else "")
        managed = [e for e in others]
        if force and conflicts:
            for other in managed:
                for _, path in conflicts:
                    remove(other.get("fieldsV1") or {}, path)
        managed.insert(0, entry)
        new["metadata"]["managedFields"] = managed
        if _volatile_free(new) == _volatile_free(live):
            return 200, live
        if new.get("spec") != live.get("spec") and "generation" in live["metadata"]:
            new["metadata"]["generation"] = live["metadata"]["generation"] + 1
        new["metadata"]["resourceVersion"] = str(self._rv + 1)
        if not dry_run:
            self._next_rv()
            self.objects[key] = new
        return 200, new

    def _get_or_none(self, resource: Resource, namespace: str, name: str) -> dict[str, Any] | None:
        key = (resource.plural, namespace, name)
        return self.objects.get(key) if key in self.objects and self._visible(key) else None

    def _delete(self, resource: Resource, namespace: str, name: str) -> dict[str, Any]:
        key = (resource.plural, namespace if resource.namespaced else "", name)
        obj = self._get(resource, namespace, name)
        if resource.kind == "Namespace":
            obj["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
            obj.setdefault("status", {})["phase"] = "Terminating"
            self._lingering[name] = self.namespace_lingers
            return obj
        del self.objects[key]
        uid = obj["metadata"].get("uid")
        for other_key, other in list(self.objects.items()):
            if any(r.get("uid") == uid for r in other["metadata"].get("ownerReferences") or []):
                del self.objects[other_key]
        return status_body(200, "", "") | {"status": "Success"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body are separate writes: without TCP_NODELAY each response waits on a delayed ACK.
    disable_nagle_algorithm = True
    fake: FakeKube

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        code, extra, data = self.fake.handle(self.command, self.path, headers, body)
        self.send_response(code)
        for k, v in extra.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PATCH = do_DELETE = do_POST = do_PUT = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def fake_kube() -> Iterator[FakeKube]:
    """A fresh fake API server on a free 127.0.0.1 port, stopped after the test."""
    fake = FakeKube()
    handler = type("Handler", (_Handler,), {"fake": fake})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    fake.server = server
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def kubeconfig(fake_kube: FakeKube, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """$KUBECONFIG with contexts `minikube` and `lab` on the fake, current-context `lab`."""
    path = fake_kube.kubeconfig(tmp_path / "kubeconfig", {"minikube": None, "lab": None}, current="lab")
    monkeypatch.setenv("KUBECONFIG", str(path))
    return path
