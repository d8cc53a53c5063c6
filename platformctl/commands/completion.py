"""Shell completion: the scripts for bash, zsh and fish, and the answers only platformctl knows.

Commands, options and fixed choices (`--output text|json`) complete from the command definitions (Typer's
completion protocol: the shell script calls `platformctl` back with `_PLATFORMCTL_COMPLETE` set). What this
module adds is what depends on the user's world: kube contexts from kubeconfig, `port-forward` targets from
the rendered platform, environments (the configured one, and those with overrides in etcd when an etcd
endpoint is configured), topic names from the topic files (those on the command line, else those in the
working directory) and the keys a topic may set.

A completion must never print an error or hang a shell: every answer here is best effort, swallows its
errors, and reaches etcd only at a configured endpoint with a short timeout.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

SHELLS = ("bash", "zsh", "fish")
PROG = "platformctl"
COMPLETE_VAR = "_PLATFORMCTL_COMPLETE"
TOPIC_SUFFIXES = (".conf", ".yaml", ".yml")
_ETCD_TIMEOUT = 1.0  # seconds: a completion that waits longer is worse than none
_MAX_FILES = 200  # topic files scanned in the working directory


# Each script calls `platformctl` back with the words typed so far, in the environment variables of Typer's
# completion protocol (COMP_WORDS/COMP_CWORD for bash, _TYPER_COMPLETE_ARGS for zsh and fish), and offers
# what it prints. Where nothing is offered, the shell completes file names (topic files, --config).
_SCRIPTS = {
    "bash": """\
# platformctl completion for bash: source <(platformctl completion bash)
_platformctl_completion() {
    local IFS=$'\\n'
    COMPREPLY=( $(env COMP_WORDS="${COMP_WORDS[*]}" COMP_CWORD="$COMP_CWORD" \\
                  _PLATFORMCTL_COMPLETE=complete_bash "$1") )
    return 0
}
complete -o default -F _platformctl_completion platformctl
""",
    "zsh": """\
#compdef platformctl
# platformctl completion for zsh: source <(platformctl completion zsh), after compinit
_platformctl_completion() {
    eval "$(env _TYPER_COMPLETE_ARGS="${words[1,$CURRENT]}" _PLATFORMCTL_COMPLETE=complete_zsh platformctl)"
}
compdef _platformctl_completion platformctl
""",
    "fish": """\
# platformctl completion for fish: platformctl completion fish > ~/.config/fish/completions/platformctl.fish
complete --command platformctl --no-files \\
    --arguments "(env _PLATFORMCTL_COMPLETE=complete_fish _TYPER_COMPLETE_FISH_ACTION=get-args \\
                  _TYPER_COMPLETE_ARGS=(commandline -cp) platformctl)" \\
    --condition "env _PLATFORMCTL_COMPLETE=complete_fish _TYPER_COMPLETE_FISH_ACTION=is-args \\
                 _TYPER_COMPLETE_ARGS=(commandline -cp) platformctl"
