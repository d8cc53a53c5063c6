"""The test control plane's processes: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok.

The machinery behind tests/plugins/kube_real.py (read its docstring for what the tests get and what the
control plane does not model): `ControlPlane.start()` generates the session's certificates
(kube_pki.py), starts each process on 127.0.0.1 with its own log file, waits until the API server is
ready, the node is Ready and the controllers run, and `stop()` ends them by PID, newest first. What tests
do with it once it runs is controlplane_api.py. No pytest fixtures here, so a script can start one too
(`ControlPlane(directory).start()`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests import components
from tests.plugins import kube_pki
from tests.plugins.controlplane_api import TEST_GROUP, ControlPlaneApi, ControlPlaneError
from tests.plugins.etcd import EtcdServer, die_with_parent, free_port
from tests.plugins.podnetwork import PodNetwork

NODE = "minikube"
# Room for every test's platform at once (each requests 0.55 CPU and 1.7 GiB; a test's namespace finishes
# deleting in the background after it): a minikube-sized node (2 CPUs, 8 GiB) is full after three.
NODE_CAPACITY = {"cpu": "64", "memory": "256Gi", "pods": "1000", "ephemeral-storage": "1Ti"}
MISSING_IMAGE_REGISTRY = "registry.invalid"
ADVERTISE_ADDRESS = "192.0.2.1"  # TEST-NET-1 (RFC 5737): never routed, so nothing connects there
SERVICE_CIDR = "10.96.0.0/16"
STAGES = Path(__file__).with_name("kwok") / "stages.yaml"
START_TIMEOUT = 180.0


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


def container_ports() -> set[int]:
    """Every container port the platform renders (both Kafka flavors): the pod network's relays."""
    from platformctl.platform import render
    from platformctl.settings import KafkaSettings, Settings

    ports: set[int] = set()
    for settings in (Settings(), Settings(kafka=KafkaSettings(flavor="fast-data-dev"))):
        for doc in render.render(settings, render.KubeVersion(1, 36)).documents:
            pod = ((doc.get("spec") or {}).get("template") or {}).get("spec") or {}
            for container in [*(pod.get("containers") or []), *(pod.get("initContainers") or [])]:
                ports.update(int(p["containerPort"]) for p in container.get("ports") or [])
    return ports


@dataclass
class ControlPlane(ControlPlaneApi):
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

    def _apiserver(self) -> Process:
        return next(p for p in self.processes if p.name == "kube-apiserver")

    @contextlib.contextmanager
    def apiserver_frozen(self) -> Iterator[None]:
        """The API server stopped (SIGSTOP) inside the block: connections open, nothing answers; SIGCONT after."""
        process = self._apiserver()
        assert process.popen is not None
        os.kill(process.popen.pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(process.popen.pid, signal.SIGCONT)
            self._wait("the API server to answer again", lambda: self._ready("/readyz"), process)

    def kill_apiserver(self) -> None:
        """The API server dies (SIGKILL): every connection to it is refused until `restart_apiserver`."""
        process = self._apiserver()
        assert process.popen is not None
        os.kill(process.popen.pid, signal.SIGKILL)
        process.popen.wait()
        process.popen = None

    def restart_apiserver(self) -> None:
        """Start it again on the same port, certificates and etcd; back when ready (the others reconnect)."""
        process = self._apiserver()
        process.start()
        self._wait("the API server to be ready again", lambda: self._ready("/readyz"), process)

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
