"""Settings + target Kubernetes version -> the platform's manifests, as dicts in apply order.

The templates under `templates/` hold the shape of every object; this module decides which templates
apply (security mechanism by server version, Kafka flavor) and what values they see. Jinja runs with
`StrictUndefined` so a missing value is an error naming the template, never an empty string in a
manifest, and every value reaches YAML through `tojson`, so no value (a namespace with a newline, a
label with `: `) can inject YAML. The rendered text is parsed back with `yaml.safe_load_all` and
re-emitted by the YAML emitter: what `render` prints is exactly what `up` applies.
"""

from __future__ import annotations

import re
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from platformctl.errors import InputError, PlatformError
from platformctl.platform.brokers import INTERNAL_PORT, KAFKA_SERVICE, kafka_layout

if TYPE_CHECKING:
    from platformctl.settings import Settings

# The field manager of every server-side apply and the value of the managed-by label: one name.
MANAGER = "platformctl"
PART_OF = "platformctl"
# Objects `up` creates carry these; `down` deletes by them, so it can never touch anything else.
LABEL_NAME = "app.kubernetes.io/name"
LABEL_INSTANCE = "app.kubernetes.io/instance"
LABEL_PART_OF = "app.kubernetes.io/part-of"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"

# PodSecurityPolicy was removed in 1.25; Pod Security admission is GA since 1.25.
PSA_SINCE = (1, 25)
# ValidatingAdmissionPolicy (admissionregistration.k8s.io/v1) is GA since 1.30.
VAP_SINCE = (1, 30)


@dataclass(frozen=True, order=True)
class KubeVersion:
    major: int
    minor: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"

    @property
    def label(self) -> str:
        """The form Pod Security admission's `*-version` labels take: `v1.36`."""
        return f"v{self.major}.{self.minor}"


# fullmatch, ASCII digits and few of them: `$` passes a trailing newline, `\d` other scripts' digits, and
# int() refuses more than 4,300. A server's gitVersion may carry a suffix (`v1.36.2+k3s1`).
_VERSION = re.compile(r"v?([0-9]{1,4})\.([0-9]{1,4})(?:\.[0-9]{1,6})?(?:[-+][0-9A-Za-z.+-]{0,100})?")
# The oldest release whose API schemas the render is checked against (kubernetes-validate ships 1.22 and
# newer): claiming support for anything older would be a guess. Every minor from here is tested.
OLDEST = KubeVersion(1, 22)


def parse_version(text: str, *, origin: str = "--kubernetes-version") -> KubeVersion:
    match = _VERSION.fullmatch(text)
    if not match:
        raise InputError(f"not a Kubernetes version: {text!r} (expected X.Y such as 1.35)", field=origin)
    version = KubeVersion(int(match.group(1)), int(match.group(2)))
    if version.major != 1 or version < OLDEST:
        raise InputError(
            f"Kubernetes {version} is not supported (platformctl renders for {OLDEST} and newer)", field=origin
        )
    return version


@dataclass(frozen=True)
class SecurityMode:
    """How the namespace is protected on the target server."""

    mechanism: str  # "pod-security-admission" or "pod-security-policy"
    level: str  # "restricted", or "baseline" for the root-only fast-data-dev image
    clusterip_policy: bool  # the ValidatingAdmissionPolicy that keeps Services ClusterIP-only

    def describe(self) -> str:
        text = f"{self.mechanism} ({self.level})"
        return text + (" + ClusterIP-only admission policy" if self.clusterip_policy else "")


def security_mode(settings: Settings, version: KubeVersion) -> SecurityMode:
    level = "baseline" if settings.kafka.flavor == "fast-data-dev" else "restricted"
    if (version.major, version.minor) < PSA_SINCE:
        return SecurityMode("pod-security-policy", level, clusterip_policy=False)
    return SecurityMode(
        "pod-security-admission", level, clusterip_policy=(version.major, version.minor) >= VAP_SINCE
    )


@dataclass(frozen=True)
class Component:
    """A workload of the platform: what `status`, waits and port-forwards need to know about it."""

    name: str  # app.kubernetes.io/name of its objects
    kind: str  # StatefulSet or Deployment
    service: str
    image: str
    # port-forward targets it serves: target name -> service port
    ports: dict[str, int] = field(default_factory=dict)
    replicas: int = 1


