"""Blur analysis without the network: per-frame sharpness from luma, judged over time (see :mod:`.detector`).

Arrays in, scores out: no file I/O, no network, numpy only. Below the
pipeline and beside inference (whose strength map shares :data:`.luma.LUMA`).
"""

from .detector import DEFAULT_THRESHOLD, BlurDetector, FrameScore
from .luma import LUMA, rgb_luma
from .sharpness import FrameSharpness, measure
from .stretches import Stretch, blurred_fraction, per_second, stretches

__all__ = ["DEFAULT_THRESHOLD", "LUMA", "BlurDetector", "FrameScore", "FrameSharpness", "Stretch",
           "blurred_fraction", "measure", "per_second", "rgb_luma", "stretches"]
