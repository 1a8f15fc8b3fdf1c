"""The last layer of a filter head fused with the FAC that consumes it: the filters are never stored.

:func:`fused_filter_fac` ``(feat, weight, bias, inp)`` computes
``fac(inp, leaky_relu(conv1x1(feat, weight, bias)))``: each program computes its
25 filter taps per pixel and channel with a matrix product in registers and
applies them at once, so the (N, 3200, H, W) filter tensor is never written to
memory. In STFAN this fits the *deblurring* filters only: the alignment (warp)
filters are also read by ``kconv4``, so they must exist in memory anyway. It is
an inference kernel: when autograd needs gradients it falls back to conv +
:func:`~deblur_cli.ops.fac_triton.fac_triton`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import triton

from .fac import KERNEL_SIZE
from .triton_runtime import Kernel


def fused_configs() -> list[triton.Config]:
    # Each compiles for sm_90 (wgmma) without register spills in fp32, fp16 and bf16 (checked with
    # benchmarks/compile_kernels.py); larger blocks spilled.
    return [
        triton.Config({"BLOCK_P": p, "BLOCK_C": c}, num_warps=w, num_stages=2)
        for p, c, w in [(64, 32, 4), (64, 32, 8), (128, 32, 8), (64, 64, 8), (128, 16, 4)]
    ]


FUSED = Kernel("deblur_cli.ops.fac_kernels", "fused_filter_fac", fused_configs, ["C", "HW"],
               {"BLOCK_P": 512, "BLOCK_C": 128})  # interpreter: few programs


def _dot_precision(t: torch.Tensor) -> str:
    """Match what cuDNN does for the unfused 1x1 conv: TF32 for float32 on CUDA when PyTorch allows it."""
    if t.dtype == torch.float32 and t.is_cuda and torch.backends.cudnn.allow_tf32:
        return "tf32"
    return "ieee"


def fused_filter_fac(
    feat: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    inp: torch.Tensor,
    negative_slope: float = 0.1,
    kernel_size: int = KERNEL_SIZE,
) -> torch.Tensor:
    """``fac(inp, leaky_relu(conv1x1(feat, weight, bias), slope))`` without storing the filters.

    ``feat`` (N, K, H, W) with K a power of two >= 16 (STFAN: 128), ``weight``
    (C*k*k, K, 1, 1), ``bias`` (C*k*k,), ``inp`` (N, C, H, W). When autograd
    must track any argument it takes the unfused path (conv, then the Triton
    FAC with its backward): the fused kernel has no backward.
    """
    from .fac_triton import fac_triton  # the unfused path; imported here to keep the import graph one-way

    n, k_feat, h, w = feat.shape
    c = inp.shape[1]
    kk = kernel_size * kernel_size
    if weight.shape != (c * kk, k_feat, 1, 1):
        raise ValueError(f"weight must have shape {(c * kk, k_feat, 1, 1)}, got {tuple(weight.shape)}")
    if inp.shape != (n, c, h, w):
        raise ValueError(f"FAC input must have shape {(n, c, h, w)}, got {tuple(inp.shape)}")
    tracked = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (feat, weight, bias, inp))
    if tracked or k_feat < 16 or k_feat & (k_feat - 1):
        filters = F.leaky_relu(F.conv2d(feat, weight, bias), negative_slope)
        return fac_triton(inp, filters, kernel_size)
    if bias is None:
        bias = torch.zeros(c * kk, device=weight.device, dtype=weight.dtype)
    # (C*KK, K) -> (KK, K, C): one tap's (K, C) weight slice becomes a contiguous 2D block.
    wt = weight.reshape(c, kk, k_feat).permute(1, 2, 0).contiguous().to(feat.dtype)
    return fused_fac_op(feat, wt, bias.contiguous(), inp, negative_slope, kernel_size)


@torch.library.custom_op("stfan_deblur::fused_filter_fac", mutates_args=())
def fused_fac_op(feat: torch.Tensor, wt: torch.Tensor, bias: torch.Tensor, inp: torch.Tensor, negative_slope: float,
                 kernel_size: int) -> torch.Tensor:
    """The fused kernel's launch as an operator torch.compile treats as opaque; ``wt`` is (KK, K, C)."""
    n, k_feat, h, w = feat.shape
    c = inp.shape[1]
    out = torch.empty_like(inp)
    grid = lambda meta: (triton.cdiv(h * w, meta["BLOCK_P"]), triton.cdiv(c, meta["BLOCK_C"]), n)  # noqa: E731
    FUSED(inp.device, grid, feat, wt, bias, inp, out, c, h, w, h * w,
          *feat.stride(), *inp.stride(), *out.stride(),
          NEG_SLOPE=negative_slope, K_FEAT=k_feat, KSIZE=kernel_size, DOT_PRECISION=_dot_precision(feat))
    return out


@fused_fac_op.register_fake
def _(feat: torch.Tensor, wt: torch.Tensor, bias: torch.Tensor, inp: torch.Tensor, negative_slope: float,
      kernel_size: int) -> torch.Tensor:
    return torch.empty_like(inp)