def components(settings: Settings) -> list[Component]:
    """The platform's workloads, in apply order."""
    if settings.kafka.flavor == "fast-data-dev":
        kafka = [
            Component(
                "kafka",
                "StatefulSet",
                KAFKA_SERVICE,
                settings.kafka.fast_data_dev_image,
                {"kafka": INTERNAL_PORT, "schema-registry": 8081, "kafka-ui": 3030},
            )
        ]
    else:
        kafka = [
            Component(
                "kafka",
                "StatefulSet",
                KAFKA_SERVICE,
                settings.kafka.image,
                {"kafka": INTERNAL_PORT},
                replicas=settings.kafka.brokers,
            ),
            Component(
                "schema-registry",
                "Deployment",
                "schema-registry",
                settings.schema_registry.image,
                {"schema-registry": 8081},
            ),
            Component("kafka-ui", "Deployment", "kafka-ui", settings.kafka_ui.image, {"kafka-ui": 8080}),
        ]
    return [
        *kafka,
        Component("etcd", "StatefulSet", "etcd", settings.etcd.image, {"etcd": 2379}),
        Component("fluentd", "Deployment", "fluentd", settings.fluentd.image, {"fluentd": 24224}),
    ]


@dataclass
class Rendered:
    """The render: per output file, its documents; all in apply order."""

    files: list[tuple[str, list[dict[str, Any]]]]
    security: SecurityMode
    version: KubeVersion
    warnings: list[str] = field(default_factory=list)

    @property
    def documents(self) -> list[dict[str, Any]]:
        return [doc for _, docs in self.files for doc in docs]


def templates_dir() -> Path:
    """templates/ inside the installed package (wheel), else at the top of the source tree."""
    here = Path(__file__).resolve().parents[1]
    for candidate in (here / "templates", here.parent / "templates"):
        if candidate.is_dir():
            return candidate
    raise PlatformError("platformctl's templates are missing from this installation", hint="reinstall it")


def psp_file() -> Path:
    """psp/psp.yaml: the policies minikube's system namespaces need on PodSecurityPolicy-era clusters."""
    here = Path(__file__).resolve().parents[1]
    for candidate in (here / "psp" / "psp.yaml", here.parent / "psp" / "psp.yaml"):
        if candidate.is_file():
            return candidate
    raise PlatformError("platformctl's psp/psp.yaml is missing from this installation", hint="reinstall it")


def _labels(namespace: str) -> Callable[[str], dict[str, str]]:
    def labels(name: str) -> dict[str, str]:
        return {
            LABEL_NAME: name,
            LABEL_INSTANCE: namespace,
            LABEL_PART_OF: PART_OF,
            LABEL_MANAGED_BY: MANAGER,
        }

    return labels


def selector(namespace: str) -> str:
    """The label selector of everything `up` created for this namespace's platform."""
    return f"{LABEL_MANAGED_BY}={MANAGER},{LABEL_INSTANCE}={namespace}"


def _pod_security(uid: int, gid: int) -> dict[str, Any]:
    """Pod-level securityContext that passes PSA `restricted`; the UID must be numeric (see DESIGN)."""
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": gid,
        "fsGroup": gid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _container_security(uid: int, gid: int) -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "privileged": False,
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": gid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _resources(resources: Any) -> dict[str, Any]:
    return dict(resources.model_dump(by_alias=True))


def _claim_template(settings: Settings) -> Callable[[str, str], dict[str, Any]]:
    """A StatefulSet's `data` claim: its labels are platformctl's (the StatefulSet controller copies them
    to every claim it creates), so `down` finds the claims by the same selector as everything else."""
    labels = _labels(settings.namespace)

    def claim(component: str, size: str) -> dict[str, Any]:
        spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}
        if settings.storage_class is not None:
            spec["storageClassName"] = settings.storage_class
        return {"metadata": {"name": "data", "labels": labels(component)}, "spec": spec}

    return claim


def _templates(settings: Settings, mode: SecurityMode) -> list[tuple[str, str]]:
    """(output file, template) in apply order."""
    chosen = [("00-namespace.yaml", "namespace.yaml.j2")]
    if mode.mechanism == "pod-security-policy":
        chosen.append(("10-security.yaml", "security-psp.yaml.j2"))
    elif mode.clusterip_policy:
        chosen.append(("10-security.yaml", "security-clusterip.yaml.j2"))
    if settings.kafka.flavor == "fast-data-dev":
        chosen.append(("20-kafka.yaml", "fast-data-dev.yaml.j2"))
    else:
        chosen += [
            ("20-kafka.yaml", "kafka.yaml.j2"),
            ("30-schema-registry.yaml", "schema-registry.yaml.j2"),
            ("40-kafka-ui.yaml", "kafka-ui.yaml.j2"),
        ]
    chosen += [("50-etcd.yaml", "etcd.yaml.j2"), ("60-fluentd.yaml", "fluentd.yaml.j2")]
    return chosen


