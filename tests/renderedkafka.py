"""The Kafka that `platformctl render` produces, as a pod would run it, on this machine.

For tests/platform/test_kafka_rendered_boot.py: the Kafka StatefulSet of a render, each pod's environment as
Kubernetes builds it (`value`, `$(VAR)` references, `fieldRef`), then as the container's own command leaves
it when it has one (the per-pod node id and advertised listeners are derived there from the pod's name: the
command must hand over to the image's start script, which is replaced by `env -0` to read what the script
would get), turned into server.properties by the apache/kafka image's own rule, in the image's order (its
start script `/etc/kafka/docker/run`):

1. `configureDefaults` (apache/kafka, docker/resources/common-scripts/configureDefaults): a fixed set of
   variables gets a default when the pod leaves it unset (`IMAGE_DEFAULTS`);
2. `configure` (docker/resources/common-scripts/configure): CLUSTER_ID is required in KRaft mode, a
   controller-only node may not advertise, and KAFKA_LISTENERS is derived from KAFKA_ADVERTISED_LISTENERS
   when unset;
3. `launch` runs `kafka.docker.KafkaDockerWrapper setup`, which writes server.properties from the
   environment (core/src/main/scala/kafka/docker/KafkaDockerWrapper.scala, `getServerConfigsFromEnv`:
   every `KAFKA_*` variable but a few JVM/log4j ones, the prefix dropped, lower-cased, `_` -> `.`,
   `___` -> `-`, `__` -> `_`) and formats the storage with CLUSTER_ID. That class ships in the broker's
   jar, so `run_wrapper` runs the very code the image runs, from the pinned version's jars.

Only what cannot exist on this machine changes (`Loopback`, `moved_storage`, `remapped`): every port becomes
a free loopback port (per pod), every address inside the cluster (the Service's and the pods' DNS names)
becomes 127.0.0.1, listeners bind 127.0.0.1, and each volume mount becomes a directory under the test's
tmp dir. `localhost` stays `localhost`. `check` holds the platform's promises against the properties, and
derives every listener from them, not from names or port numbers written here: the HOST listener is the
one advertised on localhost, the INTERNAL one is the inter-broker listener, the controller listener is
`controller.listener.names`, the in-cluster clients' address is what the render gives the platform's other
workloads (`in_cluster_bootstraps`), and the port-forward's path is `forwarding.targets`' kafka forwards (one
per broker: a local port -> that pod's container port). So a change of layout (another port on the
Service, N brokers) is followed.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from platformctl.platform import forwarding, render
from platformctl.settings import Settings
from tests import kafkacluster
from tests.kafkacluster import free_port

# docker/resources/common-scripts/configureDefaults in apache/kafka: applied to each variable left unset.
IMAGE_DEFAULTS = {
    "CLUSTER_ID": "5L6g3nShT-eMCtK--X86sw",
    "KAFKA_NODE_ID": "1",
    "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,PLAINTEXT_HOST:PLAINTEXT",
    "KAFKA_LISTENERS": "PLAINTEXT://localhost:29092,CONTROLLER://localhost:29093,PLAINTEXT_HOST://0.0.0.0:9092",
    "KAFKA_ADVERTISED_LISTENERS": "PLAINTEXT://localhost:29092,PLAINTEXT_HOST://localhost:9092",
    "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
    "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
    "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
    "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
    "KAFKA_PROCESS_ROLES": "broker,controller",
    "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:29093",
    "KAFKA_INTER_BROKER_LISTENER_NAME": "PLAINTEXT",
    "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
    "KAFKA_LOG_DIRS": "/tmp/kraft-combined-logs",
}
_ENDPOINT = re.compile(r"^(?P<name>[A-Za-z0-9_]+)://(?P<host>\[[^\]]*\]|[^:/]*):(?P<port>\d+)$")
_VAR_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")
_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 1000, "M": 1000**2, "G": 1000**3}
IMAGE_START = "/etc/kafka/docker/run"  # the apache/kafka image's CMD: configureDefaults, configure, launch


# -- the render, as Kubernetes would run it ---------------------------------------------------------------


@dataclass
class RenderedKafka:
    namespace: str
    statefulset: dict[str, Any]
    services: list[dict[str, Any]]
    others: list[dict[str, Any]]  # the platform's other pod templates (its in-cluster Kafka clients)
    forwards: list[forwarding.Target]  # what `port-forward kafka` opens: one per broker (forwarding.targets)

    @property
    def pod_spec(self) -> dict[str, Any]:
        return dict(self.statefulset["spec"]["template"]["spec"])

    @property
    def container(self) -> dict[str, Any]:
        [kafka] = [c for c in self.pod_spec["containers"] if c["image"].startswith("apache/kafka:")]
        return dict(kafka)

    @property
    def replicas(self) -> int:
        return int(self.statefulset["spec"].get("replicas", 1))

    def pod_name(self, ordinal: int) -> str:
        return f"{self.statefulset['metadata']['name']}-{ordinal}"

    def container_port(self, ref: int | str) -> int:
        """A container port by number or name; it must be declared."""
        for port in self.container.get("ports", []):
            if ref in (port["containerPort"], port.get("name")):
                return int(port["containerPort"])
        raise Broken(f"port {ref!r} is not a port of the Kafka container")

    def service_target(self, service: dict[str, Any], port: int) -> int:
        """The container port that `service`'s `port` reaches."""
        for entry in service["spec"]["ports"]:
            if entry["port"] == port:
                return self.container_port(entry.get("targetPort", entry["port"]))
        raise Broken(f"Service {service['metadata']['name']} has no port {port}")

    def env(self, ordinal: int) -> dict[str, str]:
        """The environment the image's start script gets in pod `ordinal`: the kubelet's, then the command's."""
        env = self.kubelet_env(ordinal)
        command, args = self.container.get("command"), self.container.get("args")
        if not command and not args:
            return env
        if args != [IMAGE_START] or not command:
            raise Broken(f"the Kafka container must run a command that ends in the image's {IMAGE_START} (args)")
        # The command's last word is `exec "$@"`: with `env -0` as its arguments it prints what it would pass on.
        done = subprocess.run(
            [*command, "env", "-0"], env={"PATH": os.environ["PATH"], **env}, capture_output=True, timeout=30
        )
        if done.returncode != 0:
            raise Broken(f"the Kafka container's command fails in pod {ordinal}: {done.stderr.decode()}")
        out = dict(item.split("=", 1) for item in done.stdout.decode().split("\0") if "=" in item)
        noise = {"PATH", "PWD", "SHLVL", "_"} - env.keys()  # what bash itself sets
        return {k: v for k, v in out.items() if k not in noise}

    def kubelet_env(self, ordinal: int) -> dict[str, str]:
        """The container's environment in pod `ordinal`, as the kubelet builds it."""
        pod = {
            "metadata.name": self.pod_name(ordinal),
            "metadata.namespace": self.namespace,
            "status.podIP": "127.0.0.1",
            "spec.nodeName": "node",
        }
        env: dict[str, str] = {}
        for var in self.container.get("env", []):
            if "value" in var:
                env[var["name"]] = _VAR_REF.sub(lambda m: env.get(m.group(1), m.group(0)), str(var["value"]))
            elif "fieldRef" in var.get("valueFrom", {}):
                env[var["name"]] = pod[var["valueFrom"]["fieldRef"]["fieldPath"]]
            else:
                raise Broken(f"env {var['name']}: only value and fieldRef are modelled")
        return env


