"""The three worker threads of a run (read, restore, write) and the bounded queues between them.

Reading, restoring and writing overlap, and at most a few frames exist at any
time whatever the video's length. The calling thread only supervises: it
reports progress, watches ``cancel`` and Ctrl-C (or a SIGTERM/SIGHUP turned into
one, see :mod:`deblur_cli.cli.signals`), and re-raises the first error of any
worker after all of them have stopped.

What runs where: the read thread also scores scene cuts (cheap, and off the
restoring thread); the restore thread resets the engine's recurrence at a cut
and builds the before/after composite; the write thread hands each frame to
the outputs. Each thread adds the seconds of its stages, and the time it is
blocked on its queues, to a :class:`~deblur_cli.inference.timing.StageTimes`
(``StageResult.stages``): the stage that limits a run is the busiest one.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import av
import numpy as np

from ..errors import Interrupted, OutputError, exit_code_of, stopped_by
from ..inference.engine import Engine
from ..inference.frames import Frame
from ..inference.strength import RestoredTally
from ..inference.timing import StageTimes, collecting
from ..io.probe import describe_error
from .scenecut import SceneCutDetector
from .workers import Worker, wait_all

QUEUE_SIZE = 4  # frames waiting between two stages; bounds memory, enough to overlap the stages
POLL_S = 0.1  # how often blocked workers and the supervisor look at the stop/cancel flags

# What the read side yields: a frame (an (H, W, 3) uint8/uint16 RGB array, or a YuvFrame) and its timestamp.
TimedFrame = tuple[Frame, "int | None", "Fraction | None"]


@dataclass
class Outputs:
    """Where restored frames go. ``write(restored, shown, pts, time_base)`` per frame, then ``finish()``.

    ``shown`` is what the main output shows (the before/after composite with
    ``--compare``, else the restored frame itself). Frames are RGB arrays, or
    YuvFrames in ``planes`` (the encoder's pixel format and colour) where that is not None.
    """

    write: Callable[[Frame, Frame, int | None, Fraction | None], None]
    finish: Callable[[], None]
    name: Path  # for error messages
    colour_seconds: Callable[[], float] = lambda: 0.0  # of the writes' time, how much went to colour conversion
    planes: tuple[str, Any] | None = None  # (pix_fmt, io.colour.ColourInfo) the main output takes planes in


@dataclass
class StageResult:
    frames: int = 0
    cuts: list[int] = field(default_factory=list)  # indices of the frames that start a new shot
    stages: dict[str, float] = field(default_factory=dict)  # seconds per stage (inference.timing.STAGES)
    restored: int = 0  # frames written from the engine's output (not warm-up frames, not passed ones)
    strength: float | None = None  # the mean strength over those (engines with a strength, else None)


class _Stopped(Exception):
    """Raised inside a worker when another worker failed or the run was cancelled."""


_END = object()
PASS, WARM, RESTORE = "pass", "warm", "restore"  # what becomes of a frame (pipeline.skipping)


class _Peek:
    """A queue read one item ahead: ``peek`` looks at the next item without taking it."""

    def __init__(self, get: Callable[[], Any]) -> None:
        self.get, self.next = get, None
        self.ready = False

    def peek(self):
        if not self.ready:
            self.next, self.ready = self.get(), True
        return self.next

    def take(self):
        item = self.peek()
        if item is not _END:
            self.ready = False
        return item


class Stages:
    """Runs ``frames`` through ``engine`` into ``outputs`` on three threads."""

    def __init__(self, frames: Iterable[TimedFrame], engine: Engine, outputs: Outputs, *,
                 detector: SceneCutDetector | None = None,
                 compose: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
                 times: StageTimes | None = None,
                 select: Callable[[int | None, Fraction | None], str] | None = None) -> None:
        self.frames, self.engine, self.outputs = frames, engine, outputs
        self.detector, self.compose = detector, compose
        # "pass", "warm" (through the engine, the input written, e.g. --skip-sharp's or a segment's warm-up) or
        # "restore" per frame (pipeline.skipping); each run of frames that are not passed starts with a reset
        self.select = select
        self.times = times if times is not None else StageTimes()  # the frames' producer may add colour_in
        self.result = StageResult()
        self.tally = RestoredTally(engine)
        self.stop = threading.Event()
        self.decoded: queue.Queue = queue.Queue(maxsize=QUEUE_SIZE)
        self.restored: queue.Queue = queue.Queue(maxsize=QUEUE_SIZE)
        self.events: queue.Queue = queue.Queue()  # ("frame", n) / ("done", None) / ("error", exc)
        self.workers = [
            Worker(self._run, "deblur-decode", (self._read,)),
            Worker(self._run, "deblur-infer", (self._infer,)),
            Worker(self._run, "deblur-encode", (self._write,)),
        ]

    # -- queue helpers that give up when the run is stopping, and count the time they wait as ``stage`` --
    def _blocking(self, attempt: Callable[[], Any], stage: str):
        """``attempt()`` (a queue call with a timeout) until it succeeds or the run stops."""
        started = time.perf_counter()
        try:
            while True:
                if self.stop.is_set():
                    raise _Stopped
                try:
                    return attempt()
                except (queue.Full, queue.Empty):
                    continue
        finally:
            self.times.add(stage, time.perf_counter() - started)

    def _put(self, q: queue.Queue, item, stage: str) -> None:
        self._blocking(lambda: q.put(item, timeout=POLL_S), stage)

    def _get(self, q: queue.Queue, stage: str):
        return self._blocking(lambda: q.get(timeout=POLL_S), stage)

    def _timed_next(self, items: Iterator, stage: str):
        """The next item of ``items`` (or _END), its time counted as ``stage``."""
        started = time.perf_counter()
        try:
            return next(items, _END)
        finally:
            self.times.add(stage, time.perf_counter() - started)

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
        frames, index = iter(self.frames), 0
        while (item := self._timed_next(frames, "decode")) is not _END:  # the producer's colour_in comes off later
            array, pts, time_base = item
            cut = False
            if self.detector is not None:
                with self.times.measure("scene_cuts"):
                    cut = self.detector.is_cut(array)
            if cut:
                self.result.cuts.append(index)
            mode = RESTORE if self.select is None else self.select(pts, time_base)
            self._put(self.decoded, (array, pts, time_base, cut, mode), "wait_read_out")
            index += 1
        self._put(self.decoded, _END, "wait_read_out")

    def _infer(self) -> None:
        """Frames through the engine in runs: a run ends before a frame that passes (``--skip-sharp``), and the
        next run starts with a reset, so each stretch is restored after its own warm-up frames."""
        decoded = _Peek(lambda: self._get(self.decoded, "wait_restore_in"))
        while (item := decoded.peek()) is not _END:
            if item[4] == PASS:
                decoded.take()
                array, pts, time_base = item[:3]
                self._put(self.restored, (array, self._shown(array, array), pts, time_base), "wait_restore_out")
                continue
            if self.select is not None:
                self.engine.reset()  # a stretch starts clean, its warm-up frames rebuild the recurrence
            self._restore_run(decoded)
        self._put(self.restored, _END, "wait_restore_out")

    def _shown(self, original, array):
        if self.compose is None:
            return array
        with self.times.measure("compose"):
            return self.compose(original, array)

    def _restore_run(self, decoded: "_Peek") -> None:
        """Frames until the next one that passes (or the end) through the engine, in one ``restore`` call."""
        pending: deque = deque()  # (original or None, pts, time_base, mode) of the frames handed to the engine
        engine, times = self.engine, self.times

        def arrays() -> Iterator[Frame]:
            while (item := decoded.peek()) is not _END and item[4] != PASS:
                decoded.take()
                array, pts, time_base, cut, mode = item
                if cut:
                    engine.reset()  # the frame before is already with the engine: the new shot starts clean
                keep = self.compose is not None or mode == WARM
                pending.append((array if keep else None, pts, time_base, mode))
                yield array

        with collecting(times):  # the engine adds its upload/model/download split where it can (stream_arrays)
            results = iter(engine.restore(arrays()))
            while (array := self._timed_next(results, "engine")) is not _END:
                original, pts, time_base, mode = pending.popleft()
                written = original if mode == WARM else array  # a warm-up frame is written as it came
                if mode == RESTORE:
                    self.tally.count()
                self._put(self.restored, (written, self._shown(original, written), pts, time_base),
                          "wait_restore_out")

    def _write(self) -> None:
        try:
            while (item := self._get(self.restored, "wait_write_in")) is not _END:
                with self.times.measure("encode"):  # the sink's colour conversion comes off later
                    self.outputs.write(*item)
                self.result.frames += 1
                self.events.put(("frame", self.result.frames))
            with self.times.measure("encode"):
                self.outputs.finish()
        except (av.error.FFmpegError, OSError) as exc:
            raise OutputError(f"writing {self.outputs.name} failed: {describe_error(exc)}") from None
        self.events.put(("done", None))

    def _settle_times(self) -> dict[str, float]:
        """The stage seconds once the workers have stopped: nested measures taken out of the outer ones."""
        seconds = self.times.seconds
        seconds["decode"] = max(seconds["decode"] - seconds["colour_in"], 0.0)
        seconds["colour_out"] += self.outputs.colour_seconds()
        seconds["encode"] = max(seconds["encode"] - seconds["colour_out"], 0.0)
        engine = max(seconds.pop("engine", 0.0) - seconds["wait_restore_in"], 0.0)  # the engine's own time
        if not any(seconds[s] for s in ("upload", "model", "download")):  # an engine that says nothing of it
            seconds["model"] = engine
        return self.times.as_dict()

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
            self.result.stages = self._settle_times()
            self.result.restored, self.result.strength = self.tally.frames, self.tally.strength
            if late is not None:
                raise late
