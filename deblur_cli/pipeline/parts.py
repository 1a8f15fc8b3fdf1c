"""One segment of a long video into one encoded part (:func:`make_part`), anywhere: thread, process, Ray task.

Decoding starts at the keyframe before the segment's warm-up frames; the
warm-up frames run through the engine (and the scene-cut detector) but are not
written; the frames of ``[start, end)`` are encoded into the part, a file of
the video stream alone, written atomically: an interrupted part leaves nothing.
The part's sha256 goes back to whoever keeps the journal.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Callable

from ..inference.engine import Engine
from ..inference.timing import StageTimes
from ..io.atomic import atomic_output
from ..io.concat import part_plan
from ..io.sink import EncoderPlan, VideoSink
from ..io.source import VideoSource
from ..io.timespan import EPSILON
from .compare import composer
from .journal import sha256_file
from .options import VideoOptions
from .outputs import attach_sink, for_sink
from .reading import CPU, DEVICE, decoded_frames, plane_layouts
from .scenecut import SceneCutDetector
from .segments import Segment
from .stages import PASS, RESTORE, WARM, Outputs, Stages

SEEK_MARGINS_S = (0.0, 1.0, 4.0, 16.0, 64.0)  # tried in turn when a container seeks past the warm-up's start


@dataclass(frozen=True)
class PartJob:
    """Everything needed to make one part (it pickles, for Ray)."""

    input: Path
    part: Path  # where the finished part goes
    segment: Segment
    options: VideoOptions
    plan: EncoderPlan  # the output's plan (the part's own is derived from it)
    time_base: Fraction  # of the input's video stream: the segment's timestamps count in it
    shift: Fraction  # seconds the output's timestamps are moved earlier (--start), as in a one-pass run
    end: float | None  # the run's end (--duration) in seconds, None: the video's end


@dataclass
class PartResult:
    index: int
    frames: int
    sha256: str
    seconds: float
    cuts: list[int] = field(default_factory=list)  # indices, within the part, of frames that start a new shot
    warnings: list[str] = field(default_factory=list)
    stages: dict[str, float] = field(default_factory=dict)  # seconds per stage (not kept in the journal)
    colour: str = CPU  # the colour path (pipeline.reading)
    strength: float | None = None  # mean weight of the restoration written (VideoResult.strength)
    restored: int = 0  # frames written from the network's output (VideoResult.restored)

    def as_record(self, file: str) -> dict:
        return {"file": file, "sha256": self.sha256, "frames": self.frames, "cuts": self.cuts,
                "warnings": self.warnings, "strength": self.strength, "restored": self.restored}


class _PartOutputs:
    """Drops the warm-up frames, writes the rest to the part's sink."""

    def __init__(self, sink: VideoSink, first: Fraction | None) -> None:
        self.sink, self.first = sink, first
        self.skipped = self.written = 0

    def write(self, restored, shown, pts, time_base) -> None:
        if self.first is not None and pts is not None and time_base and pts * time_base < self.first - EPSILON:
            self.skipped += 1
            return
        self.sink.write(for_sink(shown), pts, time_base)
        self.written += 1


def _modes(first: Fraction | None, plan, shift: Fraction):
    """What becomes of each frame of a part. Before ``first`` (the segment's warm-up, never written) a frame that
    would be restored is a warm-up frame, so only written frames count as restored. With ``--skip-sharp``'s
    ``plan``, only the warm-up of the stretch the part starts in goes through the network there: the tail of an
    earlier stretch before ``first`` would rebuild a recurrence that nothing written uses, so it passes."""
    select = None if plan is None else plan.selector(shift)
    live = None if plan is None or first is None else plan.span_at(float(first + shift))

    def mode(pts: int | None, time_base: Fraction | None) -> str:
        chosen = RESTORE if select is None else select(pts, time_base)
        if first is None or chosen == PASS or pts is None or not time_base or pts * time_base >= first - EPSILON:
            return chosen
        if plan is not None and (live is None or float(pts * time_base + shift) < live[0] - EPSILON):
            return PASS
        return WARM
    return mode


def _seek_to_warmup(source: VideoSource, target: Fraction) -> None:
    """Decode from the first frame at ``target`` seconds, or earlier (a longer warm-up) where seeking overshoots."""
    for margin in SEEK_MARGINS_S:
        aim = max(float(target) - margin, source.first_time)
        if source.seek(aim) <= float(target) + EPSILON or aim <= source.first_time:
            return


def make_part(job: PartJob, engine: Engine, *, cancel=None,
              on_frame: Callable[[int], None] | None = None) -> PartResult:
    """Restore ``job``'s segment with ``engine`` into ``job.part``; Interrupted/DeblurError as deblur_video."""
    started = time.perf_counter()
    segment, options = job.segment, job.options
    with VideoSource(job.input) as source:
        if segment.warmup_from is not None:
            _seek_to_warmup(source, segment.warmup_from * job.time_base)
        elif options.span.start > 0:
            source.seek(source.first_time + options.span.start)  # the first segment starts where the run does
        facts = source.facts
        shown = replace(facts, width=facts.width * 2) if options.compare == "side" else facts
        end = job.end if segment.end is None else float(segment.end * job.time_base)
        first = None if segment.start is None else segment.start * job.time_base - job.shift
        warnings: list[str] = []
        with atomic_output(job.part) as temp:
            sink = VideoSink(temp, part_plan(job.plan), shown, None)
            try:
                outputs = _PartOutputs(sink, first)
                out = attach_sink(Outputs(outputs.write, sink.finish, job.part), sink)
                times, layouts = StageTimes(), plane_layouts(options, engine, out, facts)
                frames = decoded_frames(source, sink.rgb_format, warnings, end, job.shift, layouts, times)
                engine.reset()
                stages = Stages(frames, engine, out, detector=SceneCutDetector() if options.scene_cuts else None,
                                compose=composer(options.compare, engine, labels=False) if options.compare else None,
                                times=times, select=_modes(first, options.skip_plan, job.shift))
                progress = None if on_frame is None else (lambda _: on_frame(outputs.written))
                result = stages.run(progress, cancel)
            except BaseException:
                sink.close()
                raise
        notes = (source.damage_warning(), source.truncation_warning(until=end))
        warnings += [note for note in notes if note]
    cuts = [c - outputs.skipped for c in result.cuts if c >= outputs.skipped]
    return PartResult(segment.index, outputs.written, sha256_file(job.part), time.perf_counter() - started,
                      cuts, warnings, result.stages, CPU if layouts is None else DEVICE, result.strength,
                      result.restored)
