"""A FAKE `minikube` executable on PATH that records its arguments and answers like the real one.

The fixture writes a small Python script named `minikube` into a temporary bin directory, first on PATH,
and keeps the cluster's state in a JSON file (profiles, the images each node's runtime holds, minikube's
image cache). Every invocation appends its arguments to a calls file, so tests assert exactly what
platformctl ran. Answers follow minikube's source:
- `status -o json` (cmd/minikube/cmd/status.go): one JSON object per node, exit code a bitmask (1 host,
  2 cluster, 4 kubeconfig not OK: 7 when stopped), or exit 85 with a message for a missing profile;
- `profile list -o json` (cmd/minikube/cmd/config/profile_list.go): `{"invalid": [...], "valid": [...]}`
  of `config.Profile` (Name, Status, Config{Driver, Memory, CPUs, KubernetesConfig{KubernetesVersion,
  ContainerRuntime}, Nodes});
- `start` records the profile as running and, like minikube, writes a kube context named after the
  profile into $KUBECONFIG, pointing at the API server the test configured (`cluster`, `user`: the real
  control plane's address and CA and a client certificate, what minikube itself writes); `stop`, `delete`;
- `image ls --format json` ([{"id", "repoDigests", "repoTags", "size"}] with fully qualified names),
  `image load`, `cache list` (one image per line, as given to `cache add`), `cache add` (also loads into
  every running node), `docker-env --shell none` (KEY=VALUE lines; exit 14 on a non-Docker runtime).

It does NOT model: drivers, VMs, downloads, pulling or image content (`cache add`/`image load` only record
the name and never fail unless a test asks), digests, addons, `--extra-config` effects (recorded only),
multi-node profiles, paused clusters, `--format` templates, logs, timing, and any flag it does not parse.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

SCRIPT = r"""#!{python}
import fcntl, hashlib, json, os, sys, time
from pathlib import Path
import yaml

state_path = Path(os.environ["FAKE_MINIKUBE_STATE"])
# Concurrent invocations (platformctl caches images from several threads) take turns on the state file.
lock = open(str(state_path) + ".lock", "w")
fcntl.flock(lock, fcntl.LOCK_EX)
state = json.loads(state_path.read_text())
argv = sys.argv[1:]
with open(os.environ["FAKE_MINIKUBE_LOG"], "a") as log:
    log.write(json.dumps(argv) + "\n")
with open(os.environ["FAKE_MINIKUBE_LOG"] + ".times", "a") as log:
    log.write(json.dumps([time.time(), argv]) + "\n")
profile = "minikube"
if "-p" in argv:
    profile = argv[argv.index("-p") + 1]
flags = dict(a[2:].split("=", 1) for a in argv if a.startswith("--") and "=" in a)
words = [a for i, a in enumerate(argv) if not a.startswith("-") and (i == 0 or argv[i - 1] not in ("-p", "-o"))]
profiles = state.setdefault("profiles", {})
node = state.setdefault("node", {})
cache = state.setdefault("cache", [])

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
                                 "ContainerRuntime": p.get("runtime", "docker"), "NetworkPlugin": "cni"},
            "Nodes": [{"Name": "", "IP": "192.168.49.2", "Port": 8443, "KubernetesVersion": p["version"],
                       "ContainerRuntime": p.get("runtime", "docker"), "ControlPlane": True, "Worker": True}],
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
        # What a test configured (the real control plane's address, CA and a client certificate), else
        # where minikube's own cluster would be: a context nothing answers on.
        cluster = state.get("cluster") or {"server": "https://192.168.49.2:8443"}
        user = state.get("user") or {"token": "minikube"}
        config["clusters"].append({"name": profile, "cluster": cluster})
        config["users"].append({"name": profile, "user": user})
        config["contexts"].append({"name": profile, "context": {"cluster": profile, "user": profile,
                                                                "namespace": "default"}})
        config["current-context"] = profile
    path.write_text(yaml.safe_dump(config))

def qualified(ref):
    # What container runtimes print: registry and (for Docker Hub) library/ spelled out.
    name = ref.split("@")[0]
    first = name.split("/")[0]
    if "/" in name and ("." in first or ":" in first or first == "localhost"):
        return ref
    if "/" not in name:
        ref = "library/" + ref
    return "docker.io/" + ref

def running():
    p = profiles.get(profile)
    if p is None or p["status"] != "OK":
        sys.stderr.write('\n\U0001f937  The control-plane node %s host is not running: state=Stopped\n'
                         '\U0001f449  To start a cluster, run: "minikube start -p %s"\n' % (profile, profile))
        return False
    return True

failure = state.get("fail", {}).get(" ".join(a for i, a in enumerate(argv)
                                            if a != "-p" and (i == 0 or argv[i - 1] != "-p")))
if failure:
    sys.stderr.write(failure + "\n")
    sys.exit(1)
