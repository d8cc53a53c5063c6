"""The command line as kubectl, terraform and helm users type it: global options before or after the
command, help without type noise, usage errors as one line. Exact output throughout.

No server is needed: every command here stops at its settings (a missing --config, a bad namespace) or
renders locally, so what is tested is the parsing and the messages, not a cluster.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from platformctl.platform import render as rendering
from tests.commands.test_cli import command_paths
from tests.conftest import RunCli

# What each command needs besides its options to get as far as reading its settings.
REQUIRED_ARGS: dict[str, list[str]] = {
    "down": ["--yes"],
    "port-forward": ["kafka-ui"],
    "topics plan": ["t.yaml"],
    "topics apply": ["t.yaml"],
    "overrides set": ["t", "retention.ms=1000"],
    "overrides get": ["t"],
    "overrides unset": ["t", "retention.ms"],
    "overrides import": ["o.yaml", "--yes"],
    "overrides set-level": ["t-value", "BACKWARD"],
    "overrides unset-level": ["t-value"],
    "completion": ["bash"],
}

GLOBAL_OPTIONS_HELP = """\
Global options:
  --context NAME             Use this existing kube context instead of minikube;
                             nothing else is ever touched.  [env var:
                             PLATFORMCTL_CONTEXT]
  -n, --namespace NAMESPACE  Namespace of the platform (default: dev).  [env
                             var: PLATFORMCTL_NAMESPACE]
  --env ENV                  Environment whose overrides apply (default: dev).
                             [env var: PLATFORMCTL_ENV]
  --config FILE              Settings file (default: ./platformctl.yaml when
                             present).  [env var: PLATFORMCTL_CONFIG]
  -v, --verbose              More progress on stderr (-vv: more).
  -q, --quiet                Less progress on stderr.
  --debug                    Show tracebacks instead of one-line errors.  [env
                             var: PLATFORMCTL_DEBUG]
