"""Is a frame blurred? Its sharpness (:mod:`.sharpness`) judged on its own and against its neighbours in time.

A frame's sharpness is ``1 / the width of its edges`` (:mod:`.sharpness`):
about 0.5-0.7 px^-1 when sharp, ``1 / L`` for a blur path of ``L`` px. It still
depends on what a frame shows (a lens that is never quite crisp, a shallow
focus, heavy compression), so a frame is judged three ways and the worst
judgement counts:

- **on its own**, against :data:`PRIOR`, the sharpness of sharp footage
  (``1 - sharpness / PRIOR``, i.e. ``1 - prior width / width``; at the default
  threshold a frame whose edges are wider than ``1 / (0.6 PRIOR)``, about 2.5 px,
  is blurred): footage blurred steadily from start to end (a long exposure on a
  pan) is found, and so, wrongly, are pictures soft by nature;
- **against its neighbours**, against the sharpness most frames within
  :data:`WINDOW_S` of it reach (the :data:`REFERENCE_QUANTILE` percentile, so the
  file's own sharp frames set the bar whatever the blurred ones do): a shaky
  frame among crisp ones is found even when crisp here is crisper than
  :data:`PRIOR`;
- **by its neighbours' unrest** (:func:`unrest`): hand-held shake blurs every
  frame by a path of its own, so the edge widths of a shaky stretch wander from
  frame to frame in every direction, while a steady shot's keep their width
  whatever it shows; a frame that is not crisp (edges over :data:`CRISP_PX`)
  among neighbours whose widths wander by ``UNREST_FULL * threshold`` (log px) is
  blurred. This finds shake that leaves no frame crisp, where the other two
  cannot tell shake from a soft picture.

The same is done per cell for blur in a part of the frame (a fast object on
a still background): a cell is blurred when it has fallen below its own
neighbours in time while it still shows the same thing (its luma variance
is within :data:`SAME_CONTENT` of theirs: blur keeps it, a new object does
not), scored by the lesser of its drop against them and against :data:`PRIOR`;
the frame's local score is that of its
:data:`LOCAL_SHARE`-th most blurred textured cell (at least :data:`LOCAL_CELLS`),
so one odd cell does not count. ``kind`` says which judgement found the blur:
``global`` (the whole frame: camera shake) or ``local`` (a region: a moving
object). A frame with too little structure to judge (flat, dark) scores 0.

The constants were tuned on synthetic clips made from the *training* photos
only (``benchmarks/bench_scan.py --split train``); the figures in
``benchmarks/RESULTS.md`` are measured on the validation photos.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .sharpness import DIRECTIONS, FrameSharpness

DEFAULT_THRESHOLD = 0.4  # score at and above which a frame counts as blurred
PRIOR = 0.66  # the sharpness of sharp footage (1 / edge width in px: 1.5 px, see .sharpness)
WINDOW_S = 2.0  # seconds each side: the neighbours a frame is compared with
REFERENCE_QUANTILE = 75  # percent: the neighbours' bar (most of them reach it)
LOCAL_SHARE = 0.1  # of a frame's textured cells: a region of some size, not a stray cell
LOCAL_CELLS = 2
LOCAL_WEIGHT = 0.75  # local scores count less than whole-frame ones (a region may be soft by nature)
SAME_CONTENT = 2.5  # a cell whose luma variance changed by more than this factor shows something else now
UNREST_FULL = 0.25  # spread of the neighbours' edge widths (log px, per direction) that scores 1
CRISP_PX = 2.1  # a frame whose edges are no wider than this is never judged blurred for its neighbours' unrest

GLOBAL, LOCAL = "global", "local"


@dataclass(frozen=True)
class FrameScore:
    """How blurred one frame looks: ``score`` 0 (sharp) to 1, whether that is blurred, and which kind."""

    score: float
    blurred: bool
    kind: str  # GLOBAL, LOCAL, or "" for a sharp frame
    sharpness: float  # the frame's own measure (NaN: nothing to judge)


def _drop(value: np.ndarray | float, reference: np.ndarray | float) -> np.ndarray:
    """How far below ``reference`` a sharpness is, 0 (at or above) to 1 (no fine detail left)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.clip(1.0 - np.asarray(value) / np.maximum(reference, 1e-6), 0.0, 1.0)


def _reference(values: np.ndarray, lo: int, hi: int, q: float = REFERENCE_QUANTILE) -> np.ndarray:
    """The ``q`` percentile over frames lo..hi-1 (per column for 2-D values), NaNs left out
    (NaN where a column has none); vectorised, as numpy's nanpercentile loops over columns in Python."""
    window = np.sort(values[lo:hi], axis=0)  # NaNs sort last
    count = np.isfinite(window).sum(axis=0)
    position = np.maximum(count - 1, 0) * (q / 100.0)
    below = np.floor(position).astype(np.int64)
    above = np.minimum(below + 1, np.maximum(count - 1, 0))
    low = np.take_along_axis(window, below[None, ...], axis=0)[0]
    high = np.take_along_axis(window, above[None, ...], axis=0)[0]
    out = low + (high - low) * (position - below)
    return np.where(count > 0, out, np.nan)


