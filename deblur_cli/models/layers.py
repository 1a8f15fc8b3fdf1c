"""STFAN's building blocks (convolution + LeakyReLU, residual block) and the one way the network runs them.

The blocks keep the authors' module names (``<name>.0`` for the convolution,
``stem.0``/``stem.2`` inside a residual block), so their checkpoints load as they are.

:class:`LayerRunner` applies a chain of blocks. Without an epilogue it simply
calls the modules (the reference path). With one (:data:`EpilogueOp`, e.g.
:func:`deblur_cli.ops.epilogue.bias_act_`) every convolution runs without its
bias and the epilogue adds the bias, applies LeakyReLU and adds a residual in
one in-place pass over the output: one read and one write instead of three of
each (bias add, activation, residual sum). With a fused convolution
(:data:`ConvOp`, e.g. :class:`deblur_cli.ops.conv_cpu.PackedConvs` on the CPU)
the convolution itself applies bias, LeakyReLU and residual.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..ops.fac import tap_major_columns, tap_major_rows

LEAKY_SLOPE = 0.1

# (y, bias, slope or None, residual or None) -> y, in place: y = act(y + bias) + residual.
EpilogueOp = Callable[[torch.Tensor, "torch.Tensor | None", "float | None", "torch.Tensor | None"], torch.Tensor]
# (layer, x, weight, bias, slope or None, residual or None, variant) -> act(conv(x) + bias) + residual, where
# weight/bias are the layer's own or a reordering of them named by variant ("" or "rows"/"columns", tap-major).
ConvOp = Callable[..., torch.Tensor]


def conv(cin: int, cout: int, kernel_size: int = 3, stride: int = 1) -> nn.Sequential:
    """Convolution + LeakyReLU(0.1); named ``<name>.0`` like the authors' ``conv``."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel_size, stride=stride, padding=(kernel_size - 1) // 2),
        nn.LeakyReLU(LEAKY_SLOPE, inplace=True),
    )


def upconv(cin: int, cout: int) -> nn.Sequential:
    """Stride-2 transposed convolution (4x4) + LeakyReLU(0.1)."""
    return nn.Sequential(
        nn.ConvTranspose2d(cin, cout, kernel_size=4, stride=2, padding=1),
        nn.LeakyReLU(LEAKY_SLOPE, inplace=True),
    )


class ResBlock(nn.Module):
    """x + conv(lrelu(conv(x))): no activation after the second convolution or the sum."""

    def __init__(self, channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        pad = (kernel_size - 1) // 2
        self.stem = nn.Sequential(
            nn.Conv2d(channels, channels, kernel_size, padding=pad),
            nn.LeakyReLU(LEAKY_SLOPE, inplace=True),
            nn.Conv2d(channels, channels, kernel_size, padding=pad),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stem(x) + x


def _convolve(layer: nn.Module, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    if isinstance(layer, nn.ConvTranspose2d):
        return F.conv_transpose2d(x, weight, bias, layer.stride, layer.padding, layer.output_padding, layer.groups,
                                  layer.dilation)
    return F.conv2d(x, weight, bias, layer.stride, layer.padding, layer.dilation, layer.groups)


def _is_conv_act(block: nn.Module) -> bool:
    return (isinstance(block, nn.Sequential) and len(block) == 2
            and isinstance(block[0], (nn.Conv2d, nn.ConvTranspose2d)) and isinstance(block[1], nn.LeakyReLU))


class LayerRunner:
    """Runs STFAN's blocks, with an epilogue (fused bias/activation/residual) or as plain modules."""

    def __init__(self, epilogue: EpilogueOp | None = None, convs: ConvOp | None = None) -> None:
        self.epilogue = epilogue
        self.convs = convs

    def __call__(self, x: torch.Tensor, *blocks: nn.Module) -> torch.Tensor:
        """``x`` through ``blocks`` in order (conv blocks, residual blocks, or sequences of them)."""
        for block in blocks:
            x = self._block(block, x)
        return x

    def _active(self) -> EpilogueOp | None:
        """The epilogue, unless autograd is recording: it writes in place behind autograd's back (no backward)."""
        return None if torch.is_grad_enabled() else self.epilogue

    def _block(self, block: nn.Module, x: torch.Tensor) -> torch.Tensor:
        convs = None if torch.is_grad_enabled() else self.convs
        if convs is not None and isinstance(block, ResBlock):
            first, _, second = block.stem
            h = convs(first, x, first.weight, first.bias, LEAKY_SLOPE, None)
            return convs(second, h, second.weight, second.bias, None, x)
        epilogue = self._active()
        if epilogue is None and convs is None:
            return block(x)
        if isinstance(block, ResBlock):
            first, _, second = block.stem
            h = epilogue(_convolve(first, x, first.weight, None), first.bias, LEAKY_SLOPE, None)
            return epilogue(_convolve(second, h, second.weight, None), second.bias, None, x)
        if _is_conv_act(block):
            return self.conv(x, block)
        if isinstance(block, nn.Sequential):
            return self(x, *block)
        raise TypeError(f"no fused form for {type(block).__name__}")

    def conv(self, x: torch.Tensor, block: nn.Sequential, *, residual: torch.Tensor | None = None,
             tap_major_out: bool = False, tap_major_in: bool = False) -> torch.Tensor:
        """A conv + LeakyReLU block, then ``+ residual``; optionally emitting or reading FAC filters tap-major."""
        layer, act = block
        epilogue = self._active()
        convs = None if torch.is_grad_enabled() else self.convs
        if epilogue is None and convs is None and not (tap_major_out or tap_major_in):
            out = block(x)
            return out if residual is None else out + residual
        weight, bias = layer.weight, layer.bias
        if tap_major_out:
            weight, bias = tap_major_rows(weight, bias)
        if tap_major_in:
            weight = tap_major_columns(weight)
        if convs is not None:
            variant = "rows" * tap_major_out + "columns" * tap_major_in
            return convs(layer, x, weight, bias, act.negative_slope, residual, variant)
        if epilogue is None:
            out = F.leaky_relu(_convolve(layer, x, weight, bias), act.negative_slope, inplace=True)
            return out if residual is None else out + residual
        return epilogue(_convolve(layer, x, weight, None), bias, act.negative_slope, residual)
