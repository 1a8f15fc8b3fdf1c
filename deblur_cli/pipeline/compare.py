"""Before/after frames for showing what deblurring did: side by side, split down the middle, or the strength map.

All layouts keep frames encodable as yuv420 (which needs even dimensions):
``side`` doubles the width, which is always even, and keeps the height; ``split``
and ``map`` keep the input's size, so they are exactly as encodable as the input.
``map`` shows where the restoration was written (``--strength``, see
:mod:`deblur_cli.inference.strength`): the input in dim grey where it was kept,
tinted orange in proportion to the weight of the restoration. With
``labels``, each side gets a small caption in its top corner (:mod:`.labels`).
"""

from __future__ import annotations

from typing import Callable, Literal

import numpy as np

from ..analysis.luma import LUMA
from . import COMPARE_MODES
from .labels import draw_label, label_size, scale_for

Mode = Literal["side", "split", "map"]
MODES = COMPARE_MODES
DIVIDER_FRACTION = 1 / 480  # divider width relative to the frame width: 4 px at 1920
DIVIDER_LEVEL = 1.0  # divider brightness as a fraction of full scale (white)
LABELS = ("input", "restored")  # the captions the pipeline puts on its composites
MAP_LABELS = ("strength map", "")  # --compare map: one caption
MAP_TINT = np.array([1.0, 0.55, 0.1], dtype=np.float32)  # --compare map: the colour of "restoration written"
MAP_GREY = (0.15, 0.45)  # --compare map: the input's luma shown from this dark grey to this light one


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
            labels: tuple[str, str] | None = None, weights: np.ndarray | None = None) -> np.ndarray:
    """One frame showing ``before`` (left) and ``after`` (right), or how much of ``after`` was restored.

    ``before`` and ``after`` are (H, W, 3) arrays of the same shape and dtype
    (uint8 or uint16). ``side``: (H, 2W, 3), the two frames next to each other.
    ``split``: (H, W, 3), the left half from ``before`` and the right half from
    ``after``, with a white divider line on the boundary. ``map``: (H, W, 3),
    :func:`weight_view` of ``before`` and ``weights`` ((H, W) in [0, 1], the
    weight of the restoration in ``after``; None means 1 everywhere).
    ``labels``: captions for the two sides (e.g. :data:`LABELS`), drawn where
    they fit.
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
    elif mode == "map":
        out = weight_view(before, np.ones(before.shape[:2], np.float32) if weights is None else weights)
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


def weight_view(frame: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``frame``'s luma in dim grey, tinted towards :data:`MAP_TINT` by ``weights`` ((H, W) in [0, 1])."""
    if weights.shape != frame.shape[:2]:
        raise ValueError(f"weights {weights.shape} do not match the frame {frame.shape[:2]}")
    peak = float(np.iinfo(frame.dtype).max)
    luma = (frame.astype(np.float32) @ np.array(LUMA, dtype=np.float32) / peak)[..., None]
    lo, hi = MAP_GREY
    w = np.clip(weights.astype(np.float32), 0.0, 1.0)[..., None]
    shown = (lo + (hi - lo) * luma) * (1.0 - w) + w * MAP_TINT * (0.5 + 0.5 * luma)
    return np.rint(shown * peak).astype(frame.dtype)


def composer(mode: Mode, engine: object, labels: bool = True) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """:func:`compose` for ``mode`` as a (before, after) function, captioned when ``labels``.

    For ``map`` it asks ``engine`` for the weights: the pipeline calls it right
    after ``engine`` returned ``after``, so the engine's ``weight_map()`` is that
    frame's (an engine without one wrote the restoration everywhere).
    """
    if mode != "map":
        return lambda before, after: compose(before, after, mode, LABELS if labels else None)
    weight_map = getattr(engine, "weight_map", lambda: None)
    return lambda before, after: compose(before, after, mode, MAP_LABELS if labels else None, weight_map())
