"""Kubernetes 1.22-1.24 schemas, for the PodSecurityPolicy render.

kubernetes-validate 1.37 ships schemas for 1.25-1.37 only; 1.33.1 is the last release with 1.22-1.24
(and so `policy/v1beta1` PodSecurityPolicy). Both cannot share one environment, so this fixture keeps
1.33.1 in its own venv under `.cache/` at the top of the repository (created on first use, reused
after) and validates files there through a subprocess.
"""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from collections.abc import Callable
from pathlib import Path

import pytest

LEGACY_VERSION = "1.33.1"
ROOT = Path(__file__).resolve().parents[2]

_SCRIPT = r"""
import json, sys, yaml, kubernetes_validate as kv
version, paths = sys.argv[1], sys.argv[2:]
problems = []
for path in paths:
    for doc in yaml.safe_load_all(open(path)):
        if not doc:
            continue
        name = f"{path}: {doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        try:
            kv.validate(doc, version, strict=True)
        except kv.SchemaNotFoundError as e:
            problems.append(f"{name}: no schema for {version}: {e}")
        except kv.ValidationError as e:
            problems.append(f"{name}: {e.message} at {list(e.path)}")
print(json.dumps(problems))
"""

LegacyValidate = Callable[[str, list[Path]], list[str]]


def _python(env_dir: Path) -> Path:
    return env_dir / "bin" / "python"


@pytest.fixture(scope="session")
def legacy_validate() -> LegacyValidate:
    env_dir = ROOT / ".cache" / f"kubernetes-validate-{LEGACY_VERSION}"
    marker = env_dir / ".ready"
    if not marker.exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
        subprocess.run(
            [str(_python(env_dir)), "-m", "pip", "install", "-q", f"kubernetes-validate=={LEGACY_VERSION}"],
            check=True,
            stdout=sys.stderr,
        )
        marker.touch()

    def validate(version: str, paths: list[Path]) -> list[str]:
        done = subprocess.run(
            [str(_python(env_dir)), "-c", _SCRIPT, version, *map(str, paths)],
            capture_output=True,
            text=True,
            check=True,
        )
        problems: list[str] = json.loads(done.stdout)
        return problems

    return validate
