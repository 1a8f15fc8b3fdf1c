"""Several devices on one board of work: the files of a run and the segments of its long videos.

Each device has one worker thread with one engine (:func:`.batch.run_files`).
A worker takes the next item from the :class:`Board`: a file, which it either
restores in one pass or, for a long video, splits (:class:`.split.SplitVideo`),
putting the file's segments at the front of the board so every device helps
finish it before the next file starts; or a segment, which it makes into a
part. The worker that finishes a file's last part joins the file. While some
worker is still deciding about a file, idle workers wait for its segments
instead of leaving.
"""

from __future__ import annotations

import threading
from collections import deque
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any, Iterable

from ..errors import Interrupted
from .parts import PartJob, make_part
from .progress import Reporter
from .split import SplitVideo
from .video import VideoResult

POLL_S = 0.2  # idle workers look at the cancel flag this often


class Board:
    """A queue of work items that knows whether taken items may still add more (see the module doc).

    Every :meth:`take` that returns an item must be followed by one :meth:`settle`.
    """

    def __init__(self, items: Iterable[Any]) -> None:
        self._items = deque(items)
        self._busy = 0
        self._changed = threading.Condition()

    def take(self, cancel: threading.Event) -> Any | None:
        """The next item; None when there is none and none can come (or the run is cancelled)."""
        with self._changed:
            while not cancel.is_set():
                if self._items:
                    self._busy += 1
                    return self._items.popleft()
                if not self._busy:
                    return None
                self._changed.wait(POLL_S)
            return None

    def settle(self, new: Iterable[Any] = ()) -> None:
        """The taken item is decided; ``new`` items go to the front, in order."""
        with self._changed:
            self._items.extendleft(reversed(list(new)))
            self._busy -= 1
            self._changed.notify_all()


@dataclass
class SplitFile:
    """A file made in parts by several workers: its progress, its devices, and whether it is finished."""

    index: int
    split: SplitVideo
    closer: ExitStack
    bar: Any
    remaining: int
    devices: list[str] = field(default_factory=list)
    made: dict[int, int] = field(default_factory=dict)  # part -> frames written so far
    failed: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def start(cls, index: int, split: SplitVideo, reporter: Reporter, name: str) -> "SplitFile":
        closer = ExitStack()
        bar = closer.enter_context(reporter.file(name))
        bar.on_start(split.expected_frames)
        made = {i: record["frames"] for i, record in split.journal.parts.items()}
        return cls(index, split, closer, bar, len(split.pending), made=made)

    def items(self) -> list["PartItem"]:
        return [PartItem(self, job) for job in self.split.pending]

    def progress(self, part: int, frames: int) -> None:
        with self.lock:
            self.made[part] = frames
            done = sum(self.made.values())
        self.bar.on_frame(done)

    def finish(self) -> None:
        self.closer.close()


@dataclass(frozen=True)
class PartItem:
    file: SplitFile
    job: PartJob | None  # None: nothing to make, only the join


def make_item_part(item: PartItem, engine: Any, device: str, cancel: threading.Event) -> bool:
    """Make one part and record it; True when it was the file's last (the caller then joins the file).

    Raises as :func:`.parts.make_part` does; the caller marks the file failed (see :func:`fail`).
    """
    file = item.file
    if item.job is None:  # every part was kept from an earlier run: only the join is left
        return not file.failed
    with file.lock:
        if device not in file.devices:
            file.devices.append(device)
    index = item.job.segment.index
    result = make_part(item.job, engine, cancel=cancel, on_frame=lambda n: file.progress(index, n))
    file.progress(index, result.frames)
    left = file.split.record(result)  # exactly one worker sees 0: the one that joins
    with file.lock:
        return left == 0 and not file.failed


def join(file: SplitFile) -> VideoResult:
    try:
        return file.split.join()
    finally:
        file.split.release()
        file.finish()


def fail(file: SplitFile, exc: BaseException) -> BaseException | None:
    """Mark the file failed (its other parts are skipped); the error to report, or None if already reported."""
    with file.lock:
        first, file.failed = not file.failed, True
    if not first:
        return None
    file.split.release()
    file.finish()
    if isinstance(exc, (Interrupted, KeyboardInterrupt)):
        return file.split.interrupted(exc)
    return exc


def device_names(file: SplitFile) -> str:
    return ",".join(file.devices)
