"""A long video as a resumable set of parts: plan them, keep the journal, join them into the output.

:meth:`SplitVideo.prepare` decides whether a video is split at all (one
segment: no, and the caller runs the one-pass path as before, with no work
folder). It checks everything a one-pass run checks before writing anything
(input, output, encoder, streams to copy), then opens the work folder
(:mod:`.journal`): parts of an earlier run of the same command are kept if
their checksums verify. Parts are made anywhere (:func:`.parts.make_part`:
this thread, device workers, Ray tasks); :meth:`SplitVideo.record` adds each
one to the journal; :meth:`SplitVideo.join` remuxes them with the copied
streams into the output (atomically) and removes the work folder.
"""

from __future__ import annotations

import threading
import time
from contextlib import ExitStack
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable

from ..errors import Interrupted, exit_code_of, stopped_by
from ..inference.engine import Engine
from ..inference.timing import StageTimes
from ..io.atomic import atomic_output, remove_quietly, remove_stale_temporaries
from ..io.concat import join_parts, part_suffix
from ..io.passthrough import Window
from ..io.probe import VideoFacts
from ..io.source import VideoSource
from . import journal as jr
from .options import VideoOptions
from .outputs import VideoOutputPlan, open_passthrough, plan_video_output
from .parts import PartJob, PartResult, make_part
from .reading import CPU
from .segments import plan_segments, scan
from .skipping import copyable, with_plan
from .video import VideoResult

# The VideoOptions fields that shape the output (the others: where and whether to write it).
SHAPING = ("codec", "crf", "preset", "start", "duration", "compare", "scene_cuts", "segment", "warmup", "skip_sharp")
SHORT_FACTOR = 1.5  # a video known to be shorter than this many segments is never split (no scan needed)


def engine_identity(engine: Any) -> dict[str, Any]:
    """What of the engine shapes the output (``build_engine`` sets ``identity``; a test double has its type)."""
    return dict(getattr(engine, "identity", None) or {"engine": type(engine).__qualname__})


class SplitVideo:
    """One video being made in parts (see the module doc)."""

    def __init__(self, input: Path, output: Path, options: VideoOptions, jobs: list[PartJob], state: jr.Journal,
                 folder: Path, planned: VideoOutputPlan, facts: VideoFacts, window: Window | None,
                 video_start: float, warnings: list[str]) -> None:
        self.input, self.output, self.options = input, output, options
        self.all_jobs, self.journal, self.folder = jobs, state, folder
        self.planned, self.facts, self.window, self.video_start = planned, facts, window, video_start
        self.warnings = warnings
        self.started = time.perf_counter()
        self.frames_made = 0
        self.times, self.colours = StageTimes(), set()  # of the parts made by this run
        self._lock = threading.Lock()

    @property
    def pending(self) -> list[PartJob]:
        return [job for job in self.all_jobs if job.segment.index not in self.journal.parts]

    @property
    def expected_frames(self) -> int:
        return sum(job.segment.frames for job in self.all_jobs)

    @property
    def kept(self) -> int:
        return len(self.journal.parts)

    @classmethod
    def prepare(cls, input: Path, output: Path, options: VideoOptions, identity: dict[str, Any]) -> "SplitVideo | None":
        """The split run of ``input``, or None when it is one segment (or cannot be split: run it in one pass)."""
        if options.segment <= 0 or input.is_dir():
            return None
        span = options.span
        with VideoSource(input) as source:
            facts, first_time = source.facts, source.first_time
            length = None if facts.duration is None else max(facts.duration - span.start, 0.0)
            if span.duration is not None:
                length = span.duration if length is None else min(length, span.duration)
            if length is not None and length < options.segment * SHORT_FACTOR:
                return None
            shift = Fraction(source.seek(first_time + span.start)) if span.start > 0 else Fraction(0)
        end = span.end_after(first_time)
        window = None if span.whole else Window(start=float(shift) if span.start > 0 else None, end=end, shift=shift)
        shown = replace(facts, width=facts.width * 2) if options.compare == "side" else facts
        remove_stale_temporaries(output.parent)  # what a killed run left where this one writes
        planned = plan_video_output(input, output, options, shown, window)
        if planned.encoder.muxer == "avi":  # AVI counts frames from each file's start: its parts cannot be joined
            return None
        video_start = 0.0 if span.start > 0 else first_time  # where the first frame lands in the output
        with ExitStack() as stack:  # audio that could not stay in sync is refused now, not after the work
            open_passthrough(stack, input, output, planned, window, video_start, facts.container)
        index = scan(input)
        if index is None:
            return None
        segments = plan_segments(index, options.segment, options.warmup,
                                 float(shift) if span.start > 0 else None, end)
        if len(segments) < 2:
            return None
        folder = jr.work_folder(output)
        if options.skip_sharp:  # the plan is made once per file, before this (skipping.copy_if_sharp)
            options = with_plan(input, output, options)
            if options.skip_plan.sharp and copyable(input, output, options):
                return None  # copied as it is (deblur_video)
        plan = planned.encoder
        settings = {**{k: getattr(options, k) for k in SHAPING}, "start": span.start, "duration": span.duration,
                    **identity, "container": plan.muxer, "encoder": plan.codec, "pixel format": plan.pix_fmt,
                    "encoder options": plan.options}
        if options.skip_sharp:
            settings["skip plan"] = options.skip_plan.as_record()
        wanted = jr.Journal(jr.input_identity(input), settings, [s.as_dict() for s in segments])
        state, notes = _open_folder(folder, wanted, options.resume)
        suffix = part_suffix(plan)
        jobs = [PartJob(input, folder / f"part-{s.index:04d}{suffix}", s, options, plan, index.time_base, shift, end)
                for s in segments]
        return cls(input, output, options, jobs, state, folder, planned, shown, window, video_start,
                   notes + planned.warnings)

    def record(self, result: PartResult) -> int:
        """Note a finished part in the journal; returns how many parts are still to make."""
        job = self.all_jobs[result.index]
        with self._lock:
            self.journal.parts[result.index] = result.as_record(job.part.name)
            self.frames_made += result.frames
            self.times.merge(result.stages)
            self.colours.add(result.colour)
            jr.save(self.folder, self.journal)
            return len(self.all_jobs) - len(self.journal.parts)

    @property
    def frames_done(self) -> int:
        return sum(record["frames"] for record in self.journal.parts.values())

    def interrupted(self, stop: BaseException) -> Interrupted:
        """The error for a run stopped by ``stop``: which segments are kept, for the same command to resume."""
        how = str(stop).partition(";")[0] if isinstance(stop, Interrupted) else stopped_by(stop)
        return Interrupted(f"{how}; {self.kept} of {len(self.all_jobs)} segments kept in {self.folder} "
                           f"(run the same command again to resume)", exit_code=exit_code_of(stop),
                           frames=self.frames_done)

    def join(self) -> VideoResult:
        """Remux every part and the copied streams into the output; then the work folder goes."""
        parts = [self.folder / self.journal.parts[job.segment.index]["file"] for job in self.all_jobs]
        with ExitStack() as stack:
            passthrough = open_passthrough(stack, self.input, self.output, self.planned, self.window,
                                           self.video_start, self.facts.container)
            with atomic_output(self.output) as temp:
                join_parts(parts, temp, self.planned.encoder, self.facts, passthrough,
                           chapters=self.planned.extras.chapters, timecode=self.planned.extras.timecode,
                           name=self.output)
        warnings = list(self.warnings)
        if passthrough is not None and passthrough.warning:
            warnings.append(passthrough.warning)
        cuts, offset = [], 0
        for job in self.all_jobs:
            record = self.journal.parts[job.segment.index]
            cuts += [offset + c for c in record["cuts"]]
            offset += record["frames"]
            warnings += [w for w in record["warnings"] if w not in warnings]
        jr.release_lock(self.folder)
        remove_quietly(self.folder)
        seconds = time.perf_counter() - self.started
        fps = self.frames_made / seconds if seconds > 0 else 0.0
        return VideoResult(self.input, self.output, offset, seconds, fps, warnings, cuts,
                           stages=self.times.as_dict(), colour=",".join(sorted(self.colours)) or CPU,
                           strength=mean_strength(self.journal.parts.values()),
                           restored=sum(restored_frames(r) for r in self.journal.parts.values()))

    def release(self) -> None:
        """Leave the work folder (and its parts) for a later run, unlocked."""
        jr.release_lock(self.folder)