def render(settings: Settings, version: KubeVersion) -> Rendered:
    import jinja2

    mode = security_mode(settings, version)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # Jinja's tojson escapes <, >, &, ' as \u00XX: valid in YAML double-quoted scalars, and safe.
    ns = settings.namespace
    context: dict[str, Any] = {
        "namespace": ns,
        "env": settings.env,
        "user": ns,
        "version": version,
        "security": mode,
        "labels": _labels(ns),
        "selector_labels": lambda name: {LABEL_NAME: name, LABEL_INSTANCE: ns},
        "pod_security": _pod_security,
        "container_security": _container_security,
        "resources": _resources,
        "kafka": settings.kafka,
        "schema_registry": settings.schema_registry,
        "kafka_ui": settings.kafka_ui,
        "etcd": settings.etcd,
        "fluentd": settings.fluentd,
        "cluster_domain": f"{ns}.svc.cluster.local",
        "kafka_layout": kafka_layout(settings),
        "persistent": settings.storage == "persistent",
        "claim_template": _claim_template(settings),
    }
    files: list[tuple[str, list[dict[str, Any]]]] = []
    try:
        # Fluentd's own config is text in a ConfigMap: rendered first, then embedded through tojson.
        context["fluentd_conf"] = env.get_template("fluent.conf.j2").render(context)
    except jinja2.TemplateError as e:
        raise PlatformError(f"template fluent.conf.j2 failed: {e}") from e
    for out_name, template_name in _templates(settings, mode):
        try:
            text = env.get_template(template_name).render(context)
        except jinja2.TemplateError as e:
            line = getattr(e, "lineno", None)
            raise PlatformError(
                f"template {template_name}{f':{line}' if line else ''} failed: {e}",
                hint="the templates shipped with platformctl are broken; reinstall it",
            ) from e
        try:
            docs = [d for d in yaml.safe_load_all(text) if d is not None]
        except yaml.YAMLError as e:
            raise PlatformError(f"template {template_name} rendered invalid YAML: {e}") from e
        files.append((out_name, docs))

    warnings: list[str] = []
    if settings.kafka.flavor == "fast-data-dev":
        warnings.append(
            f"kafka.flavor fast-data-dev runs as root: namespace {ns!r} is lowered to Pod Security "
            "'baseline' (not 'restricted'), and Schema Registry and the UI come from the all-in-one image"
        )
    return Rendered(files=files, security=mode, version=version, warnings=warnings)


class _Dumper(yaml.SafeDumper):
    """Block style, and multi-line strings (config files in ConfigMaps) as literal blocks."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _str)


def to_yaml(documents: list[dict[str, Any]]) -> str:
    return yaml.dump_all(
        documents, Dumper=_Dumper, sort_keys=False, default_flow_style=False, explicit_start=True, width=120
    )


# The first line of every file `render --out` writes: how a later render knows the file is its own (to
# replace it, or remove it once nothing renders it) and how a person knows not to edit it.
HEADER = "# Written by `platformctl render --out`: do not edit, render again (a later render replaces or removes it).\n"


def file_text(docs: list[dict[str, Any]]) -> str:
    """A file as `render --out` writes it."""
    return HEADER + to_yaml(docs)


@dataclass(frozen=True)
class WrittenFiles:
    written: list[Path]
    removed: list[Path]  # files an earlier render wrote for components this render no longer has


def _ours(path: Path) -> bool:
    """A regular file (not a symlink) whose first line is HEADER: written by `render --out`."""
    try:
        if not stat.S_ISREG(path.lstat().st_mode):
            return False
        with path.open("rb") as f:
            return f.read(len(HEADER.encode())) == HEADER.encode()
    except OSError:
        return False


def write_files(result: Rendered, out: Path) -> WrittenFiles:
    """One file per component into `out`. Only files platformctl wrote (HEADER) are ever replaced or
    removed: a file of the same name that is not one of them (the user's own, a symlink) is refused before
    anything is written, and files of an earlier render that this one no longer has are removed."""
    wanted = [name for name, _ in result.files]
    try:
        out.mkdir(parents=True, exist_ok=True)
        foreign = [out / name for name in wanted if (out / name).is_symlink() or (out / name).exists()]
        foreign = [path for path in foreign if not _ours(path)]
        if foreign:
            raise InputError(
                "exists, and platformctl did not write it (its first line is not platformctl's): refusing to "
                "overwrite it",
                path=foreign[0],
                hint="move it away, or render into a directory of its own",
            )
        stale = sorted(p for p in out.glob("*.yaml") if p.name not in wanted and _ours(p))
        written = []
        for name, docs in result.files:
            path = out / name
            path.write_text(file_text(docs), encoding="utf-8")
            written.append(path)
        for path in stale:
            path.unlink()
    except OSError as e:
        raise InputError(f"cannot write manifests: {e.strerror}", path=e.filename or out) from e
    return WrittenFiles(written, stale)
