"""What each pod of the rendered Kafka StatefulSet starts with, worked out the way the pod itself does.

A StatefulSet gives every pod the same spec; the Kafka container's command derives the per-node values
(node id, advertised listeners) from the pod's name and then runs the image's start script. `broker_env`
runs that very command with bash, the pod's environment (the downward-API POD_NAME filled in as the kubelet
would) and `env -0` in place of the image's start script, so tests see the environment the image's
KAFKA_* -> server.properties rule would see, without re-implementing the command.
"""

from __future__ import annotations

import os
import subprocess
from typing import Any


def container(workload: dict[str, Any], name: str | None = None) -> dict[str, Any]:
    containers = workload["spec"]["template"]["spec"]["containers"]
    if name is None:
        return containers[0]  # type: ignore[no-any-return]
    return next(c for c in containers if c["name"] == name)


def static_env(workload: dict[str, Any], pod: str) -> dict[str, str]:
    """The container's env as the kubelet sets it for `pod` (fieldRef metadata.name is the pod name)."""
    env: dict[str, str] = {}
    for item in container(workload).get("env", []):
        if "value" in item:
            env[item["name"]] = str(item["value"])
        elif item.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.name":
            env[item["name"]] = pod
        else:
            raise AssertionError(f"the test cannot resolve env {item['name']}: {item}")
    return env


def broker_env(statefulset: dict[str, Any], ordinal: int) -> dict[str, str]:
    """The environment the image's start script gets in pod <name>-<ordinal>."""
    pod = f"{statefulset['metadata']['name']}-{ordinal}"
    spec = container(statefulset)
    env = static_env(statefulset, pod)
    command = [*spec.get("command", []), "env", "-0"]  # `env -0` replaces `args` (the image's start script)
    done = subprocess.run(
        command, env={**env, "PATH": os.environ.get("PATH", "/usr/bin:/bin")}, capture_output=True, timeout=30
    )
    assert done.returncode == 0, done.stderr.decode()
    result = dict(item.split("=", 1) for item in done.stdout.decode().split("\0") if "=" in item)
    result.pop("PATH", None)
    for noise in ("PWD", "SHLVL", "_"):
        if noise not in env:
            result.pop(noise, None)
    return result


def listener_ports(statefulset: dict[str, Any]) -> dict[str, int]:
    """Container port name -> number."""
    return {p["name"]: p["containerPort"] for p in container(statefulset)["ports"]}


def listeners(statefulset: dict[str, Any]) -> dict[str, int]:
    """Listener name -> the port it binds, from KAFKA_LISTENERS (`NAME://:PORT,...`)."""
    env = static_env(statefulset, f"{statefulset['metadata']['name']}-0")
    return {
        name: int(address.rsplit(":", 1)[1])
        for name, address in (item.split("://", 1) for item in env["KAFKA_LISTENERS"].split(","))
    }
