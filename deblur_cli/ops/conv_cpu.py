"""Convolutions on the CPU with oneDNN's fused epilogue and weights packed once.

Why: an eager ``F.conv2d`` on the CPU reorders its weight into oneDNN's blocked
layout on every call, and the bias, LeakyReLU and residual sum that follow are
separate passes over the output (in the reference profile the elementwise work
costs about a tenth of the step). :class:`PackedConvs` packs each weight once per
input shape (oneDNN picks the layout for that shape) and runs oneDNN's own
fused convolution: LeakyReLU as a post-op, or a residual added as a post-op (a
residual block's second convolution). These are the operators PyTorch's inductor
emits for CPU convolutions (``torch.ops.mkldnn._convolution_pointwise``); used
eagerly they need no compiler and no warm-up.

Inference only: packed weights are copies, so they are keyed by the weight's
storage and version and repacked if the weights change.
"""

from __future__ import annotations

import torch
from torch import nn

MAX_PACKED = 400  # packed weights kept: STFAN has 67 convolutions, so a few frame sizes' worth


def mkldnn_fusion_available() -> bool:
    """Whether this PyTorch build has oneDNN and its fused CPU convolution operators."""
    return bool(torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_convolution_pointwise"))


class PackedConvs:
    """Runs ``act(conv(x) + bias) + residual`` for STFAN's convolutions with oneDNN post-ops (see module doc).

    Call it as ``convs(layer, x, weight, bias, slope, residual, variant)``: ``weight``/``bias``
    are the layer's own or a reordering of them named by ``variant`` (part of the packing key).
    """

    def __init__(self) -> None:
        self.packed: dict[tuple, tuple[tuple[int, int], torch.Tensor]] = {}  # key -> (weights' stamp, packed)

    def __deepcopy__(self, memo: dict) -> "PackedConvs":
        return PackedConvs()  # packed weights belong to the original's layers (and oneDNN tensors do not copy)

    def _pack(self, layer: nn.Module, x: torch.Tensor, weight: torch.Tensor, variant: str) -> torch.Tensor:
        key = (id(layer), variant, tuple(x.shape), x.dtype)
        current = layer.weight
        stamp = (current.data_ptr(), current._version)  # changed weights (training, a new load) are packed again
        held = self.packed.get(key)
        if held is not None and held[0] == stamp:
            return held[1]
        if isinstance(layer, nn.ConvTranspose2d):
            packed = torch.ops.mkldnn._reorder_convolution_transpose_weight(
                weight.detach(), list(layer.padding), list(layer.output_padding), list(layer.stride),
                list(layer.dilation), layer.groups, list(x.shape))
        else:
            packed = torch._C._nn.mkldnn_reorder_conv2d_weight(
                weight.detach().to_mkldnn(), list(layer.padding), list(layer.stride), list(layer.dilation),
                layer.groups, list(x.shape))
        if len(self.packed) >= MAX_PACKED:  # many frame sizes (tiles, a folder of videos): start afresh
            self.packed.clear()
        self.packed[key] = (stamp, packed)
        return packed

    def __call__(self, layer: nn.Module, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                 slope: float | None, residual: torch.Tensor | None, variant: str = "") -> torch.Tensor:
        packed = self._pack(layer, x, weight, variant)
        unary, scalars = ("leaky_relu", [slope]) if slope is not None else ("none", [])
        args = (list(layer.padding), list(layer.stride), list(layer.dilation), layer.groups)
        if isinstance(layer, nn.ConvTranspose2d):
            pad, stride, dilation, groups = args
            y = torch.ops.mkldnn._convolution_transpose_pointwise(
                x, packed, bias, pad, list(layer.output_padding), stride, dilation, groups, unary, scalars, "")
        elif residual is not None and slope is None:  # conv + bias + residual in one pass
            return torch.ops.mkldnn._convolution_pointwise(
                x, residual.contiguous(memory_format=_format_of(x)), packed, bias, *args, "add", None, None, [], None)
        else:
            y = torch.ops.mkldnn._convolution_pointwise(x, packed, bias, *args, unary, scalars, "")
        return y if residual is None else y.add_(residual)


def _format_of(x: torch.Tensor) -> torch.memory_format:
    if not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format