class Broken(AssertionError):
    """The rendered Kafka would not work as the platform promises."""


def rendered(settings: Settings) -> RenderedKafka:
    result = render.render(settings, render.parse_version(settings.minikube.kubernetes_version))
    docs = result.documents
    [sts] = [
        d for d in docs
        if d["kind"] == "StatefulSet"
        and any(c["image"] == settings.kafka.image for c in d["spec"]["template"]["spec"]["containers"])
    ]  # fmt: skip
    namespace = sts["metadata"]["namespace"]
    labels = sts["spec"]["template"]["metadata"]["labels"]
    services = [
        d for d in docs
        if d["kind"] == "Service" and d["metadata"]["namespace"] == namespace
        and d["spec"].get("selector") and d["spec"]["selector"].items() <= labels.items()
    ]  # fmt: skip
    others = [
        d["spec"]["template"]["spec"] for d in docs if d["kind"] in ("Deployment", "StatefulSet") and d is not sts
    ]
    return RenderedKafka(namespace, sts, services, others, forwarding.targets(settings, [forwarding.KAFKA_TARGET]))


# -- where things are on this machine -----------------------------------------------------------------------


@dataclass
class Loopback:
    """Free loopback ports for (pod ordinal, container port), and what cluster names mean here."""

    kafka: RenderedKafka
    ports: dict[tuple[int, int], int] = field(default_factory=dict)

    def port(self, ordinal: int, container_port: int) -> int:
        self.kafka.container_port(container_port)  # a port the container does not declare is a mistake
        return self.ports.setdefault((ordinal, container_port), free_port())

    def resolve(self, host: str, port: int, ordinal: int, *, bootstrap: bool = False) -> tuple[int, int]:
        """(pod ordinal, container port) that `host:port`, as written in pod `ordinal`, reaches.

        `localhost` on a port `port-forward kafka` listens on is that forward's pod and container port (what
        a host client is sent to); a Service is any of its pods, which only a bootstrap address may be.
        """
        k = self.kafka
        sts = k.statefulset["metadata"]["name"]
        governing = k.statefulset["spec"]["serviceName"]
        if host == "localhost":
            for plan in k.forwards:
                if plan.local_port == port and plan.pod is not None and plan.pod_port is not None:
                    return int(plan.pod.rsplit("-", 1)[1]), k.container_port(plan.pod_port)
        if host in ("", "0.0.0.0", "localhost", "127.0.0.1", k.pod_name(ordinal)):
            return ordinal, port
        suffixes = ("", f".{k.namespace}", f".{k.namespace}.svc", f".{k.namespace}.svc.cluster.local")
        for i in range(k.replicas):  # a pod's own DNS name under the governing Service
            if host in {f"{sts}-{i}.{governing}{s}" for s in suffixes}:
                return i, port
        for service in k.services:
            if host in {f"{service['metadata']['name']}{s}" for s in suffixes}:
                if k.replicas > 1 and not bootstrap:
                    raise Broken(f"{host}:{port} is a Service (any broker): a broker must advertise its own pod")
                return 0, k.service_target(service, port)
        raise Broken(f"{host}:{port} names nothing in the render (not a pod, not a Kafka Service)")

    def endpoint(self, host: str, port: int, ordinal: int, *, bind: bool) -> str:
        target = self.resolve(host, port, ordinal)
        here = "localhost" if host == "localhost" and not bind else "127.0.0.1"
        return f"{here}:{self.port(*target)}"


