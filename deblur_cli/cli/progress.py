"""Progress display: rich bars on a terminal, a line every few seconds elsewhere, or nothing with ``-q``.

On a terminal each file gets a bar (frames, fps, ETA) and a folder also an
overall bar. Outside a terminal (a log file, CI, ``nohup``) bars would be
noise, but a long unattended job must still show life: a line goes to stderr
every :data:`LOG_INTERVAL_S` seconds. The overall figures count frames, not
files, so the rate and ETA mean something when files differ in length: files
not started yet are assumed to be as long as the average of those started.
The pipeline only knows two callbacks, ``on_start(total_frames)`` and
``on_frame(done)`` (called from worker threads); this module turns them into output.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Iterator

from rich.console import Console
from rich.markup import escape
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

from ..errors import shown
from .report import say

LOG_INTERVAL_S = 5.0  # outside a terminal: seconds between progress lines


class FpsColumn(ProgressColumn):
    """Frames per second, from rich's own moving speed estimate."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:5.1f} fps" if speed else "  ... fps", style="progress.data.speed")


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class Tally:
    """Frames done and expected over a whole run, from the callbacks of every file (thread-safe)."""

    def __init__(self, total_files: int) -> None:
        self.total_files = total_files
        self.skipped = 0  # files with nothing to do (their output exists)
        self.started = time.monotonic()
        self.files: dict[int, list] = {}  # key -> [name, total or None, done, started_at, finished]
        self._lock = threading.RLock()

    def begin(self, key: int, name: str) -> None:
        with self._lock:
            self.files[key] = [name, None, 0, time.monotonic(), False]

    def set_total(self, key: int, total: int | None) -> None:
        with self._lock:
            self.files[key][1] = total

    def update(self, key: int, done: int) -> None:
        with self._lock:
            self.files[key][2] = done

    def skip(self) -> None:
        with self._lock:
            self.skipped += 1

    def finish(self, key: int) -> None:
        with self._lock:
            entry = self.files[key]
            entry[1], entry[4] = entry[2], True  # a finished file's length is what it had

    @property
    def files_done(self) -> int:
        with self._lock:
            return self.skipped + sum(1 for entry in self.files.values() if entry[4])

    @property
    def frames_done(self) -> int:
        with self._lock:
            return sum(entry[2] for entry in self.files.values())

    def frames_expected(self) -> int | None:
        """All frames of the run: known lengths, plus the files not started at their average length."""
        with self._lock:
            lengths = [entry[1] for entry in self.files.values() if entry[1] is not None]
            if not lengths:
                return None
            unstarted = max(self.total_files - self.skipped - len(self.files), 0)
            return sum(lengths) + round(unstarted * sum(lengths) / len(lengths))

    def line(self, key: int | None) -> str:
        """One progress line: the whole run (several files), or one file."""
        with self._lock:
            return self._line(key)

    def _line(self, key: int | None) -> str:
        now = time.monotonic()
        if key is None:
            done, total, since = self.frames_done, self.frames_expected(), self.started
            head = f"{self.files_done}/{self.total_files} files, "
        else:
            name, total, done, since, _ = self.files[key]
            head = f"{shown(name)}: "
        rate = done / (now - since) if now > since else 0.0
        text = f"progress: {head}{done}" + (f"/{total} frames ({100 * done / total:.0f}%)" if total else " frames")
        text += f", {rate:.1f} fps"
        if total and rate > 0 and done < total:
            text += f", ETA {_clock((total - done) / rate)}"
        return text


class FileCallbacks:
    """The two callbacks the pipeline takes, for one file: they feed the tally and the bars or the log."""

    def __init__(self, reporter: "ProgressReporter", key: int, task: TaskID | None) -> None:
        self._reporter, self._key, self._task = reporter, key, task

    def on_start(self, total: int | None) -> None:
        reporter = self._reporter
        reporter.tally.set_total(self._key, total)
        if reporter.progress is not None:
            reporter.progress.update(self._task, total=total)
            reporter.progress.start_task(self._task)
            reporter.update_overall()

    def on_frame(self, done: int) -> None:
        reporter = self._reporter
        reporter.tally.update(self._key, done)
        if reporter.progress is not None:
            reporter.progress.update(self._task, completed=done)
            reporter.update_overall()
        else:
            reporter.maybe_log(self._key)


class ProgressReporter:
    """Bars on a terminal, periodic lines elsewhere; nothing when not ``enabled``."""

    def __init__(self, enabled: bool, console: Console | None = None, interval: float | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.enabled = enabled
        self.interval = LOG_INTERVAL_S if interval is None else interval
        self.progress: Progress | None = None
        self.tally = Tally(1)
        self._overall: TaskID | None = None
        self._next_log = 0.0
        self._keys = iter(range(1 << 62))
        self._lock = threading.Lock()

    @contextmanager
    def session(self, total_files: int) -> Iterator["ProgressReporter"]:
        self.tally = Tally(total_files)
        self._next_log = time.monotonic() + self.interval
        if not (self.enabled and self.console.is_terminal):
            yield self
            return
        self.progress = Progress(
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
        with self.progress:
            if total_files > 1:  # in frames, so that rate and ETA do not depend on how long each file is
                self._overall = self.progress.add_task(f"all files (0/{total_files})", total=None)
            yield self
        self.progress = None

    def update_overall(self) -> None:
        if self.progress is not None and self._overall is not None:
            tally = self.tally
            self.progress.update(self._overall, completed=tally.frames_done, total=tally.frames_expected(),
                                 description=f"all files ({tally.files_done}/{tally.total_files})")

    def maybe_log(self, key: int) -> None:
        """Outside a terminal: a progress line if the interval has passed (whole run for several files)."""
        if not self.enabled or self.progress is not None:
            return
        with self._lock:
            now = time.monotonic()
            if now < self._next_log:
                return
            self._next_log = now + self.interval
        say(self.console, self.tally.line(None if self.tally.total_files > 1 else key))

    def skipped(self, name: str) -> None:
        self.tally.skip()
        self.update_overall()

    @contextmanager
    def file(self, name: str) -> Iterator[FileCallbacks]:
        key = next(self._keys)
        self.tally.begin(key, name)
        task = None
        if self.progress is not None:
            task = self.progress.add_task(escape(shown(name)), total=None, start=False)
        try:
            yield FileCallbacks(self, key, task)
        finally:
            self.tally.finish(key)
            if self.progress is not None:
                if self._overall is not None:
                    self.progress.remove_task(task)
                self.update_overall()
