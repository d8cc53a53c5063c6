"""What platformctl prints and writes stays honest when its input is hostile or its reader goes away.

- A config value or key with a newline or a terminal escape (any text passes with --allow-unknown-config)
  is shown escaped in the plan a person confirms: it cannot fake plan lines or drive the terminal.
- Credentials in a URL (a kubeconfig's `server: https://user:pass@host`, an etcd endpoint) never reach the
  screen: errors and `status` show `user:****@`.
- The same for values shown by `overrides set/get/list`, and for every message on stderr (a file name too).
- `platformctl ... | head`: the reader leaving ends the command quietly (exit 1, as Typer's own output does),
  not with "internal error: BrokenPipeError".
- `render --out DIR` replaces or removes only files platformctl wrote (their first line says so), says
  what it removed, and refuses to overwrite anything else.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from platformctl.platform import render
from tests.conftest import RunCli
from tests.plugins.kafka import KafkaCluster

# --- the plan ----------------------------------------------------------------------------------------


def test_control_characters_in_values_and_keys_are_escaped_in_the_plan(
    run_cli: RunCli, kafka: KafkaCluster, tmp_path: Path
) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(
        "topic:\n"
        "  name: escapes\n"
        "  partitions: 1\n"
        "  replication-factor: 1\n"
        "  config:\n"
        '    x.note: "1\\n+ fake-topic\\n    + retention.ms  forever  t.yaml:1\\e[2J"\n'
        '    "x.\\e]0;title\\a": "2"\n'
    )
    result = run_cli(
        "topics", "plan", str(path), "--allow-unknown-config", "--no-overrides", "--show-unchanged",
        "--bootstrap-server", kafka.bootstrap,
    )  # fmt: skip
    # Kafka refuses the unknown keys when asked to validate: the whole plan is shown, then exit 2.
    assert result.exit_code == 2, result.stderr
    assert "\x1b" not in result.stdout + result.stderr and "\x07" not in result.stdout + result.stderr
    lines = result.stdout.splitlines()
    # No line of its own for the text after a newline in the value: it stays on the value's row.
    assert not any(line.lstrip().startswith("+ fake-topic") for line in lines)
    assert not any("forever" in line and "x.note" not in line for line in lines)
    assert r"1\n+ fake-topic\n    + retention.ms  forever  t.yaml:1\x1b[2J" in result.stdout
    assert r"x.\x1b]0;title\x07" in result.stdout


# A value that would fake a line of output and clear the screen if printed raw.
FAKE = "x\n+ fake-topic  retention.ms=1\x1b[2J"
SHOWN = r"x\n+ fake-topic  retention.ms=1\x1b[2J"


def test_overrides_set_get_and_list_show_values_escaped(run_cli: RunCli, etcd_endpoint: str, etcd_env: str) -> None:
    env = {"PLATFORMCTL_ETCD_ENDPOINT": etcd_endpoint}
    result = run_cli(
        "--env", etcd_env, "overrides", "set", "orders", f"vendor.note={FAKE}", "--allow-unknown-config", env=env
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    got = run_cli("--env", etcd_env, "overrides", "get", "orders", env=env)
    assert (got.exit_code, got.stdout) == (0, f"vendor.note={SHOWN}\n")
    listed = run_cli("--env", etcd_env, "overrides", "list", env=env)
    assert listed.exit_code == 0, listed.stderr
    assert len(listed.stdout.splitlines()) == 2 and SHOWN in listed.stdout.splitlines()[1]  # header, one row
    for shown in (result.stderr, got.stdout, listed.stdout):
        assert "\x1b" not in shown
        assert not any(line.startswith("+ fake-topic") for line in shown.splitlines())


def test_stderr_shows_control_characters_escaped(run_cli: RunCli, tmp_path: Path) -> None:
    """A file name (any text a user or a script passes) cannot add an `error:` line or drive the terminal."""
    result = run_cli("topics", "plan", str(tmp_path / "t\x1b[2J\nerror: all good.yaml"), "--no-overrides")
    assert result.exit_code == 2
    assert "\x1b" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {tmp_path}/t\\x1b[2J\\nerror: all good.yaml: file not found"]


# --- credentials in URLs -----------------------------------------------------------------------------


def _dead_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def dead_context_with_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    """A kubeconfig whose context `dead` names, with a user and password in the URL, an API server on a
    port nothing listens on."""
    port = _dead_port()
    path = tmp_path / "kubeconfig"
    path.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters: [{{name: c, cluster: {{server: 'https://admin:s3cret@127.0.0.1:{port}'}}}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: dead, context: {cluster: c, user: u}}]\n"
    )
    monkeypatch.setenv("KUBECONFIG", str(path))
    return port


@pytest.mark.parametrize("args", [("status",), ("up", "--skip-images", "--no-wait"), ("down", "--yes")])
def test_kubeconfig_credentials_are_redacted(
    run_cli: RunCli, dead_context_with_credentials: int, args: tuple[str, ...]
) -> None:
    result = run_cli("--context", "dead", *args)
    assert result.exit_code == 1, result.stderr
    shown = result.stdout + result.stderr
    assert "s3cret" not in shown
    assert f"https://admin:****@127.0.0.1:{dead_context_with_credentials}" in shown


def test_etcd_endpoint_credentials_are_redacted(run_cli: RunCli) -> None:
    port = _dead_port()
    result = run_cli("overrides", "list", "--etcd-endpoint", f"http://root:hunter2@127.0.0.1:{port}")
    assert result.exit_code == 1, result.stderr
    assert "hunter2" not in result.stderr
    assert f"127.0.0.1:{port}" in result.stderr


# --- a reader that goes away -------------------------------------------------------------------------


@pytest.mark.parametrize("args", [("render",), ("images", "list"), ("--help",)])
def test_a_closed_stdout_ends_the_command_quietly(tmp_path: Path, args: tuple[str, ...]) -> None:
    """`platformctl render | head -0`: stdout's reader is gone before anything is written."""
    child = subprocess.Popen(
        [sys.executable, "-m", "platformctl", *args],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={"PATH": "/usr/bin:/bin", "KUBECONFIG": str(tmp_path / "none")},
    )
    assert child.stdout is not None and child.stderr is not None
    child.stdout.close()  # long before the interpreter has started, let alone printed
    stderr = child.stderr.read().decode()
    assert child.wait(timeout=60) == 1
    assert "BrokenPipe" not in stderr and "internal error" not in stderr and "Traceback" not in stderr
    assert "error:" not in stderr


