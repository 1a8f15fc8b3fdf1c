"""One input in, one deblurred output out: read -> engine -> write, streaming.

The input is a video file or a folder of image frames (:mod:`.sequence`); the
output is a video file, or for an image-sequence input also a frame folder,
plus optionally the restored frames as PNGs (``frames_out``). The work runs on
three threads with bounded queues (:mod:`.stages`), so memory does not grow
with the video's length. Output is written atomically: a failed, cancelled or
interrupted run leaves nothing behind.
"""

from __future__ import annotations

import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from fractions import Fraction
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import av

from ..errors import InputError, Interrupted
from ..inference.engine import Engine
from ..io.atomic import atomic_output, check_output
from ..io.colour import frame_to_rgb
from ..io.images import FrameWriter
from ..io.passthrough import Passthrough, Window, plan_copy
from ..io.sequence import DEFAULT_FPS, FrameSequence, is_sequence_output
from ..io.sink import VideoSink, plan_encoder
from ..io.source import VideoFacts, VideoSource, describe_error
from ..io.timespan import EPSILON, Span
from .compare import compose
from .options import VideoOptions, with_settings
from .scenecut import SceneCutDetector
from .stages import QUEUE_SIZE, Outputs, Stages, TimedFrame


@dataclass
class VideoResult:
    input: Path
    output: Path
    frames: int
    seconds: float
    fps: float
    warnings: list[str] = field(default_factory=list)
    cuts: list[int] = field(default_factory=list)  # output frame indices where a new shot starts (engine reset)
    frames_out: Path | None = None  # the folder of restored PNG frames, when asked for


def open_source(path: Path, fps: float | str = DEFAULT_FPS) -> VideoSource | FrameSequence:
    """A folder is an image sequence, anything else a video file."""
    return FrameSequence(path, fps) if path.is_dir() else VideoSource(path)


def _part(items: Iterable[tuple], end: float | None, shift: Fraction) -> Iterator[tuple]:
    """(payload, pts, time_base) items before ``end`` seconds, timestamps moved ``shift`` seconds earlier."""
    for payload, pts, time_base in items:
        if pts is not None and time_base:
            if end is not None and pts * time_base >= end - EPSILON:
                return
            if shift:
                pts -= round(shift / time_base)
        yield payload, pts, time_base


def _decoded(source: VideoSource, rgb_format: str, warnings: list[str], end: float | None,
             shift: Fraction) -> Iterator[TimedFrame]:
    """The video's frames (from the seek point, up to ``end``) as RGB arrays."""
    facts = source.facts
    size = (facts.width, facts.height)
    for frame, pts, time_base in _part(((f, f.pts, f.time_base) for f in source.frames()), end, shift):
        resize = None
        if (frame.width, frame.height) != size:
            resize = size
            note = (f"frame size changes mid-stream ({frame.width}x{frame.height}); "
                    f"such frames were scaled to {size[0]}x{size[1]}")
            if note not in warnings:
                warnings.append(note)
        try:
            array = frame_to_rgb(frame, facts.colour, rgb_format, resize)
        except av.error.FFmpegError as exc:
            raise InputError(f"cannot convert frame {source.frames_decoded} of {facts.path} "
                             f"({frame.format.name}) to RGB: {describe_error(exc)}") from None
        yield array, pts, time_base


def _expected_frames(facts: VideoFacts, span: Span) -> int | None:
    """Frames the run will produce, for progress bars (exact for whole clips that say, else an estimate)."""
    if span.whole:
        return facts.total_frames
    rate = facts.average_rate
    length = span.duration
    if facts.duration is not None:
        remaining = max(facts.duration - span.start, 0.0)
        length = remaining if length is None else min(length, remaining)
    return None if length is None or not rate else max(1, round(length * rate))


def deblur_video(
    input_path: str | Path,
    output_path: str | Path,
    engine: Engine,
    options: VideoOptions | None = None,
    *,
    frames_out: str | Path | None = None,
    on_start: Callable[[int | None], None] | None = None,
    on_frame: Callable[[int], None] | None = None,
    cancel: threading.Event | None = None,
    **settings: Any,
) -> VideoResult:
    """Deblur ``input_path`` into ``output_path`` with ``engine`` (an :class:`~deblur_cli.inference.engine.Engine`).

    ``input_path``: a video file, or a folder of image frames taken at ``fps``.
    ``output_path``: a video file; for a frame-folder input, a path without a
    video extension is a folder that receives PNG frames instead.

    ``options`` (:class:`~deblur_cli.pipeline.options.VideoOptions`), or its
    fields as keywords (``crf=20, compare="side"``): encoder, ``start`` /
    ``duration`` (seconds or ``HH:MM:SS[.ms]``, counted from the first frame;
    the output's timestamps then begin at 0 and the other streams are cut to
    the same span at packet boundaries, without re-encoding), ``compare``
    ("side" or "split": a before/after composite), ``scene_cuts`` (reset the
    engine's recurrence at every hard cut), ``fps`` (of an image sequence) and
    ``overwrite``. ``frames_out``: a folder that also receives each restored
    frame as a PNG (the restored frame alone, never the composite).

    Keeps frame count, size, timestamps, colour tags, rotation and bit depth, and
    copies audio (and subtitles/data where the container allows) untouched.
    Raises InputError / OutputError / OptionError for bad files or settings,
    Interrupted after Ctrl-C or ``cancel``; in every failure case no output (and
    no temporary file) remains.

    A video longer than about 1.5 ``segment`` seconds (default 30; 0: never) is
    restored in segments cut at keyframes, each encoded into a part kept in a
    hidden work folder beside the output and joined at the end (:mod:`.split`):
    a failed or interrupted run leaves those parts, and the same call resumes
    from them (``resume=False``: starts over). Not with ``frames_out``.
    """
    options = with_settings(options, VideoOptions, settings)
    run = _Run(Path(input_path), Path(output_path), engine, options, None if frames_out is None else Path(frames_out))
    started = time.perf_counter()
    try:
        if frames_out is None:  # a long video goes in resumable segments (pipeline.split); a short one as below
            from .split import SplitVideo, engine_identity, run_in_parts

            split = SplitVideo.prepare(run.input, run.output, options, engine_identity(engine))
            if split is not None:
                return run_in_parts(split, engine, on_start, on_frame, cancel)
        return _deblur(run, on_start, on_frame, cancel, started)
    except KeyboardInterrupt:
        raise Interrupted("interrupted; partial output removed") from None


