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
so a resumed run makes the same choice.
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
        at = bisect.bisect_right([s[0] for s in self.spans], seconds + EPSILON) - 1
        if at < 0:
            return PASS
        warm_from, restore_from, restore_to = self.spans[at]
        if seconds < restore_from - EPSILON:
            return WARM
        return RESTORE if seconds < restore_to - EPSILON else PASS

    def selector(self, shift: Fraction = Fraction(0)) -> Callable[[int | None, Fraction | None], str]:
        """``mode`` of a frame by its (pts, time_base) as the read side gives them (moved ``shift`` s earlier)."""
        def select(pts: int | None, time_base: Fraction | None) -> str:
            return self.mode(None if pts is None or not time_base else float(pts * time_base + shift))
        return select

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


def with_plan(input_path: Path, options, recorded: list | None = None):
    """``options`` carrying the file's plan: the one given, else the ``recorded`` one (a journal's), else a scan."""
    from dataclasses import replace

    if options.skip_plan is not None:
        return options
    plan = SkipPlan.from_record(recorded) if recorded is not None else plan_skip(input_path, options.fps)
    return replace(options, skip_plan=plan)


def copyable(input_path: Path, output_path: Path, options, frames_out: Path | None = None) -> bool:
    """Whether a sharp file may be copied as it is: the whole of a video file, into a container of its kind."""
    from ..io.remux import can_remux

    return (frames_out is None and not input_path.is_dir() and options.span.whole and options.compare is None
            and can_remux(input_path, output_path))


def copy_sharp(run) -> int | None:
    """Copy ``run``'s input to its output when its plan finds it sharp and it may be copied: the video packets
    written; None to restore it instead (not sharp, or the container would not take a stream as it is)."""
    from ..errors import OutputError
    from ..io.atomic import check_output
    from ..io.remux import remux

    options = run.options
    if not options.skip_plan.sharp or not copyable(run.input, run.output, options, run.frames_out):
        return None
    check_output(run.input, run.output, options.overwrite)
    try:
        return remux(run.input, run.output)
    except OutputError:
        return None  # written the ordinary way instead (every frame passes the network by)
