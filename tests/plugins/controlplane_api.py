"""What tests do with the running control plane: admin requests, users, the audit log, making pods fail,
volumes, tokens, cleanup. Kept apart from the processes that make it run (controlplane.py).
"""

from __future__ import annotations

import datetime
import json
import ssl
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.plugins import kube_pki

FAIL_ANNOTATION = "kwok.platformctl.test/fail"
# The group of every test user: the audit policy records their requests, and only theirs.
TEST_GROUP = "platformctl-test"


class ControlPlaneError(RuntimeError):
    pass


WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})


@dataclass(frozen=True)
class AuditEvent:
    """One request as the API server's audit log recorded it."""

    user: str
    verb: str
    uri: str
    code: int
    resource: str | None
    namespace: str | None
    name: str | None
    time: float  # when the API server received it (seconds since the epoch)

    @classmethod
    def of(cls, event: dict[str, Any]) -> AuditEvent:
        ref = event.get("objectRef") or {}
        received = datetime.datetime.fromisoformat(str(event.get("requestReceivedTimestamp")).replace("Z", "+00:00"))
        return cls(
            time=received.timestamp(),
            user=str((event.get("user") or {}).get("username")),
            verb=str(event.get("verb")),
            uri=str(event.get("requestURI")),
            code=int((event.get("responseStatus") or {}).get("code") or 0),
            resource=ref.get("resource"),
            namespace=ref.get("namespace"),
            name=ref.get("name"),
        )

    @property
    def dry_run(self) -> bool:
        return "dryRun=All" in self.uri

    @property
    def is_write(self) -> bool:
        """A request that may change what is stored (a dry run never does)."""
        return self.verb in WRITE_VERBS and not self.dry_run


