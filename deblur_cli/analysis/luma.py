"""Brightness as the analysis sees it: BT.601 luma in 8-bit levels, at a reduced size.

:data:`LUMA` is the one set of luma weights of the strength map
(:mod:`deblur_cli.inference.weightmap`), ``--compare map`` and the blur
detector. A decoder's Y plane is that luma already (no conversion: the
detector reads it as it is); RGB frames (image folders) go through
:func:`rgb_luma`.
"""

from __future__ import annotations

import numpy as np

LUMA = (0.299, 0.587, 0.114)  # BT.601 luma weights
WORK_SHORT_SIDE = 540  # px: larger frames are averaged down by a whole factor until their short side is about this


def levels(plane: np.ndarray, bits: int = 8) -> np.ndarray:
    """An integer plane of ``bits``-bit samples as float32 in 8-bit levels (10-bit codes / 4...)."""
    scale = np.float32(255.0 / ((1 << bits) - 1)) if bits != 8 else None
    out = plane.astype(np.float32)
    return out * scale if scale is not None else out


def rgb_luma(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8/uint16 RGB -> (H, W) float32 luma in 8-bit levels."""
    peak = float(np.iinfo(rgb.dtype).max)
    weights = np.asarray(LUMA, np.float32) * np.float32(255.0 / peak)
    return rgb @ weights if rgb.dtype == np.float32 else rgb.astype(np.float32) @ weights


def reduction(height: int, width: int) -> int:
    """The whole factor a frame of this size is averaged down by (1 up to about 1080 lines... 2 at 1080p)."""
    return max(1, min(height, width) // WORK_SHORT_SIDE)


def block_mean(plane: np.ndarray, factor: int) -> np.ndarray:
    """Mean of ``factor`` x ``factor`` blocks over the last two axes (edges that do not fill a block are dropped)."""
    if factor <= 1:
        return plane
    h, w = (plane.shape[-2] // factor) * factor, (plane.shape[-1] // factor) * factor
    blocks = plane[..., :h, :w].reshape(*plane.shape[:-2], h // factor, factor, w // factor, factor)
    return blocks.mean(axis=(-3, -1), dtype=np.float32)
