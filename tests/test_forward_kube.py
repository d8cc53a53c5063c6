"""The Kubernetes side of port-forward and the command itself.

Service -> ready pod resolution runs the real client against `FakeApiServer` (a local HTTP server with
API-shaped JSON); streams come from a fake `kubernetes.stream.portforward`
(tests/plugins/fake_portforward.py).
Clients, listener and bytes are real.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
from typing import Any

import pytest

from platformctl import config, forward, kube, portforward, ui
from platformctl.errors import PlatformError
from tests.conftest import RunCli
from tests.plugins.fake_portforward import FakeApiServer, FakePod, FakePortForward, listening_addresses

SLICES = "/apis/discovery.k8s.io/v1/namespaces/dev/endpointslices?labelSelector=kubernetes.io/service-name="


def service(name: str, ports: list[tuple[str, int]]) -> dict[str, Any]:
    return {
        "kind": "Service",
        "metadata": {"name": name, "namespace": "dev"},
        "spec": {"ports": [{"name": n, "port": p, "targetPort": n} for n, p in ports]},
    }


def endpoint(pod: str, uid: str, ready: bool | None = True) -> dict[str, Any]:
    conditions = {} if ready is None else {"ready": ready}
    return {
        "addresses": ["10.0.0.1"],
        "conditions": conditions,
        "targetRef": {"kind": "Pod", "namespace": "dev", "name": pod, "uid": uid},
    }


def endpoint_slice(ports: list[tuple[str, int]], *endpoints: dict[str, Any]) -> dict[str, Any]:
    return {"ports": [{"name": n, "port": p} for n, p in ports], "endpoints": list(endpoints)}


KAFKA = service("kafka-service", [("internal", 19092), ("host", 9092)])
KAFKA_PORTS = [("internal", 29092), ("host", 39092)]  # container ports differ, to prove the mapping


# --- ready_pod: from object dicts -----------------------------------------------------------------------


def test_named_target_port_maps_to_the_container_port_by_service_port_name() -> None:
    pod = portforward.ready_pod(KAFKA, [endpoint_slice(KAFKA_PORTS, endpoint("kafka-0", "u1"))], 9092)
    assert pod == portforward.PodPort("dev", "kafka-0", "u1", 39092)
    assert (
        portforward.ready_pod(KAFKA, [endpoint_slice(KAFKA_PORTS, endpoint("kafka-0", "u1"))], 19092).port == 29092
    )


def test_unready_endpoints_are_skipped_and_absent_ready_means_ready() -> None:
    slices = [
        endpoint_slice(KAFKA_PORTS, endpoint("a-terminating", "u1", ready=False)),
        endpoint_slice(KAFKA_PORTS, endpoint("b-new", "u2", ready=None)),
    ]
    assert portforward.ready_pod(KAFKA, slices, 9092).pod == "b-new"


def test_the_pod_in_use_is_kept_while_ready_else_the_first_by_name() -> None:
    slices = [endpoint_slice(KAFKA_PORTS, endpoint("web-b", "ub"), endpoint("web-a", "ua"))]
    assert portforward.ready_pod(KAFKA, slices, 9092).pod == "web-a"
    assert portforward.ready_pod(KAFKA, slices, 9092, prefer="ub").pod == "web-b"
    assert portforward.ready_pod(KAFKA, slices, 9092, prefer="gone").pod == "web-a"


def test_no_ready_pod_and_unknown_port_are_faults_with_a_next_step() -> None:
    with pytest.raises(PlatformError) as none_ready:
        portforward.ready_pod(KAFKA, [endpoint_slice(KAFKA_PORTS, endpoint("kafka-0", "u1", ready=False))], 9092)
    assert str(none_ready.value) == "service dev/kafka-service has no ready pod"
    assert none_ready.value.hint is not None and "platformctl status" in none_ready.value.hint
    with pytest.raises(PlatformError, match=r"has no port 8080 \(has: 19092, 9092\)"):
        portforward.ready_pod(KAFKA, [], 8080)


def test_core_endpoints_read_like_slices_on_old_servers() -> None:
    endpoints = {
        "subsets": [
            {
                "addresses": [
                    {"ip": "10.0.0.2", "targetRef": {"kind": "Pod", "name": "kafka-0", "uid": "u9"}}
                ],
                "notReadyAddresses": [
                    {"ip": "10.0.0.3", "targetRef": {"kind": "Pod", "name": "x", "uid": "u8"}}
                ],
                "ports": [{"name": "host", "port": 39092}],
            }
        ]
    }
    assert portforward.ready_pod(KAFKA, portforward._endpoints_as_slices(endpoints), 9092) == portforward.PodPort(
        "dev", "kafka-0", "u9", 39092
    )


# --- ServiceOpener: the real client against the fake API server ------------------------------------------


class FakeStreams:
    """Replaces `kubernetes.stream.portforward`: records each call, hands out `FakePortForward`s."""

    def __init__(self) -> None:
        self.pods: dict[str, FakePod] = {}
        self.calls: list[tuple[str, str, str, str]] = []
        self.failure: Exception | None = None

    def __call__(self, method: Any, name: str, namespace: str, *, ports: str) -> FakePortForward:
        self.calls.append((method.__name__, name, namespace, ports))
        if self.failure is not None:
            raise self.failure
        return FakePortForward(self.pods[name], int(ports))


@pytest.fixture
def streams(monkeypatch: pytest.MonkeyPatch) -> Any:
    import kubernetes.stream

    fake = FakeStreams()
    monkeypatch.setattr(kubernetes.stream, "portforward", fake)
    yield fake
    for pod in fake.pods.values():
        pod.kill()


def publish(api: FakeApiServer, svc: dict[str, Any], *slices: dict[str, Any]) -> None:
    name = svc["metadata"]["name"]
    api.objects[f"/api/v1/namespaces/dev/services/{name}"] = (200, svc)
    api.objects[SLICES + name] = (200, {"kind": "EndpointSliceList", "items": list(slices)})


@pytest.mark.fake_k8s
def test_each_call_opens_a_new_forward_to_the_current_ready_pod(
    fake_api: FakeApiServer, streams: Any
) -> None:
    streams.pods = {"kafka-0": FakePod("kafka-0", "u1"), "kafka-0-new": FakePod("kafka-0-new", "u2")}
    publish(fake_api, KAFKA, endpoint_slice(KAFKA_PORTS, endpoint("kafka-0", "u1")))
    opener = portforward.ServiceOpener(fake_api.api_client(), "dev", "kafka-service", 9092)

    first = opener()
    assert streams.calls == [("connect_get_namespaced_pod_portforward", "kafka-0", "dev", "39092")]
    assert first.peer == "pod dev/kafka-0 port 39092 (uid u1)"
    first.sock.sendall(b"abc")
    assert first.sock.recv(3) == b"abc"

    publish(fake_api, KAFKA, endpoint_slice(KAFKA_PORTS, endpoint("kafka-0-new", "u2")))
    second = opener()
    assert streams.calls[-1][1] == "kafka-0-new"
    assert second.peer == "pod dev/kafka-0-new port 39092 (uid u2)"
    for stream in (first, second):
        assert stream.close is not None
        stream.close()


@pytest.mark.fake_k8s
def test_missing_service_and_refused_forward_become_platform_errors(
    fake_api: FakeApiServer, streams: Any
) -> None:
    from kubernetes.client.exceptions import ApiException

    opener = portforward.ServiceOpener(fake_api.api_client(), "dev", "kafka-service", 9092)
    with pytest.raises(PlatformError) as missing:
        opener()
    assert str(missing.value) == "service dev/kafka-service not found"
    assert missing.value.hint == "run `platformctl up` first"

    publish(fake_api, KAFKA, endpoint_slice(KAFKA_PORTS, endpoint("kafka-0", "u1")))
    streams.failure = ApiException(status=0, reason="Handshake status 403 Forbidden")
    with pytest.raises(
        PlatformError, match=r"cannot open a port-forward to pod dev/kafka-0 port 39092 .*403"
    ):
        opener()


@pytest.mark.fake_k8s
def test_falls_back_to_core_endpoints_when_the_server_has_no_endpointslices(
    fake_api: FakeApiServer, streams: Any
) -> None:
    streams.pods = {"kafka-0": FakePod("kafka-0", "u1")}
    fake_api.objects["/api/v1/namespaces/dev/services/kafka-service"] = (200, KAFKA)
    fake_api.objects["/api/v1/namespaces/dev/endpoints/kafka-service"] = (
        200,
        {
            "subsets": [
                {
                    "addresses": [{"targetRef": {"kind": "Pod", "name": "kafka-0", "uid": "u1"}}],
                    "ports": [{"name": "host", "port": 39092}],
                }
            ]
        },
    )
    stream = portforward.ServiceOpener(fake_api.api_client(), "dev", "kafka-service", 9092)()
    assert streams.calls == [("connect_get_namespaced_pod_portforward", "kafka-0", "dev", "39092")]
    stream.sock.close()


# --- the command -----------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as s:
        return int(s.getsockname()[1])


@pytest.fixture
def platform(fake_api: FakeApiServer, streams: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The rendered platform's Services, one ready pod each, and `kube.api_client` pointed at the fake."""
    contexts: list[str] = []

    def api_client(context: str) -> Any:
        contexts.append(context)
        return fake_api.api_client()

    monkeypatch.setattr(kube, "api_client", api_client)
    # The same target guard as `up`: kubeconfig must hold exactly the intended context.
    monkeypatch.setattr(kube, "kubeconfig_contexts", lambda: (["minikube", "team-cluster", "lab"], "lab"))
    publish(
        fake_api,
        service("kafka-ui", [("http", 8080)]),
        endpoint_slice([("http", 8080)], endpoint("ui-1", "u1")),
    )
    publish(
        fake_api,
        service("etcd", [("client", 2379)]),
        endpoint_slice([("client", 2379)], endpoint("etcd-0", "u2")),
    )
    publish(fake_api, KAFKA, endpoint_slice(KAFKA_PORTS, endpoint("kafka-0", "u3")))
    streams.pods = {
        name: FakePod(name, uid) for name, uid in (("ui-1", "u1"), ("etcd-0", "u2"), ("kafka-0", "u3"))
    }
    return {"contexts": contexts, "streams": streams}


