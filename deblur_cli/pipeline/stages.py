"""The three worker threads of a run (read, restore, write) and the bounded queues between them.

Reading, restoring and writing overlap, and at most a few frames exist at any
time whatever the video's length. The calling thread only supervises: it
reports progress, watches ``cancel`` and Ctrl-C (or a SIGTERM/SIGHUP turned into
one, see :mod:`deblur_cli.cli.signals`), and re-raises the first error of any
worker after all of them have stopped.

What runs where: the read thread also scores scene cuts (cheap, and off the
restoring thread); the restore thread resets the engine's recurrence at a cut
and builds the before/after composite; the write thread hands each frame to
the outputs.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterable, Iterator

import av
import numpy as np

from ..errors import Interrupted, OutputError, exit_code_of, stopped_by
from ..inference.engine import Engine
from ..io.probe import describe_error
from .scenecut import SceneCutDetector
from .workers import Worker, wait_all

QUEUE_SIZE = 4  # frames waiting between two stages; bounds memory, enough to overlap the stages
POLL_S = 0.1  # how often blocked workers and the supervisor look at the stop/cancel flags

# What the read side yields: an (H, W, 3) uint8/uint16 RGB frame and its timestamp.
TimedFrame = tuple[np.ndarray, "int | None", "Fraction | None"]


@dataclass
class Outputs:
    """Where restored frames go. ``write(restored, shown, pts, time_base)`` per frame, then ``finish()``.

    ``shown`` is what the main output shows (the before/after composite with
    ``--compare``, else the restored frame itself).
    """

    write: Callable[[np.ndarray, np.ndarray, int | None, Fraction | None], None]
    finish: Callable[[], None]
    name: Path  # for error messages


@dataclass
class StageResult:
    frames: int = 0
    cuts: list[int] = field(default_factory=list)  # indices of the frames that start a new shot


class _Stopped(Exception):
    """Raised inside a worker when another worker failed or the run was cancelled."""


_END = object()


class Stages:
    """Runs ``frames`` through ``engine`` into ``outputs`` on three threads."""

    def __init__(self, frames: Iterable[TimedFrame], engine: Engine, outputs: Outputs, *,
                 detector: SceneCutDetector | None = None,
                 compose: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None) -> None:
        self.frames, self.engine, self.outputs = frames, engine, outputs
        self.detector, self.compose = detector, compose
        self.result = StageResult()
        self.stop = threading.Event()
        self.decoded: queue.Queue = queue.Queue(maxsize=QUEUE_SIZE)
        self.restored: queue.Queue = queue.Queue(maxsize=QUEUE_SIZE)
        self.events: queue.Queue = queue.Queue()  # ("frame", n) / ("done", None) / ("error", exc)
        self.workers = [
            Worker(self._run, "deblur-decode", (self._read,)),
            Worker(self._run, "deblur-infer", (self._infer,)),
            Worker(self._run, "deblur-encode", (self._write,)),
        ]

    # -- queue helpers that give up when the run is stopping --
    def _put(self, q: queue.Queue, item) -> None:
        while True:
            if self.stop.is_set():
                raise _Stopped
            try:
                q.put(item, timeout=POLL_S)
                return
            except queue.Full:
                continue

    def _get(self, q: queue.Queue):
        while True:
            if self.stop.is_set():
                raise _Stopped
            try:
                return q.get(timeout=POLL_S)
            except queue.Empty:
                continue

    def _run(self, stage: Callable[[], None]) -> None:
        try:
            stage()
        except _Stopped:
            pass
        except BaseException as exc:  # handed to the supervisor, which re-raises it
            self.stop.set()
            self.events.put(("error", exc))

    # -- the stages --
    def _read(self) -> None:
        for index, (array, pts, time_base) in enumerate(self.frames):
            cut = self.detector is not None and self.detector.is_cut(array)
            if cut:
                self.result.cuts.append(index)
            self._put(self.decoded, (array, pts, time_base, cut))
        self._put(self.decoded, _END)

    def _infer(self) -> None:
        pending: deque = deque()  # (original or None, pts, time_base) of the frames handed to the engine, in order
        engine = self.engine

        def arrays() -> Iterator[np.ndarray]:
            while (item := self._get(self.decoded)) is not _END:
                array, pts, time_base, cut = item
                if cut:
                    engine.reset()  # the frame before is already with the engine: the new shot starts clean
                pending.append((array if self.compose is not None else None, pts, time_base))
                yield array

        for array in engine.restore(arrays()):
            original, pts, time_base = pending.popleft()
            shown = self.compose(original, array) if self.compose is not None else array
            self._put(self.restored, (array, shown, pts, time_base))
        self._put(self.restored, _END)

    def _write(self) -> None:
        try:
            while True:
                item = self._get(self.restored)
                if item is _END:
                    break
                self.outputs.write(*item)
                self.result.frames += 1
                self.events.put(("frame", self.result.frames))
            self.outputs.finish()
        except (av.error.FFmpegError, OSError) as exc:
            raise OutputError(f"writing {self.outputs.name} failed: {describe_error(exc)}") from None
        self.events.put(("done", None))

    # -- supervision (calling thread) --
    def run(self, on_frame: Callable[[int], None] | None, cancel: threading.Event | None) -> StageResult:
        """Run to the end; Interrupted (with the frames written so far) after ``cancel`` or Ctrl-C/a handled signal."""
        try:
            return self._supervise(on_frame, cancel)
        except KeyboardInterrupt as exc:  # the workers have stopped (see below): say how far the run got
            raise Interrupted(f"{stopped_by(exc)}; partial output removed", exit_code=exit_code_of(exc),
                              frames=self.result.frames) from None
        except Interrupted as exc:
            exc.frames = self.result.frames
            raise

    def _supervise(self, on_frame: Callable[[int], None] | None, cancel: threading.Event | None) -> StageResult:
        try:
            for worker in self.workers:  # inside the try: a Ctrl-C while starting them still stops those started
                worker.start()
            while True:
                if cancel is not None and cancel.is_set():
                    raise Interrupted("cancelled; partial output removed")
                try:
                    events = [self.events.get(timeout=POLL_S)]
                except queue.Empty:
                    if not any(w.running for w in self.workers):  # cannot happen: workers always report
                        raise RuntimeError("pipeline workers ended without reporting") from None
                    continue
                while not self.events.empty():
                    events.append(self.events.get_nowait())
                latest, finished = None, False
                for kind, value in events:
                    if kind == "error":
                        raise value
                    if kind == "frame":
                        latest = value
                    finished = finished or kind == "done"
                if latest is not None and on_frame is not None:
                    on_frame(latest)  # only the newest count when several arrived at once
                if finished:
                    return self.result
        finally:
            self.stop.set()
            # Wait for every worker, even through another Ctrl-C: the outputs must not be closed under them.
            late = wait_all(self.workers, POLL_S)
            if late is not None:
                raise late
