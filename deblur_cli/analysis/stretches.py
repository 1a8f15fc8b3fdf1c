"""Per-frame blur judgements as a person reads them: blurred stretches in time, a share, a score per second.

The one rule of what counts as blurred in a file, shared by ``scan`` (its
stretches and ``blurred_fraction``) and ``run --skip-sharp`` (its plan, and
whether a file is sharp and copied): frames flagged blurred are joined into
stretches across gaps under :data:`MERGE_GAP_S`; a stretch counts only if it
spans at least :data:`MIN_STRETCH_FRAMES` frames. A flagged frame outside
every counted stretch (a stray flag) is read as sharp (:func:`counted`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

MERGE_GAP_S = 0.25  # seconds: blurred stretches closer than this are one
MIN_STRETCH_FRAMES = 2  # frames a joined stretch must span to count; shorter ones are stray flags, read as sharp


@dataclass(frozen=True)
class Stretch:
    """Frames ``first`` .. ``last`` (indices), from ``start`` to ``end`` seconds; ``score``: their peak."""

    first: int
    last: int
    start: float
    end: float
    score: float
    kind: str

    def as_dict(self) -> dict:
        return {"start": round(self.start, 3), "end": round(self.end, 3), "score": round(self.score, 3),
                "kind": self.kind}


def _frame_end(times: Sequence[float], i: int, step: float) -> float:
    return times[i + 1] if i + 1 < len(times) else times[i] + step


def _runs(times: Sequence[float], blurred: Sequence[bool], step: float) -> list[tuple[int, int]]:
    """(first, last) frame indices of the counted stretches: flagged frames joined across gaps under MERGE_GAP_S,
    kept where they span at least MIN_STRETCH_FRAMES frames."""
    runs: list[list[int]] = []
    for i, flag in enumerate(blurred):
        if not flag:
            continue
        if runs and times[i] - _frame_end(times, runs[-1][1], step) < MERGE_GAP_S - 1e-9:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return [(first, last) for first, last in runs if last - first + 1 >= MIN_STRETCH_FRAMES]


def counted(times: Sequence[float], blurred: Sequence[bool], step: float) -> list[bool]:
    """``blurred`` with the flags outside counted stretches cleared: what a file's plan and share are made of."""
    out = [False] * len(blurred)
    for first, last in _runs(times, blurred, step):
        for j in range(first, last + 1):
            out[j] = bool(blurred[j])
    return out


def stretches(times: Sequence[float], blurred: Sequence[bool], scores: Sequence[float], kinds: Sequence[str],
              step: float) -> list[Stretch]:
    """The counted stretches (``times``: each frame's start, seconds): see the module's rule."""
    out = []
    for first, last in _runs(times, blurred, step):
        flagged = [j for j in range(first, last + 1) if blurred[j]]
        kind = "global" if sum(kinds[j] == "global" for j in flagged) * 2 >= len(flagged) else "local"
        out.append(Stretch(first, last, times[first], _frame_end(times, last, step),
                           max(scores[first: last + 1]), kind))
    return out


def blurred_fraction(times: Sequence[float], blurred: Sequence[bool], step: float) -> float:
    """The share of the duration shown by blurred frames (0 to 1); ``blurred``: as :func:`counted` leaves them."""
    if not times:
        return 0.0
    total = _frame_end(times, len(times) - 1, step) - times[0]
    if total <= 0:
        return sum(blurred) / len(blurred)
    flagged = sum(_frame_end(times, i, step) - times[i] for i, flag in enumerate(blurred) if flag)
    return min(max(flagged / total, 0.0), 1.0)


def per_second(times: Sequence[float], scores: Sequence[float]) -> list[float]:
    """The highest frame score within each whole second from the first frame (second 0, 1, ...)."""
    if not times:
        return []
    origin = times[0]
    out: list[float] = [0.0] * (int(math.floor(times[-1] - origin)) + 1)
    for t, s in zip(times, scores):
        k = int(math.floor(t - origin))
        out[k] = max(out[k], s)
    return [round(v, 3) for v in out]
