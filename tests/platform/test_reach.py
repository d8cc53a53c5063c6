"""How `topics` and `overrides` reach Kafka and etcd without an endpoint: forwards to the platform.

The cluster is the real control plane (tests/plugins/kube_real.py): `up` applies the platform, reach.py
finds its Services there, and every forward is a real `pods/portforward` through the API server to kwok,
which connects container port 29092 (Kafka's HOST listener) to a real Apache Kafka broker and 2379 to the
session etcd. That broker advertises the forward's port, as the platform's Kafka advertises localhost:9092 (a
free port here: 9092 may be taken). Which forwards a command opened is read from the API server's audit log.
"""

from __future__ import annotations

import gc
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from platformctl import config
from platformctl.adapters import etcd
from platformctl.adapters.kafka import Admin, ClusterState
from platformctl.platform import forwarding
from platformctl.topics import overrides
from platformctl.topics.records import read as read_records
from tests.conftest import RunCli
from tests.plugins.fake_portforward import listening_addresses
from tests.plugins.kafka import KafkaCluster, free_port
from tests.plugins.kube_real import RealCluster

pytestmark = [pytest.mark.kube_real, pytest.mark.kafka_real]

TWITTER = Path(__file__).parents[2] / "examples" / "twitter-topic.conf"


@pytest.fixture(scope="module")
def forwarded_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    """A broker listening on one port and advertising another: the port the Kafka forward must listen on."""
    with KafkaCluster(tmp_path_factory.mktemp("kafka-forwarded"), advertised_port=free_port()) as broker:
        yield broker


def ready_endpoints(cluster: RealCluster, service: str) -> bool:
    slices = cluster.get(
        f"/apis/discovery.k8s.io/v1/namespaces/{cluster.namespace}/endpointslices"
        f"?labelSelector=kubernetes.io/service-name={service}"
    )["items"]
    return any((e.get("conditions") or {}).get("ready") for s in slices for e in s.get("endpoints") or [])


@pytest.fixture
def minikube_context(real_cluster: RealCluster, monkeypatch: pytest.MonkeyPatch) -> RealCluster:
    """kubeconfig: `minikube` (what commands without --context use) as the test's user, `lab` as the admin,
    whose requests the audit log does not record: a forward through the wrong context would not show."""
    path = real_cluster.plane.write_kubeconfig(
        real_cluster.kubeconfig, {"minikube": real_cluster.credentials, "lab": real_cluster.plane.admin}
    )
    monkeypatch.setenv("KUBECONFIG", str(path))
    return real_cluster


@pytest.fixture
def platform(
    run_cli: RunCli, minikube_context: RealCluster, forwarded_kafka: KafkaCluster, monkeypatch: pytest.MonkeyPatch
) -> RealCluster:
    """The platform applied (context `minikube`), ready; its Kafka pod "listens" with the real broker."""
    cluster = minikube_context
    assert run_cli("--context", "minikube", *cluster.scope, "up", "--no-wait").exit_code == 0
    plane = cluster.plane
    plane.wait_until(lambda: ready_endpoints(cluster, "kafka-service") and ready_endpoints(cluster, "etcd"))
    assert forwarded_kafka.advertised_port is not None
    monkeypatch.setattr(forwarding, "KAFKA_ADVERTISED_PORT", forwarded_kafka.advertised_port)
    cluster.route(29092, forwarded_kafka.nodes[0].relay.port)  # broker 0: its HOST listener
    return cluster


def forwards(cluster: RealCluster, since: int = 0) -> set[str]:
    """The pods the test's user opened a port-forward to (after the first `since` requests)."""
    return {str(e.name) for e in cluster.requests()[since:] if "/portforward" in e.uri}


@pytest.fixture
def store(real_cluster: RealCluster) -> etcd.EtcdStore:
    return etcd.EtcdStore(real_cluster.etcd.endpoint)


def _kafka_topics(cluster: RealCluster, *names: str) -> ClusterState:
    """Read the broker the way any client must: through a forward on the advertised port."""
    settings = config.load_settings(config.GlobalOptions(namespace=cluster.namespace))
    with forwarding.open_forward(settings, "kafka") as address:
        return Admin(address, timeout=10).describe(list(names))


