"""Where each setting comes from: flag > `PLATFORMCTL_*` env var > `platformctl.yaml` > defaults.

Typer resolves flag-over-env-var for every option that declares `envvar=` (and lists the variable in
`--help`); this module adds the file and the defaults underneath, validates the result against the schema
in `settings.py`, and turns every schema violation into an `InputError` naming file, line and field.
The env-var names live here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from platformctl.errors import InputError, InputErrors

if TYPE_CHECKING:
    from platformctl.settings import Settings

ENV_CONFIG = "PLATFORMCTL_CONFIG"
ENV_CONTEXT = "PLATFORMCTL_CONTEXT"
ENV_NAMESPACE = "PLATFORMCTL_NAMESPACE"
ENV_ENV = "PLATFORMCTL_ENV"
ENV_OUTPUT = "PLATFORMCTL_OUTPUT"
ENV_DEBUG = "PLATFORMCTL_DEBUG"
ENV_KUBERNETES_VERSION = "PLATFORMCTL_KUBERNETES_VERSION"
ENV_MINIKUBE_PROFILE = "PLATFORMCTL_MINIKUBE_PROFILE"
ENV_BOOTSTRAP_SERVER = "PLATFORMCTL_BOOTSTRAP_SERVER"
ENV_ETCD_ENDPOINT = "PLATFORMCTL_ETCD_ENDPOINT"
ENV_SCHEMA_REGISTRY = "PLATFORMCTL_SCHEMA_REGISTRY"
ENV_YES = "PLATFORMCTL_YES"
ENV_OFFLINE = "PLATFORMCTL_OFFLINE"
ENV_TIMEOUT = "PLATFORMCTL_TIMEOUT"
ENV_BROKER_TIMEOUT = "PLATFORMCTL_BROKER_TIMEOUT"

DEFAULT_CONFIG_FILE = "platformctl.yaml"


@dataclass
class GlobalOptions:
    """What the top-level callback received; commands turn it into `Settings` when they need them."""

    config: Path | None = None
    context: str | None = None
    namespace: str | None = None
    env: str | None = None
    verbose: int = 0
    quiet: int = 0
    debug: bool = False
    _settings: Settings | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Override:
    """A value given on the command line (or its env var) for a dotted settings key."""

    key: str  # dotted, kebab-case, as in platformctl.yaml: "kafka.bootstrap-server"
    value: Any
    origin: str  # what to name in an error: "--bootstrap-server"


def config_path(options: GlobalOptions) -> Path | None:
    """The file to read: the one named (which must exist), else ./platformctl.yaml when present."""
    if options.config is not None:
        return options.config
    default = Path(DEFAULT_CONFIG_FILE)
    # exists(), not is_file(): a FIFO or a directory by that name is refused when read, never skipped.
    return default if default.exists() else None


def load_settings(options: GlobalOptions, overrides: tuple[Override, ...] = ()) -> Settings:
    """Build and validate the settings for this run; raises `InputError(s)` for any bad value."""
    from pydantic import ValidationError

    from platformctl import sourcemap
    from platformctl.settings import Settings

    path = config_path(options)
    raw: Any = {}
    lines = sourcemap.LineMap()
    if path is not None:
        if not path.exists():
            raise InputError("config file not found", path=path, hint=f"create it or unset {ENV_CONFIG}")
        raw, lines = sourcemap.load(path)  # regular files only, within inputfile's bounds
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise InputError("must be a mapping of settings (key: value)", path=path, line=lines.line(()))

    merged: dict[str, Any] = dict(raw)
    cli_keys: dict[tuple[str, ...], str] = {}
    given = [
        Override("namespace", options.namespace, f"--namespace / {ENV_NAMESPACE}"),
        Override("env", options.env, f"--env / {ENV_ENV}"),
        Override("context", options.context, f"--context / {ENV_CONTEXT}"),
        *overrides,
    ]
    for override in given:
        if override.value is None:
            continue
        parts = override.key.split(".")
        target = merged
        for part in parts[:-1]:
            child = target.get(part)
            child = dict(child) if isinstance(child, dict) else {}
            target[part] = child
            target = child
        target[parts[-1]] = override.value
        cli_keys[tuple(parts)] = override.origin

    try:
        return Settings.model_validate(merged)
    except ValidationError as e:
        errors: list[InputError] = []
        for problem in e.errors():
            loc = tuple(str(p) if not isinstance(p, int) else p for p in problem["loc"])
            dotted = ".".join(str(p) for p in loc)
            origin = cli_keys.get(tuple(str(p) for p in loc))
            message = _message(problem)
            if origin is not None:
                errors.append(InputError(message, path="command line", field=origin))
            else:
                errors.append(
                    InputError(
                        message,
                        path=path if path is not None else "defaults",
                        line=lines.line(loc) if path is not None else None,
                        field=dotted or None,
                    )
                )
        InputErrors.raise_if_any(errors)
        raise  # unreachable: a ValidationError always carries at least one error


def _message(problem: Any) -> str:
    kind = problem["type"]
    if kind == "extra_forbidden":
        return "unknown key"
    message = str(problem["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            message = message[len(prefix) :]
    if kind.endswith("_type") or kind.endswith("_parsing") or kind == "model_type":
        message = f"{message} (got {type(problem['input']).__name__} {problem['input']!r})"
    return message


def settings(options: GlobalOptions, overrides: tuple[Override, ...] = ()) -> Settings:
    """`load_settings`, cached on the options object so one run validates the file once."""
    from platformctl import hints

    if options._settings is None or overrides:
        options._settings = load_settings(options, overrides)
        hints.remember(options._settings, options.config)
    return options._settings
