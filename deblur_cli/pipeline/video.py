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
from pathlib import Path
from typing import Any, Callable

from ..errors import Interrupted, exit_code_of, stopped_by
from ..inference.engine import Engine
from ..inference.timing import StageTimes
from ..io.passthrough import Window
from ..io.probe import VideoFacts
from ..io.sequence import DEFAULT_FPS, FrameSequence
from ..io.source import VideoSource
from ..io.timespan import Span
from .compare import composer
from .options import VideoOptions, with_settings
from .outputs import RunSpec, open_outputs
from .reading import CPU, DEVICE, _part, decoded_frames, plane_layouts
from .scenecut import SceneCutDetector
from .segments import count_frames
from .stages import QUEUE_SIZE, Stages


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
    stages: dict[str, float] = field(default_factory=dict)  # seconds per stage (inference.timing.STAGES)
    colour: str = CPU  # where colour was converted: "cpu" (swscale) or "device" (pipeline.reading)
    strength: float | None = None  # mean weight over the restored frames (engines with a strength, else None)
    restored: int = 0  # frames written from the network's output (--skip-sharp: fewer than ``frames``)
    copied: bool = False  # --skip-sharp found it sharp: its streams were copied as they are (pipeline.skipping)

    def after(self, seconds: float) -> "VideoResult":
        """The same result with ``seconds`` spent on the file before it counted too (--skip-sharp's scan)."""
        total = self.seconds + seconds
        return replace(self, seconds=total, fps=self.frames / total if total > 0 else 0.0)


def open_source(path: Path, fps: float | str = DEFAULT_FPS) -> VideoSource | FrameSequence:
    """A folder is an image sequence, anything else a video file."""
    return FrameSequence(path, fps) if path.is_dir() else VideoSource(path)


def _expected_frames(facts: VideoFacts, span: Span) -> int | None:
    """Frames the run will produce, for progress bars (exact for whole clips that say, else an estimate)."""
    if span.whole:
        counted = count_frames(facts.path) if facts.path.is_file() else None
        return counted or facts.total_frames
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
    ("side" or "split": a before/after composite; "map": where the
    restoration was written), ``scene_cuts`` (reset the engine's recurrence
    at every hard cut), ``fps`` (of an image sequence) and
    ``overwrite``. ``frames_out``: a folder that also receives each restored
    frame as a PNG (the restored frame alone, never the composite).

    Keeps frame count, size, timestamps, colour tags, rotation, pixel aspect
    ratio and bit depth, copies audio untouched and in sync (and subtitles, data,
    chapters, cover art and the timecode where the container allows; a warning
    in ``VideoResult.warnings`` names what it does not). Raises InputError /
    OutputError / OptionError for bad files or settings, Interrupted (with the
    frames done) after Ctrl-C, a SIGTERM/SIGHUP under
    :func:`deblur_cli.cli.signals.stop_on_signals`, or ``cancel``; in every failure
    case no output (and no temporary file) remains.

    A video longer than about 1.5 ``segment`` seconds (default 30; 0: never) is
    restored in segments cut at keyframes, each encoded into a part kept in a
    hidden work folder beside the output and joined at the end (:mod:`.split`):
    a failed or interrupted run leaves those parts, and the same call resumes
    from them (``resume=False``: starts over). Not with ``frames_out``.
    """
    options = with_settings(options, VideoOptions, settings)
    frames_folder = None if frames_out is None else Path(frames_out)
    started = time.perf_counter()
    try:
        if options.skip_sharp:  # planned once, first: a sharp file is copied, the rest carry the plan
            from .skipping import copy_if_sharp

            options, copied = copy_if_sharp(Path(input_path), Path(output_path), options, frames_folder)
            if copied is not None:
                return copied
        run = RunSpec(Path(input_path), Path(output_path), engine, options, frames_folder)
        if frames_out is None:  # a long video goes in resumable segments (pipeline.split); a short one as below
            from .split import SplitVideo, engine_identity, run_in_parts

            split = SplitVideo.prepare(run.input, run.output, options, engine_identity(engine))
            if split is not None:
                return run_in_parts(split, engine, on_start, on_frame, cancel)
        return _deblur(run, on_start, on_frame, cancel, started)
    except KeyboardInterrupt as exc:  # before or after the frames (which Stages reports itself)
        raise Interrupted(f"{stopped_by(exc)}; partial output removed", exit_code=exit_code_of(exc),
                          frames=0) from None


def _deblur(run: RunSpec, on_start, on_frame, cancel, started: float) -> VideoResult:
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
        video_start = 0.0 if span.start > 0 else source.first_time  # where the first frame lands in the output
        with ExitStack() as stack:
            outputs, rgb_format, passthrough = open_outputs(stack, source, run, shown_facts, window, video_start,
                                                            warnings)
            times, layouts = StageTimes(), None
            if isinstance(source, FrameSequence):
                frames = _part(source.arrays(), end, shift)
            else:
                layouts = plane_layouts(options, run.engine, outputs, facts, run.frames_out)
                frames = decoded_frames(source, rgb_format, warnings, end, shift, layouts, times)
            run.engine.reset()
            if on_start is not None:
                on_start(_expected_frames(facts, span))
            stages = Stages(frames, run.engine, outputs, detector=SceneCutDetector() if options.scene_cuts else None,
                            compose=composer(options.compare, run.engine) if options.compare else None,
                            times=times, select=options.skip_plan.selector(shift) if options.skip_plan else None)
            result = stages.run(on_frame, cancel)
        notes = (source.damage_warning(), source.truncation_warning(until=end),
                 passthrough.warning if passthrough else None)
        warnings += [note for note in notes if note]
    seconds = time.perf_counter() - started
    return VideoResult(run.input, run.output, result.frames, seconds,
                       result.frames / seconds if seconds > 0 else 0.0, warnings, result.cuts, run.frames_out,
                       result.stages, CPU if layouts is None else DEVICE, result.strength, result.restored)


__all__ = ["VideoResult", "VideoOptions", "deblur_video", "open_source", "QUEUE_SIZE"]