def run_until_ctrl_c(
    run_cli: RunCli, monkeypatch: pytest.MonkeyPatch, args: list[str], ports: list[int]
) -> tuple[Any, list[bytes]]:
    """Run the command; once it has printed its URLs a user connects to every port, talks, presses Ctrl-C."""
    done, announced = threading.Event(), threading.Event()
    echoes: list[bytes] = []
    listening: list[list[str]] = []
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
        if done.is_set():
            return  # the command ended on its own (an error): nothing to interrupt
        for port in ports:
            listening.append(listening_addresses(port))
            with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
                c.sendall(b"hello %d" % port)
                echoes.append(c.recv(100))
        os.kill(os.getpid(), signal.SIGINT)

    thread = threading.Thread(target=user)
    thread.start()
    try:
        result = run_cli(*args)
        done.set()
        thread.join()
    except KeyboardInterrupt:  # pragma: no cover - only if the command let Ctrl-C escape
        pytest.fail("Ctrl-C escaped the command")
    assert listening == [["0100007F"]] * len(ports)  # 127.0.0.1 only, while the command runs
    return result, echoes


@pytest.mark.fake_k8s
def test_port_forward_serves_until_ctrl_c_then_exits_0(
    run_cli: RunCli, platform: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    ui_port = free_port()
    result, echoes = run_until_ctrl_c(
        run_cli, monkeypatch, ["port-forward", "kafka-ui", "--port", str(ui_port)], [ui_port]
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"http://127.0.0.1:{ui_port}\n"
    assert echoes == [b"hello %d" % ui_port]
    assert f"kafka-ui: http://127.0.0.1:{ui_port} -> service dev/kafka-ui:8080" in result.stderr
    assert platform["contexts"] == ["minikube"]  # no --context: the minikube profile's context
    assert platform["streams"].calls == [("connect_get_namespaced_pod_portforward", "ui-1", "dev", "8080")]


@pytest.mark.fake_k8s
def test_several_targets_in_one_command(
    run_cli: RunCli, platform: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    etcd_port, kafka_port = free_port(), free_port()
    monkeypatch.setattr(forward, "KAFKA_ADVERTISED_PORT", kafka_port)  # tests bind free ports only
    result, echoes = run_until_ctrl_c(
        run_cli,
        monkeypatch,
        ["--context", "team-cluster", "port-forward", f"etcd:{etcd_port}", "kafka"],
        [etcd_port, kafka_port],
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"http://127.0.0.1:{etcd_port}\n127.0.0.1:{kafka_port}\n"
    assert echoes == [b"hello %d" % etcd_port, b"hello %d" % kafka_port]
    assert platform["contexts"] == ["team-cluster", "team-cluster"]
    calls = [(pod, port) for _, pod, _, port in platform["streams"].calls]
    assert calls == [("etcd-0", "2379"), ("kafka-0", "39092")]


@pytest.mark.fake_k8s
def test_busy_kafka_port_is_an_error_naming_the_holder_never_another_port(
    run_cli: RunCli, platform: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as holder:
        port = holder.getsockname()[1]
        monkeypatch.setattr(forward, "KAFKA_ADVERTISED_PORT", port)
        result = run_cli("port-forward", "kafka")
    assert result.exit_code == 1
    assert result.stdout == ""
    first = result.stderr.splitlines()[0]
    assert first.startswith(f"error: port {port} on 127.0.0.1 is already in use by pid {os.getpid()} (")
    assert "after bootstrap, so this forward cannot use another port" in result.stderr


def test_port_is_refused_for_kafka_before_touching_the_cluster(
    run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_cluster(context: str) -> Any:
        raise AssertionError("the cluster must not be contacted")

    monkeypatch.setattr(kube, "api_client", no_cluster)
    moved = (
        "the kafka forward always listens on 9092, the port the broker advertises to clients; "
        "it cannot be moved"
    )
    result = run_cli("port-forward", "kafka", "--port", "19092")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == f"error: --port: {moved}"
    result = run_cli("port-forward", "etcd:12379", "kafka:19092")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == f"error: TARGET: {moved}"
    unknown = run_cli("port-forward", "kafka-ui", "zookeeper")
    assert unknown.exit_code == 2
    assert unknown.stderr.splitlines()[0] == (
        "error: TARGET: unknown target 'zookeeper' "
        "(choose from: kafka, schema-registry, kafka-ui, etcd, fluentd)"
    )
    for args, message in [
        (("etcd", "fluentd", "--port", "1234"), "error: --port: --port applies to a single target"),
        (("etcd:x",), "error: TARGET: 'etcd:x': the local port after ':' must be a number"),
        (("etcd:70000",), "error: TARGET: 70000 is not a TCP port (0-65535)"),
        (("etcd:1", "--port", "2"), "error: --port: give the local port once, as TARGET:PORT or --port"),
        (("etcd", "etcd:1"), "error: TARGET: a target is named twice"),
    ]:
        bad = run_cli("port-forward", *args)
        assert (bad.exit_code, bad.stderr.splitlines()[0]) == (2, message)


def test_fast_data_dev_targets_come_from_its_one_service(tmp_path: Any) -> None:
    cfg = tmp_path / "platformctl.yaml"
    cfg.write_text("kafka:\n  flavor: fast-data-dev\n")
    settings = config.load_settings(config.GlobalOptions(config=cfg))
    plans = forward.targets(settings, ["kafka-ui", "schema-registry", "kafka"])
    assert [(p.service, p.service_port, p.local_port) for p in plans] == [
        ("kafka-service", 3030, 3030),
        ("kafka-service", 8081, 8081),
        ("kafka-service", 9092, 9092),
    ]


def test_kafka_local_port_is_the_port_the_broker_advertises() -> None:
    from platformctl import render

    settings = config.load_settings(config.GlobalOptions())
    documents = render.render(settings, render.parse_version("1.35")).documents
    env = {
        e["name"]: e.get("value")
        for d in documents
        if d["kind"] == "StatefulSet" and d["metadata"]["name"] == "kafka"
        for e in d["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert f"HOST://localhost:{forward.KAFKA_ADVERTISED_PORT}" in env["KAFKA_ADVERTISED_LISTENERS"].split(",")


@pytest.mark.fake_k8s
def test_open_forward_reaches_etcd_in_process_and_closes_after(platform: dict[str, Any]) -> None:
    ui.reset()
    settings = config.load_settings(config.GlobalOptions())
    with forward.open_forward(settings, "etcd") as address:
        host, port = address.rsplit(":", 1)
        assert host == "127.0.0.1" and port != "2379"  # a free port, never the well-known one
        with socket.create_connection((host, int(port)), timeout=10) as c:
            c.sendall(b"etcd?")
            assert c.recv(10) == b"etcd?"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((host, int(port)), timeout=5)


@pytest.mark.fake_k8s
def test_port_forward_refuses_a_context_kubeconfig_does_not_have(
    run_cli: RunCli, platform: dict[str, Any]
) -> None:
    result = run_cli("--context", "prod", "port-forward", "kafka-ui")
    assert result.exit_code == 2
    assert "kube context 'prod' not found" in result.stderr
    assert platform["contexts"] == []  # no client was even built, so nothing was sent
