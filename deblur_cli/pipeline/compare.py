"""Before/after frames for showing what deblurring did: side by side, or split down the middle.

Both layouts keep frames encodable as yuv420 (which needs even dimensions):
``side`` doubles the width, which is always even, and keeps the height; ``split``
keeps the input's size, so it is exactly as encodable as the input.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from . import COMPARE_MODES

Mode = Literal["side", "split"]
MODES = COMPARE_MODES
DIVIDER_FRACTION = 1 / 480  # divider width relative to the frame width: 4 px at 1920
DIVIDER_LEVEL = 1.0  # divider brightness as a fraction of full scale (white)


def divider_width(width: int) -> int:
    """A thin but visible line: at least 2 px, an even count so it sits centred on the split."""
    return max(2, 2 * round(width * DIVIDER_FRACTION / 2))


def compose(before: np.ndarray, after: np.ndarray, mode: Mode = "side") -> np.ndarray:
    """One frame showing ``before`` (left) and ``after`` (right).

    ``before`` and ``after`` are (H, W, 3) arrays of the same shape and dtype
    (uint8 or uint16). ``side``: (H, 2W, 3), the two frames next to each other.
    ``split``: (H, W, 3), the left half from ``before`` and the right half from
    ``after``, with a white divider line on the boundary.
    """
    if mode not in MODES:
        raise ValueError(f"unknown comparison mode {mode!r}: use one of {', '.join(MODES)}")
    if before.shape != after.shape or before.dtype != after.dtype:
        raise ValueError(
            f"before and after must match: {before.shape} {before.dtype} vs {after.shape} {after.dtype}"
        )
    if before.ndim != 3 or before.shape[2] != 3:
        raise ValueError(f"expected (H, W, 3) frames, got shape {before.shape}")
    if before.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"expected uint8 or uint16 frames, got {before.dtype}")

    if mode == "side":
        return np.concatenate([before, after], axis=1)

    width = before.shape[1]
    middle = width // 2
    out = after.copy()
    out[:, :middle] = before[:, :middle]
    half = divider_width(width) // 2
    lo, hi = max(0, middle - half), min(width, middle + half)
    out[:, lo:hi] = round(np.iinfo(before.dtype).max * DIVIDER_LEVEL)
    return out
