"""Shell completion: the scripts `platformctl completion bash|zsh|fish` print (exact); the answers to the
completion protocol (commands, options, choices, port-forward targets, kube contexts, environments from the
real etcd, topic names from the files), asked in-process; and each script run by its real shell against
the real `platformctl` (a subprocess).

bash is always there. zsh and fish run when installed (`apt-get install zsh fish`), else those tests skip
saying so. For zsh the completion system itself (`compinit`) is not started: `compdef`, `_arguments` and
`_files` are stubs that print what the script hands them, so the test covers the script and the answers,
not zsh's menu.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from platformctl.adapters import etcd
from platformctl.topics import overrides
from tests.conftest import RunCli

BASH = """\
# platformctl completion for bash: source <(platformctl completion bash)
_platformctl_completion() {
    local IFS=$'\\n'
    COMPREPLY=( $(env COMP_WORDS="${COMP_WORDS[*]}" COMP_CWORD="$COMP_CWORD" \\
                  _PLATFORMCTL_COMPLETE=complete_bash "$1") )
    return 0
}
complete -o default -F _platformctl_completion platformctl
"""
ZSH = """\
#compdef platformctl
# platformctl completion for zsh: source <(platformctl completion zsh), after compinit
_platformctl_completion() {
    eval "$(env _TYPER_COMPLETE_ARGS="${words[1,$CURRENT]}" _PLATFORMCTL_COMPLETE=complete_zsh platformctl)"
}
compdef _platformctl_completion platformctl
"""
FISH = """\
# platformctl completion for fish: platformctl completion fish > ~/.config/fish/completions/platformctl.fish
complete --command platformctl --no-files \\
    --arguments "(env _PLATFORMCTL_COMPLETE=complete_fish _TYPER_COMPLETE_FISH_ACTION=get-args \\
                  _TYPER_COMPLETE_ARGS=(commandline -cp) platformctl)" \\
    --condition "env _PLATFORMCTL_COMPLETE=complete_fish _TYPER_COMPLETE_FISH_ACTION=is-args \\
                 _TYPER_COMPLETE_ARGS=(commandline -cp) platformctl"
