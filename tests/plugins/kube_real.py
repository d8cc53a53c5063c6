"""A real Kubernetes 1.36 control plane for the tests (the envtest idea): what platformctl meets on a cluster.

Started once per test session, lazily (only when a test asks for `control_plane` or `real_cluster`), from
the binaries `python -m tests.components.install kube etcd kwok` builds (tests/components/), every process
on 127.0.0.1 and a free port, with certificates and keys generated for the session (tests/plugins/kube_pki.py):

- etcd 3.6 (its own, not the session etcd the overrides tests use);
- kube-apiserver v1.36.3: client-certificate and ServiceAccount-token authentication, `Node,RBAC`
  authorization, the default admission chain (Pod Security admission and ValidatingAdmissionPolicy are on
  in 1.36) plus NodeRestriction, as minikube runs it. Its `--advertise-address` is 192.0.2.1 (TEST-NET-1:
  nothing ever connects there), because it refuses 127.0.0.1 for the `kubernetes` Service's endpoints;
- kube-controller-manager (`--controllers=*`, one ServiceAccount per controller, no leader election) and
  kube-scheduler: Deployments, StatefulSets, ReplicaSets, EndpointSlices, namespace finalization, garbage
  collection, PersistentVolume binding and scheduling are the real controllers';
- kwok standing in for the kubelet: it keeps one node, `minikube` (64 CPUs and 256 GiB: room for every
  test's platform at once), Ready with its lease in kube-node-lease renewed, moves pods bound to it to
  Running/Ready with pod IPs, deletes pods being deleted, and serves the kubelet API the API server proxies
  `pods/log` and `pods/portforward` to: every container's log is the file `ControlPlane.logs`
  (`ControlPlane.previous_logs` for `--previous`), and a port-forward to container port P reaches whatever
  the test routed P to (`RealCluster.route(2379, etcd_port)`, tests/plugins/podnetwork.py). Its stages are
  tests/plugins/kwok/stages.yaml.

Making a pod fail (kwok stages; the scheduler's own verdicts need nothing special):
- image pull error: an image under `registry.invalid/` (`MISSING_IMAGE_REGISTRY`), for example through
  platformctl.yaml, or the pod annotation `kwok.platformctl.test/fail: image-pull`;
- crash loop: the annotation `kwok.platformctl.test/fail: crash-loop` (CrashLoopBackOff, last exit code 1,
  3 restarts); `ControlPlane.fail(namespace, kind, name, mode)` sets it on a workload's pod template
  with a field manager of its own, as `kubectl patch` would, so platformctl's apply is not disturbed;
- unschedulable: ask for more than the node has (more than 64 CPUs or 256Gi) and the real scheduler says so.

Storage (no provisioner runs): a default StorageClass `standard` exists (as on minikube, Immediate binding),
and `ControlPlane.add_persistent_volumes(n, capacity)` makes PersistentVolumes of that class for the
PersistentVolume controller to bind PersistentVolumeClaims to; without one a claim stays Pending. Each
`real_cluster` adds two (10Gi): what `up`'s defaults claim (one Kafka broker, etcd); a test that claims
more adds more.

What it does NOT model: containers (nothing runs: no probes, no exit codes but the stages' above, no
`exec`; a port-forward reaches the routed server whichever pod it was for), kube-proxy and DNS (Service
IPs lead nowhere), volume mounts, resource usage, node pressure; kwok sets every pod Ready at once.

Faults, for real: `ControlPlane.apiserver_frozen()` (SIGSTOP inside a `with`), `kill_apiserver()` and
`restart_apiserver()` (same port, certificates and etcd; the other processes reconnect).

Fixtures:
- `control_plane` (session): the running `ControlPlane`: `.api(...)`/`.request(...)` send admin requests,
  `.user(name, admin=False)` issues a client certificate RBAC alone decides for, `.token(ns, sa)` a
  ServiceAccount token, `.write_kubeconfig(path, {context: certificate or token})`, `.wait_until(...)`
  polls for what controllers do later (tests/plugins/controlplane_api.py);
- `real_cluster` (function): `$KUBECONFIG` with the context `lab` for a cluster-admin user of the test's
  own, a fresh namespace name (`.namespace`) and environment (`.env`); `.args` = `--context lab --namespace
  NS --env ENV`, `.scope` the same without the context (minikube mode: `.minikube_writes_contexts_here()`
  points the fake minikube's `start` at this control plane). Port-forwards to container port 2379 reach the
  session etcd (`.etcd`); `.route(port, local_port)` points any other. The API server's audit log records
  every request that user sends: `.requests()` and `.writes()` are what the commands under test sent.
  After the test, its namespace and anything labelled with that instance are deleted without waiting, and
  the pod network's routes and the container logs cleared.
A test using either must be marked `kube_real` (collection fails otherwise, and for the reverse; the
same holds for `fake_k8s` and the fake API server's fixtures).

After the summary the suite prints how long the control plane took to start and its memory at the start
and the end of the session; every process's log stays in `ControlPlane.directory`, named on failure.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.plugins import kube_pki
from tests.plugins.controlplane import MISSING_IMAGE_REGISTRY, NODE, ControlPlane
from tests.plugins.controlplane_api import FAIL_ANNOTATION, AuditEvent
from tests.plugins.etcd import EtcdServer
from tests.plugins.fake_minikube import FakeMinikube

__all__ = ["FAIL_ANNOTATION", "MISSING_IMAGE_REGISTRY", "NODE", "AuditEvent", "ControlPlane", "RealCluster"]


@dataclass(frozen=True)
class RealCluster:
    """What one test gets: the control plane, a kubeconfig with context `lab` and a namespace of its own."""

    plane: ControlPlane
    kubeconfig: Path
    namespace: str
    user: str
    credentials: kube_pki.KeyPair
    env: str
    etcd: EtcdServer
    context: str = "lab"

    @property
    def scope(self) -> tuple[str, ...]:
        """The test's own namespace and environment, for commands that find their context otherwise (minikube)."""
        return ("--namespace", self.namespace, "--env", self.env)

    @property
    def args(self) -> tuple[str, ...]:
        return ("--context", self.context, *self.scope)

    def minikube_writes_contexts_here(self, minikube: FakeMinikube) -> None:
        """The fake minikube's `start` writes a context for this control plane, as the test's user."""
        minikube.configure(
            cluster={"server": self.plane.server, "certificate-authority": str(self.plane.ca.cert)},
            user={"client-certificate": str(self.credentials.cert), "client-key": str(self.credentials.key)},
        )

    def requests(self) -> list[AuditEvent]:
        """Every request the test's user has sent so far (the API server's audit log)."""
        return self.plane.audit(self.credentials, self.user)

    def writes(self) -> list[AuditEvent]:
        """The requests that could change what is stored (dry runs excluded)."""
        return [e for e in self.requests() if e.is_write]

    def route(self, container_port: int, local_port: int) -> None:
        """Port-forwards to container port `container_port` of any pod reach 127.0.0.1:`local_port`."""
        assert self.plane.network is not None
        self.plane.network.route(container_port, local_port)

    def get(self, path: str) -> Any:
        """An admin GET (not recorded as the test user's); None when the object does not exist."""
        status, body = self.plane.request("GET", path)
        if status == 404:
            return None
        assert status == 200, (path, status, body)
        return body


