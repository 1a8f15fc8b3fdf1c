"""Progress display: rich bars per file (frames, fps, ETA) and overall, or nothing.

Bars are shown only on an interactive terminal and without ``--quiet``; piped
output and CI logs stay clean. The pipeline only knows two callbacks,
``on_start(total_frames)`` and ``on_frame(done)``; this module turns them into bars.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class FpsColumn(ProgressColumn):
    """Frames per second, from rich's own moving speed estimate."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:5.1f} fps" if speed else "  ... fps", style="progress.data.speed")


class FileCallbacks:
    """The two callbacks the pipeline takes, bound to one file's bar."""

    def __init__(self, progress: Progress | None, task: TaskID | None) -> None:
        self._progress, self._task = progress, task

    def on_start(self, total: int | None) -> None:
        if self._progress is not None:
            self._progress.update(self._task, total=total)
            self._progress.start_task(self._task)

    def on_frame(self, done: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=done)


class ProgressReporter:
    """One overall bar (files) and one bar per file being processed."""

    def __init__(self, enabled: bool, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.enabled = enabled and self.console.is_terminal
        self._progress: Progress | None = None
        self._overall: TaskID | None = None

    @contextmanager
    def session(self, total_files: int) -> Iterator["ProgressReporter"]:
        if not self.enabled:
            yield self
            return
        self._progress = Progress(
            TextColumn("[bold]{task.description}", justify="left"),
            BarColumn(),
            MofNCompleteColumn(),
            FpsColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        with self._progress:
            if total_files > 1:
                self._overall = self._progress.add_task("all files", total=total_files)
            yield self
        self._progress = None

    @contextmanager
    def file(self, name: str) -> Iterator[FileCallbacks]:
        if self._progress is None:
            yield FileCallbacks(None, None)
            return
        task = self._progress.add_task(name, total=None, start=False)
        try:
            yield FileCallbacks(self._progress, task)
        finally:
            if self._overall is not None:
                self._progress.advance(self._overall)
                self._progress.remove_task(task)

