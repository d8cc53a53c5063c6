"""`port-forward` on the real Kubernetes 1.36 control plane: Service -> ready pod through real EndpointSlices,
and the stream the whole way: the official client's websocket -> API server -> kwok as the kubelet
(tests/plugins/kube_real.py) -> the server the test routed the container port to (the session etcd).
"""

from __future__ import annotations

import os
import signal
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from platformctl import config, forward, ui
from platformctl.adapters import kubeconfig, portforward
from platformctl.errors import PlatformError
from platformctl.platform import forwarding
from tests import components
from tests.conftest import RunCli
from tests.lifecycle import EchoServer, free_port, run_until_ctrl_c, up
from tests.plugins.fake_portforward import listening_addresses
from tests.plugins.kube_real import RealCluster

pytestmark = pytest.mark.kube_real


def opener(cluster: RealCluster, service: str, port: int) -> portforward.ServiceOpener:
    return portforward.ServiceOpener(kubeconfig.api_client(cluster.context), cluster.namespace, service, port)


def pod_uid(cluster: RealCluster, name: str) -> str:
    return str(cluster.get(f"/api/v1/namespaces/{cluster.namespace}/pods/{name}")["metadata"]["uid"])


def test_a_service_port_resolves_to_its_ready_pod_and_container_port(
    run_cli: RunCli, real_cluster: RealCluster
) -> None:
    ns = real_cluster.namespace
    assert up(run_cli, real_cluster, "--timeout", "120")[0] == 0
    kafka = opener(real_cluster, "kafka-service", 9092)
    try:
        # The named targetPort ("internal"), resolved by the real EndpointSlice controller.
        assert kafka.resolve() == portforward.PodPort(ns, "kafka-0", pod_uid(real_cluster, "kafka-0"), 9092)
        # The HOST listener is on no Service: each broker's forward reads its pod for the port named "host".
        broker = portforward.PodOpener(kubeconfig.api_client(real_cluster.context), ns, "kafka-0", "host")
        assert broker.resolve() == portforward.PodPort(ns, "kafka-0", pod_uid(real_cluster, "kafka-0"), 29092)
        broker.close()
    finally:
        kafka.close()
    reads = [e for e in real_cluster.requests() if e.resource == "endpointslices"]
    assert any("service-name%3Dkafka-service" in e.uri for e in reads), reads


def resolves_to_another(opener: portforward.ServiceOpener, uid: str) -> bool:
    """True once the Service resolves to a ready pod other than `uid` (until then: the old one, or none)."""
    try:
        return opener.resolve().uid != uid
    except PlatformError:
        return False


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
        plane.wait_until(lambda: resolves_to_another(etcd, first.uid))
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
    version = components.etcd().version.lstrip("v").encode()  # the session etcd: the platform's etcd version
    assert len(answers) == 2 and all(b'"etcdserver":"' + version + b'"' in a for a in answers), answers
    streams = [e for e in real_cluster.requests()[seen:] if e.uri.endswith("/portforward?ports=2379")]
    assert [(e.name, e.code) for e in streams] == [("etcd-0", 101)] * 2


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    server = EchoServer()
    yield server
    server.close()


