"""How much fine detail a frame has, per cell and per direction, noise taken out: one frame on its own.

Motion blur smears the picture along its path: detail finer than the path's
length is gone in that direction (a 3 px path leaves a step edge a 3 px ramp),
while detail across the path and coarser detail stay. Sensor noise and
compression add fine detail of their own, in every direction and at every
scale alike. So, per cell of a coarse grid and per direction (horizontal,
vertical, both diagonals), the measure is the ratio of the fine-scale to the
coarse-scale structure:

    ratio_d = (D_d(1) - n) / (D_d(3) - n),   D_d(s) = mean (L(x) - L(x + s d))^2

where ``L`` is luma in 8-bit levels and ``n = 2 sigma^2`` what white noise of
spread ``sigma`` adds to every difference (estimated per frame from a second
difference that straight edges and ramps do not answer, in the frame's calmest
cells). A sharp step edge gives about 1/3, a 3 px blur along ``d`` about 1/6,
a 5 px one about 1/9; noise, once taken out, moves neither. A cell's
sharpness is its smallest ratio over the directions that have structure
(the blur's direction is the one that lost its fine detail; a curved shake
path lowers several). Cells without enough structure above the noise (flat
sky, a wall, a dark shot: the texture mask) have no sharpness (NaN) and are
ignored; the frame's sharpness is the median of its textured cells'.

Cost: the grid's cells are small windows read from the plane (at most
:data:`MAX_ROWS` x :data:`MAX_COLS` of :data:`TILE` px), so a frame costs the
same whatever its resolution; frames above ~1080 lines are averaged down by
a whole factor first (:func:`.luma.reduction`), inside the windows only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .luma import block_mean, reduction

TILE = 32  # px (after reduction): the side of a cell's window
MIN_TILE = 12
MAX_ROWS, MAX_COLS = 6, 10  # cells at most; small frames get fewer (their windows then cover them)
COARSE = 8  # px: the coarse scale (longer than the blurs that matter, so they leave it nearly whole)
TEXTURE = 12.0  # levels^2: coarse structure (noise taken out) below this is a flat cell
TEXTURE_NOISE = 3.0  # ...or below this many times the noise's own share
DIRECTION_SHARE = 0.2  # a direction counts when its coarse structure is at least this share of the cell's largest
NOISE_QUANTILE = 20  # percent: the noise is read in the calmest cells (texture leaks into the estimate elsewhere)
NOISE_BANDS, NOISE_BAND_CELLS = 4, 6  # cells are grouped by brightness into up to this many bands of at least 6
MIN_CELLS = 2  # textured cells a frame needs to have a sharpness at all
NOISE_GAIN = math.sqrt(math.pi / 2.0) / 6.0  # Immerkaer: mean |second difference| -> sigma for white noise


@dataclass(frozen=True)
class FrameSharpness:
    """One frame's measure: per cell (row-major over ``grid``) and overall; NaN where there is no structure."""

    cells: np.ndarray  # (rows * cols,) float32 ratios in [0, 1], NaN for flat cells
    grid: tuple[int, int]
    noise: float  # sigma, 8-bit levels
    textured: int  # cells with structure
    coarse: np.ndarray | None = None  # (rows * cols,) each cell's largest coarse structure (levels^2): what it shows

    @property
    def value(self) -> float:
        """The median of the textured cells (NaN when fewer than MIN_CELLS are textured)."""
        if self.textured < MIN_CELLS:
            return float("nan")
        return float(np.nanmedian(self.cells))


def layout(height: int, width: int) -> tuple[int, int, int]:
    """(rows, cols, window side) for a (reduced) frame of ``height`` x ``width``."""
    rows = min(MAX_ROWS, max(1, height // TILE))
    cols = min(MAX_COLS, max(1, width // TILE))
    side = max(min(TILE, height // rows, width // cols), 1)
    return rows, cols, side


def windows(plane: np.ndarray, factor: int = 0) -> tuple[np.ndarray, tuple[int, int]]:
    """The grid's windows of a luma ``plane`` (any numeric type) as (cells, side, side) float32; and the grid."""
    factor = factor or reduction(*plane.shape[:2])
    height, width = plane.shape[0] // factor, plane.shape[1] // factor
    rows, cols, side = layout(height, width)
    ys = [min(max(round((i + 0.5) * height / rows - side / 2), 0), height - side) for i in range(rows)]
    xs = [min(max(round((j + 0.5) * width / cols - side / 2), 0), width - side) for j in range(cols)]
    span = side * factor
    stack = np.stack([plane[y * factor: y * factor + span, x * factor: x * factor + span] for y in ys for x in xs])
    stack = stack.astype(np.float32, copy=False)
    if factor > 1:
        stack = block_mean(stack, factor)
    return stack, (rows, cols)


def directional_energy(tiles: np.ndarray, step: int) -> np.ndarray:
    """(cells, 4): mean squared difference at ``step`` px, horizontally, vertically and along both diagonals."""
    s = step
    pairs = ((tiles[:, :, s:], tiles[:, :, :-s]), (tiles[:, s:, :], tiles[:, :-s, :]),
             (tiles[:, s:, s:], tiles[:, :-s, :-s]), (tiles[:, s:, :-s], tiles[:, :-s, s:]))
    out = np.empty((tiles.shape[0], 4), np.float32)
    for k, (a, b) in enumerate(pairs):
        d = a - b
        out[:, k] = np.einsum("nij,nij->n", d, d) / d[0].size
    return out


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
        out[group] = np.percentile(per_cell[group], NOISE_QUANTILE)
    return out


def measure(plane: np.ndarray, factor: int = 0) -> FrameSharpness:
    """The sharpness of a frame's luma ``plane`` (H, W) in 8-bit levels (uint8, or float; see :mod:`.luma`).

    ``factor``: average down by this much first (0: by :func:`.luma.reduction` of the plane's size).
    """
    tiles, grid = windows(plane, factor)
    sigma = noise_sigma(tiles)
    floor = (2.0 * sigma * sigma)[:, None]
    fine = directional_energy(tiles, 1) - floor
    coarse = directional_energy(tiles, COARSE) - floor
    strongest = coarse.max(axis=1)
    textured = strongest >= np.maximum(TEXTURE, TEXTURE_NOISE * floor[:, 0])
    useful = (coarse >= DIRECTION_SHARE * strongest[:, None]) & (coarse > 0)
    ratio = np.where(useful, np.clip(fine, 0.0, None) / np.where(useful, coarse, 1.0), np.inf)
    cells = np.clip(ratio.min(axis=1), 0.0, 1.0).astype(np.float32)
    cells[~textured] = np.nan
    return FrameSharpness(cells, grid, float(np.median(sigma)), int(textured.sum()), strongest.astype(np.float32))
