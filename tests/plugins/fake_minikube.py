"""A fake `minikube` executable on PATH that records its arguments and answers like the real one.

The answers follow minikube's source (cmd/minikube/cmd/status.go, cmd/minikube/cmd/config/profile_list.go):
`status -o json` prints one JSON object per node (a single object for one node) and exits with a
bitmask (1 host, 2 cluster, 4 kubeconfig not OK: 7 when stopped), or exits 85 with a message when the
profile does not exist; `profile list -o json` prints `{"invalid": [...], "valid": [...]}` of
`config.Profile` objects (Name, Status, Config{Driver, Memory, CPUs, KubernetesConfig{KubernetesVersion,
...}, Nodes}). `start` records the profile as running and, like minikube, writes a kube context named
after the profile into $KUBECONFIG, pointing at the fake API server.

It does NOT model: drivers, VMs, downloads, addons, `--extra-config` effects (recorded only), multi-node
profiles, paused clusters, or any output besides the fields above.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

SCRIPT = r"""#!{python}
import json, os, sys, urllib.parse, urllib.request
from pathlib import Path
import yaml

state_path = Path(os.environ["FAKE_MINIKUBE_STATE"])
state = json.loads(state_path.read_text())
argv = sys.argv[1:]
with open(os.environ["FAKE_MINIKUBE_LOG"], "a") as log:
    log.write(json.dumps(argv) + "\n")
profile = "minikube"
if "-p" in argv:
    profile = argv[argv.index("-p") + 1]
flags = dict(a[2:].split("=", 1) for a in argv if a.startswith("--") and "=" in a)
words = [a for i, a in enumerate(argv) if not a.startswith("-") and (i == 0 or argv[i - 1] not in ("-p", "-o"))]
if state.get("api_server"):
    # One timeline with the fake API server's requests, so tests can assert the order of steps.
    what = urllib.parse.quote("minikube " + " ".join(words[:2] if words[:1] == ["profile"] else words[:1]))
    try:
        urllib.request.urlopen(state["api_server"] + "/_fake/mark?what=" + what, timeout=5).read()
    except OSError:
        pass
profiles = state.setdefault("profiles", {})

def save():
    state_path.write_text(json.dumps(state))

def profile_json(name, p):
    return {
        "Name": name,
        "Status": p["status"],
        "Config": {
            "Name": name, "Driver": p.get("driver", "docker"), "Memory": p.get("memory", 8192),
            "CPUs": p.get("cpus", 2),
            "KubernetesConfig": {"KubernetesVersion": p["version"], "ClusterName": name,
                                 "ContainerRuntime": "docker", "NetworkPlugin": "cni"},
            "Nodes": [{"Name": "", "IP": "192.168.49.2", "Port": 8443, "KubernetesVersion": p["version"],
                       "ContainerRuntime": "docker", "ControlPlane": True, "Worker": True}],
        },
        "Active": name == "minikube",
        "ActiveKubeContext": True,
    }

def kubeconfig(add):
    path = Path(os.environ["KUBECONFIG"])
    config = yaml.safe_load(path.read_text()) if path.exists() else {}
    config = config or {"apiVersion": "v1", "kind": "Config"}
    for section in ("clusters", "users", "contexts"):
        config[section] = [e for e in config.get(section) or [] if e["name"] != profile]
    if add:
        config["clusters"].append({"name": profile, "cluster": {"server": state["api_server"]}})
        config["users"].append({"name": profile, "user": {"token": state["token"]}})
        config["contexts"].append({"name": profile, "context": {"cluster": profile, "user": profile,
                                                                "namespace": "default"}})
        config["current-context"] = profile
    path.write_text(yaml.safe_dump(config))

if words[:2] == ["profile", "list"]:
    print(json.dumps({"invalid": [], "valid": [profile_json(n, p) for n, p in sorted(profiles.items())]},
                     separators=(",", ":")))
    sys.exit(0)
if words[:1] == ["status"]:
    p = profiles.get(profile)
    if p is None:
        print(f'\U0001f937  Profile "{profile}" not found. Run "minikube profile list" to view all profiles.')
        print(f'\U0001f449  To start a cluster, run: "minikube start -p {profile}"')
        sys.exit(85)
    running = p["status"] in ("OK", "Running")
    s = "Running" if running else "Stopped"
    print(json.dumps({"Name": profile, "Host": s, "Kubelet": s, "APIServer": s,
                      "Kubeconfig": "Configured" if running else "Stopped", "Worker": False},
                     separators=(",", ":")))
    sys.exit(0 if running else 7)
if words[:1] == ["start"]:
    if state.get("fail_start"):
        print("\u274c  Exiting due to " + state["fail_start"], file=sys.stderr)
        sys.exit(80)
    old = profiles.get(profile, {})
    version = flags.get("kubernetes-version", old.get("version", "v1.35.0"))
    profiles[profile] = {"status": "OK", "version": version, "driver": flags.get("driver", "docker"),
                         "memory": int(flags.get("memory", 8192)), "cpus": int(flags.get("cpus", 2))}
    save()
    kubeconfig(True)
    print(f'\U0001f604  [{profile}] minikube v1.38.1 on Debian 12')
    print(f'\U0001f3c4  Done! kubectl is now configured to use "{profile}" cluster and "default" namespace by default')
    sys.exit(0)
if words[:1] == ["stop"]:
    if profile in profiles:
        profiles[profile]["status"] = "Stopped"
        save()
    print(f'\u270b  Stopping node "{profile}"  ...')
    print("\U0001f6d1  1 node stopped.")
    sys.exit(0)
if words[:1] == ["delete"]:
    profiles.pop(profile, None)
    save()
    kubeconfig(False)
    print(f'\U0001f525  Deleting "{profile}" in docker ...')
    print(f'\U0001f480  Removed all traces of the "{profile}" cluster.')
    sys.exit(0)
print("Error: unknown command " + " ".join(argv), file=sys.stderr)
sys.exit(64)
"""


@dataclass
class FakeMinikube:
    bin_dir: Path
    state_path: Path
    log_path: Path

    def set_profile(self, name: str, *, status: str = "OK", version: str = "v1.35.0", **extra: Any) -> None:
        state = self.state
        state.setdefault("profiles", {})[name] = {"status": status, "version": version, **extra}
        self.state_path.write_text(json.dumps(state))

    def configure(self, **values: Any) -> None:
        state = self.state
        state.update(values)
        self.state_path.write_text(json.dumps(state))

    @property
    def state(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.state_path.read_text())
        return data

    @property
    def calls(self) -> list[list[str]]:
        if not self.log_path.exists():
            return []
        return [json.loads(line) for line in self.log_path.read_text().splitlines()]


@pytest.fixture
def fake_minikube(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeMinikube:
    """`minikube` on PATH (first), with MINIKUBE_HOME in tmp_path; no profile exists yet."""
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    script = bin_dir / "minikube"
    script.write_text(SCRIPT.replace("{python}", sys.executable))
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    fake = FakeMinikube(bin_dir, tmp_path / "minikube-state.json", tmp_path / "minikube-calls.jsonl")
    fake.state_path.write_text(json.dumps({"profiles": {}}))
    monkeypatch.setenv("FAKE_MINIKUBE_STATE", str(fake.state_path))
    monkeypatch.setenv("FAKE_MINIKUBE_LOG", str(fake.log_path))
    monkeypatch.setenv("MINIKUBE_HOME", str(tmp_path / "minikube-home"))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    return fake
