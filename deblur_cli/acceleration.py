"""Switch a built engine onto its fastest settings for its device, without changing its results on the CPU.

On CUDA: the Triton FAC with the fused deblurring filter head (``fac="auto"``),
channels_last weights (cuDNN's fast layout for these convolutions; activations
follow the weights' layout from the first convolution on) and
``cudnn.benchmark`` (picks the fastest algorithm per frame size once; a video
keeps one size). On the CPU nothing changes: the reference FAC and NCHW.
"""

from __future__ import annotations

import torch

from .engine import RecurrentEngine
from .ops.dispatch import make_fast


def accelerate(engine: RecurrentEngine, fac: str = "auto", channels_last: bool | None = None) -> RecurrentEngine:
    """Apply the device's speed settings to ``engine`` in place and return it.

    ``fac``: "reference" | "triton" | "auto"; ``channels_last``: None means
    "on CUDA only". Weights and their names are untouched.
    """
    on_cuda = engine.device.type == "cuda"
    make_fast(engine.model, fac, engine.device)
    if channels_last if channels_last is not None else on_cuda:
        engine.model.to(memory_format=torch.channels_last)
    if on_cuda:
        torch.backends.cudnn.benchmark = True
    return engine
