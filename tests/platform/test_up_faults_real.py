"""The API server frozen or killed in the middle of `up`, on the real control plane: one line, exit 1, and a
re-run converges (every object there, then a re-run that writes nothing).

The real kube-apiserver process is stopped (SIGSTOP: connections stay open and nothing answers) or killed
(SIGKILL: connections refused) just before platformctl sends its apply of the kafka StatefulSet, then
resumed or started again on the same port and etcd (tests/plugins/controlplane.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from platformctl.adapters import kube
from tests.conftest import RunCli
from tests.lifecycle import OBJECTS, error_line, labelled, up
from tests.plugins.kube_real import RealCluster

pytestmark = pytest.mark.kube_real


@contextlib.contextmanager
def before_applying(monkeypatch: pytest.MonkeyPatch, kind: str, name: str, fault: Callable[[], None]) -> Iterator[None]:
    """Run `fault` once, just before platformctl's apply of that object is sent."""
    apply = kube.Cluster.apply

    def faulty(self: kube.Cluster, doc: dict[str, Any], **options: Any) -> kube.Response:
        if (doc.get("kind"), doc["metadata"]["name"]) == (kind, name) and not options.get("dry_run"):
            monkeypatch.setattr(kube.Cluster, "apply", apply)
            fault()
        return apply(self, doc, **options)

    monkeypatch.setattr(kube.Cluster, "apply", faulty)
    yield


def converges(run_cli: RunCli, cluster: RealCluster) -> None:
    code, _, err = up(run_cli, cluster, "--timeout", "120")
    assert code == 0, err
    assert len(labelled(cluster)) == OBJECTS
    seen = len(cluster.requests())
    code, _, err = up(run_cli, cluster, "--timeout", "120")
    assert code == 0, err
    assert [e for e in cluster.requests()[seen:] if e.is_write] == []


def test_an_api_server_frozen_mid_apply_is_one_line_and_a_rerun_converges(
    run_cli: RunCli, real_cluster: RealCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    ns, plane = real_cluster.namespace, real_cluster.plane
    monkeypatch.setattr(kube, "REQUEST_TIMEOUT", (2.0, 2.0))
    with (
        contextlib.ExitStack() as frozen,
        before_applying(monkeypatch, "StatefulSet", "kafka", lambda: frozen.enter_context(plane.apiserver_frozen())),
    ):
        code, _, err = up(run_cli, real_cluster, "--no-wait")
    assert code == 1
    assert error_line(err) == (
        f"error: the API server at {plane.server} (context 'lab') did not answer in time while applying "
        f"StatefulSet {ns}/kafka"
    )
    assert "Traceback" not in err and "run the command again (it converges)" in err
    monkeypatch.setattr(kube, "REQUEST_TIMEOUT", (5.0, 30.0))
    converges(run_cli, real_cluster)


def test_an_api_server_killed_mid_apply_is_one_line_and_a_rerun_converges(
    run_cli: RunCli, real_cluster: RealCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    ns, plane = real_cluster.namespace, real_cluster.plane
    try:
        with before_applying(monkeypatch, "StatefulSet", "kafka", plane.kill_apiserver):
            code, _, err = up(run_cli, real_cluster, "--no-wait")
    finally:
        plane.restart_apiserver()
    assert code == 1
    assert error_line(err).startswith(
        f"error: cannot reach the API server at {plane.server} (context 'lab') while applying StatefulSet {ns}/kafka: "
    )
    assert "Traceback" not in err
    converges(run_cli, real_cluster)
