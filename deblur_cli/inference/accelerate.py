"""Switch a built engine onto its fastest settings for its device, without changing its results on the CPU.

On CUDA: the Triton FAC with the fused deblurring filter head (``fac="auto"``),
channels_last weights (cuDNN's fast layout for these convolutions; activations
follow the weights' layout from the first convolution on) and
``cudnn.benchmark`` (picks the fastest algorithm per frame size once; a video
keeps one size). On the CPU nothing changes: the reference FAC and NCHW.
"""

from __future__ import annotations

import torch

from ..models.stfan import STFAN
from ..ops.dispatch import select_fac
from .engine import RecurrentEngine


def make_fast(model: STFAN, impl: str = "auto", device: torch.device | str | None = None) -> STFAN:
    """Point ``model``'s FAC (and the fused deblurring FAC) at ``impl``; returns the same module.

    Only two plain attributes change, no parameter or buffer, so the state dict
    keeps its names and ``make_fast(model, "reference")`` undoes it. ``device``
    defaults to where the model's parameters are.
    """
    if device is None:
        device = next(model.parameters()).device
    model.fac, model.fused_deblur = select_fac(impl, device)
    return model


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
