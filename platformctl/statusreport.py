"""`status` lives apart from `up` and `down` because it only reads and is what people look at when something
is wrong: it gathers the cluster, the security mode in force and each component's readiness as plain data
(`--output json` prints that data as it is, so its keys are a contract), and the table is drawn from that
data alone. The target guard is lifecycle.py's, shared with `up`, `down` and `doctor`. No Typer here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from platformctl import hints, render
from platformctl.errors import PlatformError
from platformctl.lifecycle import target, uses_minikube

if TYPE_CHECKING:
    from platformctl.kube import Cluster
    from platformctl.settings import Settings


def security_report(cluster: Cluster, settings: Settings, version: render.KubeVersion) -> dict[str, Any]:
    """The security mode in force (namespace labels, policies present) next to the expected one."""
    from platformctl import kube

    ns = settings.namespace
    expected = render.security_mode(settings, version)
    namespace = cluster.get(kube.NAMESPACE, None, ns)
    labels = ((namespace or {}).get("metadata") or {}).get("labels") or {}
    enforce = labels.get("pod-security.kubernetes.io/enforce")
    report: dict[str, Any] = {
        "expected": expected.describe(),
        "namespace_exists": namespace is not None,
        "pod_security_enforce": enforce,
        "pod_security_version": labels.get("pod-security.kubernetes.io/enforce-version"),
    }
    selector = render.selector(ns)
    if expected.clusterip_policy:
        vap = next(k for k in kube.KINDS if k.kind == "ValidatingAdmissionPolicy")
        report["clusterip_policy"] = bool(cluster.list_objects(vap, None, selector))
    if expected.mechanism == "pod-security-policy":
        psp = next(k for k in kube.KINDS if k.kind == "PodSecurityPolicy")
        report["pod_security_policy"] = [o["metadata"]["name"] for o in cluster.list_objects(psp, None, selector)]
    if expected.mechanism == "pod-security-admission":
        report["in_force"] = f"pod-security-admission ({enforce})" if enforce else "none"
    else:
        report["in_force"] = (
            f"pod-security-policy ({', '.join(report['pod_security_policy'])})"
            if report["pod_security_policy"]
            else "none"
        )
    return report


def status(settings: Settings) -> dict[str, Any]:
    """Cluster, server version, security mode and each component's readiness, as plain data."""
    from platformctl import kube, kubesync

    if uses_minikube(settings):
        from platformctl import minikube

        found = minikube.profile(settings.minikube.profile)
        if found is None or not found.running:
            raise PlatformError(
                f"minikube profile {settings.minikube.profile!r} is "
                f"{'not created' if found is None else found.status.lower()}",
                hint=f"`{hints.command('up')}` starts it",
            )
    cluster = kube.Cluster.connect(target(settings))
    try:
        server_version = cluster.version()
        version = render.parse_version(server_version, origin=f"server version of {cluster.target.context}")
        security = security_report(cluster, settings, version)
        ns = settings.namespace
        components = render.components(settings)
        states = kubesync.workload_states(cluster, ns, render.selector(ns), [(c.kind, c.name) for c in components])
    finally:
        cluster.close()
    return {
        "cluster": {
            "context": cluster.target.context,
            "server": cluster.server,
            "version": server_version,
            "minikube_profile": settings.minikube.profile if uses_minikube(settings) else None,
        },
        "namespace": settings.namespace,
        "security": security,
        "components": [
            {
                "name": c.name,
                "kind": c.kind,
                "image": c.image,
                "service": c.service,
                "ready": f"{s.ready}/{s.desired}" if s.exists else "0/0",
                "state": "ready" if s.ready_now else ("missing" if not s.exists else "not ready"),
                "detail": s.summary,
                "forwards": {t: f"127.0.0.1:{p}" for t, p in c.ports.items()},
                "local_ports": {t: local_port(p) for t, p in c.ports.items()},
            }
            for c, s in zip(components, states, strict=True)
        ],
        "ready": all(s.ready_now for s in states),
    }


def local_port(port: int) -> dict[str, Any]:
    """Whether the local end of a port-forward is taken (by a running `port-forward`, or by something else)."""
    from platformctl import forward

    in_use = forward.port_in_use(port)
    holder = forward.port_holder(port) if in_use else None
    return {"address": f"127.0.0.1:{port}", "in_use": in_use, "holder": holder}


def _forward_detail(target: str, state: dict[str, Any]) -> str:
    text = f"{target} -> {state['address']}"
    if state["in_use"]:
        text += f" (in use by {state['holder']})" if state["holder"] else " (in use)"
    return text


def status_table(report: dict[str, Any]) -> Any:
    from rich.table import Table

    cluster, security = report["cluster"], report["security"]
    table = Table(title=f"platformctl status: namespace {report['namespace']}", title_justify="left")
    table.add_column("")
    table.add_column("state")
    table.add_column("detail")
    table.add_row("cluster", cluster["context"], cluster["server"])
    table.add_row("kubernetes", cluster["version"], "")
    table.add_row("security", security["in_force"], f"expected: {security['expected']}")
    for c in report["components"]:
        forwards = ", ".join(_forward_detail(t, state) for t, state in c["local_ports"].items())
        detail = c["detail"] if c["state"] != "ready" else forwards
        table.add_row(c["name"], f"{c['state']} {c['ready']}", detail)
    return table
