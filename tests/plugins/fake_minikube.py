"""A FAKE `minikube` executable on PATH, for the commands no real minikube can run here.

`fake_minikube` writes a small Python script named `minikube` into a temporary bin directory, puts it first
on PATH, and keeps the cluster's state in a JSON file: profiles (status, driver, container runtime), the
images each node's runtime holds, and minikube's image cache. Every invocation appends its arguments to a
calls file so tests can assert exactly what platformctl ran. Output formats follow minikube's own:
`profile list -o json` ({"invalid": [], "valid": [config.Profile]}), `image ls --format json`
([{"id", "repoDigests", "repoTags", "size"}] with fully qualified names), `cache list` (one image per line,
as given to `cache add`), `docker-env --shell none` (KEY=VALUE lines), and the exit-14 refusal of
`docker-env` on a non-Docker runtime.

What it does NOT model: pulling (`cache add` / `image load` just record the name; they never fail unless
a test asks), image content, digests, multiple nodes, `--format` templates, minikube's logs and timing,
locking of ~/.minikube beyond a file lock on the state file, and every flag it does not parse.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

SYSTEM_IMAGES = [
    "registry.k8s.io/kube-apiserver:v1.35.0",
    "registry.k8s.io/pause:3.10",
    "registry.k8s.io/coredns/coredns:v1.12.1",
    "gcr.io/k8s-minikube/storage-provisioner:v5",
]

_SCRIPT = r'''#!{python}
"""FAKE minikube for platformctl's tests (see tests/plugins/fake_minikube.py)."""
import fcntl, hashlib, json, sys

STATE = {state!r}
CALLS = {calls!r}


def qualified(ref):
    # What container runtimes print: registry and (for Docker Hub) library/ spelled out.
    name = ref.split("@")[0]
    first = name.split("/")[0]
    if "/" in name and ("." in first or ":" in first or first == "localhost"):
        return ref
    if "/" not in name:
        ref = "library/" + ref
    return "docker.io/" + ref


