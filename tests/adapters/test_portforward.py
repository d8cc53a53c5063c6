"""The Kubernetes side of port-forward: `ready_pod` from object dicts, the command's argument checks, and
the core/v1 Endpoints fallback for servers without EndpointSlices.

On a real API server (Service -> ready pod through real EndpointSlices, the stream through the API server
and kwok, the command until Ctrl-C): tests/adapters/test_portforward_real.py. The fallback runs the real client against
`FakeApiServer` (tests/plugins/fake_portforward.py): EndpointSlices (discovery.k8s.io/v1) are served since
1.21, and the only API server built here is 1.36.
"""

from __future__ import annotations

from typing import Any

import pytest

from platformctl import config
from platformctl.adapters import kube, portforward
from platformctl.errors import PlatformError
from platformctl.platform import forwarding
from tests.conftest import RunCli
from tests.plugins.fake_portforward import FakeApiServer, FakePod, FakePortForward

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
    plans = forwarding.targets(settings, ["kafka-ui", "schema-registry", "kafka"])
    assert [(p.service, p.service_port, p.local_port) for p in plans] == [
        ("kafka-service", 3030, 3030),
        ("kafka-service", 8081, 8081),
        ("kafka-service", 9092, 9092),
    ]


def test_kafka_local_ports_are_the_ports_the_brokers_advertise() -> None:
    from platformctl.platform import render
    from tests.kafka_pods import broker_env

    settings = config.load_settings(config.GlobalOptions())
    for brokers in (1, 3):
        settings = settings.model_copy(update={"kafka": settings.kafka.model_copy(update={"brokers": brokers})})
        documents = render.render(settings, render.parse_version("1.35")).documents
        kafka = next(d for d in documents if d["kind"] == "StatefulSet" and d["metadata"]["name"] == "kafka")
        plans = forwarding.targets(settings, ["kafka"])
        assert len(plans) == brokers
        for i, plan in enumerate(plans):
            advertised = broker_env(kafka, i)["KAFKA_ADVERTISED_LISTENERS"].split(",")
            assert (plan.pod, plan.pod_port) == (f"kafka-{i}", "host")
            assert f"HOST://localhost:{forwarding.KAFKA_ADVERTISED_PORT + i}" in advertised
            assert plan.local_port == forwarding.KAFKA_ADVERTISED_PORT + i


# --- pod_port: each Kafka broker's forward goes to its own pod ------------------------------------------


def broker_pod(name: str, *, ready: bool = True, deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "dev", "uid": f"uid-{name}"}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {
        "metadata": meta,
        "spec": {"containers": [{"name": "kafka", "ports": [{"name": "internal", "containerPort": 9092},
                                                            {"name": "host", "containerPort": 29092}]}]},
        "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


def test_a_broker_pod_resolves_to_its_named_port_only_while_ready() -> None:
    resolved = portforward.pod_port(broker_pod("kafka-1"), "host")
    assert resolved == portforward.PodPort("dev", "kafka-1", "uid-kafka-1", 29092)
    for pod in (broker_pod("kafka-1", ready=False), broker_pod("kafka-1", deleting=True)):
        with pytest.raises(PlatformError) as not_ready:
            portforward.pod_port(pod, "host")
        assert str(not_ready.value) == "pod dev/kafka-1 is not ready"
        assert not_ready.value.hint is not None and "platformctl status" in not_ready.value.hint
    with pytest.raises(PlatformError, match=r"^pod dev/kafka-1 has no container port named 'jmx'$"):
        portforward.pod_port(broker_pod("kafka-1"), "jmx")


def test_kafka_forwards_on_their_fixed_ports_in_a_network_namespace_of_their_own() -> None:
    """Runs tests/netns_kafka_forwards.py (three brokers: exactly 127.0.0.1:9092-9094, through a real control
    plane of its own) where those ports are free whatever else this machine runs: a new user and network
    namespace with its own loopback."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    inner = (Path(__file__).parents[1] / "netns_kafka_forwards.py")
    command = [
        "unshare", "--user", "--map-root-user", "--net", "--",
        "sh", "-c", 'ip link set lo up && exec "$@"', "sh",
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(inner),
    ]  # fmt: skip
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=Path(__file__).parents[2],
        env={**os.environ, "PLATFORMCTL_TEST_NETNS": "1"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout, done.stdout
