"""One video in, one deblurred video out: decode -> engine -> encode, streaming.

Three worker threads (decode, inference, encode) pass frames through bounded
queues, so the three stages overlap and at most a few frames exist at any time
whatever the video's length. The calling thread only supervises: it reports
progress, watches ``cancel`` and Ctrl-C, and re-raises the first error of any
worker after all of them have stopped. Output is written atomically: a failed,
cancelled or interrupted run leaves nothing behind.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import av

from .atomic import atomic_output, check_output
from .errors import InputError, Interrupted, OutputError
from .streaming import stream_arrays
from .video.colour import frame_to_rgb
from .video.passthrough import Passthrough, plan_copy
from .video.sink import VideoSink, plan_encoder
from .video.source import VideoSource, describe_error

QUEUE_SIZE = 4  # frames waiting between two stages; bounds memory, enough to overlap the stages
POLL_S = 0.1  # how often blocked workers and the supervisor look at the stop/cancel flags


@dataclass
class VideoResult:
    input: Path
    output: Path
    frames: int
    seconds: float
    fps: float
    warnings: list[str] = field(default_factory=list)


class _Stopped(Exception):
    """Raised inside a worker when another worker failed or the run was cancelled."""


_END = object()


class _Workers:
    """The three stage threads and the queues between them."""

    def __init__(self, source: VideoSource, sink: VideoSink, engine: Any, output: Path, warnings: list[str]) -> None:
        self.source, self.sink, self.engine, self.output = source, sink, engine, output
        self.warnings = warnings
        self.stop = threading.Event()
        self.decoded: queue.Queue = queue.Queue(maxsize=QUEUE_SIZE)
        self.restored: queue.Queue = queue.Queue(maxsize=QUEUE_SIZE)
        self.events: queue.Queue = queue.Queue()  # ("frame", n) / ("done", None) / ("error", exc)
        self.threads = [
            threading.Thread(target=self._run, args=(self._decode,), name="deblur-decode", daemon=True),
            threading.Thread(target=self._run, args=(self._infer,), name="deblur-infer", daemon=True),
            threading.Thread(target=self._run, args=(self._encode,), name="deblur-encode", daemon=True),
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
    def _decode(self) -> None:
        facts = self.source.facts
        rgb_format = self.sink.rgb_format
        size = (facts.width, facts.height)
        for frame in self.source.frames():
            resize = None
            if (frame.width, frame.height) != size:
                resize = size
                note = (f"frame size changes mid-stream ({frame.width}x{frame.height}); "
                        f"such frames were scaled to {size[0]}x{size[1]}")
                if note not in self.warnings:
                    self.warnings.append(note)
            try:
                array = frame_to_rgb(frame, facts.colour, rgb_format, resize)
            except av.error.FFmpegError as exc:
                raise InputError(f"cannot convert frame {self.source.frames_decoded} of {facts.path} "
                                 f"({frame.format.name}) to RGB: {describe_error(exc)}") from None
            self._put(self.decoded, (array, frame.pts, frame.time_base))
        self._put(self.decoded, _END)

    def _infer(self) -> None:
        timing: deque = deque()  # (pts, time_base) of the frames handed to the engine, in order

        def arrays():
            while (item := self._get(self.decoded)) is not _END:
                array, pts, time_base = item
                timing.append((pts, time_base))
                yield array

        engine = self.engine
        if hasattr(engine, "step") and hasattr(engine, "device"):
            restored = stream_arrays(engine, arrays())  # keeps the next frame queued on the GPU
        else:
            restored = (engine.process_array(array) for array in arrays())
        for array in restored:
            self._put(self.restored, (array, *timing.popleft()))
        self._put(self.restored, _END)

    def _encode(self) -> None:
        try:
            while True:
                item = self._get(self.restored)
                if item is _END:
                    break
                self.sink.write(*item)
                self.events.put(("frame", self.sink.frames_written))
            self.sink.finish()
        except (av.error.FFmpegError, OSError) as exc:
            raise OutputError(f"writing {self.output} failed: {describe_error(exc)}") from None
        self.events.put(("done", None))

    # -- supervision (calling thread) --
    def run(self, on_frame: Callable[[int], None] | None, cancel: threading.Event | None) -> None:
        for thread in self.threads:
            thread.start()
        try:
            while True:
                if cancel is not None and cancel.is_set():
                    raise Interrupted("cancelled; partial output removed")
                try:
                    events = [self.events.get(timeout=POLL_S)]
                except queue.Empty:
                    if not any(t.is_alive() for t in self.threads):  # cannot happen: workers always report
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
                    return
        finally:
            self.stop.set()
            self._join_all()

    def _join_all(self) -> None:
        """Wait for every worker, even through a second Ctrl-C: the sink must not be closed under them."""
        interrupted = False
        for thread in self.threads:
            while thread.is_alive():
                try:
                    thread.join(timeout=POLL_S)
                except KeyboardInterrupt:
                    interrupted = True
        if interrupted:
            raise KeyboardInterrupt


def deblur_video(
    input_path,
    output_path,
    engine,
    *,
    codec: str | None = None,
    crf: int | None = None,
    preset: str | None = None,
    overwrite: bool = False,
    on_start: Callable[[int | None], None] | None = None,
    on_frame: Callable[[int], None] | None = None,
    cancel: threading.Event | None = None,
) -> VideoResult:
    """Deblur ``input_path`` into ``output_path`` with ``engine`` (``.reset()``, ``.process_array()``).

    Keeps frame count, size, timestamps, colour tags, rotation and bit depth, and
    copies audio (and subtitles/data where the container allows) untouched.
    Raises InputError / OutputError for bad files, Interrupted after Ctrl-C or
    ``cancel``; in every failure case no output (and no temporary file) remains.
    """
    input_path, output_path = Path(input_path), Path(output_path)
    started = time.perf_counter()
    try:
        return _deblur(input_path, output_path, engine, codec, crf, preset, overwrite, on_start, on_frame, cancel,
                       started)
    except KeyboardInterrupt:
        raise Interrupted("interrupted; partial output removed") from None


def _deblur(input_path: Path, output_path: Path, engine, codec, crf, preset, overwrite,
            on_start, on_frame, cancel, started: float) -> VideoResult:
    with VideoSource(input_path) as source:
        facts = source.facts
        check_output(input_path, output_path, overwrite)
        plan = plan_encoder(output_path, facts, codec, crf, preset)
        copy = plan_copy(input_path, facts.other_streams, plan.muxer, output_path.suffix.lower())
        warnings = list(plan.warnings) + list(copy.warnings)
        passthrough = Passthrough(input_path, copy) if not copy.empty else None
        try:
            with atomic_output(output_path) as temp:
                sink = VideoSink(temp, plan, facts, passthrough)
                try:
                    engine.reset()
                    if on_start is not None:
                        on_start(facts.total_frames)
                    _Workers(source, sink, engine, output_path, warnings).run(on_frame, cancel)
                except BaseException:
                    sink.close()
                    raise
                frames = sink.frames_written
        finally:
            if passthrough is not None:
                passthrough.close()
        notes = (source.damage_warning(), source.truncation_warning(), passthrough.warning if passthrough else None)
        for note in notes:
            if note:
                warnings.append(note)
    seconds = time.perf_counter() - started
    return VideoResult(input_path, output_path, frames, seconds, frames / seconds if seconds > 0 else 0.0, warnings)


__all__ = ["VideoResult", "deblur_video", "QUEUE_SIZE"]