def restored_frames(record: dict) -> int:
    """The frames of a part's journal record written from the network (a record from before they were counted:
    all its frames)."""
    return record.get("restored", record["frames"])


def mean_strength(records) -> float | None:
    """The mean strength of parts' journal records, weighted by their restored frames (None when none has one)."""
    weighted = [(r["strength"], restored_frames(r)) for r in records if r.get("strength") is not None]
    frames = sum(n for _, n in weighted)
    return sum(s * n for s, n in weighted) / frames if frames else None


def run_in_parts(split: SplitVideo, engine: Engine, on_start: Callable[[int | None], None] | None = None,
                 on_frame: Callable[[int], None] | None = None, cancel: threading.Event | None = None) -> VideoResult:
    """Make the missing parts one after the other with ``engine``, then join them (what deblur_video does)."""
    if on_start is not None:
        on_start(split.expected_frames)
    done = sum(record["frames"] for record in split.journal.parts.values())
    try:
        for job in split.pending:
            progress = None if on_frame is None else (lambda n, base=done: on_frame(base + n))
            result = make_part(job, engine, cancel=cancel, on_frame=progress)
            split.record(result)
            done += result.frames
        return split.join()
    except (KeyboardInterrupt, Interrupted) as exc:
        split.release()
        raise split.interrupted(exc) from None
    except BaseException:
        split.release()
        raise


def _open_folder(folder: Path, wanted: jr.Journal, resume: bool) -> tuple[jr.Journal, list[str]]:
    """The journal to continue (parts verified) and the notes for the user; the folder locked and tidied."""
    folder.mkdir(parents=True, exist_ok=True)
    jr.take_lock(folder)
    notes: list[str] = []
    found = jr.Journal.read(folder / jr.JOURNAL_NAME) if (folder / jr.JOURNAL_NAME).exists() else None
    state = wanted
    if found is not None and resume:
        reason = found if isinstance(found, str) else found.mismatch(wanted)
        if reason is not None:
            notes.append(f"not resuming from the earlier run's parts in {folder}: {reason}; starting over")
        else:
            bad = [i for i, rec in found.parts.items() if not _verifies(folder / rec.get("file", ""), rec)]
            state = replace(wanted, parts={i: rec for i, rec in found.parts.items() if i not in bad})
            kept = len(state.parts)
            notes.append(f"resumed an earlier run: {kept} of {len(wanted.segments)} segments kept"
                         + (f"; {len(bad)} damaged part(s) redone" if bad else ""))
    keep = {jr.JOURNAL_NAME, jr.LOCK_NAME, *(rec["file"] for rec in state.parts.values())}
    for path in folder.iterdir():
        if path.name not in keep:
            remove_quietly(path)  # parts of another run, damaged parts, temporaries of a killed one
    jr.save(folder, state)
    return state, notes


def _verifies(path: Path, record: dict) -> bool:
    try:
        return path.is_file() and jr.sha256_file(path) == record.get("sha256")
    except OSError:
        return False