@dataclass(frozen=True)
class _Run:
    """One call's inputs, handed down whole."""

    input: Path
    output: Path
    engine: Engine
    options: VideoOptions
    frames_out: Path | None


def _open_outputs(stack: ExitStack, source: VideoSource | FrameSequence, run: _Run, shown_facts: VideoFacts,
                  window: Window | None, warnings: list[str]) -> tuple[Outputs, str, Passthrough | None]:
    """The outputs of one run, entered on ``stack`` (which removes them again if the run fails).

    Everything that can refuse an output (exists, bad extension or codec, audio
    the container cannot hold) is decided before anything is written.
    Returns the outputs, the RGB format the frames must come in, and the
    stream copy (whose warning is known only at the end).
    """
    input_path, output_path, frames_out, overwrite = run.input, run.output, run.frames_out, run.options.overwrite
    sequence = isinstance(source, FrameSequence)
    to_folder = sequence and is_sequence_output(output_path)
    passthrough = plan = None
    if not to_folder:
        check_output(input_path, output_path, overwrite)
        plan = plan_encoder(output_path, shown_facts, **run.options.encode)
        copy = plan_copy(input_path, shown_facts.other_streams, plan.muxer, output_path.suffix.lower())
        warnings += plan.warnings + copy.warnings
        if not copy.empty:
            passthrough = Passthrough(input_path, copy, window)
            stack.callback(passthrough.close)

    def frame_writer(folder: Path) -> FrameWriter:
        input_folder = input_path if sequence else None  # FrameWriter refuses to write into the input
        return stack.enter_context(FrameWriter(folder, overwrite=overwrite, input_folder=input_folder))

    main_writer = frame_writer(output_path) if to_folder else None
    restored_writer = frame_writer(frames_out) if frames_out else None
    if to_folder:
        write_main, finish_main = (lambda shown, pts, time_base: main_writer.write(shown)), (lambda: None)
        rgb_format = "rgb48le" if shown_facts.bit_depth > 8 else "rgb24"
    else:
        sink = VideoSink(stack.enter_context(atomic_output(output_path)), plan, shown_facts, passthrough)
        stack.push(lambda kind, exc, tb: sink.close() if kind is not None else None)
        write_main, finish_main, rgb_format = sink.write, sink.finish, sink.rgb_format

    def write(restored, shown, pts, time_base) -> None:
        write_main(shown, pts, time_base)
        if restored_writer is not None:
            restored_writer.write(restored)

    return Outputs(write, finish_main, output_path), rgb_format, passthrough


def _deblur(run: _Run, on_start, on_frame, cancel, started: float) -> VideoResult:
    options = run.options
    span = options.span
    with open_source(run.input, options.fps) as source:
        facts = source.facts
        shift, window = Fraction(0), None
        if span.start > 0:
            shift = Fraction(source.seek(source.first_time + span.start))  # the output starts at 0
        end = span.end_after(source.first_time)
        if not span.whole:
            window = Window(start=float(shift) if span.start > 0 else None, end=end, shift=shift)
        shown_facts = replace(facts, width=facts.width * 2) if options.compare == "side" else facts
        warnings: list[str] = []
        with ExitStack() as stack:
            outputs, rgb_format, passthrough = _open_outputs(stack, source, run, shown_facts, window, warnings)
            if isinstance(source, FrameSequence):
                frames = _part(source.arrays(), end, shift)
            else:
                frames = _decoded(source, rgb_format, warnings, end, shift)
            run.engine.reset()
            if on_start is not None:
                on_start(_expected_frames(facts, span))
            stages = Stages(frames, run.engine, outputs, detector=SceneCutDetector() if options.scene_cuts else None,
                            compose=partial(compose, mode=options.compare) if options.compare else None)
            result = stages.run(on_frame, cancel)
        notes = (source.damage_warning(), source.truncation_warning(until=end),
                 passthrough.warning if passthrough else None)
        warnings += [note for note in notes if note]
    seconds = time.perf_counter() - started
    return VideoResult(run.input, run.output, result.frames, seconds,
                       result.frames / seconds if seconds > 0 else 0.0, warnings, result.cuts, run.frames_out)


__all__ = ["VideoResult", "VideoOptions", "deblur_video", "open_source", "QUEUE_SIZE"]
