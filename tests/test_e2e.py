"""End-to-end: the real commands against the cluster in $PLATFORMCTL_E2E_KUBECONFIG (opt-in: --with-e2e).

Runs `up --context X --no-wait`, `status`, `up` again (no object's resourceVersion may change) and
`down`, where X is that kubeconfig's current context. Works on a cluster without nodes (pods stay
Pending): it checks what the API server accepted, not what ran.
"""

from __future__ import annotations

import json
import os

import pytest
import yaml

from tests.conftest import E2E_KUBECONFIG, RunCli

pytestmark = pytest.mark.e2e

SELECTOR = "app.kubernetes.io/managed-by=platformctl,app.kubernetes.io/instance=e2e-platformctl"


def _labelled_versions(context: str) -> dict[str, str]:
    """resourceVersion of every labelled object platformctl may create, read with the client directly."""
    from platformctl.adapters import kube, kubeconfig
    from platformctl.platform import kubesync

    cluster = kube.Cluster.connect(kubeconfig.resolve_target(context, origin="e2e"))
    try:
        found = kubesync.find_labelled(cluster, "e2e-platformctl", SELECTOR)
    finally:
        cluster.close()
    return {"/".join(str(p) for p in kube.ref(o)): o["metadata"]["resourceVersion"] for o in found}


def test_up_status_up_down(run_cli: RunCli, monkeypatch: pytest.MonkeyPatch) -> None:
    path = os.environ[E2E_KUBECONFIG]
    monkeypatch.setenv("KUBECONFIG", path)
    with open(path) as f:
        context = yaml.safe_load(f)["current-context"]
    args = ("--context", context, "--namespace", "e2e-platformctl")

    first = run_cli(*args, "up", "--no-wait")
    assert first.exit_code == 0, first.stderr
    before = _labelled_versions(context)
    assert len(before) >= 15

    status = run_cli(*args, "status", "--output", "json")
    assert status.exit_code == 0, status.stderr
    report = json.loads(status.stdout)
    assert report["cluster"]["context"] == context
    assert report["security"]["in_force"] != "none"

    second = run_cli(*args, "up", "--no-wait")
    assert second.exit_code == 0, second.stderr
    assert "created" not in second.stdout and "updated" not in second.stdout
    assert _labelled_versions(context) == before, "a second up must not change any object"

    down = run_cli(*args, "down", "--yes")
    assert down.exit_code == 0, down.stderr
    assert _labelled_versions(context) == {}
