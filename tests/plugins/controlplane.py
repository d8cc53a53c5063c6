"""The test control plane's processes: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok.

The machinery behind tests/plugins/kube_real.py (read its docstring for what the tests get and what the
control plane does not model): `ControlPlane.start()` generates the session's certificates
(kube_pki.py), starts each process on 127.0.0.1 with its own log file, waits until the API server is
ready, the node is Ready and the controllers run, and `stop()` ends them by PID, newest first. No pytest
fixtures here, so a script can start one too (`ControlPlane(directory).start()`).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests import components
from tests.plugins import kube_pki
from tests.plugins.etcd import EtcdServer, die_with_parent, free_port
from tests.plugins.podnetwork import PodNetwork

NODE = "minikube"
NODE_CAPACITY = {"cpu": "2", "memory": "8Gi", "pods": "110", "ephemeral-storage": "20Gi"}
MISSING_IMAGE_REGISTRY = "registry.invalid"
FAIL_ANNOTATION = "kwok.platformctl.test/fail"
ADVERTISE_ADDRESS = "192.0.2.1"  # TEST-NET-1 (RFC 5737): never routed, so nothing connects there
SERVICE_CIDR = "10.96.0.0/16"
STAGES = Path(__file__).with_name("kwok") / "stages.yaml"
# The group of every test user: the audit policy records their requests, and only theirs.
TEST_GROUP = "platformctl-test"
START_TIMEOUT = 180.0


class ControlPlaneError(RuntimeError):
    pass


@dataclass
class Process:
    name: str
    args: list[str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                self.args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=die_with_parent
            )

    def check(self) -> None:
        if self.popen is not None and self.popen.poll() is not None:
            tail = self.log.read_text(errors="replace").splitlines()[-5:]
            raise ControlPlaneError(f"{self.name} exited with {self.popen.returncode}; see {self.log}: {tail}")

    def rss_mib(self) -> float:
        """Resident memory now (VmRSS), in MiB."""
        if self.popen is None:
            return 0.0
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{self.popen.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.popen.pid, signal.SIGKILL)
            self.popen.wait()
        self.popen = None


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


def container_ports() -> set[int]:
    """Every container port the platform renders (both Kafka flavors): the pod network's relays."""
    from platformctl import render
    from platformctl.settings import KafkaSettings, Settings

    ports: set[int] = set()
    for settings in (Settings(), Settings(kafka=KafkaSettings(flavor="fast-data-dev"))):
        for doc in render.render(settings, render.KubeVersion(1, 36)).documents:
            pod = ((doc.get("spec") or {}).get("template") or {}).get("spec") or {}
            for container in [*(pod.get("containers") or []), *(pod.get("initContainers") or [])]:
                ports.update(int(p["containerPort"]) for p in container.get("ports") or [])
    return ports


