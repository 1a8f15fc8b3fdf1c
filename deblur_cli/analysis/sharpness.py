"""How wide a frame's edges are, per cell and per direction: one frame on its own.

Motion blur of a path ``L`` px long turns every step edge crossing the path
into a ramp about ``L`` px wide; a sharp edge is 1-2 px wide whatever its
contrast, and whatever the picture shows. So the measure is an edge *width*
(scale-aware, largely independent of content and contrast), per direction
``d`` (horizontal, vertical, both diagonals):

- an edge across ``d`` is a pixel whose luma gradient points along ``d``
  (within 22.5 degrees) and whose central difference along ``d`` is a local
  maximum along ``d``, above :data:`PEAK_NOISE` times the noise;
- its width is its rise (the sum of the forward differences along ``d`` while
  they keep the edge's sign, up to :data:`REACH` px each side; a step back
  within :data:`RUN_NOISE` noise sigmas is noise) divided by its steepest step,
  in px (a diagonal step is sqrt 2 px); edges whose rise is under
  :data:`MIN_RISE` levels, :data:`RISE_SHARE` of the frame's range of luma or
  :data:`RISE_NOISE` noise sigmas do not count (noise, JPEG block edges, soft
  shading: the frame's clear edges are what blur shows on);
- the luma is first smoothed across ``d`` only (3 taps), which calms noise
  without widening an edge across ``d``.

A direction's width is the :data:`QUANTILE` percentile of its edges' widths
(at least :data:`MIN_EDGES` of them): blur widens the crispest edges too,
while soft edges that a picture has by nature (a shallow focus) sit above the
percentile. The frame's width is its widest direction (motion blur is
directional; defocus widens all), unless that one stands alone beside crisp others (soft shading,
stripes, ripples: a blur would have widened its neighbours too). Per cell of a coarse grid the
same is done with the median of fewer edges (:data:`CELL_EDGES`), for blur in a part of the
frame. A frame or cell with too few edges (flat, dark) has no measure (NaN):
it is neither sharp nor blurred. ``value`` and ``cells`` are sharpness, ``1 / width`` (px^-1: about
0.5-1 sharp, 1/L for a blur path of L px), so higher is sharper.

Cost: the grid's cells are windows read from the plane (:data:`MAX_ROWS` x
:data:`MAX_COLS` of :data:`TILE` px plus a margin where they cover a small
frame; :data:`SAMPLE_ROWS` x :data:`SAMPLE_COLS` samples of a bigger one), so a
frame costs about the same whatever its resolution; frames above ~1080 lines are
averaged down by a whole factor of at most :data:`MAX_REDUCTION` first, inside
the windows only (a 3 px blur at 1080p is still 1.5 px there).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .luma import block_mean, reduction

TILE = 32  # px (after reduction): the side of a cell
MAX_ROWS, MAX_COLS = 6, 10  # cells at most; small frames get fewer (their windows then cover them)
SAMPLE_ROWS, SAMPLE_COLS = 3, 6  # ...and frames these do not cover get this many (a fixed cost per frame)
MAX_REDUCTION = 2  # frames are averaged down by at most this (blur paths must keep their length in px)
REACH = 6  # px each side of an edge's steepest point that its ramp is followed
MARGIN = REACH + 2  # px of context around each cell's window
PEAK_NOISE = 3.0  # an edge's steepest central difference must reach this many noise sigmas
MIN_RISE = 12.0  # levels: an edge's rise at least this...
RISE_SHARE = 0.35  # ...and at least this share of the frame's range of luma (1st to 99th percentile)
RISE_NOISE = 9.0  # ...and at least this many noise sigmas
RUN_NOISE = 1.0  # a ramp is followed until a step goes back by more than this many noise sigmas
QUANTILE = 5  # percent: a direction's width is this percentile of its edges' widths
MIN_EDGES = 24  # edges a direction needs across the frame to have a width
CELL_EDGES = 6  # ...and within one cell
CELL_QUANTILE = 50  # percent: a cell's few edges are judged by their median
NOISE_QUANTILE = 20  # percent: the noise is read in the calmest cells (texture leaks into the estimate elsewhere)
NOISE_BANDS, NOISE_BAND_CELLS = 4, 6  # cells are grouped by brightness into up to this many bands of at least 6
NOISE_GAIN = math.sqrt(math.pi / 2.0) / 6.0  # Immerkaer: mean |second difference| -> sigma for white noise
DIRECTIONS = ((0, 1), (1, 0), (1, 1), (1, -1))  # (dy, dx): horizontal, vertical, both diagonals
TAN_22_5 = math.tan(math.pi / 8)
LONE_WIDEST = 2.5  # a widest direction over this many times the second widest is shading, not blur


@dataclass(frozen=True)
class FrameSharpness:
    """One frame's measure: sharpness (1 / edge width, px^-1) per cell (row-major over ``grid``) and overall."""

    cells: np.ndarray  # (rows * cols,) float32, NaN for cells with too few edges
    grid: tuple[int, int]
    noise: float  # sigma, 8-bit levels
    textured: int  # cells with a measure
    coarse: np.ndarray | None = None  # (rows * cols,) each cell's luma variance (levels^2): what it shows
    overall: float = float("nan")  # the whole frame's sharpness (NaN: too few edges)
    edges: int = 0  # edges measured across the frame
    directions: np.ndarray | None = None  # (4,) float32: each direction's edge width in px (NaN: too few edges)

    @property
    def value(self) -> float:
        """The frame's sharpness: 1 / its edge width (:func:`frame_width`; NaN: nothing to judge)."""
        return self.overall