def endpoints(value: str) -> list[tuple[str, str, int]]:
    """`NAME://HOST:PORT,...` as (NAME, HOST, PORT)."""
    out = []
    for item in filter(None, (v.strip() for v in value.split(","))):
        match = _ENDPOINT.match(item)
        if match is None:
            raise Broken(f"cannot read listener {item!r}")
        out.append((match["name"], match["host"], int(match["port"])))
    return out


def moved_storage(env: Mapping[str, str], mounts: Mapping[str, Path]) -> dict[str, str]:
    """The environment with KAFKA_LOG_DIRS moved from its volume mount onto this machine's tmp dir."""
    out = dict(env)
    moved = []
    for path in filter(None, out.get("KAFKA_LOG_DIRS", "").split(",")):
        mount = next((m for m in sorted(mounts, key=len, reverse=True) if path == m or path.startswith(m + "/")), None)
        if mount is None:
            raise Broken(f"log.dirs {path} is on no volume: the data would be lost, or not writable")
        moved.append(str(mounts[mount] / path[len(mount) :].lstrip("/")))
    if moved:
        out["KAFKA_LOG_DIRS"] = ",".join(moved)
    return out


ADDRESS_PROPERTIES = ("listeners", "advertised.listeners", "controller.quorum.voters",
                      "controller.quorum.bootstrap.servers")  # fmt: skip