def main(argv):
    profile = "minikube"
    if "-p" in argv:
        i = argv.index("-p")
        profile = argv[i + 1]
        argv = argv[:i] + argv[i + 2:]
    with open(STATE, "r+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        state = json.load(f)
        with open(CALLS, "a") as calls:
            calls.write(json.dumps(sys.argv[1:]) + "\n")
        code = run(state, argv, profile)
        f.seek(0)
        f.truncate()
        json.dump(state, f)
    return code


def running(state, profile):
    p = state["profiles"].get(profile)
    if p is None or p["status"] != "OK":
        sys.stderr.write('\n🤷  The control-plane node %s host is not running: state=Stopped\n'
                         '👉  To start a cluster, run: "minikube start -p %s"\n' % (profile, profile))
        return False
    return True


def run(state, argv, profile):
    fail = state.get("fail", {{}}).get(" ".join(argv))
    if fail:
        sys.stderr.write(fail + "\n")
        return 1
    if argv[:3] == ["profile", "list", "-o"]:
        valid = []
        for name, p in sorted(state["profiles"].items()):
            valid.append({{
                "Name": name, "Status": p["status"],
                "Config": {{"Name": name, "Driver": p["driver"], "Memory": 8192, "CPUs": 2,
                           "KubernetesConfig": {{"KubernetesVersion": "v1.35.0", "ClusterName": name,
                                                "ContainerRuntime": p["runtime"]}},
                           "Nodes": [{{"Name": "", "IP": "192.168.49.2", "Port": 8443,
                                      "KubernetesVersion": "v1.35.0", "ContainerRuntime": p["runtime"],
                                      "ControlPlane": True, "Worker": True}}]}},
                "Active": False, "ActiveKubeContext": True}})
        if not valid:
            print(json.dumps({{"error": {{"Fatal": False, "Message": "No minikube profile was found."}}}}))
            return 85
        print(json.dumps({{"invalid": [], "valid": valid}}))
        return 0
    if argv[:3] == ["image", "ls", "--format"] and argv[3] == "json":
        if not running(state, profile):
            return 80
        out = []
        for ref in state["node"].get(profile, []):
            q = qualified(ref)
            out.append({{"id": hashlib.sha256(q.encode()).hexdigest(), "repoDigests": [],
                        "repoTags": [q], "size": "123456789"}})
        print(json.dumps(out))
        return 0
    if argv[:2] == ["image", "load"]:
        if not running(state, profile):
            return 80
        state["node"].setdefault(profile, []).append(argv[2])
        return 0
    if argv[:2] == ["cache", "list"]:
        for ref in state["cache"]:
            print(ref)
        return 0
    if argv[:2] == ["cache", "add"]:
        state["cache"].append(argv[2])
        # minikube loads a newly cached image into every running profile's node.
        for name, p in state["profiles"].items():
            if p["status"] == "OK" and argv[2] not in state["node"].setdefault(name, []):
                state["node"][name].append(argv[2])
        return 0
    if argv[:3] == ["docker-env", "--shell", "none"]:
        if not running(state, profile):
            return 80
        runtime = state["profiles"][profile]["runtime"]
        if runtime != "docker":
            sys.stderr.write('X Exiting due to MK_USAGE: The docker-env command is only compatible with the '
                             '"docker" runtime, but this cluster was configured to use the "%s" runtime.\n'
                             % runtime)
            return 14
        print("DOCKER_TLS_VERIFY=1\nDOCKER_HOST=tcp://127.0.0.1:32772\n"
              "DOCKER_CERT_PATH=/home/dev/.minikube/certs\nMINIKUBE_ACTIVE_DOCKERD=%s" % profile)
        return 0
    sys.stderr.write("fake minikube: unsupported command: %s\n" % " ".join(argv))
    return 64


sys.exit(main(sys.argv[1:]))
'''


@dataclass
class FakeMinikube:
    state_file: Path
    calls_file: Path

    @contextmanager
    def edit(self) -> Iterator[dict[str, Any]]:
        state = self.state()
        yield state
        self.state_file.write_text(json.dumps(state))

    def state(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.state_file.read_text())
        return data

    def calls(self) -> list[list[str]]:
        if not self.calls_file.exists():
            return []
        return [json.loads(line) for line in self.calls_file.read_text().splitlines()]

    def mutations(self) -> list[list[str]]:
        """Calls that change the node or the cache."""
        return [c for c in self.calls() if c[:2] in (["cache", "add"], ["image", "load"])]

    def node(self, profile: str = "minikube") -> list[str]:
        return list(self.state()["node"].get(profile, []))

    def set_profile(self, name: str = "minikube", **fields: str) -> None:
        with self.edit() as state:
            state["profiles"].setdefault(name, {"status": "OK", "driver": "docker", "runtime": "docker"})
            state["profiles"][name].update(fields)

    def fail(self, command: str, stderr: str) -> None:
        """Make `minikube COMMAND` (exact argv, joined by spaces, without -p) fail with this stderr."""
        with self.edit() as state:
            state.setdefault("fail", {})[command] = stderr


@pytest.fixture
def fake_minikube(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeMinikube:
    bin_dir = tmp_path / "fake-minikube-bin"
    bin_dir.mkdir()
    state_file = tmp_path / "fake-minikube-state.json"
    calls_file = tmp_path / "fake-minikube-calls.jsonl"
    state_file.write_text(
        json.dumps(
            {
                "profiles": {"minikube": {"status": "OK", "driver": "docker", "runtime": "docker"}},
                "node": {"minikube": list(SYSTEM_IMAGES)},
                "cache": [],
            }
        )
    )
    script = bin_dir / "minikube"
    script.write_text(_SCRIPT.format(python=sys.executable, state=str(state_file), calls=str(calls_file)))
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    return FakeMinikube(state_file, calls_file)
