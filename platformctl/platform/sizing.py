"""What the platform asks of the cluster, summed from the render, against minikube's memory and CPUs.

The scheduler places a pod only where its requests fit, so the requests of every container of every
workload (times its replicas: N Kafka brokers) plus what minikube's own pods request must fit in the CPUs
and memory minikube is started with; otherwise `up` waits on an Unschedulable pod. Limits may add up to
more (Kubernetes overcommits them) and are shown for what the node may have to hold under load.
Summed from the rendered manifests, so the numbers are always those `up` applies. Imported only by
`doctor` (quantities are parsed with the Kubernetes client's own parser, through adapters/kube.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from platformctl.platform import render

if TYPE_CHECKING:
    from platformctl.settings import Settings

MIB = Decimal(1024 * 1024)
# minikube's own pods on its node request this much (kube-apiserver 250m, kube-controller-manager 200m,
# kube-scheduler 100m, etcd 100m + 100Mi, coredns 100m + 70Mi; kube-proxy and the storage provisioner
# request nothing): what is left of `minikube --cpus/--memory` is the platform's.
SYSTEM_CPU = Decimal("0.75")
SYSTEM_MEMORY_MIB = Decimal(170)


@dataclass(frozen=True)
class Totals:
    """CPU in cores, memory in MiB, summed over every container of every replica."""

    cpu_requests: Decimal
    cpu_limits: Decimal
    memory_requests: Decimal
    memory_limits: Decimal

    def describe(self) -> str:
        return (
            f"requests {_cpu(self.cpu_requests)} CPU / {_mib(self.memory_requests)}, "
            f"limits {_cpu(self.cpu_limits)} CPU / {_mib(self.memory_limits)}"
        )


def totals(documents: list[dict[str, Any]]) -> Totals:
    from platformctl.adapters import kube

    sums = {"requests": [Decimal(0), Decimal(0)], "limits": [Decimal(0), Decimal(0)]}
    for doc in documents:
        if doc.get("kind") not in ("Deployment", "StatefulSet"):
            continue
        replicas = int(doc["spec"].get("replicas", 1))
        for container in doc["spec"]["template"]["spec"]["containers"]:
            for bound, pair in sums.items():
                amounts = container.get("resources", {}).get(bound, {})
                pair[0] += replicas * kube.quantity(str(amounts.get("cpu", "0")))
                pair[1] += replicas * kube.quantity(str(amounts.get("memory", "0"))) / MIB
    return Totals(sums["requests"][0], sums["limits"][0], sums["requests"][1], sums["limits"][1])


@dataclass(frozen=True)
class Fit:
    ok: bool
    detail: str
    fix: str | None = None


def fit(settings: Settings) -> Fit:
    """Do the platform's requests (for kafka.brokers brokers) fit in minikube's CPUs and memory?"""
    version = render.parse_version(settings.minikube.kubernetes_version, origin="minikube.kubernetes-version")
    need = totals(render.render(settings, version).documents)
    brokers = settings.kafka.brokers
    what = f"{brokers} broker{'s' if brokers != 1 else ''}: {need.describe()}"
    if settings.context is not None:
        return Fit(True, f"{what} (the capacity of context {settings.context!r} is not checked)")
    mk = settings.minikube
    cpu_needed = need.cpu_requests + SYSTEM_CPU
    memory_needed = need.memory_requests + SYSTEM_MEMORY_MIB
    have = f"minikube {mk.cpus} CPUs / {mk.memory} MB, of which its own pods request {_cpu(SYSTEM_CPU)} CPU / " \
        f"{_mib(SYSTEM_MEMORY_MIB)}"
    short = []
    if cpu_needed > mk.cpus:
        short.append(f"minikube.cpus {int(cpu_needed.to_integral_value(rounding='ROUND_CEILING'))}")
    if memory_needed > mk.memory:
        short.append(f"minikube.memory {int(memory_needed.to_integral_value(rounding='ROUND_CEILING'))}")
    if short:
        return Fit(
            False,
            f"{what} do not fit: {have}",
            f"raise {' and '.join(short)} (at least), or lower kafka.brokers or the components' resources",
        )
    headroom = "" if need.memory_limits + SYSTEM_MEMORY_MIB <= mk.memory else (
        "; at their limits the pods would outgrow the node's memory (fine for light local use)"
    )
    return Fit(True, f"{what} fit in {have}{headroom}")


def _cpu(value: Decimal) -> str:
    return f"{value.normalize():f}" if value >= 1 else f"{int(value * 1000)}m"


def _mib(value: Decimal) -> str:
    return f"{int(value.to_integral_value(rounding='ROUND_CEILING'))}Mi"
