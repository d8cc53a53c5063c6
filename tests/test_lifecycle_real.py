"""`up`, `down` and `status` against the real Kubernetes 1.36 control plane (tests/plugins/kube_real.py).

Pod Security admission enforces `restricted` on the namespace `up` creates, the ValidatingAdmissionPolicy is
real, the workload controllers, the scheduler and kwok move the pods; minikube is never involved (`--context`).
Each test has a namespace of its own on the one control plane of the session.
"""

from __future__ import annotations

import pytest

from tests.conftest import RunCli
from tests.plugins.kube_real import RealCluster

pytestmark = pytest.mark.kube_real

COMPONENTS = ("kafka", "schema-registry", "kafka-ui", "etcd", "fluentd")


def test_up_from_nothing_waits_until_ready_and_summarises(run_cli: RunCli, real_cluster: RealCluster) -> None:
    result = run_cli(*real_cluster.args, "up", "--timeout", "120")
    assert result.exit_code == 0, result.stderr
    for component in COMPONENTS:
        assert f"{component}: 1/1 ready" in result.stderr
    assert result.stdout.count("│ ready") == len(COMPONENTS)
    assert "created (" in result.stdout
