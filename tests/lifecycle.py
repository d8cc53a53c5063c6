"""Shared by the lifecycle tests on the real control plane: running `up`, reading what it left, errors."""

from __future__ import annotations

from pathlib import Path

from platformctl import kube
from tests.conftest import RunCli
from tests.plugins.kube_real import RealCluster

COMPONENTS = ("kafka", "schema-registry", "kafka-ui", "etcd", "fluentd")
OBJECTS = 17  # what `up` renders for the default settings on 1.36


def error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]


def up(run_cli: RunCli, cluster: RealCluster, *args: str, config: Path | None = None) -> tuple[int, str, str]:
    before = ("--config", str(config)) if config is not None else ()
    result = run_cli(*before, *cluster.args, "up", *args)
    return result.exit_code, result.stdout, result.stderr


def labelled(cluster: RealCluster) -> dict[tuple[str, str | None, str], str]:
    """resourceVersion of every object labelled for the test's platform instance (read as admin)."""
    found = {}
    selector = f"app.kubernetes.io/instance={cluster.namespace}"
    for kind in kube.KINDS:
        if kind.kind == "PodSecurityPolicy":
            continue  # not served since 1.25
        path = kind.path(cluster.namespace if kind.namespaced else None)
        for item in cluster.get(f"{path}?labelSelector={selector}")["items"]:
            meta = item["metadata"]
            found[(kind.kind, meta.get("namespace"), meta["name"])] = meta["resourceVersion"]
    return found


def config_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "platformctl.yaml"
    path.write_text(text)
    return path
