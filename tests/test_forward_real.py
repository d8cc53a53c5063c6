"""`port-forward` on the real Kubernetes 1.36 control plane: Service -> ready pod through real EndpointSlices,
and the stream the whole way: the official client's websocket -> API server -> kwok as the kubelet
(tests/plugins/kube_real.py) -> the server the test routed the container port to (the session etcd).
"""

from __future__ import annotations

import os
import signal
import socket
import threading
from typing import Any

import pytest

from platformctl import forward, kube, portforward
from platformctl.errors import PlatformError
from tests.conftest import RunCli
from tests.lifecycle import up
from tests.plugins.fake_portforward import listening_addresses
from tests.plugins.kube_real import RealCluster

pytestmark = pytest.mark.kube_real


def opener(cluster: RealCluster, service: str, port: int) -> portforward.ServiceOpener:
    return portforward.ServiceOpener(kube.api_client(cluster.context), cluster.namespace, service, port)


def pod_uid(cluster: RealCluster, name: str) -> str:
    return str(cluster.get(f"/api/v1/namespaces/{cluster.namespace}/pods/{name}")["metadata"]["uid"])


def test_a_service_port_resolves_to_its_ready_pod_and_container_port(
    run_cli: RunCli, real_cluster: RealCluster
) -> None:
    ns = real_cluster.namespace
    assert up(run_cli, real_cluster, "--timeout", "120")[0] == 0
    kafka = opener(real_cluster, "kafka-service", 9092)
    try:
        # Named targetPorts ("host", "internal"), resolved by the real EndpointSlice controller.
        assert kafka.resolve() == portforward.PodPort(ns, "kafka-0", pod_uid(real_cluster, "kafka-0"), 9092)
        internal = opener(real_cluster, "kafka-service", 19092)
        assert internal.resolve().port == 19092
        internal.close()
    finally:
        kafka.close()
    reads = [e for e in real_cluster.requests() if e.resource == "endpointslices"]
    assert any("service-name%3Dkafka-service" in e.uri for e in reads), reads


def test_a_replaced_pod_is_found_again_and_a_crashing_one_is_not_ready(
    run_cli: RunCli, real_cluster: RealCluster
) -> None:
    ns, plane = real_cluster.namespace, real_cluster.plane
    assert up(run_cli, real_cluster, "--timeout", "120")[0] == 0
    etcd = opener(real_cluster, "etcd", 2379)
    try:
        first = etcd.resolve()
        plane.api("DELETE", f"/api/v1/namespaces/{ns}/pods/etcd-0")
        # The StatefulSet controller brings etcd-0 back under a new uid; `up` waits until it is ready.
        assert up(run_cli, real_cluster, "--timeout", "120")[0] == 0
        plane.wait_until(lambda: etcd.resolve().uid != first.uid)
        assert etcd.resolve() == portforward.PodPort(ns, "etcd-0", pod_uid(real_cluster, "etcd-0"), 2379)
        plane.fail(ns, "StatefulSet", "etcd", "crash-loop")
        code, _, err = up(run_cli, real_cluster, "--timeout", "120")
        assert code == 1 and "keeps crashing" in err
        refused: list[PlatformError] = []

        def no_ready_pod() -> bool:
            # The EndpointSlice controller marks the endpoint not ready a moment after the pod.
            try:
                etcd.resolve()
            except PlatformError as e:
                refused.append(e)
                return True
            return False

        plane.wait_until(no_ready_pod)
        assert str(refused[0]) == f"service {ns}/etcd has no ready pod"
    finally:
        etcd.close()


def test_port_forward_carries_bytes_to_the_pod_through_the_api_server_until_ctrl_c(
    run_cli: RunCli, real_cluster: RealCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert up(run_cli, real_cluster, "--timeout", "120")[0] == 0
    seen = len(real_cluster.requests())
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    answers: list[bytes] = []
    done, announced = threading.Event(), threading.Event()
    serve = forward.serve

    def observed_serve(forwards: Any, *, on_ready: Any = None) -> None:
        def ready() -> None:
            if on_ready is not None:
                on_ready()
            announced.set()

        serve(forwards, on_ready=ready)

    monkeypatch.setattr(forward, "serve", observed_serve)

    def user() -> None:
        while not done.is_set() and not announced.wait(0.05):
            pass
        if not done.is_set():
            assert listening_addresses(port) == ["0100007F"]  # 127.0.0.1 only
            for _ in range(2):  # two connections: each gets a stream of its own
                with socket.create_connection(("127.0.0.1", port), timeout=30) as c:
                    c.sendall(b"GET /version HTTP/1.1\r\nHost: etcd\r\n\r\n")
                    answers.append(c.recv(4096))
            os.kill(os.getpid(), signal.SIGINT)

    thread = threading.Thread(target=user)
    thread.start()
    try:
        result = run_cli(*real_cluster.args, "port-forward", f"etcd:{port}")
    finally:
        done.set()
        thread.join()
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"http://127.0.0.1:{port}\n"
    assert len(answers) == 2 and all(b'"etcdserver":"3.6.8"' in a for a in answers), answers
    streams = [e for e in real_cluster.requests()[seen:] if e.uri.endswith("/portforward?ports=2379")]
    assert [(e.name, e.code) for e in streams] == [("etcd-0", 101)] * 2