def unrest(directions: np.ndarray, lo: int, hi: int) -> float:
    """How much the edge widths of frames lo..hi-1 wander, per direction (``directions``: frames x 4, log px):
    the median distance to their median (robust: a short shaky stretch among steady frames, or a cut near
    the window's end, moves it little), times 1.4826, averaged over the directions measured in at least a
    third of the frames; 0 with none.

    Hand-held shake blurs each frame by its own path, so widths wander from frame to frame; a steady shot's
    crispest edges keep their width whatever passes before the lens.
    """
    window = directions[lo:hi]
    enough = np.isfinite(window).sum(axis=0) >= max(3, (hi - lo) / 3)
    if not enough.any():
        return 0.0
    window = window[:, enough]
    middle = _reference(window, 0, len(window), 50.0)
    spread = _reference(np.abs(window - middle), 0, len(window), 50.0)
    return float(np.mean(spread) * 1.4826)


def score_frames(measures: Sequence[FrameSharpness], rate: float, threshold: float = DEFAULT_THRESHOLD,
                 prior: float | None = None, cuts: Sequence[int] = ()) -> list[FrameScore]:
    """Judge every frame of a shot or file, in order; ``rate``: frames per second (sets the window).

    ``cuts``: indices of frames that start a new shot. A frame's neighbours are those of its own shot (a
    soft shot after a crisp one is not blurred for it, nor is a cut unrest).
    """
    if not measures:
        return []
    prior = PRIOR if prior is None else prior
    reach = max(1, round(WINDOW_S * (rate if rate and math.isfinite(rate) else 30.0)))
    values = np.array([m.value for m in measures], np.float32)
    width = max(m.cells.size for m in measures)
    cells = np.full((len(measures), width), np.nan, np.float32)
    coarse = np.full((len(measures), width), np.nan, np.float32)
    for i, m in enumerate(measures):
        cells[i, : m.cells.size] = m.cells
        if m.coarse is not None:
            coarse[i, : m.coarse.size] = m.coarse
    together = np.concatenate([values[:, None], cells, coarse], axis=1)  # one sort per frame for all three
    unmeasured = np.full(len(DIRECTIONS), np.nan, np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):
        directions = np.log([unmeasured if m.directions is None else m.directions for m in measures])
    bounds = sorted({0, len(measures), *(c for c in cuts if 0 < c < len(measures))})
    scores = []
    for i in range(len(measures)):
        shot = bisect.bisect_right(bounds, i) - 1
        lo, hi = max(bounds[shot], i - reach), min(bounds[shot + 1], i + reach + 1)
        reference = _reference(together, lo, hi)
        whole = 0.0
        if math.isfinite(values[i]):
            whole = float(max(_drop(values[i], prior), _drop(values[i], reference[0])))
            if values[i] * CRISP_PX < 1.0:  # not crisp: its neighbours' unrest may say shake
                whole = max(whole, min(1.0, unrest(directions, lo, hi) / UNREST_FULL))
        part = 0.0
        textured = np.isfinite(cells[i])
        if textured.sum() >= LOCAL_CELLS:
            own = _drop(cells[i], prior)
            near = _drop(cells[i], reference[1: 1 + width])
            with np.errstate(invalid="ignore", divide="ignore"):
                change = coarse[i] / reference[1 + width:]
            same = (change < SAME_CONTENT) & (change > 1.0 / SAME_CONTENT)  # blur keeps the coarse structure
            cell_scores = np.where(textured & same, np.nan_to_num(np.minimum(own, near), nan=0.0), 0.0)
            k = max(LOCAL_CELLS, math.ceil(LOCAL_SHARE * textured.sum()))
            part = LOCAL_WEIGHT * float(np.sort(cell_scores)[-k])
        score = max(whole, part)
        blurred = score >= threshold
        kind = (GLOBAL if whole >= threshold else LOCAL) if blurred else ""
        scores.append(FrameScore(score, blurred, kind, float(values[i])))
    return scores


class BlurDetector:
    """Collects frames' measures (``add``) and judges them all at the end (``scores``): the whole file's view."""

    def __init__(self, rate: float, threshold: float = DEFAULT_THRESHOLD) -> None:
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be between 0 and 1, got {threshold}")
        self.rate, self.threshold = rate, threshold
        self.measures: list[FrameSharpness] = []
        self.cuts: list[int] = []

    def add(self, measure: FrameSharpness, cut: bool = False) -> None:
        """The next frame's measure; ``cut``: it starts a new shot."""
        if cut and self.measures:
            self.cuts.append(len(self.measures))
        self.measures.append(measure)

    def scores(self) -> list[FrameScore]:
        return score_frames(self.measures, self.rate, self.threshold, cuts=self.cuts)
