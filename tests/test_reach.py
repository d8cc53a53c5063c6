"""How `topics` and `overrides` reach Kafka and etcd without an endpoint: forwards to the platform.

The Kubernetes side is faked twice: the fake API server (tests/plugins/fake_kube.py) holds the platform's
Services (from a real `up --no-wait`), which is how reach.py decides the platform is up; `Upstreams`
(tests/plugins/fake_portforward.py) replaces `portforward.service_opener`, so every stream of the real
in-process forward is connected to the real etcd or to a real Apache Kafka broker. That broker advertises
the forward's port, as the platform's Kafka advertises localhost:9092 (a free port here: 9092 may be taken).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from platformctl import config, etcd, forward, overrides
from platformctl.kafka import Admin, ClusterState
from tests.conftest import RunCli
from tests.plugins.fake_kube import FakeKube
from tests.plugins.fake_portforward import Upstreams, listening_addresses
from tests.plugins.kafka import KafkaCluster, free_port

pytestmark = [pytest.mark.fake_k8s, pytest.mark.kafka_real]

TWITTER = Path(__file__).parent.parent / "examples" / "twitter-topic.conf"


@pytest.fixture(scope="module")
def forwarded_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    """A broker listening on one port and advertising another: the port the Kafka forward must listen on."""
    with KafkaCluster(tmp_path_factory.mktemp("kafka-forwarded"), advertised_port=free_port()) as broker:
        yield broker


@pytest.fixture
def platform(
    run_cli: RunCli,
    fake_kube: FakeKube,
    kubeconfig: Path,
    upstreams: Upstreams,
    forwarded_kafka: KafkaCluster,
    etcd_endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Upstreams:
    """The platform applied to the fake API server (context `minikube`), its Services routed to real servers."""
    fake_kube.auto_ready = True  # workloads applied now report ready, for the tests that wait
    assert run_cli("--context", "minikube", "up", "--no-wait").exit_code == 0
    assert forwarded_kafka.advertised_port is not None
    monkeypatch.setattr(forward, "KAFKA_ADVERTISED_PORT", forwarded_kafka.advertised_port)
    upstreams.routes["kafka-service"] = forwarded_kafka.nodes[0].relay.port
    upstreams.routes["etcd"] = int(etcd_endpoint.rsplit(":", 1)[1])
    return upstreams


@pytest.fixture
def store(etcd_endpoint: str) -> etcd.EtcdStore:
    return etcd.EtcdStore(etcd_endpoint)


def _kafka_topics(*names: str) -> ClusterState:
    """Read the broker the way any client must: through a forward on the advertised port."""
    settings = config.load_settings(config.GlobalOptions())
    with forward.open_forward(settings, "kafka") as address:
        return Admin(address, timeout=10).describe(list(names))


def _topic(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(
        f"topic:\n  name: {name}\n  partitions: 2\n  replication-factor: 3\n"
        "  config: {min.insync.replicas: '2', retention.ms: '3600000'}\n"
    )
    return path


def test_topics_apply_reaches_kafka_and_etcd_through_forwards_closed_after(
    run_cli: RunCli, platform: Upstreams, forwarded_kafka: KafkaCluster, store: etcd.EtcdStore, etcd_env: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    assert overrides.seed(store, etcd_env)
    name = f"{etcd_env}-orders"
    result = run_cli("--env", etcd_env, "topics", "apply", str(_topic(tmp_path, name)), "--yes")
    assert result.exit_code == 0, result.stderr
    assert "no etcd endpoint configured" not in result.stderr
    topic = _kafka_topics(name).topics[name]
    assert (topic.partitions, topic.replication_factor) == (2, 1)  # the seeded topic-defaults applied
    assert topic.config["min.insync.replicas"] == "1"
    assert f"/platformctl/envs/{etcd_env}/topic-defaults@" in result.stdout  # provenance of the overrides
    assert set(store.applied(etcd_env)) == {name}  # recorded through the etcd forward
    assert platform.services_opened() == {"kafka-service", "etcd"}
    assert {context for context, *_ in platform.built} == {"minikube"}  # the target guard's context only
    assert listening_addresses(forward.KAFKA_ADVERTISED_PORT) == []  # the forwards end with the command


def test_up_seeding_then_twitter_topic_gets_one_broker_values_through_forwards(
    run_cli: RunCli, platform: Upstreams, fake_kube: FakeKube, forwarded_kafka: KafkaCluster, store: etcd.EtcdStore,
    etcd_env: str,
) -> None:  # fmt: skip
    up = run_cli("--context", "minikube", "--env", etcd_env, "up", "--timeout", "60")
    assert up.exit_code == 0, up.stderr
    assert f"topic-defaults of environment '{etcd_env}': seeded" in up.stdout
    result = run_cli("--env", etcd_env, "topics", "apply", str(TWITTER), "--yes")
    assert result.exit_code == 0, result.stderr
    topic = _kafka_topics("twitter-topic").topics["twitter-topic"]
    assert (topic.partitions, topic.replication_factor) == (9, 1)
    assert topic.config["min.insync.replicas"] == "1"
    assert topic.config["cleanup.policy"] == "compact"


def test_platform_up_but_etcd_unreachable_fails_before_kafka(
    run_cli: RunCli, platform: Upstreams, forwarded_kafka: KafkaCluster, etcd_env: str, tmp_path: Path
) -> None:
    platform.routes["etcd"] = free_port()  # the forward works, nothing answers behind it
    name = f"{etcd_env}-never"
    result = run_cli("--env", etcd_env, "topics", "apply", str(_topic(tmp_path, name)), "--yes")
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: etcd at http://127.0.0.1:"), result.stderr
    assert errors[0].endswith("is unreachable")
    assert "kafka-service" not in platform.services_opened()  # not one byte to Kafka
    assert name not in _kafka_topics().names


def test_platform_up_but_no_ready_etcd_pod_fails(
    run_cli: RunCli, platform: Upstreams, etcd_env: str, tmp_path: Path
) -> None:
    del platform.routes["etcd"]
    result = run_cli("--env", etcd_env, "topics", "plan", str(_topic(tmp_path, f"{etcd_env}-x")))
    assert result.exit_code == 1
    assert "error: service dev/etcd has no ready pod" in result.stderr
    assert "kafka-service" not in platform.services_opened()


def test_no_overrides_skips_etcd_but_still_forwards_kafka(
    run_cli: RunCli, platform: Upstreams, forwarded_kafka: KafkaCluster, etcd_env: str, tmp_path: Path
) -> None:
    platform.routes["etcd"] = free_port()
    name = f"{etcd_env}-plain"
    one_broker = ["--set", f"{name}.replication-factor=1", "--set", f"{name}.min.insync.replicas=1"]
    result = run_cli("topics", "plan", str(_topic(tmp_path, name)), "--no-overrides", *one_broker)
    assert result.exit_code == 0, result.stderr
    assert platform.services_opened() == {"kafka-service"}
    assert "replication-factor" in result.stdout


def test_busy_kafka_port_is_an_error_naming_its_holder(
    run_cli: RunCli, platform: Upstreams, monkeypatch: pytest.MonkeyPatch, etcd_env: str, tmp_path: Path
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as holder:
        port = holder.getsockname()[1]
        monkeypatch.setattr(forward, "KAFKA_ADVERTISED_PORT", port)
        result = run_cli("--env", etcd_env, "topics", "plan", str(_topic(tmp_path, f"{etcd_env}-busy")))
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0].startswith(
        f"error: port {port} on 127.0.0.1 is already in use by pid {os.getpid()} ("
    )
    assert platform.opened == []  # neither Kafka nor etcd was contacted


def test_explicit_endpoints_never_look_for_the_platform(
    run_cli: RunCli, platform: Upstreams, fake_kube: FakeKube, kafka: KafkaCluster, etcd_endpoint: str,
    store: etcd.EtcdStore, etcd_env: str, tmp_path: Path,
) -> None:  # fmt: skip
    # A broker reached directly (it advertises its own address; the platform's advertises the forward's).
    overrides.seed(store, etcd_env)
    seen = len(fake_kube.requests)
    result = run_cli(
        "--env", etcd_env, "topics", "plan", str(_topic(tmp_path, f"{etcd_env}-direct")),
        "--bootstrap-server", kafka.bootstrap, "--etcd-endpoint", etcd_endpoint,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert fake_kube.requests[seen:] == [] and platform.built == []


def test_overrides_commands_reach_the_platforms_etcd(
    run_cli: RunCli, platform: Upstreams, store: etcd.EtcdStore, etcd_env: str
) -> None:
    result = run_cli("--env", etcd_env, "overrides", "set", "orders", "partitions=3")
    assert result.exit_code == 0, result.stderr
    assert store.get(etcd.topic_key(etcd_env, "orders")) is not None
    listed = run_cli("--env", etcd_env, "overrides", "list")
    assert listed.exit_code == 0, listed.stderr
    assert "orders" in listed.stdout and "partitions" in listed.stdout
    assert platform.services_opened() == {"etcd"}


def test_no_platform_in_the_namespace_means_file_values_with_a_warning(
    run_cli: RunCli, fake_kube: FakeKube, kubeconfig: Path, upstreams: Upstreams, kafka: KafkaCluster, etcd_env: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    # The context exists and answers, but nothing was ever applied: there is no platform to forward to.
    name = f"{etcd_env}-nop"
    result = run_cli("topics", "plan", str(_topic(tmp_path, name)), "--bootstrap-server", kafka.bootstrap)
    assert result.exit_code == 2, result.stderr  # the file's replication-factor 3: one broker cannot
    assert "fewer than replication-factor 3" in result.stderr
    assert (
        "warning: no etcd endpoint configured: overrides of environment 'dev' were not read and the files' "
        "values apply (no platform to forward to: namespace 'dev' of context 'minikube' has no platform;"
    ) in " ".join(result.stderr.split())
    assert upstreams.built == []
    overrides_run = run_cli("overrides", "list")
    assert overrides_run.exit_code == 2
    assert "no etcd endpoint configured, and no platform to forward to (namespace 'dev'" in overrides_run.stderr


def test_a_cluster_that_refuses_to_say_is_an_error_not_no_platform(
    run_cli: RunCli, fake_kube: FakeKube, kubeconfig: Path, kafka: KafkaCluster, etcd_env: str, tmp_path: Path
) -> None:
    fake_kube.forbid.add(("list", "services"))
    result = run_cli("topics", "plan", str(_topic(tmp_path, f"{etcd_env}-403")), "--bootstrap-server", kafka.bootstrap)
    assert result.exit_code == 1
    assert "error: forbidden while listing" in result.stderr
