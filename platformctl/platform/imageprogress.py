"""Progress of the image cache on stderr: one bar per image on a terminal, plain lines everywhere else.

Bars are driven by the Docker daemon's layer status (bytes downloaded over the layers whose size is known
so far, so a bar may grow its total as new layers report). Pipes and CI logs get one line per step and
never terminal control codes. `-q` silences both; errors still reach the user through the error boundary.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from platformctl import ui

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from platformctl.adapters.dockerhost import PullProgress
    from platformctl.platform.images import Reporter

_STEPS = {
    "pull": "pulling",
    "load": "loading into the minikube node",
    "cache": "adding to the minikube cache",
}


def _size(n: int) -> str:
    from rich.filesize import decimal

    return decimal(n)


class PlainReporter:
    """One line per step: `IMAGE: pulling`, `IMAGE: pulled 3 layers, 45.1 MB`, `IMAGE: done`."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.last: dict[str, PullProgress] = {}
        self.lock = threading.Lock()

    def _line(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False)

    def _pulled(self, image: str) -> None:
        event = self.last.pop(image, None)
        if event is not None:
            self._line(f"{image}: pulled {event.layers} layers, {_size(event.total)}")

    def begin(self, image: str, step: str) -> None:
        with self.lock:
            self._pulled(image)
            self._line(f"{image}: {_STEPS.get(step, step)}")

    def pull_progress(self, event: PullProgress) -> None:
        with self.lock:
            self.last[event.image] = event

    def finish(self, image: str, error: str | None) -> None:
        with self.lock:
            self._pulled(image)
            self._line(f"{image}: {'done' if error is None else 'failed: ' + error}")


class BarReporter:
    """A rich progress bar per image, created when its first step begins."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, TaskID] = {}
        self.lock = threading.Lock()

    def _task(self, image: str) -> TaskID:
        with self.lock:
            if image not in self.tasks:
                self.tasks[image] = self.progress.add_task(image, total=None, step="waiting")
            return self.tasks[image]

    def begin(self, image: str, step: str) -> None:
        self.progress.update(self._task(image), step=_STEPS.get(step, step))

    def pull_progress(self, event: PullProgress) -> None:
        total = event.total or None
        self.progress.update(
            self._task(event.image),
            total=total,
            completed=event.current,
            step=f"{event.status.lower()} ({event.layers_done}/{event.layers} layers)",
        )

    def finish(self, image: str, error: str | None) -> None:
        task = self._task(image)
        if error is None:
            total = self.progress.tasks[task].total or 1
            self.progress.update(task, total=total, completed=total, step="done")
        else:
            self.progress.update(task, step="[red]failed[/red]")


@contextmanager
def reporter(console: Console | None = None) -> Iterator[Reporter | None]:
    """Bars on a terminal, lines otherwise, nothing with `-q`."""
    if ui.verbosity() < 0:
        yield None
        return
    console = console or ui.err()
    if not console.is_terminal:
        yield PlainReporter(console)
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[step]}"),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        yield BarReporter(progress)
