"""The learning-rate schedule: linear warm-up, then cosine decay to ``min_lr``, on steps or on the clock.

Warm-up counts steps: ``lr * (step + 1) / warmup`` at step ``step`` < ``warmup``,
so step 0 trains at ``lr / warmup`` and step ``warmup - 1`` at ``lr``. It also
re-warms Adam when weights are continued in a new run (fresh moment estimates
would otherwise take full-size steps from the first batch).

Decay: progress runs from 0 at the end of warm-up to 1 at ``steps``; with a
time limit it is the larger of that and the share of the *post-warm-up* time
used (``(seconds - warmup_seconds) / (time_limit - warmup_seconds)``), so a run
bounded by GPU time ends at ``min_lr`` instead of being cut off at a high rate,
and the rate does not jump when warm-up ends.
"""

from __future__ import annotations

import math

from .config import TrainConfig


def warmup_steps(cfg: TrainConfig) -> int:
    """``cfg.warmup``, but never more than a tenth of a short run."""
    return max(1, min(cfg.warmup, max(cfg.steps // 10, 1)))


def lr_at(step: int, cfg: TrainConfig, seconds: float = 0.0, warmup_seconds: float | None = None) -> float:
    """The rate for optimiser step ``step`` after ``seconds`` of training (warm-up ended at ``warmup_seconds``)."""
    peak, warmup = cfg.peak_lr, warmup_steps(cfg)
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, cfg.steps - warmup)
    if cfg.time_limit:
        start = min(warmup_seconds or 0.0, cfg.time_limit * 0.999)
        progress = max(progress, (seconds - start) / (cfg.time_limit - start))
    progress = min(1.0, max(0.0, progress))
    return cfg.min_lr + 0.5 * (peak - cfg.min_lr) * (1.0 + math.cos(math.pi * progress))
