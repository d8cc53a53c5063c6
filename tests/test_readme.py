"""The README's examples run as written: every `platformctl` line of its code blocks that needs no Kubernetes
cluster is run, in README order, by the shell it is written for, and must succeed.

What stands in for the user's world: Apache Kafka 4.2 of this test's own (tests/plugins/kafka.py) as
PLATFORMCTL_BOOTSTRAP_SERVER and a private etcd 3.6 (tests/plugins/etcd.py) as PLATFORMCTL_ETCD_ENDPOINT,
which is what a running platform's port-forwards give; a working directory holding the repository's
examples/; PLATFORMCTL_YES=1 for the answers a person would type. Lines that need a Kubernetes cluster
(`up`, `down`, `status`, `port-forward`, `images cache`) are skipped; for a skipped `up`, its one step that
the examples after it rely on, seeding the environment's one-broker topic-defaults, is run instead
(`platformctl overrides seed`, which `up` runs). Lines that are not platformctl's (`bash .ci/run`,
`bench/run`) are not examples of the command.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.plugins.etcd import EtcdServer
from tests.plugins.kafka import KafkaCluster

ROOT = Path(__file__).resolve().parent.parent
NEEDS_CLUSTER = ("up", "down", "status", "port-forward", "images cache")
_COMMAND = re.compile(r"^(?:source <\()?platformctl(?=\s|$)")


def examples() -> list[tuple[int, str]]:
    """(line, command) for every platformctl line of the README's code blocks, comments removed."""
    found: list[tuple[int, str]] = []
    fenced = False
    for number, line in enumerate((ROOT / "README.md").read_text().splitlines(), start=1):
        if line.startswith("```"):
            fenced = not fenced
            continue
        text = line.strip()
        if (fenced or line.startswith("    ")) and _COMMAND.match(text):
            found.append((number, re.sub(r"\s+#.*$", "", text)))
    return found


def _verb(command: str) -> str:
    words = [w for w in re.sub(r"^source <\(", "", command).split()[1:] if not w.startswith("-")]
    return " ".join(words[:2])


def needs_cluster(command: str) -> bool:
    verb = _verb(command)
    return any(verb == v or verb.startswith(f"{v} ") for v in NEEDS_CLUSTER)


def test_the_readme_has_examples_of_each_kind() -> None:
    found = [c for _, c in examples()]
    assert any(needs_cluster(c) for c in found) and len([c for c in found if not needs_cluster(c)]) >= 10
    assert "platformctl topics apply examples/twitter-topic.conf" in found


def shell_for(command: str) -> list[str]:
    if "completion zsh" in command:
        if shutil.which("zsh") is None:
            pytest.skip("zsh is not installed here (apt-get install zsh)")
        return ["zsh", "-f", "-c", f"autoload -Uz compinit && compinit -u && {command}"]  # "after compinit"
    if "| source" in command:
        if shutil.which("fish") is None:
            pytest.skip("fish is not installed here (apt-get install fish)")
        return ["fish", "--no-config", "-c", command]
    return ["bash", "-c", f"set -o pipefail; {command}"]


@pytest.mark.kafka_real
def test_the_readme_examples_that_need_no_cluster_run_as_written(own_kafka: KafkaCluster, tmp_path: Path) -> None:
    etcd = EtcdServer(data_dir=tmp_path / "etcd" / "data")
    etcd.data_dir.mkdir(parents=True)
    etcd.start()
    work = tmp_path / "work"
    shutil.copytree(ROOT / "examples", work / "examples")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLATFORMCTL_")}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        HOME=str(tmp_path),
        KUBECONFIG=str(tmp_path / "no-kubeconfig"),
        PLATFORMCTL_BOOTSTRAP_SERVER=own_kafka.bootstrap,
        PLATFORMCTL_ETCD_ENDPOINT=etcd.endpoint,
        PLATFORMCTL_YES="1",
    )
    ran: list[str] = []
    try:
        for number, command in examples():
            if needs_cluster(command):
                if _verb(command) == "up":
                    command = "platformctl overrides seed"  # the step of `up` the later examples rely on
                else:
                    continue
            done = subprocess.run(shell_for(command), cwd=work, env=env, capture_output=True, text=True,
                                  timeout=300, check=False)  # fmt: skip
            assert done.returncode == 0, f"README.md:{number}: {command}\n{done.stdout}\n{done.stderr}"
            assert "Traceback" not in done.stderr, f"README.md:{number}: {command}\n{done.stderr}"
            ran.append(command)
    finally:
        etcd.stop()
    assert "platformctl topics apply examples/twitter-topic.conf" in ran
    assert (work / "dev.yaml").read_text().startswith("# platformctl overrides of environment 'dev'")
