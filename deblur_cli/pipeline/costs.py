"""What ``run`` would cost: the network's rate measured by a short warm-up at a file's size, and the seconds.

The rate is measured once per frame size: two frames through the engine
(the first pays for allocations and kernel choice), then :data:`TIMED` frames
timed. On the CPU a large frame takes seconds, so sizes above
:data:`MAX_MEASURED_PIXELS` are measured at a smaller size of the same shape
and scaled by the pixel count (the network's work grows with it).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from .segments import DEFAULT_WARMUP

TIMED = 2
MAX_MEASURED_PIXELS = 160 * 96 * 4  # 61 440 px (320x192): a CPU warm-up of a few seconds


class RateMeter:
    """Frames per second of ``engine`` by frame size, measured once per size."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.rates: dict[tuple[int, int], float] = {}

    def rate(self, width: int, height: int) -> float:
        key = (width, height)
        if key not in self.rates:
            self.rates[key] = self._measure(width, height)
        return self.rates[key]

    def _measure(self, width: int, height: int) -> float:
        scale = 1.0
        if width * height > MAX_MEASURED_PIXELS and not str(getattr(self.engine, "device", "")).startswith("cuda"):
            scale = math.sqrt(MAX_MEASURED_PIXELS / (width * height))
        w, h = max(16, round(width * scale / 4) * 4), max(16, round(height * scale / 4) * 4)
        frame = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
        self.engine.reset()
        list(self.engine.restore([frame, frame]))
        started = time.perf_counter()
        list(self.engine.restore([frame] * TIMED))
        seconds = (time.perf_counter() - started) / TIMED
        return 1.0 / max(seconds * (width * height) / (w * h), 1e-9)


def run_seconds(frames: int, stretches: int, blurred_frames: int, rate: float) -> tuple[float, float]:
    """(seconds for every frame, seconds with --skip-sharp: blurred frames and each stretch's warm-up)."""
    skip = min(frames, blurred_frames + DEFAULT_WARMUP * stretches)
    return frames / rate, skip / rate