def _topic(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(
        f"topic:\n  name: {name}\n  partitions: 2\n  replication-factor: 3\n"
        "  config: {min.insync.replicas: '2', retention.ms: '3600000'}\n"
    )
    return path


def test_topics_apply_reaches_kafka_and_etcd_through_forwards_closed_after(
    run_cli: RunCli, platform: RealCluster, store: etcd.EtcdStore, tmp_path: Path
) -> None:
    env = platform.env
    assert overrides.seed(store, env)
    seen = len(platform.requests())
    name = f"{env}-orders"
    result = run_cli(*platform.scope, "topics", "apply", str(_topic(tmp_path, name)), "--yes")
    assert result.exit_code == 0, result.stderr
    assert "no etcd endpoint configured" not in result.stderr
    assert forwards(platform, seen) == {"kafka-0", "etcd-0"}  # through the minikube context only
    topic = _kafka_topics(platform, name).topics[name]
    assert (topic.partitions, topic.replication_factor) == (2, 1)  # the seeded topic-defaults applied
    assert topic.config["min.insync.replicas"] == "1"
    assert f"/platformctl/envs/{env}/topic-defaults@" in result.stdout  # provenance of the overrides
    assert set(read_records(store, env)) == {name}  # recorded through the etcd forward
    assert listening_addresses(forwarding.KAFKA_ADVERTISED_PORT) == []  # the forwards end with the command


def test_up_seeding_then_twitter_topic_gets_one_broker_values_through_forwards(
    run_cli: RunCli, platform: RealCluster
) -> None:
    up = run_cli("--context", "minikube", *platform.scope, "up", "--timeout", "120")
    assert up.exit_code == 0, up.stderr
    assert f"topic-defaults of environment '{platform.env}': seeded" in up.stdout
    result = run_cli(*platform.scope, "topics", "apply", str(TWITTER), "--yes")
    assert result.exit_code == 0, result.stderr
    topic = _kafka_topics(platform, "twitter-topic").topics["twitter-topic"]
    assert (topic.partitions, topic.replication_factor) == (9, 1)
    assert topic.config["min.insync.replicas"] == "1"
    assert topic.config["cleanup.policy"] == "compact"


def test_platform_up_but_etcd_not_answering_fails_before_kafka(
    run_cli: RunCli, platform: RealCluster, tmp_path: Path
) -> None:
    assert platform.plane.network is not None
    platform.plane.network.unroute(2379)  # the etcd pod is Ready, nothing answers on its port
    # A Kafka client of an earlier test in this process can still be alive and reconnect to the advertised
    # port this test's forward listens on. The adapter's own cycle (a failed metadata read) is gone
    # (test_topics_kafka.py); what is left is pyparsing's (under pyhocon, parsing a .conf): a ParseException
    # it handled sits in a reference cycle with its traceback, whose frames reach up (f_back) to
    # topicrun.prepare, whose locals hold the Admin, until the cycle collector runs. Collected here.
    gc.collect()
    seen = len(platform.requests())
    name = f"{platform.env}-never"
    result = run_cli(*platform.scope, "topics", "apply", str(_topic(tmp_path, name)), "--yes")
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: etcd at http://127.0.0.1:"), result.stderr
    # Through a real port-forward a port nothing listens on is silence, not a refused connection: the
    # official client does not pass the stream's end on (kubernetes-client/python's v4 port-forward).
    assert "did not answer within" in errors[0]
    assert "kafka-0" not in forwards(platform, seen)  # not one byte to Kafka (checked before the read below)
    assert name not in _kafka_topics(platform).names


def test_platform_up_but_no_ready_etcd_pod_fails(run_cli: RunCli, platform: RealCluster, tmp_path: Path) -> None:
    plane, ns = platform.plane, platform.namespace
    plane.fail(ns, "StatefulSet", "etcd", "crash-loop")
    plane.wait_until(lambda: not ready_endpoints(platform, "etcd"))
    seen = len(platform.requests())
    result = run_cli(*platform.scope, "topics", "plan", str(_topic(tmp_path, f"{platform.env}-x")))
    assert result.exit_code == 1
    assert f"error: service {ns}/etcd has no ready pod" in result.stderr
    assert forwards(platform, seen) == set()


def test_no_overrides_skips_etcd_but_still_forwards_kafka(
    run_cli: RunCli, platform: RealCluster, tmp_path: Path
) -> None:
    seen = len(platform.requests())
    name = f"{platform.env}-plain"
    one_broker = ["--set", f"{name}.replication-factor=1", "--set", f"{name}.min.insync.replicas=1"]
    result = run_cli(*platform.scope, "topics", "plan", str(_topic(tmp_path, name)), "--no-overrides", *one_broker)
    assert result.exit_code == 0, result.stderr
    assert forwards(platform, seen) == {"kafka-0"}
    assert "replication-factor" in result.stdout


def test_busy_kafka_port_is_an_error_naming_its_holder(
    run_cli: RunCli, platform: RealCluster, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen = len(platform.requests())
    with socket.create_server(("127.0.0.1", 0)) as holder:
        port = holder.getsockname()[1]
        monkeypatch.setattr(forwarding, "KAFKA_ADVERTISED_PORT", port)
        result = run_cli(*platform.scope, "topics", "plan", str(_topic(tmp_path, f"{platform.env}-busy")))
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0].startswith(
        f"error: port {port} on 127.0.0.1 is already in use by pid {os.getpid()} ("
    )
    assert forwards(platform, seen) == set()  # neither Kafka nor etcd was contacted


def test_explicit_endpoints_never_look_for_the_platform(
    run_cli: RunCli, platform: RealCluster, kafka: KafkaCluster, store: etcd.EtcdStore, tmp_path: Path
) -> None:
    # A broker reached directly (it advertises its own address; the platform's advertises the forward's).
    overrides.seed(store, platform.env)
    seen = len(platform.requests())
    result = run_cli(
        *platform.scope, "topics", "plan", str(_topic(tmp_path, f"{platform.env}-direct")),
        "--bootstrap-server", kafka.bootstrap, "--etcd-endpoint", platform.etcd.endpoint,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert platform.requests()[seen:] == []


def test_overrides_commands_reach_the_platforms_etcd(
    run_cli: RunCli, platform: RealCluster, store: etcd.EtcdStore
) -> None:
    seen = len(platform.requests())
    result = run_cli(*platform.scope, "overrides", "set", "orders", "partitions=3")
    assert result.exit_code == 0, result.stderr
    assert store.get(etcd.topic_key(platform.env, "orders")) is not None
    listed = run_cli(*platform.scope, "overrides", "list")
    assert listed.exit_code == 0, listed.stderr
    assert "orders" in listed.stdout and "partitions" in listed.stdout
    assert forwards(platform, seen) == {"etcd-0"}


def test_no_platform_in_the_namespace_means_file_values_with_a_warning(
    run_cli: RunCli, minikube_context: RealCluster, kafka: KafkaCluster, tmp_path: Path
) -> None:
    # The context exists and answers, but nothing was ever applied: there is no platform to forward to.
    cluster = minikube_context
    env, ns = cluster.env, cluster.namespace
    name = f"{env}-nop"
    result = run_cli(
        *cluster.scope, "topics", "plan", str(_topic(tmp_path, name)), "--bootstrap-server", kafka.bootstrap
    )
    assert result.exit_code == 2, result.stderr  # the file's replication-factor 3: one broker cannot
    assert "fewer than replication-factor 3" in result.stderr
    assert (
        f"warning: no etcd endpoint configured: overrides of environment '{env}' were not read and the files' "
        f"values apply (no platform to forward to: namespace '{ns}' of context 'minikube' has no platform;"
    ) in " ".join(result.stderr.split())
    overrides_run = run_cli(*cluster.scope, "overrides", "list")
    assert overrides_run.exit_code == 2
    assert f"no etcd endpoint configured, and no platform to forward to (namespace '{ns}'" in overrides_run.stderr
    assert forwards(cluster) == set()


def test_a_cluster_that_refuses_to_say_is_an_error_not_no_platform(
    run_cli: RunCli, real_cluster: RealCluster, kafka: KafkaCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A user RBAC grants nothing: listing the namespace's Services is the real server's 403.
    nobody = real_cluster.plane.user(f"nobody-{real_cluster.namespace}", admin=False)
    monkeypatch.setenv(
        "KUBECONFIG", str(real_cluster.plane.write_kubeconfig(real_cluster.kubeconfig, {"minikube": nobody}))
    )
    result = run_cli(
        *real_cluster.scope, "topics", "plan", str(_topic(tmp_path, f"{real_cluster.env}-403")),
        "--bootstrap-server", kafka.bootstrap,
    )  # fmt: skip
    assert result.exit_code == 1
    assert "error: forbidden while listing" in result.stderr
