"""All training photos in one linear-light texture on the render device, at four zoom levels.

Rendering a batch of clips samples every sub-frame of every clip from this one
tensor with one ``grid_sample`` call per chunk, instead of cropping, resizing
and warping photo by photo. Each photo is stored at scales 1, 1/sqrt(2), 1/2
and 1/(2 sqrt(2)) (antialiased, in linear light), so a view that zooms out by
``s`` reads the level that leaves at most a sqrt(2) reduction to the sampler:
little aliasing without an antialiasing filter per sub-frame. Every stored
image is surrounded by a gutter of its own edge pixels, so bilinear and bicubic
taps at a view's border never read a neighbour.

The planner needs only the sizes and a coarse texture map of each photo (on
the CPU), never the texture itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F

from .sensor import srgb_to_linear

LEVELS = (1.0, 2 ** -0.5, 0.5, 2 ** -1.5)
GUTTER = 4  # px of replicated edge around every stored image (bicubic reads 2)
TEXTURE_STEP = 8  # the texture map has one cell per 8x8 source pixels


@dataclass(frozen=True)
class Placement:
    """Where one level of one photo sits in the atlas: top-left pixel and size."""

    x: int
    y: int
    width: int
    height: int


def texture_map(image: torch.Tensor) -> torch.Tensor:
    """Summed-area table of the mean absolute gradient of a uint8 (3, H, W) photo, one cell per 8x8 px.

    (H/8 + 1, W/8 + 1) float64 with a zero first row and column: the sum over
    cells [y0, y1) x [x0, x1) is ``t[y1, x1] - t[y0, x1] - t[y1, x0] + t[y0, x0]``.
    """
    grey = image.to(torch.float32).mean(dim=0, keepdim=True)[None]
    h, w = grey.shape[-2:]
    gx = F.pad((grey[..., :, 1:] - grey[..., :, :-1]).abs(), (0, 1, 0, 0))
    gy = F.pad((grey[..., 1:, :] - grey[..., :-1, :]).abs(), (0, 0, 0, 1))
    cells = F.adaptive_avg_pool2d(gx + gy, (max(1, h // TEXTURE_STEP), max(1, w // TEXTURE_STEP)))[0, 0]
    table = torch.zeros(cells.shape[0] + 1, cells.shape[1] + 1, dtype=torch.float64)
    table[1:, 1:] = cells.to(torch.float64).cumsum(0).cumsum(1)
    return table


def texture_score(table: torch.Tensor, photo_hw: tuple[int, int], cx: float, cy: float,
                  half_w: float, half_h: float) -> float:
    """Mean texture of the box centred (cx, cy) with half sizes (half_w, half_h), in level-0 photo pixels."""
    rows, cols = table.shape[0] - 1, table.shape[1] - 1
    sy, sx = rows / photo_hw[0], cols / photo_hw[1]
    y0 = min(max(int((cy - half_h) * sy), 0), rows - 1)
    y1 = min(max(int(math.ceil((cy + half_h) * sy)), y0 + 1), rows)
    x0 = min(max(int((cx - half_w) * sx), 0), cols - 1)
    x1 = min(max(int(math.ceil((cx + half_w) * sx)), x0 + 1), cols)
    total = table[y1, x1] - table[y0, x1] - table[y1, x0] + table[y0, x0]
    return float(total) / ((y1 - y0) * (x1 - x0))


def _level_size(hw: tuple[int, int], factor: float) -> tuple[int, int]:
    return max(1, round(hw[0] * factor)), max(1, round(hw[1] * factor))


def _shelf_pack(sizes: Sequence[tuple[int, int]], width: int) -> tuple[list[tuple[int, int]], int]:
    """Top-left corners for padded (h, w) boxes in rows ("shelves") of ``width``, tallest first; and the height."""
    order = sorted(range(len(sizes)), key=lambda i: -sizes[i][0])
    corners: list[tuple[int, int]] = [(0, 0)] * len(sizes)
    x = y = shelf = 0
    for i in order:
        h, w = sizes[i]
        if x + w > width:
            x, y, shelf = 0, y + shelf, 0
        corners[i] = (x, y)
        x += w
        shelf = max(shelf, h)
    return corners, y + shelf


class PhotoAtlas:
    """uint8 (3, H, W) photos -> one (1, 3, Ha, Wa) linear-light float tensor on ``device``.

    ``placements[i][level]`` locates photo i at ``LEVELS[level]``; ``sizes[i]``
    is its level-0 (H, W); ``textures[i]`` its texture map (CPU).
    """

    def __init__(self, images: Sequence[torch.Tensor], device: str | torch.device = "cpu",
                 dtype: torch.dtype = torch.float32) -> None:
        self.device = torch.device(device)
        self.sizes = [(int(im.shape[1]), int(im.shape[2])) for im in images]
        self.textures = [texture_map(im.cpu()) for im in images]
        boxes, levels = [], []
        for i, hw in enumerate(self.sizes):
            for level, factor in enumerate(LEVELS):
                h, w = _level_size(hw, factor)
                boxes.append((h + 2 * GUTTER, w + 2 * GUTTER))
                levels.append((i, level))
        width = max(max(b[1] for b in boxes), 2048)
        corners, height = _shelf_pack(boxes, width)
        self.placements: list[list[Placement]] = [[None] * len(LEVELS) for _ in self.sizes]  # type: ignore[list-item]
        self.texture = torch.zeros((1, 3, height, width), dtype=dtype, device=self.device)
        for (i, level), (x, y), (h, w) in zip(levels, corners, boxes):
            self.placements[i][level] = Placement(x + GUTTER, y + GUTTER, w - 2 * GUTTER, h - 2 * GUTTER)
        for i, image in enumerate(images):
            linear = srgb_to_linear(image.to(self.device, torch.float32)[None] / 255.0)
            for level in range(len(LEVELS)):
                place = self.placements[i][level]
                scaled = linear if level == 0 else F.interpolate(
                    linear, size=(place.height, place.width), mode="bilinear", antialias=True, align_corners=False)
                padded = F.pad(scaled, (GUTTER,) * 4, mode="replicate")
                self.texture[:, :, place.y - GUTTER:place.y + place.height + GUTTER,
                             place.x - GUTTER:place.x + place.width + GUTTER] = padded.to(dtype)

    def __len__(self) -> int:
        return len(self.sizes)

    @property
    def hw(self) -> tuple[int, int]:
        return int(self.texture.shape[-2]), int(self.texture.shape[-1])

    def level_for(self, scale: float) -> int:
        """The coarsest level that still leaves the sampler a reduction of at most sqrt(2) (0 for scale < 1)."""
        if scale <= 1.0:
            return 0
        return min(int(math.floor(math.log(scale, 2 ** 0.5) + 1e-9)), len(LEVELS) - 1)

    def level_scale(self, photo: int, level: int) -> tuple[float, float]:
        """Level pixels per level-0 pixel along (x, y) (the rounding of the level's size included)."""
        place, (h, w) = self.placements[photo][level], self.sizes[photo]
        return place.width / w, place.height / h