"""

COMMANDS = [" ".join(p) for p in command_paths()]
# Commands that read no settings: they accept the global options and have no use for them.
NO_SETTINGS = {"completion"}


def _inputs(cwd: Path) -> None:
    (cwd / "t.yaml").write_text("topic: {name: t, partitions: 1, replication-factor: 1}\n")
    (cwd / "o.yaml").write_text("topic-defaults: {replication-factor: 1}\n")


def test_every_command_is_covered() -> None:
    assert set(REQUIRED_ARGS) <= set(COMMANDS)
    assert len(COMMANDS) >= 17


@pytest.mark.parametrize("path", COMMANDS)
def test_global_options_after_the_command(path: str, run_cli: RunCli) -> None:
    _inputs(Path.cwd())
    argv = [*path.split(), *REQUIRED_ARGS.get(path, []), "--config", "missing.yaml"]
    result = run_cli(*argv)
    if path in NO_SETTINGS:
        assert (result.exit_code, result.stderr) == (0, "")
        return
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == "error: missing.yaml: config file not found\nhint: create it or unset PLATFORMCTL_CONFIG\n"


@pytest.mark.parametrize("path", COMMANDS)
def test_global_options_before_the_command(path: str, run_cli: RunCli) -> None:
    _inputs(Path.cwd())
    result = run_cli("-n", "Not_A_Label", *path.split(), *REQUIRED_ARGS.get(path, []))
    if path in NO_SETTINGS:
        assert (result.exit_code, result.stderr) == (0, "")
        return
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == (
        "error: command line: --namespace / PLATFORMCTL_NAMESPACE: must be a DNS label: lowercase letters, "
        "digits and '-', at most 63 characters"
    )


@pytest.mark.parametrize("path", [*COMMANDS, "topics", "overrides", "images", ""])
def test_every_help_lists_the_global_options(path: str, run_cli: RunCli) -> None:
    result = run_cli(*path.split(), "--help", env={"COLUMNS": "80"})
    assert result.exit_code == 0
    assert GLOBAL_OPTIONS_HELP in result.stdout
    # No type noise: flags take nothing, and options that take a value name it (--context NAME).
    assert "<" not in result.stdout.replace("<topic>", "").replace("< ", "").replace("<(", "")
    assert "{" not in result.stdout


@pytest.mark.parametrize("where", ["group", "command"])
def test_global_options_between_group_and_command(where: str, run_cli: RunCli) -> None:
    _inputs(Path.cwd())
    argv = ["topics", "--config", "missing.yaml", "plan", "t.yaml"]
    if where == "command":
        argv = ["topics", "plan", "t.yaml", "--config", "missing.yaml"]
    result = run_cli(*argv)
    assert result.stderr.splitlines()[0] == "error: missing.yaml: config file not found"


def _namespace(stdout: str) -> str:
    return stdout.split("kind: Namespace", 1)[1].split("name: ", 1)[1].split("\n", 1)[0]


def test_the_option_after_the_command_wins(run_cli: RunCli) -> None:
    assert _namespace(run_cli("-n", "before", "render", "-n", "after").stdout) == "after"


def test_a_flag_beats_the_environment_variable_wherever_it_is(run_cli: RunCli) -> None:
    env = {"PLATFORMCTL_NAMESPACE": "from-env"}
    assert _namespace(run_cli("render", "-n", "after", env=env).stdout) == "after"
    assert _namespace(run_cli("-n", "before", "render", env=env).stdout) == "before"
    assert _namespace(run_cli("render", env=env).stdout) == "from-env"


def test_counted_verbosity_adds_up_across_the_command(run_cli: RunCli, tmp_path: Path) -> None:
    out = tmp_path / "m"
    quiet = run_cli("render", "--out", str(out), "-q")
    assert (quiet.exit_code, quiet.stderr) == (0, "")
    loud = run_cli("-q", "render", "--out", str(out), "-v")
    assert loud.stderr.startswith(f"wrote {out}/00-namespace.yaml\n")


def test_debug_after_the_command_shows_the_traceback(run_cli: RunCli, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object) -> None:
        raise RuntimeError("kaput")

    monkeypatch.setattr(rendering, "render", boom)
    with pytest.raises(RuntimeError, match="kaput"):
        run_cli("render", "--debug")


def test_context_after_up_is_the_context_used(run_cli: RunCli) -> None:
    result = run_cli("up", "--context", "realk8s", "--skip-images")
    assert result.exit_code == 2
    error = result.stderr.splitlines()[-2]
    assert error.startswith("error: --context: kube context 'realk8s' not found in kubeconfig ")


# --- usage errors: one line, the usage on the next ---------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["topics", "plan", "t.yaml", "--force"],
            "error: no such option: --force\n"
            "hint: usage: platformctl topics plan [OPTIONS] FILE-OR-DIR...  "
            "(`platformctl topics plan --help` for more)\n",
        ),
        (
            ["status", "-o", "yaml"],
            "error: --output: 'yaml' is not one of 'text', 'json'\n"
            "hint: usage: platformctl status [OPTIONS]  (`platformctl status --help` for more)\n",
        ),
        (
            ["topics", "plan"],
            "error: missing argument 'FILE-OR-DIR'\n"
            "hint: usage: platformctl topics plan [OPTIONS] FILE-OR-DIR...  "
            "(`platformctl topics plan --help` for more)\n",
        ),
        (
            ["-v", "2"],
            "error: no such command '2'\n"
            "hint: usage: platformctl [OPTIONS] COMMAND [ARGS]...  (`platformctl --help` for more)\n",
        ),
        (
            ["stauts"],
            "error: no such command 'stauts'. Did you mean 'status'?\n"
            "hint: usage: platformctl [OPTIONS] COMMAND [ARGS]...  (`platformctl --help` for more)\n",
        ),
        (
            ["up", "--timeout", "soon"],
            "error: --timeout: input should be a valid number, unable to parse string as a number\n"
            "hint: usage: platformctl up [OPTIONS]  (`platformctl up --help` for more)\n",
        ),
        (
            ["overrides", "set", "t", "retention.ms=1", "--defaults=maybe"],
            "error: option '--defaults' does not take a value\n"
            "hint: usage: platformctl overrides set [OPTIONS] [TOPIC] KEY=VALUE...  "
            "(`platformctl overrides set --help` for more)\n",
        ),
    ],
)
def test_usage_errors_are_one_line_and_the_usage(argv: list[str], expected: str, run_cli: RunCli) -> None:
    result = run_cli(*argv)
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", expected)


def test_no_arguments_shows_the_help(run_cli: RunCli) -> None:
    result = run_cli()
    assert result.exit_code == 2
    assert result.stderr.startswith("Usage: platformctl [OPTIONS] COMMAND [ARGS]...\n")


# --- hints are runnable: they carry the options of this run -------------------------------------------


def test_a_hint_carries_the_target_options(run_cli: RunCli) -> None:
    Path("team.yaml").write_text("namespace: team\n")
    result = run_cli("--context", "realk8s", "down", "--env", "qa", "--config", "team.yaml")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        "error: --yes: refusing to delete without confirmation on a non-interactive terminal\n"
        "hint: run `platformctl --config team.yaml --context realk8s -n team --env qa down --yes` to confirm\n"
    )


def test_a_missing_context_says_what_to_do_without_pointing_at_names_that_are_not_there(run_cli: RunCli) -> None:
    result = run_cli("status", "--context", "realk8s")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == (
        "hint: this kubeconfig has no contexts: point KUBECONFIG at the one that has the cluster, or drop --context"
    )


def test_option_help_reads_as_written(run_cli: RunCli) -> None:
    """No markup eats text ("[default: ...]" was swallowed whole), and values are named, flags are not."""
    text = run_cli("topics", "plan", "--help", env={"COLUMNS": "80"}).stdout
    words = " ".join(text.split())
    assert (
        "--cluster-id ID Refuse to act unless the Kafka cluster has this id (default: kafka.cluster-id when set "
        "in platformctl.yaml, or the files' cluster-id). --etcd-endpoint URL"
    ) in words
    assert "--bootstrap-server HOST:PORT Kafka bootstrap address" in words
    assert "--detailed-exitcode Exit 0 when nothing would change, 2 when something would, 1 on any error" in words


def test_a_refusal_hint_carries_the_environment(run_cli: RunCli) -> None:
    Path("t.yaml").write_text("topic: {name: t, partitions: 1, replication-factor: 1}\n")
    result = run_cli("topics", "apply", "t.yaml", "--env", "prod")
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "error: no Kafka to talk to: give --bootstrap-server HOST:PORT, or run `platformctl --env prod up` "
    )