if words[:2] == ["image", "ls"]:
    if not running():
        sys.exit(80)
    out = []
    for ref in node.get(profile, []):
        q = qualified(ref)
        out.append({"id": hashlib.sha256(q.encode()).hexdigest(), "repoDigests": [], "repoTags": [q],
                    "size": "123456789"})
    print(json.dumps(out))
    sys.exit(0)
if words[:2] == ["image", "load"]:
    if not running():
        sys.exit(80)
    node.setdefault(profile, []).append(words[2])
    save()
    sys.exit(0)
if words[:2] == ["cache", "list"]:
    for ref in cache:
        print(ref)
    sys.exit(0)
if words[:2] == ["cache", "add"]:
    cache.append(words[2])
    # minikube loads a newly cached image into every running profile's node.
    for name, p in profiles.items():
        if p["status"] == "OK" and words[2] not in node.setdefault(name, []):
            node[name].append(words[2])
    save()
    sys.exit(0)
if words[:1] == ["docker-env"]:
    if not running():
        sys.exit(80)
    runtime = profiles[profile].get("runtime", "docker")
    if runtime != "docker":
        sys.stderr.write('X Exiting due to MK_USAGE: The docker-env command is only compatible with the '
                         '"docker" runtime, but this cluster was configured to use the "%s" runtime.\n' % runtime)
        sys.exit(14)
    print("DOCKER_TLS_VERIFY=1\nDOCKER_HOST=tcp://127.0.0.1:32772\n"
          "DOCKER_CERT_PATH=/home/dev/.minikube/certs\nMINIKUBE_ACTIVE_DOCKERD=%s" % profile)
    sys.exit(0)
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

    def set_profile(self, name: str = "minikube", **fields: Any) -> None:
        """Create the profile (running Docker, v1.35.0) or change the given fields of an existing one."""
        with self.edit() as state:
            profile = state.setdefault("profiles", {}).setdefault(
                name, {"status": "OK", "version": "v1.35.0", "driver": "docker", "runtime": "docker"}
            )
            profile.update(fields)

    @contextmanager
    def edit(self) -> Iterator[dict[str, Any]]:
        """Change the state under the same lock the fake executable takes."""
        import fcntl

        with open(f"{self.state_path}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            state = self.state
            yield state
            self.state_path.write_text(json.dumps(state))

    def mutations(self) -> list[list[str]]:
        """Calls that change a node or the cache."""
        return [c for c in self.calls if c[:2] in (["cache", "add"], ["image", "load"])]

    def node(self, profile: str = "minikube") -> list[str]:
        return list(self.state.get("node", {}).get(profile, []))

    def fail(self, command: str, stderr: str) -> None:
        """Make `minikube COMMAND` (exact argv joined by spaces, without -p) fail with this stderr."""
        with self.edit() as state:
            state.setdefault("fail", {})[command] = stderr

    def configure(self, **values: Any) -> None:
        state = self.state
        state.update(values)
        self.state_path.write_text(json.dumps(state))

    @property
    def state(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.state_path.read_text())
        return data

    @property
    def timed_calls(self) -> list[tuple[float, list[str]]]:
        """(wall-clock time, argv) of every call, to order them against the API server's audit log."""
        path = Path(f"{self.log_path}.times")
        if not path.exists():
            return []
        return [(float(t), argv) for t, argv in map(json.loads, path.read_text().splitlines())]

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
    fake.state_path.write_text(json.dumps({"profiles": {}, "node": {}, "cache": []}))
    monkeypatch.setenv("FAKE_MINIKUBE_STATE", str(fake.state_path))
    monkeypatch.setenv("FAKE_MINIKUBE_LOG", str(fake.log_path))
    monkeypatch.setenv("MINIKUBE_HOME", str(tmp_path / "minikube-home"))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    return fake


# The images the default render pins, as a user would read them: an expectation written by hand, so a
# changed pin in settings.py shows up as a failing test rather than passing silently.
PLATFORM_IMAGES = [
    "apache/kafka:4.2.2",
    "confluentinc/cp-schema-registry:8.2.4",
    "kafbat/kafka-ui:v1.4.2",
    "gcr.io/etcd-development/etcd:v3.6.16",
    "fluent/fluentd:v1.19.3-debian-2.4",
]

SYSTEM_IMAGES = [
    "registry.k8s.io/kube-apiserver:v1.35.0",
    "registry.k8s.io/pause:3.10",
    "registry.k8s.io/coredns/coredns:v1.12.1",
    "gcr.io/k8s-minikube/storage-provisioner:v5",
]


@pytest.fixture
def running_minikube(fake_minikube: FakeMinikube) -> FakeMinikube:
    """The fake with a running Docker-runtime `minikube` profile whose node holds only system images."""
    fake_minikube.set_profile("minikube")
    with fake_minikube.edit() as state:
        state["node"]["minikube"] = list(SYSTEM_IMAGES)
    return fake_minikube
