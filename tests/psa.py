"""A field-by-field check of the Pod Security Standards `restricted` profile.

Mirrors the checks of the Kubernetes pod-security-admission library (policy version "latest"):
https://kubernetes.io/docs/concepts/security/pod-security-standards/ ; each violation is returned as a
readable string so a failing test says which field of which container broke which rule. It does not
model the per-version differences of older policy versions (they are all subsets of these rules).
"""

from __future__ import annotations

from typing import Any

ALLOWED_VOLUME_TYPES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret",
}
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}
ALLOWED_SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}


def pod_spec_of(obj: dict[str, Any]) -> dict[str, Any] | None:
    kind = obj.get("kind")
    if kind == "Pod":
        return obj["spec"]  # type: ignore[no-any-return]
    if kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}:
        return obj["spec"]["template"]["spec"]  # type: ignore[no-any-return]
    if kind == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]  # type: ignore[no-any-return]
    return None


def restricted_violations(spec: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    pod_sc = spec.get("securityContext") or {}
    containers = [
        (kind, c) for kind in ("initContainers", "containers", "ephemeralContainers") for c in spec.get(kind) or []
    ]

    # baseline
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            problems.append(f"pod: {field} must not be true")
    for volume in spec.get("volumes") or []:
        types = set(volume) - {"name"}
        if "hostPath" in types:
            problems.append(f"volume {volume['name']}: hostPath is forbidden")
        if not types <= ALLOWED_VOLUME_TYPES:
            problems.append(f"volume {volume['name']}: type {sorted(types)} not allowed under restricted")
    for sysctl in pod_sc.get("sysctls") or []:
        if sysctl["name"] not in SAFE_SYSCTLS:
            problems.append(f"pod: sysctl {sysctl['name']} is not safe")
    if (pod_sc.get("seLinuxOptions") or {}).get("type", "") not in ALLOWED_SELINUX_TYPES:
        problems.append("pod: seLinuxOptions.type not allowed")
    if (pod_sc.get("appArmorProfile") or {}).get("type") == "Unconfined":
        problems.append("pod: appArmorProfile Unconfined")
    pod_seccomp = (pod_sc.get("seccompProfile") or {}).get("type")
    if pod_seccomp is not None and pod_seccomp not in {"RuntimeDefault", "Localhost"}:
        problems.append(f"pod: seccompProfile.type {pod_seccomp} not allowed")
    if pod_sc.get("runAsUser") == 0:
        problems.append("pod: runAsUser must not be 0")

    for kind, c in containers:
        where = f"{kind[:-1]} {c['name']}"
        sc = c.get("securityContext") or {}
        if sc.get("privileged"):
            problems.append(f"{where}: privileged")
        for port in c.get("ports") or []:
            if port.get("hostPort"):
                problems.append(f"{where}: hostPort {port['hostPort']}")
        if sc.get("procMount", "Default") != "Default":
            problems.append(f"{where}: procMount must be Default")
        if (sc.get("seLinuxOptions") or {}).get("type", "") not in ALLOWED_SELINUX_TYPES:
            problems.append(f"{where}: seLinuxOptions.type not allowed")
        if (sc.get("appArmorProfile") or {}).get("type") == "Unconfined":
            problems.append(f"{where}: appArmorProfile Unconfined")
        # restricted
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{where}: allowPrivilegeEscalation must be false")
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            problems.append(f"{where}: capabilities.drop must include ALL")
        if set(caps.get("add") or []) - {"NET_BIND_SERVICE"}:
            problems.append(f"{where}: capabilities.add may only be NET_BIND_SERVICE")
        non_root = sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot"))
        if non_root is not True:
            problems.append(f"{where}: runAsNonRoot must be true (pod or container)")
        uid = sc.get("runAsUser", pod_sc.get("runAsUser"))
        if uid == 0:
            problems.append(f"{where}: runAsUser must not be 0")
        if not isinstance(uid, int):
            # Not a PSA rule, but the kubelet rejects runAsNonRoot for images that name a user
            # ("image has non-numeric user"): every container here must carry a numeric UID.
            problems.append(f"{where}: runAsUser must be set to a number")
        seccomp = (sc.get("seccompProfile") or {}).get("type", pod_seccomp)
        if seccomp not in {"RuntimeDefault", "Localhost"}:
            problems.append(f"{where}: seccompProfile.type must be RuntimeDefault or Localhost")
    return problems