"""


@pytest.mark.parametrize(("shell", "expected"), [("bash", BASH), ("zsh", ZSH), ("fish", FISH)])
def test_the_scripts(run_cli: RunCli, shell: str, expected: str) -> None:
    result = run_cli("completion", shell)
    assert (result.exit_code, result.stdout, result.stderr) == (0, expected, "")


def test_an_unknown_shell_is_a_usage_error(run_cli: RunCli) -> None:
    result = run_cli("completion", "tcsh")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == "error: SHELL: 'tcsh' is not one of 'bash', 'zsh', 'fish'"


# --- the scripts in their shells --------------------------------------------------------------------------


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A working directory with topic files and a kubeconfig with two contexts; the environment a shell
    gets (the venv's `platformctl` first on PATH, no developer settings)."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "orders.yaml").write_text("topics:\n  - {name: orders, partitions: 1, replication-factor: 1}\n"
                                      "  - {name: clicks, partitions: 1, replication-factor: 1}\n")  # fmt: skip
    (work / "tweets.conf").write_text("topic { name = tweets, partitions = 1, replication-factor = 1 }\n")
    (work / "platformctl.yaml").write_text("env: staging\n")
    (work / "notes.yaml").write_text("- not a topic file\n")
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\ncontexts:\n  - {name: minikube, context: {}}\n"
                          "  - {name: realk8s, context: {}}\n")  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLATFORMCTL_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["KUBECONFIG"] = str(kubeconfig)
    env["HOME"] = str(tmp_path)  # fish writes its history and config here
    env["CWD"] = str(work)
    return env


def bash(env: dict[str, str], *words: str) -> list[str]:
    """What bash offers for the last of `words` (the word being completed; "" for a new one)."""
    quoted = " ".join(f"'{w}'" for w in words)
    script = (
        "source <(platformctl completion bash)\n"
        f"COMP_WORDS=(platformctl {quoted}); COMP_CWORD={len(words)}\n"
        "_platformctl_completion platformctl\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, cwd=env["CWD"],
                          timeout=60, check=True)  # fmt: skip
    assert done.stderr == ""
    return [line for line in done.stdout.splitlines() if line]


def fish(env: dict[str, str], line: str) -> list[str]:
    if shutil.which("fish") is None:
        pytest.skip("fish is not installed here (apt-get install fish)")
    script = f"platformctl completion fish | source\ncomplete -C '{line}'\n"
    done = subprocess.run(["fish", "--no-config", "-c", script], capture_output=True, text=True, env=env,
                          cwd=env["CWD"], timeout=60, check=True)  # fmt: skip
    return [row.split("\t")[0] for row in done.stdout.splitlines()]


def zsh(env: dict[str, str], *words: str) -> str:
    if shutil.which("zsh") is None:
        pytest.skip("zsh is not installed here (apt-get install zsh)")
    quoted = " ".join(f"'{w}'" for w in words)
    script = (
        "compdef() { :; }; _arguments() { print -r -- \"$@\"; }; _files() { print -r -- FILES; }\n"
        "source <(platformctl completion zsh)\n"
        f"words=(platformctl {quoted}); CURRENT={len(words) + 1}\n"
        "_platformctl_completion\n"
    )
    done = subprocess.run(["zsh", "-f", "-c", script], capture_output=True, text=True, env=env, cwd=env["CWD"],
                          timeout=60, check=True)  # fmt: skip
    return done.stdout


def answers(run_cli: RunCli, world: dict[str, str], monkeypatch: pytest.MonkeyPatch, *words: str) -> list[str]:
    """What `platformctl` answers the bash script for these words, asked in-process (the protocol the
    script speaks: COMP_WORDS, COMP_CWORD, _PLATFORMCTL_COMPLETE); fast, so most cases are asked this way."""
    monkeypatch.chdir(world["CWD"])
    env = {
        "_PLATFORMCTL_COMPLETE": "complete_bash",
        "COMP_WORDS": " ".join(["platformctl", *(w or "''" for w in words)]),
        "COMP_CWORD": str(len(words)),
        "KUBECONFIG": world["KUBECONFIG"],
    }
    if "PLATFORMCTL_ETCD_ENDPOINT" in world:
        env["PLATFORMCTL_ETCD_ENDPOINT"] = world["PLATFORMCTL_ETCD_ENDPOINT"]
    result = run_cli(env=env)
    assert (result.exit_code, result.stderr) == (0, "")
    return [line for line in result.stdout.splitlines() if line]


def test_commands_options_and_choices(run_cli: RunCli, world: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    def ask(*words: str) -> list[str]:
        return answers(run_cli, world, monkeypatch, *words)

    assert ask("to") == ["topics"]
    assert ask("topics", "") == ["plan", "apply"]
    assert ask("topics", "plan", "--o") == ["--output"]
    assert ask("status", "-o", "") == ["text", "json"]
    assert ask("down", "--cluster", "") == ["stop", "delete"]
    assert ask("completion", "") == ["bash", "zsh", "fish"]
    # After the command too: the global options are everywhere.
    assert "--context" in ask("status", "--")


def test_what_only_platformctl_knows(run_cli: RunCli, world: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    def ask(*words: str) -> list[str]:
        return answers(run_cli, world, monkeypatch, *words)

    assert ask("port-forward", "") == ["etcd", "fluentd", "kafka", "kafka-ui", "schema-registry"]
    assert ask("port-forward", "kafka") == ["kafka", "kafka-ui"]
    assert ask("--context", "") == ["minikube", "realk8s"]
    assert ask("up", "--context", "r") == ["realk8s"]
    # Topic names from the topic files in the working directory (platformctl.yaml and notes.yaml are not).
    assert ask("overrides", "set", "") == ["clicks", "orders", "tweets"]
    assert ask("overrides", "set", "orders", "retention.m") == ["retention.ms="]
    assert ask("overrides", "get", "t") == ["tweets"]
    # --set: the topics of the files on the command line, then their keys.
    assert ask("topics", "plan", "orders.yaml", "--set", "") == ["*.", "clicks.", "orders."]
    assert ask("topics", "plan", "orders.yaml", "--set", "orders.rep") == ["orders.replication-factor="]
    # The configured environment and dev (no etcd endpoint configured: nothing else is asked).
    assert ask("--env", "") == ["dev", "staging"]


def test_environments_come_from_etcd_at_a_configured_endpoint(
    run_cli: RunCli, world: dict[str, str], monkeypatch: pytest.MonkeyPatch, etcd_endpoint: str, etcd_env: str
) -> None:
    store = etcd.EtcdStore(etcd_endpoint)
    overrides.set_values(store, etcd_env, overrides.Target(None), {"replication-factor": 1})
    world["PLATFORMCTL_ETCD_ENDPOINT"] = etcd_endpoint
    assert answers(run_cli, world, monkeypatch, "topics", "plan", "--env", etcd_env) == [etcd_env]


def test_an_unreachable_etcd_costs_a_completion_nothing_but_its_answers(
    run_cli: RunCli, world: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    world["PLATFORMCTL_ETCD_ENDPOINT"] = "http://127.0.0.1:9"  # nothing listens on the discard port
    assert answers(run_cli, world, monkeypatch, "--env", "") == ["dev", "staging"]


def test_bash(world: dict[str, str]) -> None:
    assert bash(world, "port-forward", "k") == ["kafka", "kafka-ui"]
    assert bash(world, "overrides", "unset", "") == ["clicks", "orders", "tweets"]


def test_fish(world: dict[str, str]) -> None:
    assert fish(world, "platformctl port-forward k") == ["kafka", "kafka-ui"]
    assert fish(world, "platformctl overrides unset ") == ["clicks", "orders", "tweets"]


def test_zsh(world: dict[str, str]) -> None:
    assert zsh(world, "port-forward", "k") == '*: :(("kafka"\n"kafka-ui"))\n'
    # Nothing to offer (a topic file argument): zsh completes file names.
    assert zsh(world, "topics", "plan", "") == "FILES\n"
