"""`platformctl up --context NAME` against the fake API server: guard, apply, idempotence, waits, errors."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from platformctl import drift, kube, kubesync, lifecycle
from tests.conftest import RunCli
from tests.plugins.fake_kube import FakeKube

pytestmark = pytest.mark.fake_k8s

SELECTOR = "app.kubernetes.io/managed-by=platformctl,app.kubernetes.io/instance=dev"


def error_line(err: str) -> str:
    """The one error line (progress lines may precede it on stderr; a hint may follow)."""
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]


def up(run_cli: RunCli, *args: str) -> tuple[int, str, str]:
    result = run_cli("--context", "lab", "up", *args)
    return result.exit_code, result.stdout, result.stderr


# --- the target guard ---------------------------------------------------------------------------


def test_a_context_missing_from_kubeconfig_is_refused_before_any_request(
    run_cli: RunCli, fake_kube: FakeKube, kubeconfig: Path
) -> None:
    result = run_cli("--context", "prod", "up", "--no-wait")
    assert result.exit_code == 2
    assert "kube context 'prod' not found" in result.stderr
    assert "current context is 'lab', which platformctl never uses implicitly" in result.stderr
    assert fake_kube.requests == []


def test_minikube_mode_never_falls_back_to_the_current_context(
    run_cli: RunCli, fake_kube: FakeKube, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_minikube: object
) -> None:
    # minikube says its profile runs, but kubeconfig only knows `work` (current): nothing may reach it.
    from tests.plugins.fake_minikube import FakeMinikube

    assert isinstance(fake_minikube, FakeMinikube)
    fake_minikube.set_profile("minikube", status="OK", version="v1.35.0")
    path = fake_kube.kubeconfig(tmp_path / "kc", {"work": None}, current="work")
    monkeypatch.setenv("KUBECONFIG", str(path))
    result = run_cli("up", "--no-wait")
    assert result.exit_code == 2, result.stderr
    assert "minikube.profile: kube context 'minikube' not found" in result.stderr
    assert fake_kube.requests == []


# --- apply and idempotence ----------------------------------------------------------------------


def test_first_up_creates_everything_with_server_side_apply(
    run_cli: RunCli, fake_kube: FakeKube, kubeconfig: Path
) -> None:
    code, out, err = up(run_cli, "--no-wait")
    assert code == 0, err
    patches = [r for r in fake_kube.requests if r.method == "PATCH"]
    assert [r.body["kind"] for r in patches][:6] == [
        "Namespace",
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    ]
    assert len(patches) == 17
    assert all(r.content_type == "application/apply-patch+yaml" for r in patches)
    assert all(r.query == {"fieldManager": "platformctl"} for r in patches), "force only when asked"
    ns = fake_kube.get("Namespace", None, "dev")
    assert ns is not None and ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert "created (" in out
    # Every suggestion carries the context this run was given, and names a file that exists.
    example = Path(__file__).resolve().parent.parent / "examples" / "twitter-topic.conf"
    assert out.endswith(
        "next:\n"
        "  platformctl --context lab status\n"
        "  platformctl --context lab overrides seed   # once etcd is ready\n"
        "  platformctl --context lab port-forward kafka   # then localhost:9092 for Kafka clients\n"
        "  platformctl --context lab port-forward kafka-ui   # then http://127.0.0.1:8080\n"
        f"  platformctl --context lab topics apply {example}\n"
    )


def test_second_up_sends_no_write_and_changes_no_resource_version(
    run_cli: RunCli, fake_kube: FakeKube, kubeconfig: Path
) -> None:
    assert up(run_cli, "--no-wait")[0] == 0
    before = fake_kube.resource_versions()
    seen = len(fake_kube.requests)
    code, out, err = up(run_cli, "--no-wait")
    assert code == 0, err
    second = fake_kube.requests[seen:]
    assert [r for r in second if r.method != "GET"] == [], "not even a dry-run"
    assert fake_kube.resource_versions() == before
    assert "created" not in out and "updated" not in out and out.count("unchanged") == 8
    # Batched reads: one LIST per kind plus /version, not one GET per object.
    assert len(second) <= 1 + len(kube.KINDS)


def test_a_changed_setting_writes_only_the_objects_it_changes(
    run_cli: RunCli, fake_kube: FakeKube, kubeconfig: Path, tmp_path: Path
) -> None:
    assert up(run_cli, "--no-wait")[0] == 0
    before = fake_kube.resource_versions()
    seen = len(fake_kube.requests)
    config = tmp_path / "platformctl.yaml"
    config.write_text("kafka-ui:\n  image: kafbat/kafka-ui:v1.4.1\n")
    result = run_cli("--config", str(config), "--context", "lab", "up", "--no-wait")
    assert result.exit_code == 0, result.stderr
    writes = [r for r in fake_kube.requests[seen:] if r.is_write]
    assert [(r.method, r.path) for r in writes] == [("PATCH", "/apis/apps/v1/namespaces/dev/deployments/kafka-ui")]
    after = fake_kube.resource_versions()
    changed = [key for key in after if after[key] != before.get(key)]
    assert changed == [("deployments", "dev", "kafka-ui")]
    assert "kafka-ui        │ updated" in result.stdout


def test_a_quantity_the_server_normalises_is_not_a_difference(
    run_cli: RunCli, fake_kube: FakeKube, kubeconfig: Path, tmp_path: Path
) -> None:
    # `1000m` is stored as `1`: quantities compare by value, so the re-run writes nothing.
    config = tmp_path / "platformctl.yaml"
    config.write_text(
        "kafka-ui:\n  resources:\n    requests: {cpu: 100m, memory: 384Mi}\n    limits: {cpu: 1000m, memory: 768Mi}\n"
    )
    args = ("--config", str(config), "--context", "lab", "up", "--no-wait")
    assert run_cli(*args).exit_code == 0
    live = fake_kube.get("Deployment", "dev", "kafka-ui")
    assert live is not None
    assert live["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] == "1"
    seen = len(fake_kube.requests)
    assert run_cli(*args).exit_code == 0
    assert fake_kube.writes[-1] in fake_kube.requests[:seen], "no write on the re-run"


def test_when_the_local_check_is_unsure_the_dry_run_decides_and_nothing_is_written(
    run_cli: RunCli, fake_kube: FakeKube, kubeconfig: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A real server normalises fields the local comparison does not model; whatever it flags, the
    # server's dry-run answer is what decides, and an unchanged answer means no write.
    assert up(run_cli, "--no-wait")[0] == 0
    before = fake_kube.resource_versions()
    seen = len(fake_kube.requests)
    monkeypatch.setattr(drift, "drift", lambda desired, live, manager="platformctl": ["unsure"])
    assert up(run_cli, "--no-wait")[0] == 0
    rerun = fake_kube.requests[seen:]
    dry_runs = [r for r in rerun if r.method == "PATCH" and r.query.get("dryRun") == "All"]
    assert len(dry_runs) == 17  # one per rendered object
    assert [r for r in rerun if r.is_write] == []
    assert fake_kube.resource_versions() == before


def test_pod_security_warnings_from_the_api_server_are_shown(
    run_cli: RunCli, fake_kube: FakeKube, kubeconfig: Path
) -> None:
    fake_kube.warnings["StatefulSet"] = ['would violate PodSecurity "restricted:v1.36": runAsNonRoot != true']
    code, _, err = up(run_cli, "--no-wait")
    assert code == 0
    assert 'StatefulSet dev/kafka: would violate PodSecurity "restricted:v1.36"' in " ".join(err.split())


def test_a_conflict_with_another_field_manager_is_one_line_and_force_conflicts_takes_it_back(
    run_cli: RunCli, fake_kube: FakeKube, kubeconfig: Path
) -> None:
    assert up(run_cli, "--no-wait")[0] == 0
    fake_kube.edit(
        "Deployment", "dev", "fluentd", "kubectl-edit", ["metadata", "labels", "app.kubernetes.io/part-of"], "x"
    )
    code, _, err = up(run_cli, "--no-wait")
    assert code == 1
    assert error_line(err).startswith(
        "error: conflict while checking Deployment dev/fluentd: Apply failed with 1 conflict"
    )
    assert "--force-conflicts" in err and "Traceback" not in err
    code, _, err = up(run_cli, "--no-wait", "--force-conflicts")
    assert code == 0, err
    live = fake_kube.get("Deployment", "dev", "fluentd")
    assert live is not None and live["metadata"]["labels"]["app.kubernetes.io/part-of"] == "platformctl"


def test_psp_era_server_gets_a_pod_security_policy_instead_of_labels(
    run_cli: RunCli, fake_kube: FakeKube, kubeconfig: Path
) -> None:
    fake_kube.version = "v1.24.17"
    code, _, err = up(run_cli, "--no-wait")
    assert code == 0, err
    assert fake_kube.get("PodSecurityPolicy", None, "platformctl-dev-restricted") is not None
    assert fake_kube.get("ClusterRole", None, "platformctl-dev-psp") is not None
    ns = fake_kube.get("Namespace", None, "dev")
    assert ns is not None and "pod-security.kubernetes.io/enforce" not in ns["metadata"]["labels"]


# --- waiting and diagnosis ----------------------------------------------------------------------


def test_up_waits_until_ready_and_says_so(run_cli: RunCli, fake_kube: FakeKube, kubeconfig: Path) -> None:
    fake_kube.auto_ready = True
    code, out, err = up(run_cli)
    assert code == 0, err
    assert "kafka: 1/1 ready" in err  # plain progress lines off a terminal
    assert out.count("│ ready") == 5


def _seed_after_apply(run_cli: RunCli) -> None:
    assert run_cli("--context", "lab", "up", "--no-wait").exit_code == 0


def test_pod_security_rejection_fails_fast_with_the_reason(
    run_cli: RunCli, fake_kube: FakeKube, kubeconfig: Path
) -> None:
    _seed_after_apply(run_cli)
    sts = fake_kube.get("StatefulSet", "dev", "kafka")
    assert sts is not None
    fake_kube.put(
        {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": "kafka.1", "namespace": "dev"},
            "reason": "FailedCreate",
            "type": "Warning",
            "involvedObject": {"kind": "StatefulSet", "name": "kafka", "uid": sts["metadata"]["uid"]},
            "message": 'create Pod kafka-0 in StatefulSet kafka failed error: pods "kafka-0" is forbidden: '
            'violates PodSecurity "restricted:v1.36": runAsNonRoot != true',
        }
    )
    code, _, err = up(run_cli, "--timeout", "600")
    assert code == 1
    assert error_line(err).startswith("error: kafka: pods refused: create Pod kafka-0")
    assert "violates PodSecurity" in err


def _pod(name: str, component: str, **status: object) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "dev",
            "labels": {
                "app.kubernetes.io/name": component,
                "app.kubernetes.io/instance": "dev",
                "app.kubernetes.io/managed-by": "platformctl",
                "app.kubernetes.io/part-of": "platformctl",
            },
        },
        "status": status,
    }


def test_crash_loop_shows_the_last_log_lines(run_cli: RunCli, fake_kube: FakeKube, kubeconfig: Path) -> None:
    _seed_after_apply(run_cli)
    fake_kube.put(
        _pod(
            "etcd-0",
            "etcd",
            containerStatuses=[
                {
                    "name": "etcd",
                    "image": "gcr.io/etcd-development/etcd:v3.6.8",
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                    "lastState": {"terminated": {"exitCode": 1}},
                }
            ],
        )
    )
    fake_kube.logs[("dev", "etcd-0")] = 'starting\n{"level":"fatal","msg":"cannot access data directory"}\n'
    code, _, err = up(run_cli)
    assert code == 1
    assert "etcd: container 'etcd' keeps crashing (exit code 1, CrashLoopBackOff)" in err
    assert "cannot access data directory" in err
    log_reads = [r for r in fake_kube.requests if r.path.endswith("/pods/etcd-0/log")]
    assert log_reads and log_reads[0].query["previous"] == "true"


def test_image_pull_failure_fails_fast(run_cli: RunCli, fake_kube: FakeKube, kubeconfig: Path) -> None:
    _seed_after_apply(run_cli)
    fake_kube.put(
        _pod(
            "fluentd-abc",
            "fluentd",
            containerStatuses=[
                {"name": "fluentd", "image": "fluent/fluentd:v9", "state": {"waiting": {"reason": "ErrImagePull"}}}
            ],
        )
    )
    code, _, err = up(run_cli)
    assert code == 1
    assert "fluentd: image 'fluent/fluentd:v9' cannot be pulled (ErrImagePull)" in err


def test_unschedulable_pods_fail_after_the_grace_period(
    run_cli: RunCli, fake_kube: FakeKube, kubeconfig: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kubesync, "UNSCHEDULABLE_GRACE", 0.0)
    _seed_after_apply(run_cli)
    conditions = [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/1 nodes are available"}
    ]
    fake_kube.put(_pod("kafka-0", "kafka", conditions=conditions))
    code, _, err = up(run_cli)
    assert code == 1
    assert "kafka: pod cannot be scheduled: 0/1 nodes are available" in err
    assert "minikube.memory" in err


def test_timeout_is_one_line_naming_what_is_not_ready(run_cli: RunCli, fake_kube: FakeKube, kubeconfig: Path) -> None:
    code, _, err = up(run_cli, "--timeout", "0")
    assert code == 1
    assert error_line(err).startswith("error: timed out after 0s waiting for the platform to be ready (kafka:")
    assert err.strip().splitlines()[-1].startswith("hint:")


# --- API errors: one line, exit 1 ---------------------------------------------------------------


def test_unreachable_api_server(
    run_cli: RunCli, fake_kube: FakeKube, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    path = fake_kube.kubeconfig(tmp_path / "kc", {"lab": None})
    path.write_text(path.read_text().replace(fake_kube.url, f"http://127.0.0.1:{port}"))
    monkeypatch.setenv("KUBECONFIG", str(path))
    code, _, err = up(run_cli, "--no-wait")
    assert code == 1
    assert error_line(err).startswith(
        f"error: cannot reach the API server at http://127.0.0.1:{port} (context 'lab') "
        "while reading the server version"
    )
    assert "Traceback" not in err


def test_bad_credentials(run_cli: RunCli, fake_kube: FakeKube, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(fake_kube.kubeconfig(tmp_path / "kc", {"lab": "expired"})))
    code, _, err = up(run_cli, "--no-wait")
    assert code == 1
    assert "rejected the credentials of context 'lab' (401 Unauthorized) while reading the server version" in err


def test_forbidden_names_the_object(run_cli: RunCli, fake_kube: FakeKube, kubeconfig: Path) -> None:
    fake_kube.forbid.add(("patch", "statefulsets"))
    code, _, err = up(run_cli, "--no-wait")
    assert code == 1
    assert error_line(err) == (
        'error: forbidden while applying StatefulSet dev/kafka: statefulsets.apps "kafka" is forbidden: '
        'User "dev" cannot patch resource "statefulsets" in API group "apps" in the namespace "dev"'
    )


def test_a_hung_api_server_times_out(
    run_cli: RunCli, fake_kube: FakeKube, kubeconfig: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kube, "REQUEST_TIMEOUT", (1.0, 0.2))
    fake_kube.hang.add("/apis/apps/v1/namespaces/dev/statefulsets/")
    code, _, err = up(run_cli, "--no-wait")
    assert code == 1
    assert "did not answer in time while applying StatefulSet dev/kafka" in err


def test_up_steps_are_in_order() -> None:
    assert [s.name for s in lifecycle.UP_STEPS] == [
        "minikube",
        "target",
        "images",
        "version",
        "render",
        "apply",
        "wait",
        "seed",
        "summary",
    ]
    assert lifecycle.index("apply") == 5


def test_an_existing_namespace_platformctl_did_not_create_is_refused_not_adopted(
    run_cli: RunCli, fake_kube: FakeKube, kubeconfig: Path
) -> None:
    # Labelling it would hand it to `down`, which deletes the namespace with everything in it.
    fake_kube.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}})
    result = run_cli("--context", "lab", "--namespace", "team", "up", "--no-wait")
    code, err = result.exit_code, result.stderr
    assert code == 2
    assert error_line(err) == (
        "error: --namespace: namespace 'team' already exists and was not created by platformctl (it lacks the "
        "labels app.kubernetes.io/managed-by=platformctl,app.kubernetes.io/instance=team); `platformctl down` "
        "would delete it with everything in it"
    )
    assert fake_kube.writes == []
