"""Where does the restoration help? A smooth per-region weight map from an input frame and its restoration.

The question asked of each region is: where the restoration changes the
picture, is the change large next to the steepest slope the input already has
there?

- Deblurring a blurred edge redraws a ramp several pixels wide: the change
  spans the ramp and is a good part of the edge's contrast, while the slope
  there is only that contrast spread over the ramp. The change is large next
  to the slope (their ratio grows with the square of the blur's width).
- On a sharp edge the slope is as steep as it gets; what a restoration does
  there (a good network: nothing; a poor one: overshoot, ringing, a level or
  two of noise) is small next to it.
- Changes under a level (``standard``) or two (``cautious``) are never worth
  writing: they cannot be deblurring, and on clean footage they only cost quality.
- The ratio cannot tell which way a change goes: softening a sharp edge moves
  it as much as sharpening a soft one. So a region is written only where the
  restoration sharpens it: where the (lightly blurred) restoration's gradient
  energy is at least the input's (:data:`SHARPEN`). A network that softens what
  it writes (a common complaint of video deblurring models) is kept off sharp
  regions; deblurring raises the gradient energy there many times over. (A
  region the network only denoises loses a little detail and is not written
  either: that is not deblurring.)

How large the ratio must be depends on how far the network can be trusted
(:class:`MapSettings`). ``standard`` writes any change of more than about a
level that looks like undoing a blur of a pixel or two or more: a network that
leaves sharp content alone is written wherever it deblurs. ``cautious`` is for
weights measured to be poor on sharp footage: on clean, sharp frames the
shipped experimental weights move edges by several levels (ghosts of the
previous frame), changes that look like undoing a mild blur, so only changes
that look like undoing a blur several pixels wide are written (a 7 px blur
fully undone takes the restoration; 5 px or less is mostly left alone). A weights entry names its setting
(``strength_map`` in :mod:`deblur_cli.models.registry`).

Per pixel, the change is measured after a light blur (pixel noise that the
network removes or adds is not deblurring) and the slope as the largest
gradient of the lightly blurred input within a few pixels (so ringing beside
a sharp edge is compared with that edge). Per region, ``ratio = mean(change^4)
/ mean(change^2 * (slope^2 + floor))``, the change-weighted ratio of squared
change to squared slope, ``sharpening = (mean(gradient energy of the
restoration) - mean(that of the input)) / (mean(that of the input) + floor)``,
and ``weight = smoothstep(ratio) * smoothstep(RMS change) * smoothstep(sharpening)``.
All are measured in 8-bit levels whatever the frame's bit depth, so a 10-bit
frame gets the map its 8-bit version would. A frame where only a
few isolated cells look deblurred gets no weight at all: blur comes from the
camera (the whole frame) or from a moving object (a region of some size);
a stray cell in an otherwise sharp frame is more likely the network's own
artefact.

Regions are cells of a coarse grid (:data:`CELLS_SHORT_SIDE` cells across the
frame's short side, so the map has the same layout at every resolution),
pooled over a window of cells; the weights then also cover neighbouring cells
(a blurred object's edges and motion), are smoothed, and are upsampled
bilinearly to the frame: the map is continuous, without seams.
:class:`TemporalSmoother` keeps it from flickering over time.

The constants below were tuned on synthetic clips (benchmarks/bench_strength.py):
``cautious`` with the experimental weights on the *training* photos only,
``standard`` with a stand-in restoration that undoes a share of the blur and
nothing else, on both photo splits, and :data:`SHARPEN` with stand-ins that
also soften (a Gaussian of half a pixel and a pixel) on the training photos only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..analysis.luma import LUMA  # BT.601 weights: brightness for the map, --compare map, the blur detector

CELLS_SHORT_SIDE = 24  # cells across the frame's short side (8 px cells at 320x192)
MIN_CELL = 4  # px: small frames still get cells of a few pixels
WINDOW = 3  # cells: the statistics of a cell are pooled over this many cells square
SPREAD = 9  # cells: a region's weight also covers this neighbourhood (an object's edges, its motion)
SLOPE_REACH = 5  # px: the slope at a pixel is the steepest within this many pixels square
FLOOR = 2.0  # levels^2: flat regions are compared against this slope, not against nothing
SHARPEN = (-0.05, 0.05)  # relative change of gradient energy: a region the restoration softens is not written
EVIDENCE = (0.005, 0.02)  # share of a frame's cells that look deblurred: below the first, none is written
BLUR_SIGMA = 1.0  # px: the light blur before measuring change and slope (ignores pixel-level noise)
LEVELS = 255.0  # the unit of change and detail: one 8-bit level


@dataclass(frozen=True)
class MapSettings:
    """How far the map trusts a network, each a (no weight, full weight) pair.

    ``ratio``: squared change / squared slope; ``change``: RMS change in 8-bit levels.
    """

    name: str
    ratio: tuple[float, float]
    change: tuple[float, float]


STANDARD = MapSettings("standard", (0.015, 0.06), (0.5, 1.0))  # undoing a blur of a pixel or two is written
CAUTIOUS = MapSettings("cautious", (0.35, 1.4), (1.0, 2.0))  # only undoing a blur several pixels wide is written
MAP_SETTINGS = {settings.name: settings for settings in (STANDARD, CAUTIOUS)}


def grid_size(height: int, width: int) -> tuple[int, int]:
    """The map's (rows, columns) for a frame of ``height`` x ``width`` pixels."""
    cell = max(MIN_CELL, round(min(height, width) / CELLS_SHORT_SIDE))
    return max(1, round(height / cell)), max(1, round(width / cell))


