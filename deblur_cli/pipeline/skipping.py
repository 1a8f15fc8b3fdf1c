"""``--skip-sharp``: which frames go through the network, decided from a scan before the run.

:func:`plan_skip` scans the file (:mod:`.scan`, no network) and turns its
blurred stretches into a :class:`SkipPlan`: spans of source time, each
``(warm_from, restore_from, restore_to)``. Per frame (:meth:`SkipPlan.mode`):

- ``restore``: a blurred stretch (widened by :data:`PAD` frames each side, the
  detector's edges are soft): the network's output is written, as in a full run;
- ``warm``: the :data:`~.segments.DEFAULT_WARMUP` frames before a stretch go
  through the network after a reset, which rebuilds its recurrence as a
  segment's warm-up does, but the input is written (as at ``--strength 0``);
- ``pass``: everything else is written as it was decoded, without the network.

The stretches are the scan's counted ones (:mod:`deblur_cli.analysis.stretches`:
a stray flagged frame is no stretch), so ``scan`` and the plan agree. A file
with no stretch at all is sharp: it is copied stream for stream
(:mod:`deblur_cli.io.remux`). The plan is plain data (it pickles for
Ray) and goes to the journal of a segmented run (:meth:`SkipPlan.as_record`),
so a resumed run makes the same choice. It is made once per file, first of all
(:func:`copy_if_sharp`, before any engine is built: a sharp file needs none),
and travels in the options to the one-pass run or to the segments.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable

from ..io.timespan import EPSILON
from .segments import DEFAULT_WARMUP
from .stages import PASS, RESTORE, WARM

PAD = 2  # frames each side of a blurred stretch that are restored too


@dataclass(frozen=True)
class SkipPlan:
    """Spans ``(warm_from, restore_from, restore_to)`` in seconds of the source's own timestamps, sorted."""

    spans: tuple[tuple[float, float, float], ...] = ()

    @property
    def sharp(self) -> bool:
        return not self.spans

    def mode(self, seconds: float | None) -> str:
        """What becomes of the frame shown at ``seconds`` (None: a frame without a timestamp is restored)."""
        if seconds is None:
            return RESTORE
        span = self.span_at(seconds)
        if span is None:
            return PASS
        return WARM if seconds < span[1] - EPSILON else RESTORE

    def selector(self, shift: Fraction = Fraction(0)) -> Callable[[int | None, Fraction | None], str]:
        """``mode`` of a frame by its (pts, time_base) as the read side gives them (moved ``shift`` s earlier)."""
        def select(pts: int | None, time_base: Fraction | None) -> str:
            return self.mode(None if pts is None or not time_base else float(pts * time_base + shift))
        return select

    def span_at(self, seconds: float) -> tuple[float, float, float] | None:
        """The span whose frames (warm-up or restored) include the one shown at ``seconds``; None: it passes."""
        at = bisect.bisect_right([s[0] for s in self.spans], seconds + EPSILON) - 1
        return self.spans[at] if at >= 0 and seconds < self.spans[at][2] - EPSILON else None

    def restored_seconds(self) -> float:
        return sum(to - start for _, start, to in self.spans)

    def as_record(self) -> list[list[float]]:
        return [[round(v, 6) for v in span] for span in self.spans]

    @classmethod
    def from_record(cls, record: list) -> "SkipPlan":
        return cls(tuple((float(a), float(b), float(c)) for a, b, c in record))


def spans_from(times: list[float], flags: list[bool], step: float, warmup: int = DEFAULT_WARMUP,
               pad: int = PAD) -> SkipPlan:
    """The plan for frames at ``times`` (source seconds, in order) judged blurred where ``flags``."""
    spans: list[list[float]] = []
    n = len(times)
    i = 0
    while i < n:
        if not flags[i]:
            i += 1
            continue
        j = i
        while j + 1 < n and flags[j + 1]:
            j += 1
        first, last = max(0, i - pad), min(n - 1, j + pad)
        warm = max(0, first - warmup)
        end = times[last + 1] if last + 1 < n else times[last] + step
        if spans and times[warm] <= spans[-1][2] + EPSILON:
            spans[-1][2] = end  # the recurrence runs on from the stretch before
        else:
            spans.append([times[warm], times[first], end])
        i = j + 1
    return SkipPlan(tuple((a, b, c) for a, b, c in spans))


def plan_skip(path: Path, fps: float | str = 30.0) -> SkipPlan:
    """Scan ``path`` (a video file or a frame folder) and plan which of its frames the network sees."""
    from .scan import scan_file

    scan = scan_file(path, fps=fps)
    times = [t + scan.origin for t in scan.times]
    return spans_from(times, scan.blurred, scan.step)


def recorded_plan(input_path: Path, output_path: Path) -> list | None:
    """The plan in the journal of an earlier segmented run from this very input into ``output_path`` (or None)."""
    from . import journal as jr

    folder = jr.work_folder(output_path)
    found = jr.Journal.read(folder / jr.JOURNAL_NAME) if (folder / jr.JOURNAL_NAME).exists() else None
    if isinstance(found, jr.Journal) and found.identity == jr.input_identity(input_path):
        return found.settings.get("skip plan")
    return None


def with_plan(input_path: Path, output_path: Path, options):
    """``options`` carrying the file's plan (as given without ``skip_sharp`` or with a plan already): the plan of an
    earlier run's journal when this run resumes it, so it makes the same choice, else a scan. Once per file."""
    from dataclasses import replace

    if not options.skip_sharp or options.skip_plan is not None:
        return options
    recorded = recorded_plan(input_path, output_path) if options.resume and options.segment > 0 else None
    plan = SkipPlan.from_record(recorded) if recorded is not None else plan_skip(input_path, options.fps)
    return replace(options, skip_plan=plan)


def copyable(input_path: Path, output_path: Path, options, frames_out: Path | None = None) -> bool:
    """Whether a sharp file may be copied as it is: the whole of a video file, into a container of its kind."""
    from ..io.remux import can_remux

    return (frames_out is None and not input_path.is_dir() and options.span.whole and options.compare is None
            and can_remux(input_path, output_path))


def copy_if_sharp(input_path: Path, output_path: Path, options, frames_out: Path | None = None):
    """``--skip-sharp``, first of all (no engine is needed yet): the options carrying the file's plan
    (:func:`with_plan`), and the result of copying the file as it is when the plan finds it sharp and it may be
    copied; None to restore it instead (not sharp, or the container would not take a stream as it is)."""
    import time

    from ..errors import OutputError
    from ..io.atomic import check_output
    from ..io.remux import remux
    from .video import VideoResult

    if not options.skip_sharp:
        return options, None
    started = time.perf_counter()
    options = with_plan(input_path, output_path, options)
    if not options.skip_plan.sharp or not copyable(input_path, output_path, options, frames_out):
        return options, None
    check_output(input_path, output_path, options.overwrite)
    try:
        copied = remux(input_path, output_path)
    except OutputError:
        return options, None  # written the ordinary way instead (every frame passes the network by)
    seconds = time.perf_counter() - started
    return options, VideoResult(input_path, output_path, copied, seconds, copied / seconds if seconds > 0 else 0.0,
                                copied=True)
