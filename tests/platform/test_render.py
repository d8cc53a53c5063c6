"""The rendered platform: valid for each supported server, `restricted`-clean, ClusterIP-only, pinned.

Schemas: kubernetes-validate (strict) for every minor from 1.25 to the newest it ships, for every shape `up`
can apply (one broker, three, storage: ephemeral, fast-data-dev); the PodSecurityPolicy render (one broker and
three) for 1.22, 1.23 and 1.24 against their schemas (tests/plugins/legacy_schemas.py).
Applied to a real API server: 1.36 (tests/platform/test_lifecycle_real.py and the other *_real.py).
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from platformctl.platform import forwarding, render
from platformctl.settings import EtcdSettings, KafkaSettings, Settings
from tests.kafka_pods import broker_env, container, listener_ports, listeners
from tests.psa import pod_spec_of, restricted_violations

ROOT = Path(__file__).resolve().parents[2]
NEWEST = kubernetes_validate.latest_version()
NEWEST_MINOR = int(NEWEST.split(".")[1])
VERSIONS = [f"1.{minor}" for minor in range(25, NEWEST_MINOR + 1)]  # every minor with Pod Security admission
PSP_VERSIONS = ["1.22", "1.23", "1.24"]  # render.OLDEST up to the last with PodSecurityPolicy


def rendered(settings: Settings | None = None, version: str = "1.35") -> render.Rendered:
    return render.render(settings or Settings(), render.parse_version(version))


def fast_data_dev() -> Settings:
    return Settings(kafka=KafkaSettings(flavor="fast-data-dev"))


def brokers(n: int, **settings: object) -> Settings:
    return Settings(kafka=KafkaSettings(brokers=n), **settings)  # type: ignore[arg-type]


# Every shape `up` can apply: one broker, three, without claims, and the all-in-one image.
VARIANTS = {
    "N=1": Settings(),
    "N=3": brokers(3),
    "ephemeral": Settings(storage="ephemeral"),
    "fast-data-dev": fast_data_dev(),
}


def doc(result: render.Rendered, kind: str, name: str) -> dict[str, Any]:
    return next(d for d in result.documents if d["kind"] == kind and d["metadata"]["name"] == name)


def kinds(result: render.Rendered) -> list[str]:
    return [doc["kind"] for doc in result.documents]


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("version", VERSIONS)
def test_every_manifest_validates_strictly(version: str, variant: str) -> None:
    settings = VARIANTS[variant]
    problems = []
    for doc in rendered(settings, version).documents:
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        try:
            kubernetes_validate.validate(doc, f"{version}.0", strict=True)
        except kubernetes_validate.SchemaNotFoundError as e:  # a kind the server does not know is a failure
            problems.append(f"{name}: no schema for {version}: {e}")
        except kubernetes_validate.ValidationError as e:
            problems.append(f"{name}: {e.message} at {list(e.path)}")
    assert problems == []


@pytest.mark.parametrize("variant", ["N=1", "N=3"])
@pytest.mark.parametrize("version", PSP_VERSIONS)
def test_psp_render_validates_against_its_versions_schemas(
    tmp_path: Path, legacy_validate: Any, version: str, variant: str
) -> None:
    result = rendered(VARIANTS[variant], version=version)
    assert result.security.mechanism == "pod-security-policy"
    # The claims' volumes are what the policy allows for stateful sets (the reference setup's rule).
    policy = next(d for d in result.documents if d["kind"] == "PodSecurityPolicy")
    assert "persistentVolumeClaim" in policy["spec"]["volumes"]
    assert "hostPath" not in policy["spec"]["volumes"]
    written = render.write_files(result, tmp_path).written
    assert legacy_validate(f"{version}.0", written) == []


def test_the_oldest_supported_version_is_the_oldest_with_schemas() -> None:
    assert str(render.OLDEST) == PSP_VERSIONS[0]
    assert kubernetes_validate.latest_version().startswith(f"1.{NEWEST_MINOR}.")


def test_psp_policies_for_minikube_system_namespaces_validate(legacy_validate: Any) -> None:
    psp = render.psp_file()
    kinds_in_file = {doc["kind"] for doc in yaml.safe_load_all(psp.read_text()) if doc}
    assert "PodSecurityPolicy" in kinds_in_file
    assert legacy_validate("1.24.0", [psp]) == []


def test_security_mechanism_follows_the_server_version() -> None:
    old = kinds(rendered(version="1.24"))
    assert "PodSecurityPolicy" in old and "ValidatingAdmissionPolicy" not in old
    mid = rendered(version="1.29")
    assert mid.security.mechanism == "pod-security-admission"
    assert "PodSecurityPolicy" not in kinds(mid) and "ValidatingAdmissionPolicy" not in kinds(mid)
    new = kinds(rendered(version="1.30"))
    assert new.count("ValidatingAdmissionPolicy") == 1 and new.count("ValidatingAdmissionPolicyBinding") == 1


@pytest.mark.parametrize("variant", ["N=1", "N=3", "ephemeral"])
@pytest.mark.parametrize("version", ["1.24", *VERSIONS])
def test_every_pod_passes_restricted_field_by_field(version: str, variant: str) -> None:
    result = rendered(VARIANTS[variant], version=version)
    if result.security.mechanism == "pod-security-admission":
        assert result.documents[0]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    pods = [(d, pod_spec_of(d)) for d in result.documents]
    pods = [(d, spec) for d, spec in pods if spec is not None]
    assert len(pods) == 5  # kafka, schema-registry, kafka-ui, etcd, fluentd
    for d, spec in pods:
        assert restricted_violations(spec) == [], d["metadata"]["name"]


def test_psa_checker_catches_a_root_container() -> None:
    doc = next(d for d in rendered().documents if d["kind"] == "StatefulSet")
    spec = pod_spec_of(doc)
    assert spec is not None
    spec["containers"][0]["securityContext"]["runAsUser"] = 0
    del spec["containers"][0]["securityContext"]["capabilities"]
    problems = restricted_violations(spec)
    assert any("runAsUser must not be 0" in p for p in problems)
    assert any("capabilities.drop" in p for p in problems)


def test_namespace_enforces_restricted_with_pinned_version() -> None:
    namespace = rendered(version="1.36").documents[0]
    assert namespace["kind"] == "Namespace"
    labels = namespace["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["pod-security.kubernetes.io/enforce-version"] == "v1.36"
    assert labels["phase"] == "dev"


def test_fast_data_dev_lowers_the_namespace_to_baseline_loudly() -> None:
    result = rendered(fast_data_dev())
    labels = result.documents[0]["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "baseline"
    assert labels["pod-security.kubernetes.io/warn"] == "restricted"
    assert any("baseline" in w for w in result.warnings)
    images = [c["image"] for d in result.documents if (s := pod_spec_of(d)) for c in s["containers"]]
    assert "lensesio/fast-data-dev:3.9.0" in images
    assert not any(i.startswith("confluentinc/") or i.startswith("kafbat/") for i in images)


@pytest.mark.parametrize("flavor", ["apache", "fast-data-dev"])
def test_services_are_cluster_ip_only(flavor: str) -> None:
    settings = Settings() if flavor == "apache" else fast_data_dev()
    services = [d for d in rendered(settings).documents if d["kind"] == "Service"]
    assert services
    for service in services:
        assert service["spec"].get("type", "ClusterIP") == "ClusterIP", service["metadata"]["name"]
        assert "externalIPs" not in service["spec"]
        assert all("nodePort" not in port for port in service["spec"]["ports"])


@pytest.mark.parametrize("flavor", ["apache", "fast-data-dev"])
def test_images_are_pinned_and_pods_do_not_get_service_links(flavor: str) -> None:
    settings = Settings() if flavor == "apache" else fast_data_dev()
    for doc in rendered(settings).documents:
        spec = pod_spec_of(doc)
        if spec is None:
            continue
        assert spec["enableServiceLinks"] is False
        for each in spec["containers"]:
            image = each["image"]
            assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), image
            assert each["imagePullPolicy"] == "IfNotPresent"
            assert each["resources"]["requests"] and each["resources"]["limits"]
            assert each.get("readinessProbe"), each["name"]


def test_every_object_carries_the_platform_labels() -> None:
    for doc in rendered(version="1.24").documents + rendered().documents:
        labels = doc["metadata"]["labels"]
        assert labels[render.LABEL_MANAGED_BY] == "platformctl"
        assert labels[render.LABEL_PART_OF] == "platformctl"
        assert labels[render.LABEL_INSTANCE] == "dev"
        assert labels[render.LABEL_NAME]
        spec = pod_spec_of(doc)
        if spec is not None:
            template_labels = doc["spec"]["template"]["metadata"]["labels"]
            assert doc["spec"]["selector"]["matchLabels"].items() <= template_labels.items()


@pytest.mark.parametrize("n", [1, 3])
def test_in_cluster_bootstrap_reaches_the_internal_listener_of_every_broker(n: int) -> None:
    """kafka-service.<ns>:9092 (what apps configure) -> INTERNAL; each broker advertises its own pod's name."""
    result = rendered(brokers(n, namespace="data"))
    service = doc(result, "Service", "kafka-service")
    assert service["spec"].get("clusterIP") != "None"
    (port,) = service["spec"]["ports"]
    assert port["port"] == 9092  # the port apps use, as in production
    statefulset = doc(result, "StatefulSet", "kafka")
    internal = listener_ports(statefulset)[port["targetPort"]]
    assert listeners(statefulset)["INTERNAL"] == internal
    # Per-broker names resolve through the headless Service the StatefulSet names as its subdomain.
    headless = doc(result, "Service", statefulset["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None" and headless["spec"]["publishNotReadyAddresses"] is True
    assert headless["spec"]["selector"] == service["spec"]["selector"] == statefulset["spec"]["selector"]["matchLabels"]
    assert statefulset["spec"]["replicas"] == n
    for i in range(n):
        env = broker_env(statefulset, i)
        assert env["KAFKA_NODE_ID"] == str(i)
        advertised = dict(a.split("://") for a in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
        assert advertised["INTERNAL"] == f"kafka-{i}.{headless['metadata']['name']}.data.svc.cluster.local:{internal}"
        assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] == "INTERNAL"
    # The platform's own clients bootstrap the way apps do.
    bootstrap = "kafka-service.data.svc.cluster.local:9092"
    sr = container(doc(result, "Deployment", "schema-registry"))
    ui = container(doc(result, "Deployment", "kafka-ui"))
    assert {e["name"]: e.get("value") for e in sr["env"]}["SCHEMA_REGISTRY_KAFKASTORE_BOOTSTRAP_SERVERS"] == (
        f"PLAINTEXT://{bootstrap}"
    )
    assert {e["name"]: e.get("value") for e in ui["env"]}["KAFKA_CLUSTERS_0_BOOTSTRAPSERVERS"] == bootstrap


@pytest.mark.parametrize("n", [1, 3])
def test_host_clients_reach_the_host_listener_through_one_forward_per_broker(n: int) -> None:
    """localhost:9092+i (what broker i advertises to the host) is the forward to pod kafka-i's HOST listener."""

    settings = brokers(n)
    result = rendered(settings)
    statefulset = doc(result, "StatefulSet", "kafka")
    ports = listener_ports(statefulset)
    plans = forwarding.targets(settings, ["kafka"])
    assert [(p.pod, p.local_port) for p in plans] == [(f"kafka-{i}", 9092 + i) for i in range(n)]
    for i, plan in enumerate(plans):
        assert ports[plan.pod_port] == listeners(statefulset)["HOST"]
        advertised = dict(a.split("://") for a in broker_env(statefulset, i)["KAFKA_ADVERTISED_LISTENERS"].split(","))
        assert advertised["HOST"] == f"localhost:{plan.local_port}"
    # Neither the HOST listener (it sends clients to localhost) nor the controller is on any Service.
    kafka_services = [
        d for d in result.documents if d["kind"] == "Service" and d["metadata"]["labels"][render.LABEL_NAME] == "kafka"
    ]
    assert len(kafka_services) == 2
    for service in kafka_services:
        assert {p["targetPort"] for p in service["spec"]["ports"]} == {"internal"}


def test_three_brokers_form_a_three_voter_quorum_that_starts_in_parallel() -> None:
    statefulset = doc(rendered(brokers(3)), "StatefulSet", "kafka")
    env = broker_env(statefulset, 0)
    voters = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")
    controller = listeners(statefulset)["CONTROLLER"]
    assert voters == [f"{i}@kafka-{i}.kafka-brokers.dev.svc.cluster.local:{controller}" for i in range(3)]
    assert {broker_env(statefulset, i)["KAFKA_NODE_ID"] for i in range(3)} == {"0", "1", "2"}
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] == "CONTROLLER"
    # OrderedReady would deadlock: kafka-0 cannot be ready before a quorum of controllers runs.
    assert statefulset["spec"]["podManagementPolicy"] == "Parallel"


@pytest.mark.parametrize(("n", "rf", "isr"), [(1, "1", "1"), (2, "2", "2"), (3, "3", "2"), (5, "3", "2")])
def test_internal_topics_replicate_like_production_when_there_are_enough_brokers(n: int, rf: str, isr: str) -> None:
    result = rendered(brokers(n))
    env = broker_env(doc(result, "StatefulSet", "kafka"), 0)
    for key in (
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR",
        "KAFKA_DEFAULT_REPLICATION_FACTOR",
    ):
        assert env[key] == rf, key
    assert env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"] == env["KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR"] == isr
    sr = {e["name"]: e.get("value") for e in container(doc(result, "Deployment", "schema-registry"))["env"]}
    assert sr["SCHEMA_REGISTRY_KAFKASTORE_TOPIC_REPLICATION_FACTOR"] == rf


def test_kafka_and_etcd_keep_their_data_on_claims_sized_in_platformctl_yaml() -> None:
    settings = Settings(
        storage_class="fast-ssd",
        kafka=KafkaSettings(brokers=3, volume_size="20Gi"),
        etcd=EtcdSettings(volume_size="2Gi"),
    )
    result = rendered(settings)
    for name, size, mount in (("kafka", "20Gi", "/var/lib/kafka/data"), ("etcd", "2Gi", "/var/lib/etcd")):
        statefulset = doc(result, "StatefulSet", name)
        (claim,) = statefulset["spec"]["volumeClaimTemplates"]
        assert claim["metadata"]["name"] == "data"
        # The StatefulSet controller copies these labels to each claim: `down` finds them by selector.
        assert claim["metadata"]["labels"] == statefulset["metadata"]["labels"]
        assert claim["spec"] == {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": size}},
            "storageClassName": "fast-ssd",
        }
        spec = statefulset["spec"]["template"]["spec"]
        assert "volumes" not in spec  # the claim, not an emptyDir
        assert {"name": "data", "mountPath": mount} in spec["containers"][0]["volumeMounts"]
    # Kafka's logs sit below the mount: a filesystem's lost+found at its root is not a log directory.
    assert broker_env(doc(result, "StatefulSet", "kafka"), 0)["KAFKA_LOG_DIRS"] == "/var/lib/kafka/data/logs"
    # Without a class the claims get the cluster's default (minikube's `standard`).
    default = rendered(Settings())
    for name in ("kafka", "etcd"):
        (claim,) = doc(default, "StatefulSet", name)["spec"]["volumeClaimTemplates"]
        assert "storageClassName" not in claim["spec"]


@pytest.mark.parametrize("flavor", ["apache", "fast-data-dev"])
def test_ephemeral_storage_is_todays_empty_dir(flavor: str) -> None:
    settings = Settings(storage="ephemeral", kafka=KafkaSettings(flavor=flavor))  # type: ignore[arg-type]
    result = rendered(settings)
    for d in result.documents:
        if d["kind"] == "StatefulSet":
            assert "volumeClaimTemplates" not in d["spec"]
            assert {"name": "data", "emptyDir": {}} in d["spec"]["template"]["spec"]["volumes"]
    persistent = [d for d in rendered(Settings(kafka=KafkaSettings(flavor=flavor))).documents]  # type: ignore[arg-type]
    assert all("volumeClaimTemplates" in d["spec"] for d in persistent if d["kind"] == "StatefulSet")


def test_values_cannot_inject_yaml() -> None:
    # Validation refuses such names; render must still be safe if a value slips through.
    evil = "dev\nkind: Secret\n---\napiVersion: v1"
    settings = Settings.model_construct(**{**Settings().__dict__, "namespace": evil, "env": "a: b"})
    result = rendered(settings)
    assert len(result.documents) == len(rendered().documents)
    assert {doc["kind"] for doc in result.documents} == {doc["kind"] for doc in rendered().documents}
    assert result.documents[0]["metadata"]["name"] == evil
    assert result.documents[0]["metadata"]["labels"]["phase"] == "a: b"
    reparsed = list(yaml.safe_load_all(render.to_yaml(result.documents)))
    assert reparsed == result.documents


def test_committed_manifests_match_the_templates() -> None:
    """manifests/ is the default render, committed so reviews see what a template change does."""
    settings = Settings()
    result = render.render(settings, render.parse_version(settings.minikube.kubernetes_version))
    committed = {p.name: p.read_text() for p in sorted((ROOT / "manifests").glob("*.yaml"))}
    fresh = {name: render.file_text(docs) for name, docs in result.files}
    diff = []
    for name in sorted(committed.keys() | fresh.keys()):
        diff += difflib.unified_diff(
            committed.get(name, "").splitlines(keepends=True),
            fresh.get(name, "").splitlines(keepends=True),
            f"manifests/{name} (committed)",
            f"manifests/{name} (rendered)",
        )
    assert not diff, "templates and manifests/ disagree; after checking the change, run " \
        "`platformctl render --out manifests`:\n" + "".join(diff)


def test_the_suites_etcd_is_the_version_the_platform_deploys() -> None:
    """tests/components/etcd/go.mod builds the etcd every test runs; it must be the image pin's version."""
    from tests import components

    assert components.etcd().version == EtcdSettings().image.rsplit(":", 1)[1]
    assert components.kafka().version == KafkaSettings().image.rsplit(":", 1)[1]  # follows the pin by design