def remapped(props: Mapping[str, str], loop: Loopback, ordinal: int) -> dict[str, str]:
    """Pod `ordinal`'s server.properties with every address moved onto this machine's loopback."""
    out = dict(props)
    for name in ADDRESS_PROPERTIES:
        if name not in out:
            continue
        items = []
        for item in filter(None, out[name].split(",")):
            if "@" in item:  # a quorum voter: ID@HOST:PORT
                node, address = item.split("@", 1)
                host, port = address.rsplit(":", 1)
                items.append(f"{node}@{loop.endpoint(host, int(port), ordinal, bind=False)}")
            elif "://" in item:
                listener, host, port = endpoints(item)[0]
                items.append(f"{listener}://{loop.endpoint(host, port, ordinal, bind=name == 'listeners')}")
            else:
                host, port = item.rsplit(":", 1)
                items.append(loop.endpoint(host, int(port), ordinal, bind=False))
        out[name] = ",".join(items)
    return out


# -- the image's rule ------------------------------------------------------------------------------------


def image_environment(pod_env: Mapping[str, str]) -> dict[str, str]:
    """configureDefaults, then configure (see the module docstring)."""
    env = dict(pod_env)
    if not env.get("KAFKA_ZOOKEEPER_CONNECT"):
        for key, value in IMAGE_DEFAULTS.items():
            if not env.get(key):
                env[key] = value
    if env.get("KAFKA_PROCESS_ROLES"):
        if not env.get("CLUSTER_ID"):
            raise Broken("CLUSTER_ID environment variable not set (the image exits)")
        if env["KAFKA_PROCESS_ROLES"] == "controller" and env.get("KAFKA_ADVERTISED_LISTENERS"):
            raise Broken("KAFKA_ADVERTISED_LISTENERS is not supported on a KRaft controller (the image exits)")
    if not env.get("KAFKA_LISTENERS") and env.get("KAFKA_PROCESS_ROLES") != "controller":
        env["KAFKA_LISTENERS"] = re.sub(r"://[^:]*:", "://0.0.0.0:", env.get("KAFKA_ADVERTISED_LISTENERS", ""))
    return env


def run_wrapper(env: Mapping[str, str], base: Path) -> dict[str, str]:
    """`kafka.docker.KafkaDockerWrapper setup` with this environment: server.properties, storage formatted."""
    dirs = {name: base / name for name in ("defaults", "mounted", "final")}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [kafkacluster.java(), "-XX:TieredStopAtLevel=1", "-cp", str(kafkacluster.kafka_home() / "libs" / "*"),
         "kafka.docker.KafkaDockerWrapper", "setup", "--default-configs-dir", str(dirs["defaults"]),
         "--mounted-configs-dir", str(dirs["mounted"]), "--final-configs-dir", str(dirs["final"])],
        env={"PATH": os.environ["PATH"], **env}, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise Broken(f"the image's setup failed ({done.returncode}): {done.stdout}{done.stderr}")
    properties = {}
    for line in (dirs["final"] / "server.properties").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, value = line.split("=", 1)
            properties[key.strip()] = value.strip()
    return properties


# -- the promises, checked on the properties before anything starts ------------------------------------------


@dataclass(frozen=True)
class Listeners:
    host: str  # advertised on localhost: the port-forward's path
    internal: str  # the inter-broker listener: the path of clients inside the cluster
    controller: str


