"""Switch a built engine onto its fastest settings for its device, without changing its results on the CPU.

On CUDA: the Triton FAC with the fused deblurring filter head, the fused
convolution epilogue and tap-major alignment filters (``fac="auto"``),
channels_last weights (cuDNN's fast layout for these convolutions; the model
turns its input and so every activation into the weights' layout), CUDA graphs
replaying each frame's step (captured once per frame size) and
``cudnn.benchmark`` (picks the fastest algorithm per frame size once; a video
keeps one size). On the CPU nothing changes: the reference FAC and NCHW.
"""

from __future__ import annotations

import torch

from ..models.stfan import STFAN
from ..ops.dispatch import select_ops
from .engine import RecurrentEngine


def make_fast(model: STFAN, impl: str = "auto", device: torch.device | str | None = None) -> STFAN:
    """Point ``model``'s FAC, fused deblurring FAC, convolution epilogue and filter order at ``impl``.

    Returns the same module. Only plain attributes change, no parameter or
    buffer, so the state dict keeps its names and ``make_fast(model,
    "reference")`` undoes it. ``device`` defaults to where the model's parameters are.
    """
    if device is None:
        device = next(model.parameters()).device
    ops = select_ops(impl, device)
    model.fac, model.fused_deblur, model.epilogue, model.warp_tap_major, model.fused_warp = ops
    return model


def accelerate(engine: RecurrentEngine, fac: str = "auto", channels_last: bool | None = None,
               graphs: bool | None = None) -> RecurrentEngine:
    """Apply the device's speed settings to ``engine`` in place and return it.

    ``fac``: "reference" | "triton" | "auto"; ``channels_last``: None means
    "on CUDA only"; ``graphs`` (CUDA graphs per frame size, :mod:`.graphs`): None
    means "on CUDA with the Triton path". Weights and their names are untouched.
    """
    on_cuda = engine.device.type == "cuda"
    make_fast(engine.model, fac, engine.device)
    if channels_last if channels_last is not None else on_cuda:
        engine.model.to(memory_format=torch.channels_last)
    if graphs if graphs is not None else on_cuda and engine.model.epilogue is not None:
        engine.enable_graphs()
    if on_cuda:
        torch.backends.cudnn.benchmark = True
    return engine
