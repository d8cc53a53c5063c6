"""What `platformctl render` costs: end to end over the CLI floor, and the in-process render per call.

Side by side in one run:
  1. `platformctl render` (a fresh interpreter: imports, settings, Jinja, YAML out) against
     `platformctl --help` (the same interpreter start and CLI import, no work): the ratio is what
     rendering adds over the cheapest thing the CLI can do;
  2. `render.render(settings, version)` in-process, per call (templates, Jinja, parse back), and
     with `render.to_yaml` on top, against the end-to-end command: how much of the command is the
     render itself rather than interpreter start and imports.
Absolute times drift on shared machines; the ratios are the result.

    .venv/bin/python bench/render.py [--runs 15] [--calls 50] [--json]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.report import Row, alternating, emit_json, median_time
from platformctl.config import GlobalOptions, load_settings
from platformctl.platform import render


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="fresh-interpreter runs of each command")
    parser.add_argument("--calls", type=int, default=50, help="in-process render() calls")
    parser.add_argument("--json", action="store_true", help="print one JSON object for bench/run")
    args = parser.parse_args()

    base = [sys.executable, "-m", "platformctl"]

    def run(*argv: str) -> None:
        subprocess.run([*base, *argv], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    run("--help")  # warm the file cache
    run("render")
    cli = alternating({"render": lambda: run("render"), "help": lambda: run("--help")}, args.runs)

    settings = load_settings(GlobalOptions())
    version = render.parse_version(settings.minikube.kubernetes_version)
    render.render(settings, version)  # first call loads the templates
    per_call = median_time(lambda: render.render(settings, version), args.calls)
    with_yaml = median_time(lambda: render.to_yaml(render.render(settings, version).documents), args.calls)
    documents = len(render.render(settings, version).documents)

    rows = [
        Row("platformctl render vs platformctl --help (end to end)", cli["render"] * 1e3, cli["help"] * 1e3, "ms"),
        Row("render() in-process per call vs render end to end", per_call * 1e3, cli["render"] * 1e3, "ms"),
        Row("render() + to_yaml per call vs render end to end", with_yaml * 1e3, cli["render"] * 1e3, "ms"),
    ]
    if args.json:
        emit_json("render", rows, documents=documents, runs=args.runs, calls=args.calls)
        return
    print(f"{documents} documents for Kubernetes {version}; medians of {args.runs} runs / {args.calls} calls")
    print(f"  platformctl render (end to end)   {cli['render'] * 1e3:8.1f} ms")
    print(f"  platformctl --help (the floor)    {cli['help'] * 1e3:8.1f} ms")
    print(f"  render() in-process, per call     {per_call * 1e3:8.1f} ms")
    print(f"  render() + to_yaml, per call      {with_yaml * 1e3:8.1f} ms")
    print(f"ratio render / --help: {cli['render'] / cli['help']:.2f}x")
    print(f"share of the command spent rendering: {with_yaml / cli['render']:.0%}")


if __name__ == "__main__":
    main()
