"""Per-frame blur judgements as a person reads them: blurred stretches in time, a share, a score per second."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

MERGE_GAP_S = 0.25  # seconds: blurred stretches closer than this are one
MIN_STRETCH_FRAMES = 1


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


def stretches(times: Sequence[float], blurred: Sequence[bool], scores: Sequence[float], kinds: Sequence[str],
              step: float) -> list[Stretch]:
    """Runs of blurred frames (``times``: each frame's start, seconds), joined across gaps under MERGE_GAP_S."""
    runs: list[list[int]] = []
    for i, flag in enumerate(blurred):
        if not flag:
            continue
        if runs and times[i] - _frame_end(times, runs[-1][1], step) < MERGE_GAP_S - 1e-9:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    out = []
    for first, last in runs:
        flagged = [j for j in range(first, last + 1) if blurred[j]]
        kind = "global" if sum(kinds[j] == "global" for j in flagged) * 2 >= len(flagged) else "local"
        out.append(Stretch(first, last, times[first], _frame_end(times, last, step),
                           max(scores[first: last + 1]), kind))
    return out


def blurred_fraction(times: Sequence[float], blurred: Sequence[bool], step: float) -> float:
    """The share of the duration shown by blurred frames (0 to 1)."""
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