def check(kafka: RenderedKafka, props: Mapping[str, str], ordinal: int) -> Listeners:
    """What must hold for the platform's promises (DESIGN.md, Kafka addresses), on the pod's own config."""
    listeners = {name: (host, port) for name, host, port in endpoints(props.get("listeners", ""))}
    advertised = {name: (host, port) for name, host, port in endpoints(props.get("advertised.listeners", ""))}
    protocols = dict(p.split(":", 1) for p in props.get("listener.security.protocol.map", "").split(",") if p)
    controller = props.get("controller.listener.names", "")
    internal = props.get("inter.broker.listener.name", "")
    for name in listeners:
        if name not in protocols:
            raise Broken(f"listener {name} has no security protocol in listener.security.protocol.map")
    if controller not in listeners:
        raise Broken(f"controller listener {controller!r} is not among the listeners")
    if controller in advertised:
        raise Broken(f"the controller listener {controller} is advertised to clients")
    if set(advertised) - set(listeners):
        raise Broken(f"advertised listeners {sorted(set(advertised) - set(listeners))} do not listen")
    if internal not in advertised:
        raise Broken(f"inter-broker listener {internal!r} is not advertised")
    on_localhost = [name for name, (host, _) in advertised.items() if host == "localhost"]
    if len(on_localhost) != 1:
        raise Broken(f"expected one listener advertised on localhost (the HOST listener), got {on_localhost}")
    [host] = on_localhost
    if advertised[host][1] != forwarding.KAFKA_ADVERTISED_PORT + ordinal:
        raise Broken(
            f"HOST listener {host} advertises localhost:{advertised[host][1]}, but `port-forward kafka` listens on "
            f"{forwarding.KAFKA_ADVERTISED_PORT + ordinal}"
        )
    ctl_port = kafka.container_port(listeners[controller][1])
    host_port = kafka.container_port(listeners[host][1])
    for service in kafka.services:
        for entry in service["spec"]["ports"]:
            target = kafka.container_port(entry.get("targetPort", entry["port"]))
            if target == ctl_port:
                raise Broken(f"Service {service['metadata']['name']} exposes the controller listener")
            if target == host_port:  # an in-cluster client would be sent to localhost
                raise Broken(f"Service {service['metadata']['name']} exposes the HOST listener {host}")
    # This broker's forward: its local port is the advertised one, and it reaches this pod's HOST listener.
    plans = [p for p in kafka.forwards if p.local_port == advertised[host][1]]
    if len(plans) != 1 or plans[0].pod != kafka.pod_name(ordinal) or plans[0].pod_port is None:
        raise Broken(
            f"no `port-forward kafka` forward of localhost:{advertised[host][1]} to pod {kafka.pod_name(ordinal)}"
        )
    if kafka.container_port(plans[0].pod_port) != host_port:
        raise Broken(
            f"`port-forward kafka` forwards localhost:{plans[0].local_port} to {plans[0].pod}:{plans[0].pod_port}, "
            f"which is not the HOST listener {host}"
        )
    for voter in props.get("controller.quorum.voters", "").split(","):
        if voter:
            node, address = voter.split("@", 1)
            vhost, vport = address.rsplit(":", 1)
            target = Loopback(kafka).resolve(vhost, int(vport), ordinal)
            if int(node) == int(props["node.id"]) and target[1] != kafka.container_port(listeners[controller][1]):
                raise Broken(f"quorum voter {voter} is not this node's controller listener")
    if "-Xmx" in props.get("heap.opts", ""):
        raise Broken("KAFKA_HEAP_OPTS reached server.properties")
    heap = re.search(r"-Xmx(\d+)([kmg])", kafka.kubelet_env(ordinal).get("KAFKA_HEAP_OPTS", ""), re.IGNORECASE)
    limit = kafka.container.get("resources", {}).get("limits", {}).get("memory")
    if heap and limit:
        heap_bytes = int(heap[1]) * {"k": 2**10, "m": 2**20, "g": 2**30}[heap[2].lower()]
        number, unit = re.fullmatch(r"(\d+)([A-Za-z]*)", str(limit)).groups()  # type: ignore[union-attr]
        if heap_bytes >= int(number) * _UNITS.get(unit, 1) * 0.8:
            raise Broken(f"heap {heap[0]} leaves too little of the {limit} memory limit for the JVM itself")
    return Listeners(host, internal, controller)