def smoothstep(t: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    """0 below ``lo``, 1 above ``hi``, a smooth cubic in between."""
    u = ((t - lo) / (hi - lo)).clamp_(0.0, 1.0)
    return u * u * (3.0 - 2.0 * u)


def _luma(x: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB -> (N, 1, H, W) luma."""
    r, g, b = LUMA
    return r * x[:, 0:1] + g * x[:, 1:2] + b * x[:, 2:3]


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (N, 1, H, W), edges replicated."""
    radius = max(1, math.ceil(2.5 * sigma))
    taps = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    taps = torch.exp(-(taps**2) / (2 * sigma**2))
    taps = taps / taps.sum()
    x = F.pad(x, (radius, radius, radius, radius), mode="replicate")
    x = F.conv2d(x, taps.view(1, 1, 1, -1))
    return F.conv2d(x, taps.view(1, 1, -1, 1))


def _gradient_energy(x: torch.Tensor) -> torch.Tensor:
    """Squared gradient magnitude of (N, 1, H, W) (forward differences, zero at the far edges)."""
    dx = F.pad(x[..., :, 1:] - x[..., :, :-1], (0, 1, 0, 0))
    dy = F.pad(x[..., 1:, :] - x[..., :-1, :], (0, 0, 0, 1))
    return dx * dx + dy * dy


def _neighbourhood(grid: torch.Tensor, size: int, reduce: str) -> torch.Tensor:
    """Mean ("mean") or maximum ("max") over ``size`` x ``size`` cells or pixels (odd), edges replicated."""
    if size <= 1:
        return grid
    pad = size // 2
    padded = F.pad(grid, (pad, pad, pad, pad), mode="replicate")
    return F.avg_pool2d(padded, size, 1) if reduce == "mean" else F.max_pool2d(padded, size, 1)


def _smooth(grid: torch.Tensor) -> torch.Tensor:
    """A 3x3 binomial blur of the grid (softens the steps the maximum leaves)."""
    # Made on the device, not copied from the host: a copy from pageable memory would wait for the GPU every frame.
    taps = torch.full((3,), 0.25, device=grid.device, dtype=grid.dtype)
    taps[1] = 0.5
    padded = F.pad(grid, (1, 1, 1, 1), mode="replicate")
    return F.conv2d(F.conv2d(padded, taps.view(1, 1, 1, 3)), taps.view(1, 1, 3, 1))


def spread(grid: torch.Tensor, size: int = 3) -> torch.Tensor:
    """Each cell takes the largest weight within ``size`` x ``size`` cells around it."""
    return _neighbourhood(grid, size, "max")


@torch.inference_mode()
def weight_grid(frame: torch.Tensor, restored: torch.Tensor, settings: MapSettings = STANDARD) -> torch.Tensor:
    """The blend weight per cell: (N, 3, H, W) input and restoration in [0, 1] -> (N, 1, rows, cols) in [0, 1].

    0 keeps the input, 1 takes the restoration (see the module's description).
    """
    x = gaussian_blur(_luma(frame.float()), BLUR_SIGMA) * LEVELS  # in 8-bit levels from here on
    y = gaussian_blur(_luma(restored.float()), BLUR_SIGMA) * LEVELS
    rows_cols = grid_size(*x.shape[-2:])
    change = y - x
    detail_in = _gradient_energy(x)
    slope = _neighbourhood(detail_in, SLOPE_REACH, "max")
    change2 = change * change

    def pooled(values: torch.Tensor) -> torch.Tensor:
        return _neighbourhood(F.adaptive_avg_pool2d(values, rows_cols), WINDOW, "mean")

    energy = pooled(change2)
    ratio = pooled(change2 * change2) / (pooled(change2 * slope) + FLOOR * energy + 1e-12)
    detail = pooled(detail_in)
    sharpening = (pooled(_gradient_energy(y)) - detail) / (detail + FLOOR)
    weight = (smoothstep(ratio, *settings.ratio) * smoothstep(energy.sqrt(), *settings.change)
              * smoothstep(sharpening, *SHARPEN))
    weight = weight * smoothstep(weight.mean(dim=(-2, -1), keepdim=True), *EVIDENCE)
    return _smooth(spread(weight, SPREAD)).clamp_(0.0, 1.0)


def upsample(grid: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(N, 1, rows, cols) -> (N, 1, height, width), bilinear: continuous, no seams, stays in [0, 1]."""
    return F.interpolate(grid, size=(height, width), mode="bilinear", align_corners=False)


class TemporalSmoother:
    """Keeps a weight map from flickering: each frame's map is blended with the last one.

    ``map_t = keep * spread(map_{t-1}) + (1 - keep) * estimate_t``; the previous
    map is spread by a cell first, since content moves between frames. The
    memory starts empty (the first frame's map is its own estimate) and is
    emptied by :meth:`reset` (a new clip or shot) or a new frame size.
    """

    def __init__(self, keep: float = 0.5, motion: int = 3) -> None:
        if not 0.0 <= keep < 1.0:
            raise ValueError(f"keep must be in [0, 1), got {keep}")
        self.keep, self.motion = keep, motion
        self.previous: torch.Tensor | None = None

    def reset(self) -> None:
        self.previous = None

    def __call__(self, grid: torch.Tensor) -> torch.Tensor:
        if self.previous is not None and self.previous.shape == grid.shape:
            grid = self.keep * spread(self.previous, self.motion) + (1.0 - self.keep) * grid
        self.previous = grid
        return grid