class ControlPlaneApi:
    """Mixed into `ControlPlane`, which provides the attributes below once started."""

    server: str
    ca: kube_pki.KeyPair
    admin: kube_pki.KeyPair
    audit_log: Path
    _authority: kube_pki.Authority


    def write_kubeconfig(
        self, path: Path, contexts: dict[str, kube_pki.KeyPair | str] | None = None, current: str | None = None
    ) -> Path:
        """A kubeconfig whose contexts reach this server as a client certificate's or a token's user."""
        contexts = contexts if contexts is not None else {"lab": self.admin}
        users = []
        for name, who in contexts.items():
            if isinstance(who, str):
                users.append({"name": name, "user": {"token": who}})
            else:
                users.append({"name": name, "user": {"client-certificate": str(who.cert), "client-key": str(who.key)}})
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": "real", "cluster": {"server": self.server, "certificate-authority": str(self.ca.cert)}}
            ],
            "users": users,
            "contexts": [{"name": n, "context": {"cluster": "real", "user": n}} for n in contexts],
            "current-context": current or "",
        }
        path.write_text(yaml.safe_dump(config))
        return path

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        raw: bool = False,
        as_user: kube_pki.KeyPair | None = None,
    ) -> tuple[int, Any]:
        """One request as the cluster admin (or `as_user`): (status, parsed JSON body, or bytes with raw=True)."""
        context = ssl.create_default_context(cafile=str(self.ca.cert))
        who = as_user or self.admin
        context.load_cert_chain(str(who.cert), str(who.key))
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        request = urllib.request.Request(self.server + path, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, context=context, timeout=30) as response:
                status, payload = response.status, response.read()
        except urllib.error.HTTPError as e:
            status, payload = e.code, e.read()
        if raw:
            return status, payload
        return status, json.loads(payload) if payload else None

    def api(self, method: str, path: str, body: Any = None, *, content_type: str = "application/json") -> Any:
        """`request`, failing unless the answer is 2xx; the parsed body."""
        status, payload = self.request(method, path, body, content_type=content_type)
        if not 200 <= status < 300:
            raise ControlPlaneError(f"{method} {path} -> {status}: {payload}")
        return payload

    def wait_until(self, condition: Callable[[], bool], timeout: float = 60.0) -> None:
        """Poll (with backoff) until `condition()` holds: for what the API server or controllers do later."""
        deadline, delay = time.monotonic() + timeout, 0.05
        while not condition():
            if time.monotonic() > deadline:
                raise ControlPlaneError(f"timed out after {timeout:g}s waiting for {condition}")
            time.sleep(delay)
            delay = min(delay * 2, 1.0)

    def user(self, name: str, *, admin: bool = True) -> kube_pki.KeyPair:
        """A client certificate for a user of this name (a cluster admin unless `admin=False`: then only what
        RBAC grants it) whose requests the audit log records."""
        groups = ("system:masters", TEST_GROUP) if admin else (TEST_GROUP,)
        return self._authority.issue(f"user-{name}", name, groups=groups)

    def audit(self, user: kube_pki.KeyPair, name: str) -> list[AuditEvent]:
        """Every request `name` (a `user`) has sent so far, in the order the API server finished them.

        The log is written as requests complete; a request of our own as that user, found in the log,
        marks the end of what came before it.
        """
        marker = f"/version?audit-marker={uuid.uuid4().hex}"
        self.request("GET", marker, as_user=user)
        deadline = time.monotonic() + 30
        while True:
            # A long-running request (a port-forward, a watch) is logged when it starts (ResponseStarted) and
            # again when it ends: the first of its events counts, so it shows before the stream closes.
            seen: set[str] = set()
            events = []
            for line in self.audit_log.read_text().splitlines():
                raw = json.loads(line)
                if raw.get("auditID") not in seen:
                    seen.add(raw.get("auditID"))
                    events.append(AuditEvent.of(raw))
            mine = [e for e in events if e.user == name]
            if any(e.uri == marker for e in mine):
                return [e for e in mine if not e.uri.startswith("/version?audit-marker=")]
            if time.monotonic() > deadline:
                raise ControlPlaneError(f"the audit log {self.audit_log} never recorded {marker}")
            time.sleep(0.05)

    def fail(self, namespace: str, kind: str, name: str, mode: str) -> None:
        """Make the pods of a Deployment/StatefulSet fail (`image-pull` or `crash-loop`) from now on.

        Annotates the pod template as another field manager would (`kubectl patch`), so the workload
        rolls out failing pods and platformctl's own fields stay platformctl's.
        """
        plural = {"Deployment": "deployments", "StatefulSet": "statefulsets"}[kind]
        patch = {"spec": {"template": {"metadata": {"annotations": {FAIL_ANNOTATION: mode}}}}}
        self.api(
            "PATCH",
            f"/apis/apps/v1/namespaces/{namespace}/{plural}/{name}?fieldManager=kubectl-patch",
            patch,
            content_type="application/strategic-merge-patch+json",
        )

    def add_persistent_volumes(self, count: int, capacity: str = "10Gi", storage_class: str = "standard") -> list[str]:
        """PersistentVolumes of `storage_class` for the PV controller to bind claims to; their names."""
        names = []
        for _ in range(count):
            name = f"pv-{uuid.uuid4().hex[:8]}"
            self.api("POST", "/api/v1/persistentvolumes", {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {"name": name, "labels": {"platformctl-test/pv": "true", "platformctl-test/pv-name": name}},
                "spec": {
                    "capacity": {"storage": capacity},
                    "accessModes": ["ReadWriteOnce"],
                    "persistentVolumeReclaimPolicy": "Retain",  # nothing may ever try to delete a hostPath here
                    "storageClassName": storage_class,
                    "hostPath": {"path": f"/tmp/platformctl-test/{name}"},
                },
            })  # fmt: skip
            names.append(name)
        return names

    def token(self, namespace: str, service_account: str) -> str:
        """A short-lived token for a ServiceAccount (the TokenRequest API, as `kubectl create token`)."""
        answer = self.api(
            "POST",
            f"/api/v1/namespaces/{namespace}/serviceaccounts/{service_account}/token",
            {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 3600}},
        )
        return str(answer["status"]["token"])

    def delete_instance(self, namespace: str) -> None:
        """Delete what a test left: its namespace and the cluster-scoped objects labelled for it (no wait)."""
        selector = f"app.kubernetes.io/instance={namespace}"
        for plural in ("validatingadmissionpolicybindings", "validatingadmissionpolicies"):
            base = f"/apis/admissionregistration.k8s.io/v1/{plural}"
            self.request("DELETE", f"{base}?labelSelector={selector}")
        for plural in ("clusterrolebindings", "clusterroles"):
            self.request("DELETE", f"/apis/rbac.authorization.k8s.io/v1/{plural}?labelSelector={selector}")
        self.request("DELETE", f"/api/v1/namespaces/{namespace}")