def in_cluster_bootstraps(kafka: RenderedKafka) -> list[tuple[str, int]]:
    """host:port of Kafka as the platform's other workloads are told to reach it (their *BOOTSTRAP* env)."""
    found = []
    for spec in kafka.others:
        for container in spec.get("containers", []):
            for var in container.get("env", []):
                if "BOOTSTRAP" in var["name"].replace("_", "").upper() and "value" in var:
                    for item in str(var["value"]).split(","):
                        address = item.split("://", 1)[-1]
                        host, port = address.rsplit(":", 1)
                        found.append((host, int(port)))
    return found


# -- booting it ------------------------------------------------------------------------------------------------


@dataclass
class Pod:
    ordinal: int
    dir: Path
    properties: dict[str, str]
    listeners: Listeners
    heap: list[str]
    process: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.dir / "server.log"


def prepare(kafka: RenderedKafka, base: Path) -> tuple[Loopback, list[Pod]]:
    """Each pod's server.properties by the image's rule (storage formatted), checked, and remapped."""
    loop = Loopback(kafka)
    pods = []
    for ordinal in range(kafka.replicas):
        pod_dir = base / kafka.pod_name(ordinal)
        mounts = {m["mountPath"]: pod_dir / "volumes" / m["name"] for m in kafka.container.get("volumeMounts", [])}
        env = moved_storage(image_environment(kafka.env(ordinal)), mounts)
        props = run_wrapper(env, pod_dir / "config")
        listeners = check(kafka, props, ordinal)
        config = pod_dir / "server.properties"
        config.write_text("".join(f"{k}={v}\n" for k, v in remapped(props, loop, ordinal).items()))
        heap = env.get("KAFKA_HEAP_OPTS", "-Xmx1G -Xms1G").split()  # kafka-run-class.sh's default
        pods.append(Pod(ordinal, pod_dir, props, listeners, heap))
    return loop, pods


@contextlib.contextmanager
def booted(kafka: RenderedKafka, base: Path) -> Iterator[tuple[Loopback, list[Pod]]]:
    """Every pod of the rendered StatefulSet as a broker on this machine; stopped by PID on exit."""
    loop, pods = prepare(kafka, base)
    try:
        for pod in pods:
            log4j = pod.dir / "log4j2.properties"
            log4j.write_text(
                "appender.file.type = File\nappender.file.name = FILE\n"
                f"appender.file.fileName = {pod.log}\nappender.file.layout.type = PatternLayout\n"
                "appender.file.layout.pattern = [%d] %p %m (%c)%n\n"
                "rootLogger.level = INFO\nrootLogger.appenderRef.file.ref = FILE\n"
            )
            flags, _ = kafkacluster.cds_flags(True, dump=False)
            with (pod.dir / "stdout.log").open("ab") as out:
                pod.process = subprocess.Popen(
                    [kafkacluster.java(), *pod.heap, "-XX:TieredStopAtLevel=1", *flags,
                     f"-Dlog4j2.configurationFile={log4j}", "-cp", str(kafkacluster.kafka_home() / "libs" / "*"),
                     "kafka.Kafka", str(pod.dir / "server.properties")],
                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                )  # fmt: skip
        yield loop, pods
    finally:
        for pod in pods:
            if pod.process is not None:
                pod.process.terminate()
        for pod in pods:
            if pod.process is not None:
                try:
                    pod.process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    pod.process.kill()
                    pod.process.wait()
