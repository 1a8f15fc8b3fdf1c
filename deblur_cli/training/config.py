"""What defines a training run (saved with every checkpoint and in the exported weights), and its result."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..synth import SYNTH_MAX_SIDE, get_profile
from .losses import LossWeights

AMP_MODES = ("auto", "bf16", "fp16", "off")
COMPILE_MODES = ("off", "default", "reduce-overhead", "max-autotune")  # reduce-overhead = CUDA graphs
SCRATCH_LR = 2e-4
FINE_TUNE_LR = (1e-4, 2e-4)  # at batch 16 and from batch 64 on (Adam: the rate grows with sqrt(batch))
FINE_TUNE_BASE_BATCH = 16


def fine_tune_lr(batch: int) -> float:
    """Peak rate for continuing trained weights: 1e-4 at batch 16, x sqrt(batch/16), within 1e-4..2e-4.

    v0's log: 4e-4 at batch 16 pushed the network back to the identity; 1e-4..2e-4 is the range the
    authors (1e-4 at batch 1) and that log point to.
    """
    lo, hi = FINE_TUNE_LR
    return min(max(lo * math.sqrt(batch / FINE_TUNE_BASE_BATCH), lo), hi)


@dataclass
class TrainConfig:
    """Everything that defines a run."""

    images: str
    run_dir: str
    steps: int = 20000  # optimiser steps = frames (each batch of clips gives seq_len steps)
    seq_len: int = 4
    size: tuple[int, int] = (128, 128)  # training crop (H, W), divisible by 4
    batch: int = 4
    seed: int = 0
    lr: float | None = None  # peak rate; None: 2e-4 from scratch, fine_tune_lr(batch) from weights
    min_lr: float = 1e-6
    warmup: int = 200  # steps of linear warm-up (also re-warms Adam's moments when weights are continued)
    weight_decay: float = 1e-4
    grad_clip: float = 1.0
    profile: str = "train"
    loss: dict[str, float] = field(default_factory=lambda: asdict(LossWeights()))
    val_every: int = 1000
    val_clips: int = 8
    val_len: int = 6
    val_size: tuple[int, int] = (192, 320)
    ckpt_every: int = 500
    log_every: int = 25
    device: str = "auto"
    amp: str = "auto"  # auto (bf16/fp16 on CUDA, off on CPU), bf16, fp16, off
    fac: str = "auto"  # FAC implementation: auto (Triton on CUDA), triton, reference
    compile: str = "off"  # torch.compile mode for the training forward/backward (CUDA)
    channels_last: bool | None = None  # NHWC weights and frames; None: on CUDA only
    init_weights: str | None = None
    max_side: int | None = SYNTH_MAX_SIDE  # long side of the training photos (validation always uses the default)
    workers: int = 0  # processes rendering clips on the CPU while the model trains (0: render on the device)
    time_limit: float | None = None  # seconds of training: stop then, and run the LR schedule on time, not steps

    def __post_init__(self) -> None:
        self.size = (int(self.size[0]), int(self.size[1]))
        self.val_size = (int(self.val_size[0]), int(self.val_size[1]))
        for label, (h, w) in (("size", self.size), ("validation size", self.val_size)):
            if h % 4 or w % 4 or h < 16 or w < 16:
                raise InputError(f"{label} {w}x{h}: width and height must be multiples of 4, at least 16")
        for name in ("steps", "seq_len", "batch"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.workers < 0 or (self.time_limit is not None and self.time_limit <= 0):
            raise InputError("workers must be >= 0 and the time limit > 0")
        if self.lr is not None and not 0 < self.lr < 1:
            raise InputError(f"learning rate must be in (0, 1), got {self.lr}")
        for name, allowed in (("amp", AMP_MODES), ("compile", COMPILE_MODES)):
            if getattr(self, name) not in allowed:
                raise InputError(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        get_profile(self.profile)

    @property
    def peak_lr(self) -> float:
        if self.lr is not None:
            return self.lr
        return SCRATCH_LR if self.init_weights is None else fine_tune_lr(self.batch)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["size"], data["val_size"] = list(self.size), list(self.val_size)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class TrainResult:
    step: int
    export_path: Path | None
    validation: dict[str, dict[str, float]]
    first_loss: float | None
    last_loss: float | None
    throughput: dict[str, float] = field(default_factory=dict)