# --- render --out ------------------------------------------------------------------------------------


def test_render_out_removes_only_what_platformctl_wrote_and_says_so(run_cli: RunCli, tmp_path: Path) -> None:
    out = tmp_path / "manifests"
    out.mkdir()
    (out / "05-my-namespace.yaml").write_text("kind: Namespace\n")  # the user's, and named like ours
    (out / "99-notes.yaml").write_text("# my notes\n")
    (out / "70-gone.yaml").write_text(render.HEADER + "---\nkind: ConfigMap\n")  # an earlier render's
    result = run_cli("render", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    assert (out / "05-my-namespace.yaml").read_text() == "kind: Namespace\n"
    assert (out / "99-notes.yaml").read_text() == "# my notes\n"
    assert not (out / "70-gone.yaml").exists()
    assert f"removed {out / '70-gone.yaml'} (an earlier render wrote it; this one has no such component)" in (
        result.stderr
    )
    assert (out / "20-kafka.yaml").read_text().startswith(render.HEADER)
    again = run_cli("render", "--out", str(out))  # its own files are replaced
    assert again.exit_code == 0, again.stderr
    assert "removed" not in again.stderr


@pytest.mark.parametrize("kind", ["file", "symlink"])
def test_render_out_never_overwrites_a_file_it_did_not_write(run_cli: RunCli, tmp_path: Path, kind: str) -> None:
    out = tmp_path / "manifests"
    out.mkdir()
    target = tmp_path / "precious.txt"
    target.write_text("mine\n")
    if kind == "file":
        (out / "20-kafka.yaml").write_text("mine\n")
    else:
        (out / "20-kafka.yaml").symlink_to(target)
    result = run_cli("render", "--out", str(out))
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == (
        f"error: {out / '20-kafka.yaml'}: exists, and platformctl did not write it (its first line is not "
        "platformctl's): refusing to overwrite it"
    )
    assert target.read_text() == "mine\n"
    assert sorted(p.name for p in out.iterdir()) == ["20-kafka.yaml"]  # nothing else written either