def layout(height: int, width: int) -> tuple[int, int, int]:
    """(rows, cols, cell side) for a (reduced) frame of ``height`` x ``width``."""
    rows = min(MAX_ROWS, max(1, height // TILE))
    cols = min(MAX_COLS, max(1, width // TILE))
    if rows * TILE < height or cols * TILE < width:  # the cells are samples of a bigger frame: fewer of them
        rows, cols = min(rows, SAMPLE_ROWS), min(cols, SAMPLE_COLS)
    side = max(min(TILE, height // rows, width // cols), 1)
    return rows, cols, side


def windows(plane: np.ndarray, factor: int = 0, margin: int = 0) -> tuple[np.ndarray, tuple[int, int]]:
    """The grid's windows (each cell plus ``margin`` px around it, kept inside the frame) of a luma ``plane``
    (any numeric type) as (cells, side, side) float32; and the grid."""
    factor = factor or min(reduction(*plane.shape[:2]), MAX_REDUCTION)
    height, width = plane.shape[0] // factor, plane.shape[1] // factor
    rows, cols, side = layout(height, width)
    span = max(min(side + 2 * margin, height, width), 1)
    ys = [min(max(round((i + 0.5) * height / rows - span / 2), 0), height - span) for i in range(rows)]
    xs = [min(max(round((j + 0.5) * width / cols - span / 2), 0), width - span) for j in range(cols)]
    full = span * factor
    stack = np.stack([plane[y * factor: y * factor + full, x * factor: x * factor + full] for y in ys for x in xs])
    stack = stack.astype(np.float32, copy=False)
    if factor > 1:
        stack = block_mean(stack, factor)
    return stack, (rows, cols)


def noise_sigma(tiles: np.ndarray) -> np.ndarray:
    """Each cell's noise spread (8-bit levels): the calmest cells' second differences among cells of like
    brightness (sensor noise grows with the signal, and the tone curve bends it: one figure per frame would
    be too little in the highlights or too much in the shadows)."""
    h = tiles[:, :, :-2] - 2.0 * tiles[:, :, 1:-1] + tiles[:, :, 2:]
    v = h[:, :-2] - 2.0 * h[:, 1:-1] + h[:, 2:]
    per_cell = np.abs(v).mean(axis=(1, 2)) * NOISE_GAIN
    brightness = tiles.mean(axis=(1, 2))
    order = np.argsort(brightness)
    out = np.empty_like(per_cell)
    for group in np.array_split(order, max(1, min(NOISE_BANDS, len(order) // NOISE_BAND_CELLS))):
        out[group] = percentiles(per_cell[group], (NOISE_QUANTILE,))[0]
    return out


def percentiles(values: np.ndarray, qs: tuple[float, ...]) -> list[float]:
    """numpy's (linear) percentiles ``qs`` of ``values``, by partitioning around just the ranks they need: the
    same figures at a fraction of ``np.percentile``'s fixed cost, which a frame pays several times."""
    flat = values.ravel()
    last = flat.size - 1
    positions = [last * q / 100.0 for q in qs]
    ranks = sorted({min(int(math.floor(p)) + k, last) for p in positions for k in (0, 1)})
    part = np.partition(flat, ranks)
    out = []
    for p in positions:
        below = int(math.floor(p))
        low, high = float(part[below]), float(part[min(below + 1, last)])
        out.append(low + (high - low) * (p - below))
    return out


class _Flat:
    """Arrays of (cells, h, w) kept flat with a zero border, so a shift by (dy, dx) is a view, not a copy
    (a shift wraps from one row or cell into the next only within MARGIN of a window's border, which no
    edge reads)."""

    def __init__(self, shape: tuple[int, int, int]) -> None:
        self.size, self.w = int(np.prod(shape)), shape[2]
        self.pad = (MARGIN + 2) * (self.w + 1)

    def wrap(self, a: np.ndarray) -> np.ndarray:
        out = np.empty(self.size + 2 * self.pad, np.float32)
        out[: self.pad] = 0.0
        out[self.pad + self.size:] = 0.0
        out[self.pad: self.pad + self.size] = a.ravel()
        return out

    def at(self, padded: np.ndarray, dy: int, dx: int) -> np.ndarray:
        """``out[y, x] = a[y + dy, x + dx]``, flat."""
        k = self.pad + dy * self.w + dx
        return padded[k: k + self.size]


def _bins(flat: _Flat, luma: np.ndarray, inside: np.ndarray) -> list[np.ndarray]:
    """Per direction of DIRECTIONS, the pixels (flat, within ``inside``) whose luma gradient points along it
    (the nearest of the four)."""
    gx = flat.at(luma, 0, 1) - flat.at(luma, 0, -1)
    gy = flat.at(luma, 1, 0) - flat.at(luma, -1, 0)
    ax, ay = np.abs(gx), np.abs(gy)
    across, along = ay <= TAN_22_5 * ax, ax <= TAN_22_5 * ay
    diagonal = inside & ~across & ~along
    rising = gx * gy > 0
    return [inside & across, inside & along, diagonal & rising, diagonal & ~rising]


def edge_widths(tiles: np.ndarray, sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every strong edge's (cell, direction, width in px) in ``tiles`` (cells, h, w); ``sigma``: noise per cell."""
    n, h, w = tiles.shape
    inside = np.zeros((h, w), bool)
    inside[MARGIN: h - MARGIN, MARGIN: w - MARGIN] = True
    if not inside.any():
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float32)
    flat = _Flat(tiles.shape)
    luma = flat.wrap(tiles)
    bins = _bins(flat, luma, np.tile(inside.ravel(), n))
    peak_floor = np.repeat((PEAK_NOISE * sigma).astype(np.float32), h * w)
    low, high = percentiles(tiles[:, ::4, ::4], (1, 99))
    rise_floor = np.maximum(max(MIN_RISE, RISE_SHARE * float(high - low)), RISE_NOISE * sigma)
    cells, dirs, widths = [], [], []
    for k, (dy, dx) in enumerate(DIRECTIONS):
        smooth = flat.wrap((flat.at(luma, dx, -dy) + 2.0 * flat.at(luma, 0, 0) + flat.at(luma, -dx, dy)) * 0.25)
        step = flat.wrap(flat.at(smooth, dy, dx) - flat.at(smooth, 0, 0))  # step[x] = s(x + d) - s(x): across d
        central = flat.at(step, 0, 0) + flat.at(step, -dy, -dx)  # s(x + d) - s(x - d)
        a = np.abs(central)
        padded = flat.wrap(a)  # an edge's steepest point: a local maximum along d
        peaks = bins[k] & (a >= peak_floor)
        peaks &= (a >= flat.at(padded, -dy, -dx)) & (a > flat.at(padded, dy, dx))
        index = np.flatnonzero(peaks)
        if not index.size:
            continue
        offset = dy * w + dx
        sign = np.sign(central[index])
        rise = np.zeros(index.size, np.float32)
        top = np.zeros(index.size, np.float32)
        tolerance = -RUN_NOISE * sigma[index // (h * w)]
        reach = np.arange(REACH)
        for direction, first in ((1, 0), (-1, -1)):  # forward from step[x], back from step[x - d]
            v = step[(flat.pad + index)[:, None] + ((first + direction * reach) * offset)[None, :]] * sign[:, None]
            alive = np.logical_and.accumulate(v > tolerance[:, None], axis=1)  # until the ramp turns back
            v = np.where(alive, v, 0.0)
            rise += v.sum(axis=1)
            top = np.maximum(top, v.max(axis=1))
        cell = index // (h * w)
        keep = (rise >= rise_floor[cell]) & (top > 0)
        cells.append(cell[keep])
        dirs.append(np.full(int(keep.sum()), k))
        widths.append(rise[keep] / top[keep] * math.hypot(dy, dx))
    if not cells:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float32)
    return np.concatenate(cells), np.concatenate(dirs), np.concatenate(widths).astype(np.float32)


def group_quantile(groups: np.ndarray, values: np.ndarray, count: int, minimum: int, q: float) -> np.ndarray:
    """The ``q`` percentile of ``values`` per group 0..count-1 (NaN for groups under ``minimum`` values)."""
    out = np.full(count, np.nan, np.float32)
    if not values.size:
        return out
    order = np.lexsort((values, groups))
    sizes = np.bincount(groups, minlength=count)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    enough = sizes >= max(minimum, 1)
    pick = starts[enough] + np.floor((sizes[enough] - 1) * q / 100.0).astype(np.int64)
    out[enough] = values[order][pick]
    return out


def frame_width(directions: np.ndarray) -> float:
    """The frame's edge width from its directions' (NaN: too few edges there): the widest, unless it stands
    alone (over :data:`LONE_WIDEST` times the second widest), when the second widest.

    A motion blur widens the directions within 45 degrees of its path too (by the cosine of the angle), so
    its widest direction never stands that far alone; one direction of nothing but soft shading (stripes,
    ripples, a sky's gradient) beside crisp others does, and is not blur.
    """
    finite = np.sort(directions[np.isfinite(directions)])[::-1]
    if not finite.size:
        return float("nan")
    return float(finite[1] if finite.size > 1 and finite[0] > LONE_WIDEST * finite[1] else finite[0])


def measure(plane: np.ndarray, factor: int = 0) -> FrameSharpness:
    """The sharpness of a frame's luma ``plane`` (H, W) in 8-bit levels (uint8, or float; see :mod:`.luma`).

    ``factor``: average down by this much first (0: by :func:`.luma.reduction` of the plane's size, at most
    MAX_REDUCTION).
    """
    tiles, grid = windows(plane, factor, MARGIN)
    sigma = noise_sigma(tiles)
    cell, direction, width = edge_widths(tiles, sigma)
    n = tiles.shape[0]
    frame = group_quantile(direction, width, len(DIRECTIONS), MIN_EDGES, QUANTILE)
    per_cell = group_quantile(cell * len(DIRECTIONS) + direction, width, n * len(DIRECTIONS), CELL_EDGES,
                              CELL_QUANTILE)
    per_cell = per_cell.reshape(n, len(DIRECTIONS))
    with np.errstate(invalid="ignore", divide="ignore"):
        widest = np.where(np.isfinite(per_cell).any(axis=1), np.nanmax(np.nan_to_num(per_cell, nan=-1.0), axis=1),
                          np.nan)
        cells = (1.0 / widest).astype(np.float32)
        overall = float(1.0 / frame_width(frame))
    coarse = tiles.var(axis=(1, 2)).astype(np.float32)
    return FrameSharpness(cells, grid, float(np.median(sigma)), int(np.isfinite(cells).sum()), coarse, overall,
                          int(width.size), frame.astype(np.float32))
