"""`down` lives apart from `up` because it is the one lifecycle command that destroys, so whoever changes it
should be able to read all of it at once: it only reads (`plan_down`) until the command has shown the plan
and the user has confirmed it, deletes only objects carrying platformctl's labels, and touches the minikube
profile only when asked (`--cluster`), never with `--context`. The target guard is platform/guard.py's, shared
with `up`, `status` and `doctor`. No Typer here.

Data is explicit: the plan names every PersistentVolumeClaim (Kafka's topics, etcd's overrides) it deletes,
and `--keep-data` keeps them and the namespace they live in, so the next `up` starts on the same data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from platformctl import hints, ui
from platformctl.errors import InputError, PlatformError
from platformctl.platform import render
from platformctl.platform.guard import target, uses_minikube

if TYPE_CHECKING:
    from platformctl.adapters.kube import Cluster
    from platformctl.settings import Settings


@dataclass
class DownPlan:
    settings: Settings
    cluster_action: str | None  # None, "stop" or "delete"
    keep_data: bool = False
    objects: list[dict[str, Any]] = field(default_factory=list)  # what it deletes (in apply order)
    claims: list[dict[str, Any]] = field(default_factory=list)  # the platform's claims, deleted or kept
    kept: list[dict[str, Any]] = field(default_factory=list)  # --keep-data: the namespace, left in place
    cluster: Cluster | None = None
    profile_exists: bool = False
    profile_running: bool = False

    def describe(self) -> str:
        from platformctl.adapters import kube

        parts = []
        if self.objects:
            names = ", ".join(kube.describe(*kube.ref(o)) for o in reversed(self.objects))
            parts.append(f"delete {len(self.objects)} objects labelled by platformctl ({names})")
        if self.claims:
            parts.append(self._claims())
        elif any(o.get("kind") == "Namespace" for o in self.objects):
            parts.append(self._data_loss())
        if self.cluster_action and self.profile_exists:
            parts.append(f"{self.cluster_action} minikube profile {self.settings.minikube.profile!r}")
        return "; ".join(parts)

    def _claims(self) -> str:
        names = ", ".join(f"{c['metadata']['name']} ({_size(c)})" for c in self.claims)
        ns = self.settings.namespace
        if self.keep_data:
            return (
                f"keep namespace {ns!r} and its {len(self.claims)} PersistentVolumeClaims ({names}): "
                f"the next `{hints.command('up')}` starts on the same topics and overrides"
            )
        return (
            f"delete {len(self.claims)} PersistentVolumeClaims and the data on them ({names}): every topic "
            "and message in Kafka, and the environment overrides and applied records in the platform's etcd"
        )

    def _data_loss(self) -> str:
        ns = self.settings.namespace
        text = f"namespace {ns!r} goes with everything in it: every topic and its data in Kafka"
        if self.settings.etcd.endpoint is None:
            return text + ", and the environment overrides and applied records in the platform's etcd"
        return text + f" (the overrides in etcd at {self.settings.etcd.endpoint} are kept)"

    @property
    def deletes(self) -> list[dict[str, Any]]:
        """Everything `down` deletes, in apply order (deleted in reverse): claims after the workloads that
        use them, before the namespace."""
        if self.keep_data:
            return list(self.objects)
        namespaces = [o for o in self.objects if o.get("kind") == "Namespace"]
        rest = [o for o in self.objects if o.get("kind") != "Namespace"]
        return [*namespaces, *self.claims, *rest]

    @property
    def empty(self) -> bool:
        return not self.deletes and not (self.cluster_action and self.profile_exists)


def _size(claim: dict[str, Any]) -> str:
    """What the claim holds: its bound capacity, else what it asked for."""
    capacity = (claim.get("status") or {}).get("capacity") or {}
    requested = ((claim.get("spec") or {}).get("resources") or {}).get("requests") or {}
    return str(capacity.get("storage") or requested.get("storage") or "?")


def plan_down(settings: Settings, cluster_action: str | None, *, keep_data: bool = False) -> DownPlan:
    """What `down` would remove; reads only (the objects and claims by label, the minikube profile)."""
    from platformctl.adapters import kube
    from platformctl.platform import kubesync

    plan = DownPlan(settings=settings, cluster_action=cluster_action, keep_data=keep_data)
    if keep_data and cluster_action == "delete":
        raise InputError(
            "--keep-data keeps the claims in the cluster, and --cluster delete deletes the cluster with them",
            field="--keep-data",
            hint="use --cluster stop to keep everything, or drop --keep-data",
        )
    if cluster_action and not uses_minikube(settings):
        raise InputError(
            "--cluster stops or deletes minikube's profile; with --context platformctl never touches the "
            "cluster itself",
            field="--cluster",
        )
    if uses_minikube(settings):
        from platformctl.adapters import minikube

        found = minikube.profile(settings.minikube.profile)
        plan.profile_exists = found is not None
        plan.profile_running = bool(found and found.running)
        if cluster_action == "delete":
            return plan  # deleting the profile removes everything in it
        if not plan.profile_running:
            if cluster_action == "stop":
                plan.profile_exists = False  # nothing to stop
                return plan
            raise PlatformError(
                f"minikube profile {settings.minikube.profile!r} is not running, so its objects cannot be deleted",
                hint=f"start it with `minikube start -p {settings.minikube.profile}` first, or "
                f"`{hints.command('down --cluster delete')}` to remove the whole cluster",
            )
    plan.cluster = kube.Cluster.connect(target(settings))
    ns = settings.namespace
    try:
        labelled = kubesync.find_labelled(plan.cluster, ns, render.selector(ns))
        plan.claims = kubesync.find_claims(plan.cluster, ns, render.selector(ns))
    except BaseException:
        plan.cluster.close()
        raise
    plan.kept = [o for o in labelled if keep_data and o.get("kind") == "Namespace"]
    plan.objects = [o for o in labelled if o not in plan.kept]
    return plan


def down(plan: DownPlan, *, timeout: float = 300.0) -> None:
    from platformctl.platform import kubesync

    try:
        deletes = plan.deletes
        if plan.cluster is not None and deletes:
            ns = plan.settings.namespace
            selector = render.selector(ns)
            kubesync.delete_objects(plan.cluster, deletes, selector, on_delete=lambda n: ui.info(f"  {n} deleted"))
            with ui.status(f"waiting until the platform in {ns!r} is gone"):
                kubesync.wait_gone(plan.cluster, deletes, ns, selector, timeout=timeout)
            ui.info(f"removed {len(deletes)} objects from context {plan.cluster.target.context!r}")
            if plan.keep_data:
                kept = ", ".join(str(c["metadata"]["name"]) for c in plan.claims) or "none"
                ui.info(f"kept namespace {ns!r} and its claims ({kept}): `{hints.command('up')}` starts on them again")
    finally:
        if plan.cluster is not None:
            plan.cluster.close()
    if plan.cluster_action and plan.profile_exists:
        from platformctl.adapters import minikube

        profile = plan.settings.minikube.profile
        with ui.status(f"{'stopping' if plan.cluster_action == 'stop' else 'deleting'} minikube profile {profile!r}"):
            (minikube.stop if plan.cluster_action == "stop" else minikube.delete)(profile)
        ui.info(f"minikube profile {profile!r} {'stopped' if plan.cluster_action == 'stop' else 'deleted'}")