_PLANE: list[ControlPlane] = []
_MEMORY: dict[str, dict[str, float]] = {}  # RSS of each process (MiB) at start and at the end of the session


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    plane = ControlPlane(tmp_path_factory.mktemp("control-plane"))
    _PLANE.append(plane)
    try:
        plane.start()
        _MEMORY["at start"] = plane.memory_mib()
        yield plane
        _MEMORY["at the end"] = plane.memory_mib()
    finally:
        plane.stop()


@pytest.fixture
def real_cluster(
    control_plane: ControlPlane,
    etcd_server: EtcdServer,
    etcd_env: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[RealCluster]:
    namespace = f"t-{uuid.uuid4().hex[:10]}"
    user = f"test-{namespace}"
    credentials = control_plane.user(user)
    kubeconfig = control_plane.write_kubeconfig(tmp_path / "kubeconfig", {"lab": credentials})
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    if etcd_server.process is None:
        etcd_server.start()  # a fault test left it down
    # The platform's etcd pod "listens" with the session etcd (a fresh environment per test, `--env`).
    assert control_plane.network is not None
    control_plane.network.route(2379, etcd_server.client_port)
    # Volumes for the claims of one broker and etcd (`up`'s defaults): no provisioner runs here.
    control_plane.add_persistent_volumes(2)
    try:
        yield RealCluster(control_plane, kubeconfig, namespace, user, credentials, etcd_env, etcd_server)
    finally:
        control_plane.delete_instance(namespace)
        if control_plane.network is not None:
            control_plane.network.clear()
        for log in (control_plane.logs, control_plane.previous_logs):
            log.write_text("")


# Markers say which Kubernetes a test meets, and they are checked: a test using these fixtures carries
# the marker, and a test carrying the marker uses one of them.
MARKER_FIXTURES = {
    "kube_real": {"control_plane", "real_cluster"},
    # the in-repo fake API server, the fake Service-resolution server and the fakes of the stream side
    "fake_k8s": {"fake_kube", "kubeconfig", "fake_api", "fake_cluster", "upstreams"},
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    problems = []
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        for marker, fixtures in MARKER_FIXTURES.items():
            uses, marked = bool(fixtures & used), item.get_closest_marker(marker) is not None
            if uses and not marked:
                problems.append(f"{item.nodeid} uses {', '.join(sorted(fixtures & used))} but is not marked {marker}")
            elif marked and not uses:
                problems.append(f"{item.nodeid} is marked {marker} but uses none of {', '.join(sorted(fixtures))}")
    if problems:
        raise pytest.UsageError("dishonest markers:\n  " + "\n  ".join(problems))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    report = yield
    if report.failed and _PLANE and item.get_closest_marker("kube_real") is not None:
        report.sections.append(("control plane", f"logs of every process: {_PLANE[0].directory}"))
    return report


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _PLANE or not _PLANE[0].startup:
        return
    seconds = ", ".join(f"{k} {v:.1f}s" for k, v in _PLANE[0].startup.items())
    terminalreporter.write_line(f"control plane: ready after {seconds} (cumulative)")
    for when, memory in _MEMORY.items():
        each = ", ".join(f"{name} {mib:.0f}" for name, mib in memory.items())
        terminalreporter.write_line(f"control plane RSS MiB {when}: {sum(memory.values()):.0f} ({each})")
    terminalreporter.write_line(f"control plane logs: {_PLANE[0].directory}")
