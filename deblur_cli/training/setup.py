"""The network made ready to train: identity start, precision, memory layout, FAC kernels, compilation."""

from __future__ import annotations

from typing import Callable

import torch

from ..inference.accelerate import make_fast
from ..models import STFAN
from ..ops.fac import KERNEL_SIZE

IDENTITY_FILTER_WEIGHT_SCALE = 0.1  # how much of the default random init the filter heads' last layer keeps


def start_as_identity(model: STFAN) -> None:
    """Start training from "change nothing" with every path open to gradients.

    Two things, both needed (measured: with only the first, STFAN's loss did not
    move in hundreds of steps while a plain CNN's fell by a quarter):

    - the final convolution is zeroed, so the untrained network returns its
      input (STFAN predicts a residual) instead of adding noise to every frame;
    - both filter heads start near the *identity filter* (centre tap 1, others
      0; a tenth of the random weights kept). A FAC multiplies features by
      filters, so with small random filters both factors start small and the
      decoder sees almost nothing; with identity filters the FACs pass the
      encoder features and the hidden state straight through, and the network
      learns from step one like an ordinary encoder-decoder.
    """
    taps = KERNEL_SIZE * KERNEL_SIZE
    with torch.no_grad():
        final = model.img_prd[0]
        final.weight.zero_()
        final.bias.zero_()
        for head in (model.fac_warp, model.fac_deblur):
            last = head[-1][0]
            last.weight.mul_(IDENTITY_FILTER_WEIGHT_SCALE)
            last.bias.zero_()
            last.bias.view(-1, taps)[:, taps // 2] = 1.0


def resolve_amp(mode: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype, or None for plain float32 (always on the CPU)."""
    if device.type != "cuda" or mode == "off":
        return None
    if mode == "fp16":
        return torch.float16
    if mode == "bf16" or torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


def device_name(device: torch.device) -> str:
    """The card's name for where training ran: the GPU's name, or the CPU model."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    from ..inference.devices import cpu_model

    return cpu_model()


def prepare_for_training(model: STFAN, device: torch.device, fac: str = "auto", compile_mode: str = "off",
                         channels_last: bool | None = None) -> Callable:
    """Set ``model``'s FAC (Triton forward and backward on CUDA with "auto") and layout; return the forward to call.

    ``channels_last`` None means on CUDA only: NHWC is cuDNN's fast layout for
    these convolutions; the CPU keeps NCHW (and its tested numbers). The
    returned callable is the model itself, or its ``torch.compile`` wrapper
    (``compile_mode`` "default", "reduce-overhead" = CUDA graphs, "max-autotune");
    state dicts are always taken from ``model``, never from the wrapper.
    """
    make_fast(model, fac, device)
    if channels_last if channels_last is not None else device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # one crop size all run long: pick the fastest kernels once
    if compile_mode == "off":
        return model
    return torch.compile(model, mode=None if compile_mode == "default" else compile_mode, dynamic=False)


def uses_channels_last(model: STFAN) -> bool:
    weight = model.conv1_1[0].weight
    return not weight.is_contiguous() and weight.is_contiguous(memory_format=torch.channels_last)


def to_layout(frames: torch.Tensor, model: STFAN) -> torch.Tensor:
    """(N, 3, H, W) frames in the memory layout ``model``'s weights have (NHWC end to end, or NCHW)."""
    if uses_channels_last(model):
        return frames.contiguous(memory_format=torch.channels_last)
    return frames.contiguous()
