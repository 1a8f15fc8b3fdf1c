"""Before/after frames for showing what deblurring did: side by side, or split down the middle.

Both layouts keep frames encodable as yuv420 (which needs even dimensions):
``side`` doubles the width, which is always even, and keeps the height; ``split``
keeps the input's size, so it is exactly as encodable as the input. With
``labels``, each side gets a small caption in its top corner (:mod:`.labels`).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from . import COMPARE_MODES
from .labels import draw_label, label_size, scale_for

Mode = Literal["side", "split"]
MODES = COMPARE_MODES
DIVIDER_FRACTION = 1 / 480  # divider width relative to the frame width: 4 px at 1920
DIVIDER_LEVEL = 1.0  # divider brightness as a fraction of full scale (white)
LABELS = ("input", "restored")  # the captions the pipeline puts on its composites


def divider_width(width: int) -> int:
    """A thin but visible line: at least 2 px, an even count so it sits centred on the split."""
    return max(2, 2 * round(width * DIVIDER_FRACTION / 2))


def _label(out: np.ndarray, labels: tuple[str, str], width: int, middle: int) -> None:
    """Captions in the top corners: the left one at the left edge, the right one at the right edge of its half."""
    scale = scale_for(out.shape[0])
    margin = 2 * scale
    left, right = labels
    draw_label(out, left, margin, margin, scale, limit=middle - margin)
    x = out.shape[1] - margin - label_size(right, scale)[0]
    if x >= middle + margin:
        draw_label(out, right, x, margin, scale)


def compose(before: np.ndarray, after: np.ndarray, mode: Mode = "side",
            labels: tuple[str, str] | None = None) -> np.ndarray:
    """One frame showing ``before`` (left) and ``after`` (right).

    ``before`` and ``after`` are (H, W, 3) arrays of the same shape and dtype
    (uint8 or uint16). ``side``: (H, 2W, 3), the two frames next to each other.
    ``split``: (H, W, 3), the left half from ``before`` and the right half from
    ``after``, with a white divider line on the boundary. ``labels``: captions
    for the two sides (e.g. :data:`LABELS`), drawn where they fit.
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

    width = before.shape[1]
    if mode == "side":
        out = np.concatenate([before, after], axis=1)
        middle = width
    else:
        middle = width // 2
        out = after.copy()
        out[:, :middle] = before[:, :middle]
        half = divider_width(width) // 2
        lo, hi = max(0, middle - half), min(width, middle + half)
        out[:, lo:hi] = round(np.iinfo(before.dtype).max * DIVIDER_LEVEL)
    if labels is not None:
        _label(out, labels, width, middle)
    return out
