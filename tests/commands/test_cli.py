"""The CLI contract: help, version, exit codes, the error boundary, and a fast start."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from platformctl.cli import app
from platformctl.platform import render as rendering
from tests.conftest import RunCli

# pydantic is not listed: Typer itself uses it to coerce option values of every sub-command.
HEAVY = ("kubernetes", "confluent_kafka", "docker", "etcd3gw", "pyhocon", "kubernetes_validate")


def command_paths() -> list[list[str]]:
    """Every command and sub-command, as argv prefixes."""
    from typer.main import get_command

    paths: list[list[str]] = []

    def walk(command: object, prefix: list[str]) -> None:
        subcommands = getattr(command, "commands", None)
        if not subcommands:
            paths.append(prefix)
            return
        for name, sub in subcommands.items():
            walk(sub, [*prefix, name])

    walk(get_command(app), [])
    return paths


@pytest.mark.parametrize("argv", [["--help"], ["--version"], *[[*p, "--help"] for p in command_paths()]])
def test_help_and_version_import_no_heavy_client(argv: list[str]) -> None:
    probe = (
        "import sys\n"
        f"sys.argv = ['platformctl', *{argv!r}]\n"
        "from platformctl.cli import main\n"
        "try:\n    main()\nexcept SystemExit as e:\n    code = e.code\n"
        f"print('\\n' + __import__('json').dumps([code, [m for m in {HEAVY!r} if m in sys.modules]]))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    code, loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert code in (0, None), done.stderr
    assert loaded == []


def test_version(run_cli: RunCli) -> None:
    from platformctl import __version__

    result = run_cli("--version")
    assert result.exit_code == 0
    assert result.stdout == f"platformctl {__version__}\n"


def test_usage_error_is_exit_2(run_cli: RunCli) -> None:
    result = run_cli("render", "--no-such-flag")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: no such option: --no-such-flag\n")


def test_bad_kubernetes_version_is_input_error(run_cli: RunCli) -> None:
    result = run_cli("render", "--kubernetes-version", "latest")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error: --kubernetes-version: not a Kubernetes version: 'latest' (expected X.Y such as 1.35)"
    )


def test_unexpected_exception_is_one_line_exit_1(run_cli: RunCli, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object) -> None:
        raise RuntimeError("kaput")

    monkeypatch.setattr(rendering, "render", boom)
    result = run_cli("render")
    assert result.exit_code == 1
    assert "internal error: RuntimeError: kaput" in result.stderr
    assert "--debug" in result.stderr
    assert "Traceback" not in result.stderr


def test_debug_shows_the_traceback(run_cli: RunCli, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object) -> None:
        raise RuntimeError("kaput")

    monkeypatch.setattr(rendering, "render", boom)
    with pytest.raises(RuntimeError, match="kaput"):
        run_cli("--debug", "render")


def test_ctrl_c_is_exit_130(run_cli: RunCli, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(rendering, "render", interrupted)
    result = run_cli("render")
    assert result.exit_code == 130
    assert result.stderr.strip() == "error: interrupted"


def test_render_out_writes_one_file_per_component(run_cli: RunCli, tmp_path: Path) -> None:
    out = tmp_path / "m"
    (out).mkdir()
    (out / "99-stale.yaml").write_text(rendering.HEADER + "stale")  # an earlier render's: removed
    (out / "notes.txt").write_text("mine")
    result = run_cli("render", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "00-namespace.yaml", "10-security.yaml", "20-kafka.yaml", "30-schema-registry.yaml",
        "40-kafka-ui.yaml", "50-etcd.yaml", "60-fluentd.yaml", "notes.txt",
    ]


def test_fast_data_dev_warns_on_stderr_not_stdout(run_cli: RunCli) -> None:
    Path("platformctl.yaml").write_text("kafka:\n  flavor: fast-data-dev\n")
    result = run_cli("render")
    assert result.exit_code == 0
    assert "warning:" in result.stderr and "baseline" in result.stderr
    assert "warning" not in result.stdout
    assert "pod-security.kubernetes.io/enforce: baseline" in result.stdout