""",
}


def script(shell: str) -> str:
    """The script that wires `platformctl` completion into `shell` (bash, zsh or fish)."""
    return _SCRIPTS[shell]


def requested() -> bool:
    """Is this process a completion request from the shell (not a command run)?"""
    return bool(os.environ.get(COMPLETE_VAR))


def prepare() -> None:
    """Typer's completion classes (the protocol the scripts speak) in place of click's defaults."""
    from typer._completion_classes import completion_init

    completion_init()


def _quietly(answer: Callable[[], Iterable[str]]) -> list[str]:
    try:
        return list(answer())
    except Exception:  # a completion never fails loudly
        return []


def _matching(candidates: Iterable[str], incomplete: str) -> list[str]:
    return sorted({c for c in candidates if c.startswith(incomplete)})


# --- answers ---------------------------------------------------------------------------------------


def contexts(incomplete: str) -> list[str]:
    """Context names from kubeconfig ($KUBECONFIG or ~/.kube/config), read as YAML (no Kubernetes client)."""

    def names() -> Iterable[str]:
        import yaml

        paths = os.environ.get("KUBECONFIG") or str(Path("~/.kube/config").expanduser())
        for path in paths.split(os.pathsep):
            if path and Path(path).is_file():
                data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
                yield from (str(c["name"]) for c in data.get("contexts") or [] if isinstance(c, dict))

    return _matching(_quietly(names), incomplete)


def _settings(ctx: Any) -> Any:
    from platformctl import config

    root = ctx.find_root()
    options = config.GlobalOptions(
        config=root.params.get("config") or ctx.params.get("config"),
        context=root.params.get("context") or ctx.params.get("context"),
        namespace=root.params.get("namespace") or ctx.params.get("namespace"),
        env=root.params.get("env") or ctx.params.get("env"),
    )
    return config.load_settings(options)


def forward_targets(ctx: Any, incomplete: str) -> list[str]:
    """What `port-forward` can forward, as the rendered platform offers it (the flavor decides)."""

    def names() -> Iterable[str]:
        from platformctl.platform.render import components

        return [name for c in components(_settings(ctx)) for name in c.ports]

    return _matching(_quietly(names), incomplete)


def environments(ctx: Any, incomplete: str) -> list[str]:
    """`dev`, the configured environment, and every environment with overrides in etcd (only at a
    configured endpoint: completion never opens a port-forward)."""

    def configured() -> Iterable[str]:
        return ["dev", _settings(ctx).env]

    def in_etcd() -> Iterable[str]:
        settings = _settings(ctx)
        endpoint = settings.etcd.endpoint or os.environ.get("PLATFORMCTL_ETCD_ENDPOINT")
        if not endpoint:
            return []
        from platformctl.adapters import etcd

        store = etcd.EtcdStore(endpoint, timeout=_ETCD_TIMEOUT)
        return [entry.key[len(etcd.ROOT) + 1 :].split("/", 1)[0] for entry in store.list(etcd.ROOT + "/")]

    return _matching([*_quietly(configured), *_quietly(in_etcd)], incomplete)


def _topic_names(paths: Iterable[Path]) -> list[str]:
    from platformctl.topics import files as topicfile

    names: set[str] = set()
    for path in paths:
        try:
            names.update(spec.name for spec in topicfile.load([path]))
        except Exception:  # not a topic file (platformctl.yaml, an export): skip it
            continue
    return sorted(names)


def _files_here() -> list[Path]:
    here = Path.cwd()
    found = [p for p in sorted(here.iterdir()) if p.is_file() and p.suffix in TOPIC_SUFFIXES]
    return [p for p in found if p.name != "platformctl.yaml"][:_MAX_FILES]


def topics_here(incomplete: str) -> list[str]:
    """Topic names declared by the topic files in the working directory."""
    return _matching(_quietly(lambda: _topic_names(_files_here())), incomplete)


def _keys() -> list[str]:
    from platformctl.topics import spec as topicspec

    return [*topicspec.TOPIC_FIELDS, *sorted(topicspec.KAFKA_TOPIC_CONFIGS)]


def assignments(ctx: Any, incomplete: str) -> list[str]:
    """`overrides set [TOPIC] KEY=VALUE...`: a topic from the files here first (unless --defaults), then
    `KEY=` for every key a topic may set."""
    given = ctx.params.get("args") or []
    if not given and not ctx.params.get("defaults") and "=" not in incomplete:
        return topics_here(incomplete)
    return _matching((f"{k}=" for k in _keys()), incomplete)


def topic_keys(ctx: Any, incomplete: str) -> list[str]:
    """`overrides get/unset [TOPIC] [KEY...]`: a topic from the files here first, then its keys."""
    given = ctx.params.get("args") or []
    if not given and not ctx.params.get("defaults"):
        return topics_here(incomplete)
    return _matching(_keys(), incomplete)


def sets(ctx: Any, incomplete: str) -> list[str]:
    """`topics plan/apply FILES --set TOPIC.KEY=VALUE`: the topics of the files given, then their keys."""
    # While an option's value is completed, the arguments before it are not converted yet: `ctx.args`.
    files = [Path(f) for f in [*(ctx.params.get("files") or []), *ctx.args] if Path(f).exists()]

    def candidates() -> Iterable[str]:
        names = _topic_names(_expand(files)) if files else _topic_names(_files_here())
        topic, dot, _ = incomplete.partition(".")
        if dot and topic in [*names, "*"]:
            return [f"{topic}.{key}=" for key in _keys()]
        return [f"{name}." for name in [*names, "*"]]

    return _matching(_quietly(candidates), incomplete)


def _expand(paths: Iterable[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in TOPIC_SUFFIXES)[:_MAX_FILES]
        elif path.is_file():
            out.append(path)
    return out