@dataclass
class ControlPlane:
    directory: Path
    etcd: EtcdServer | None = None
    port: int = field(default_factory=free_port)
    kwok_port: int = field(default_factory=free_port)
    network: PodNetwork | None = None
    processes: list[Process] = field(default_factory=list)
    startup: dict[str, float] = field(default_factory=dict)

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def pki(self) -> Path:
        return self.directory / "pki"

    @property
    def audit_log(self) -> Path:
        return self.directory / "audit.log"

    @property
    def logs(self) -> Path:
        """The log kwok serves for every container (`kubectl logs`); tests write what they need into it."""
        return self.directory / "container.log"

    @property
    def previous_logs(self) -> Path:
        """The log kwok serves for a container's previous run (`kubectl logs --previous`)."""
        return self.directory / "container-previous.log"

    # --- starting and stopping -----------------------------------------------------------------

    def start(self) -> None:
        started = time.monotonic()
        binaries = components.require("kube") / "bin"
        kwok = components.require("kwok") / "bin" / "kwok"
        self.pki.mkdir(parents=True)
        ca = kube_pki.Authority(self.pki)
        serving = ca.issue(
            "apiserver",
            "kube-apiserver",
            server_names=("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                          "kubernetes.default.svc.cluster.local"),
            server_ips=("127.0.0.1", "10.96.0.1", ADVERTISE_ADDRESS),
        )  # fmt: skip
        kubelet_client = ca.issue("apiserver-kubelet-client", "kube-apiserver-kubelet-client")
        kwok_serving = ca.issue(
            "kwok", f"system:node:{NODE}", server_names=(NODE, "localhost"), server_ips=("127.0.0.1",)
        )
        sa = kube_pki.service_account_keys(self.pki)
        self.admin = ca.issue("admin", "kubernetes-admin", groups=("system:masters",))
        self._authority = ca
        self.ca = ca.ca
        self.startup["certificates"] = time.monotonic() - started

        self.etcd = EtcdServer(data_dir=self.directory / "etcd" / "data")
        (self.directory / "etcd").mkdir()
        self.etcd.start()
        self.startup["etcd"] = time.monotonic() - started

        apiserver = self._spawn("kube-apiserver", [
            str(binaries / "kube-apiserver"),
            f"--etcd-servers={self.etcd.endpoint}",
            "--bind-address=127.0.0.1", f"--secure-port={self.port}", f"--advertise-address={ADVERTISE_ADDRESS}",
            f"--cert-dir={self.pki}", f"--tls-cert-file={serving.cert}", f"--tls-private-key-file={serving.key}",
            f"--client-ca-file={ca.ca.cert}",
            f"--service-account-key-file={sa.cert}", f"--service-account-signing-key-file={sa.key}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
            f"--kubelet-client-certificate={kubelet_client.cert}", f"--kubelet-client-key={kubelet_client.key}",
            f"--kubelet-certificate-authority={ca.ca.cert}", "--kubelet-preferred-address-types=InternalIP",
            f"--audit-policy-file={self._audit_policy()}", f"--audit-log-path={self.audit_log}",
            "--audit-log-format=json", "--audit-log-mode=blocking",
            "--profiling=false", "--v=1",
        ])  # fmt: skip
        self._wait("the API server to be ready", lambda: self._ready("/readyz"), apiserver)
        self.startup["kube-apiserver"] = time.monotonic() - started

        kcm = ca.issue("controller-manager", "system:kube-controller-manager")
        scheduler = ca.issue("scheduler", "system:kube-scheduler")
        self._spawn("kube-controller-manager", [
            str(binaries / "kube-controller-manager"),
            f"--kubeconfig={self._component_kubeconfig('controller-manager', kcm)}",
            "--controllers=*", "--use-service-account-credentials", "--leader-elect=false", "--secure-port=0",
            f"--root-ca-file={ca.ca.cert}", f"--service-account-private-key-file={sa.key}",
            f"--cluster-signing-cert-file={ca.ca.cert}", f"--cluster-signing-key-file={ca.ca.key}",
            f"--service-cluster-ip-range={SERVICE_CIDR}", "--profiling=false", "--v=1",
            # It would create /usr/libexec/kubernetes/kubelet-plugins/volume/exec/ on the machine otherwise.
            f"--flex-volume-plugin-dir={self.directory / 'flexvolume'}",
        ])  # fmt: skip
        self._spawn("kube-scheduler", [
            str(binaries / "kube-scheduler"),
            f"--kubeconfig={self._component_kubeconfig('scheduler', scheduler)}",
            "--leader-elect=false", "--secure-port=0", "--profiling=false", "--v=1",
        ])  # fmt: skip
        self._create_node()
        self._create_storage_class()
        for path in (self.logs, self.previous_logs):
            path.touch()
        self.network = PodNetwork(container_ports())
        self._spawn("kwok", [
            str(kwok),
            f"--kubeconfig={self._component_kubeconfig('kwok', self.admin)}",
            f"--config={STAGES}", f"--config={self._kwok_config()}",
            "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
            "--node-ip=127.0.0.1", f"--node-port={self.kwok_port}", f"--server-address=127.0.0.1:{self.kwok_port}",
            f"--tls-cert-file={kwok_serving.cert}", f"--tls-private-key-file={kwok_serving.key}",
            "--node-lease-duration-seconds=40", "--cidr=10.244.0.0/16",
        ])  # fmt: skip
        self._wait("the node to be Ready", self._node_ready)
        self._wait("the controllers (the `default` ServiceAccount)", self._has_default_service_account)
        self.startup["total"] = time.monotonic() - started

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        if self.etcd is not None:
            self.etcd.stop()
        if self.network is not None:
            self.network.close()

    def memory_mib(self) -> dict[str, float]:
        """Resident memory of each process now (MiB)."""
        memory = {p.name: p.rss_mib() for p in self.processes}
        if self.etcd is not None and self.etcd.process is not None:
            memory["etcd"] = Process("etcd", [], Path(), self.etcd.process).rss_mib()
        return memory

    def _spawn(self, name: str, args: list[str]) -> Process:
        process = Process(name, args, self.directory / f"{name}.log")
        process.start()
        self.processes.append(process)
        return process

    def _wait(self, what: str, ready: Any, *watch: Process) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            for process in watch or self.processes:
                process.check()
            with contextlib.suppress(OSError, ValueError, ControlPlaneError):
                if ready():
                    return
            if time.monotonic() > deadline:
                raise ControlPlaneError(
                    f"timed out after {START_TIMEOUT:g}s waiting for {what}; logs in {self.directory}"
                )
            time.sleep(0.2)

    def _ready(self, path: str) -> bool:
        status, _ = self.request("GET", path, raw=True)
        return status == 200

    def _node_ready(self) -> bool:
        node = self.api("GET", f"/api/v1/nodes/{NODE}")
        conditions = {c["type"]: c["status"] for c in (node.get("status") or {}).get("conditions") or []}
        taints = (node.get("spec") or {}).get("taints") or []
        return conditions.get("Ready") == "True" and not taints

    def _has_default_service_account(self) -> bool:
        return self.request("GET", "/api/v1/namespaces/default/serviceaccounts/default", raw=True)[0] == 200

    def _create_node(self) -> None:
        self.api("POST", "/api/v1/nodes", {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": NODE,
                "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                "labels": {"kubernetes.io/hostname": NODE, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                           "node-role.kubernetes.io/control-plane": "", "type": "kwok"},
            },
            "status": {"capacity": NODE_CAPACITY, "allocatable": NODE_CAPACITY},
        })  # fmt: skip

    def _create_storage_class(self) -> None:
        self.api("POST", "/apis/storage.k8s.io/v1/storageclasses", {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": "standard", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": "k8s.io/minikube-hostpath",
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "Immediate",
        })  # fmt: skip

    def _kwok_config(self) -> Path:
        """Where kwok, as the kubelet, finds containers' logs and each container port's relay."""
        assert self.network is not None
        forwards = [
            {"ports": [port], "target": {"address": "127.0.0.1", "port": relay}}
            for port, relay in self.network.relays.items()
        ]
        path = self.directory / "kwok.yaml"
        path.write_text(yaml.safe_dump_all([
            {
                "apiVersion": "kwok.x-k8s.io/v1alpha1",
                "kind": "ClusterLogs",
                "metadata": {"name": "every-container"},
                "spec": {"logs": [{"logsFile": str(self.logs), "previousLogsFile": str(self.previous_logs)}]},
            },
            {
                "apiVersion": "kwok.x-k8s.io/v1alpha1",
                "kind": "ClusterPortForward",
                "metadata": {"name": "pod-network"},
                "spec": {"forwards": forwards},
            },
        ]))  # fmt: skip
        return path

    def _audit_policy(self) -> Path:
        """Every request of a test user (group `platformctl-test`) at Metadata level; nothing else."""
        path = self.pki / "audit-policy.yaml"
        path.write_text(yaml.safe_dump({
            "apiVersion": "audit.k8s.io/v1",
            "kind": "Policy",
            "omitStages": ["RequestReceived"],
            "rules": [{"level": "Metadata", "userGroups": [TEST_GROUP]}, {"level": "None"}],
        }))  # fmt: skip
        return path

    def _component_kubeconfig(self, name: str, pair: kube_pki.KeyPair) -> Path:
        path = self.directory / f"{name}.kubeconfig"
        self.write_kubeconfig(path, {name: pair}, current=name)
        return path

    # --- what tests use --------------------------------------------------------------------------

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
                "metadata": {"name": name, "labels": {"platformctl-test/pv": "true"}},
                "spec": {
                    "capacity": {"storage": capacity},
                    "accessModes": ["ReadWriteOnce"],
                    "persistentVolumeReclaimPolicy": "Delete",
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