def test_port_forward_without_context_uses_minikubes_and_serves_until_ctrl_c(
    run_cli: RunCli, real_cluster: RealCluster, echo: EchoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert up(run_cli, real_cluster, "--timeout", "120")[0] == 0
    path = real_cluster.plane.write_kubeconfig(real_cluster.kubeconfig, {"minikube": real_cluster.credentials})
    monkeypatch.setenv("KUBECONFIG", str(path))
    real_cluster.route(8080, echo.port)
    seen = len(real_cluster.requests())
    ui_port = free_port()
    result, echoes = run_until_ctrl_c(
        run_cli, monkeypatch, [*real_cluster.scope, "port-forward", "kafka-ui", "--port", str(ui_port)], [ui_port]
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"http://127.0.0.1:{ui_port}\n"
    assert echoes == [b"hello %d" % ui_port]
    assert f"kafka-ui: http://127.0.0.1:{ui_port} -> service {real_cluster.namespace}/kafka-ui:8080" in result.stderr
    streams = [e for e in real_cluster.requests()[seen:] if e.uri.endswith("/portforward?ports=8080")]
    assert [e.name.rsplit("-", 2)[0] for e in streams if e.name] == ["kafka-ui"]


def test_several_targets_in_one_command(
    run_cli: RunCli, real_cluster: RealCluster, echo: EchoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert up(run_cli, real_cluster, "--timeout", "120")[0] == 0
    etcd_port, kafka_port = free_port(), free_port()
    monkeypatch.setattr(forwarding, "KAFKA_ADVERTISED_PORT", kafka_port)  # tests bind free ports only
    real_cluster.route(2379, echo.port)
    real_cluster.route(29092, echo.port)  # the broker's HOST listener: what its host forward reaches
    seen = len(real_cluster.requests())
    result, echoes = run_until_ctrl_c(
        run_cli,
        monkeypatch,
        [*real_cluster.args, "port-forward", f"etcd:{etcd_port}", "kafka"],
        [etcd_port, kafka_port],
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"http://127.0.0.1:{etcd_port}\n127.0.0.1:{kafka_port}\n"
    assert echoes == [b"hello %d" % etcd_port, b"hello %d" % kafka_port]
    streams = [(e.name, e.uri.rsplit("=", 1)[1]) for e in real_cluster.requests()[seen:] if "/portforward" in e.uri]
    assert streams == [("etcd-0", "2379"), ("kafka-0", "29092")]


def test_open_forward_reaches_etcd_in_process_and_closes_after(
    run_cli: RunCli, real_cluster: RealCluster, echo: EchoServer
) -> None:
    assert up(run_cli, real_cluster, "--timeout", "120")[0] == 0
    real_cluster.route(2379, echo.port)
    ui.reset()
    settings = config.load_settings(
        config.GlobalOptions(context=real_cluster.context, namespace=real_cluster.namespace)
    )
    with forwarding.open_forward(settings, "etcd") as address:
        host, port = address.rsplit(":", 1)
        assert host == "127.0.0.1" and port != "2379"  # a free port, never the well-known one
        with socket.create_connection((host, int(port)), timeout=30) as c:
            c.sendall(b"etcd?")
            assert c.recv(10) == b"etcd?"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((host, int(port)), timeout=5)


def test_a_missing_service_and_a_forward_rbac_refuses_are_platform_errors(
    run_cli: RunCli, real_cluster: RealCluster
) -> None:
    ns, plane = real_cluster.namespace, real_cluster.plane
    missing = opener(real_cluster, "kafka-service", 9092)
    with pytest.raises(PlatformError) as caught:
        missing()
    missing.close()
    assert str(caught.value) == f"service {ns}/kafka-service not found"
    assert caught.value.hint == "run `platformctl up` first"
    assert up(run_cli, real_cluster, "--no-wait")[0] == 0
    # A user who may read Services and EndpointSlices but not create pods/portforward.
    user = f"reader-{ns}"
    labels = {"app.kubernetes.io/instance": ns}
    plane.api("POST", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles", {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": user, "labels": labels},
        "rules": [
            {"apiGroups": [""], "resources": ["services", "pods"], "verbs": ["get", "list"]},
            {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list"]},
        ],
    })  # fmt: skip
    plane.api("POST", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings", {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": user},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": user},
        "subjects": [{"kind": "User", "name": user, "apiGroup": "rbac.authorization.k8s.io"}],
    })  # fmt: skip
    reader = plane.user(user, admin=False)
    path = plane.write_kubeconfig(real_cluster.kubeconfig.with_name("reader"), {"reader": reader})
    plane.wait_until(lambda: plane.request("GET", f"/api/v1/namespaces/{ns}/services", as_user=reader)[0] == 200)
    plane.wait_until(lambda: bool(_ready_endpoints(real_cluster, "etcd")))
    refused = portforward.ServiceOpener(kube_client(path, "reader"), ns, "etcd", 2379)
    try:
        with pytest.raises(PlatformError, match=rf"cannot open a port-forward to pod {ns}/etcd-0 port 2379 .*403"):
            refused()
    finally:
        refused.close()


def _ready_endpoints(cluster: RealCluster, service: str) -> list[Any]:
    slices = cluster.get(
        f"/apis/discovery.k8s.io/v1/namespaces/{cluster.namespace}/endpointslices"
        f"?labelSelector=kubernetes.io/service-name={service}"
    )["items"]
    return [e for s in slices for e in s.get("endpoints") or [] if (e.get("conditions") or {}).get("ready")]


def kube_client(path: Any, context: str) -> Any:
    from kubernetes import config as k8s_config

    return k8s_config.new_client_from_config(config_file=str(path), context=context)


def test_a_busy_kafka_port_is_an_error_naming_the_holder_never_another_port(
    run_cli: RunCli, real_cluster: RealCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert up(run_cli, real_cluster, "--timeout", "120")[0] == 0
    with socket.create_server(("127.0.0.1", 0)) as holder:
        port = holder.getsockname()[1]
        monkeypatch.setattr(forwarding, "KAFKA_ADVERTISED_PORT", port)
        result = run_cli(*real_cluster.args, "port-forward", "kafka")
    assert result.exit_code == 1
    assert result.stdout == ""
    first = result.stderr.splitlines()[0]
    assert first.startswith(f"error: port {port} on 127.0.0.1 is already in use by pid {os.getpid()} (")
    assert "after bootstrap, so this forward cannot use another port" in result.stderr


def test_port_forward_refuses_a_context_kubeconfig_does_not_have(run_cli: RunCli, real_cluster: RealCluster) -> None:
    result = run_cli("--context", "prod", *real_cluster.scope, "port-forward", "kafka-ui")
    assert result.exit_code == 2
    assert "kube context 'prod' not found" in result.stderr
    assert real_cluster.requests() == []


def consecutive_free_ports(count: int) -> int:
    """The first of `count` consecutive free ports on 127.0.0.1: the brokers' fixed ports moved out of the way
    of whatever this shared machine runs on 9092-9094 (tests/netns_kafka_forwards.py binds the real ones)."""
    for _ in range(50):
        base = free_port()
        try:
            for port in range(base, base + count):
                socket.create_server(("127.0.0.1", port)).close()
        except OSError:
            continue
        return base
    raise AssertionError("no run of free ports")


def test_port_forward_kafka_opens_one_stream_per_broker_pod_through_the_api_server(
    run_cli: RunCli, real_cluster: RealCluster, echo: EchoServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    real_cluster.plane.add_persistent_volumes(2)  # with the fixture's two: three brokers and etcd
    config = tmp_path / "platformctl.yaml"
    config.write_text("kafka:\n  brokers: 3\n")
    assert up(run_cli, real_cluster, "--timeout", "180", config=config)[0] == 0
    base = consecutive_free_ports(3)
    monkeypatch.setattr(forwarding, "KAFKA_ADVERTISED_PORT", base)
    real_cluster.route(29092, echo.port)  # every broker's HOST listener
    seen = len(real_cluster.requests())
    ports = [base, base + 1, base + 2]
    result, echoes = run_until_ctrl_c(
        run_cli, monkeypatch, ["--config", str(config), *real_cluster.args, "port-forward", "kafka"], ports
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "".join(f"127.0.0.1:{port}\n" for port in ports)
    assert echoes == [b"hello %d" % port for port in ports]
    # Each local port's stream went to its own broker's pod, to the HOST listener's container port.
    streams = [e for e in real_cluster.requests()[seen:] if e.uri.endswith("/portforward?ports=29092")]
    assert [(e.name, e.code) for e in streams] == [("kafka-0", 101), ("kafka-1", 101), ("kafka-2", 101)]
