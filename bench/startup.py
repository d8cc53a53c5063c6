"""How much `platformctl --help` costs over the floor any Typer CLI pays.

The floor is a minimal Typer app with the same top-level commands and sub-apps (Python, Typer and rich
are paid by both). Both are run alternately in fresh interpreters, so machine noise hits both alike;
the ratio of medians is the number to watch (aim: under 1.3x).

    python bench/startup.py [--runs 30]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.report import Row, emit_json

_COMMANDS = r"""
import json
from typer.main import get_command
from platformctl.cli import app
group = get_command(app)
print(json.dumps({name: sorted(getattr(cmd, "commands", {}) or {}) for name, cmd in group.commands.items()}))
"""


def minimal_app(commands: dict[str, list[str]]) -> str:
    lines = ["import typer", "app = typer.Typer(add_completion=False)"]
    for name, subs in commands.items():
        ident = name.replace("-", "_")
        if subs:
            lines.append(f"{ident} = typer.Typer()")
            lines.append(f"app.add_typer({ident}, name={name!r})")
            for sub in subs:
                lines.append(f"@{ident}.command({sub!r})\ndef {ident}_{sub.replace('-', '_')}() -> None: ...")
        else:
            lines.append(f"@app.command({name!r})\ndef {ident}() -> None: ...")
    lines.append("@app.callback()\ndef main() -> None: ...")
    lines.append("app()")
    return "\n".join(lines) + "\n"


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def measure(runs: int) -> dict[str, float]:
    commands = json.loads(subprocess.check_output([sys.executable, "-c", _COMMANDS], text=True))
    with tempfile.TemporaryDirectory() as tmp:
        floor = Path(tmp) / "floor.py"
        floor.write_text(minimal_app(commands))
        ours = [sys.executable, "-m", "platformctl", "--help"]
        base = [sys.executable, str(floor), "--help"]
        timed(ours), timed(base)  # warm the file cache
        ours_t, base_t = [], []
        for _ in range(runs):
            ours_t.append(timed(ours))
            base_t.append(timed(base))
    return {
        "platformctl_ms": statistics.median(ours_t) * 1000,
        "typer_floor_ms": statistics.median(base_t) * 1000,
        "ratio": statistics.median(ours_t) / statistics.median(base_t),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = measure(args.runs)
    if args.json:
        ours, floor = result["platformctl_ms"], result["typer_floor_ms"]
        rows = [Row("platformctl --help vs minimal Typer app", ours, floor, "ms")]
        emit_json("startup", rows, runs=args.runs)
    else:
        print(
            f"platformctl --help {result['platformctl_ms']:.0f} ms, "
            f"minimal Typer app {result['typer_floor_ms']:.0f} ms: {result['ratio']:.2f}x"
        )


if __name__ == "__main__":
    main()
