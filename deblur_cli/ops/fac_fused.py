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


def _matmul_configs(blocks: list[tuple[int, int, int]]):
    """Autotuner configurations (pixels, channels, warps), two pipeline stages, for the kernels using tl.dot."""
    return lambda: [triton.Config({"BLOCK_P": p, "BLOCK_C": c}, num_warps=w, num_stages=2) for p, c, w in blocks]


# Each compiles for sm_90 (wgmma) without register spills in fp32, fp16 and bf16 (checked with
# benchmarks/compile_kernels.py); larger blocks spilled.
fused_configs = _matmul_configs([(64, 32, 4), (64, 32, 8), (128, 32, 8), (64, 64, 8), (128, 16, 4)])
_INTERPRETER = {"BLOCK_P": 512, "BLOCK_C": 128}  # few programs: each costs Python overhead there
FUSED = Kernel("deblur_cli.ops.fac_kernels", "fused_filter_fac", fused_configs, ["C", "HW"], _INTERPRETER)


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


# No register spills for sm_90 in fp16 (benchmarks/compile_kernels.py; 64x64 spilled); fp32 spills in some.
warp_configs = _matmul_configs([(64, 32, 8), (64, 16, 4), (128, 32, 8), (32, 32, 4), (128, 16, 8)])
FUSED_WARP = Kernel("deblur_cli.ops.fac_kernels", "fused_warp_fac", warp_configs, ["C", "HW"], dict(_INTERPRETER))


def _pow2_at_least_16(value: int) -> bool:
    return value >= 16 and not value & (value - 1)


def fused_warp_fac(feat: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, inp: torch.Tensor,
                   weight4: torch.Tensor, bias4: torch.Tensor | None, negative_slope: float = 0.1,
                   kernel_size: int = KERNEL_SIZE) -> tuple[torch.Tensor, torch.Tensor]:
    """STFAN's alignment without storing its filters: ``(fac(inp, f), lrelu(conv1x1(f, weight4, bias4)))``.

    ``f = lrelu(conv1x1(feat, weight, bias))`` are the (N, C*k*k, H, W) alignment
    filters: ``feat`` (N, K, H, W), ``weight`` (C*k*k, K, 1, 1), ``inp`` (N, C, H, W),
    ``weight4`` (C4, C*k*k, 1, 1). K and C4 must be powers of two >= 16 (STFAN: 128
    and 128) for the fused kernel; otherwise, or under autograd, the unfused path runs.
    """
    from .fac_triton import fac_triton  # the unfused path; imported here to keep the import graph one-way

    n, k_feat, h, w = feat.shape
    c, c4 = inp.shape[1], weight4.shape[0]
    kk = kernel_size * kernel_size
    if weight.shape != (c * kk, k_feat, 1, 1) or weight4.shape != (c4, c * kk, 1, 1):
        raise ValueError(f"weights must be {(c * kk, k_feat, 1, 1)} and ({c4}, {c * kk}, 1, 1), "
                         f"got {tuple(weight.shape)} and {tuple(weight4.shape)}")
    tensors = (feat, weight, bias, inp, weight4, bias4)
    tracked = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)
    if tracked or not (_pow2_at_least_16(k_feat) and _pow2_at_least_16(c4)):
        filters = F.leaky_relu(F.conv2d(feat, weight, bias), negative_slope)
        return fac_triton(inp, filters, kernel_size), F.leaky_relu(F.conv2d(filters, weight4, bias4), negative_slope)
    zeros = torch.zeros(max(c * kk, c4), device=weight.device, dtype=weight.dtype)
    wt = weight.reshape(c, kk, k_feat).permute(1, 2, 0).contiguous().to(feat.dtype)  # (KK, K, C)
    w4 = weight4.reshape(c4, c, kk).permute(2, 1, 0).contiguous().to(feat.dtype)  # (KK, C, C4)
    b = (bias if bias is not None else zeros[: c * kk]).contiguous()
    b4 = (bias4 if bias4 is not None else zeros[:c4]).contiguous()
    return fused_warp_op(feat, wt, b, inp, w4, b4, negative_slope, kernel_size)


def _outputs(feat: torch.Tensor, inp: torch.Tensor, c4: int) -> tuple[torch.Tensor, torch.Tensor]:
    n, _, h, w = inp.shape
    layout = torch.channels_last if not inp.is_contiguous() else torch.contiguous_format
    return torch.empty_like(inp), torch.empty((n, c4, h, w), device=inp.device, dtype=inp.dtype, memory_format=layout)


@torch.library.custom_op("stfan_deblur::fused_warp_fac", mutates_args=())
def fused_warp_op(feat: torch.Tensor, wt: torch.Tensor, bias: torch.Tensor, inp: torch.Tensor, w4: torch.Tensor,
                  b4: torch.Tensor, negative_slope: float, kernel_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The fused alignment kernel's launch as an operator torch.compile treats as opaque."""
    n, k_feat, h, w = feat.shape
    c, c4 = inp.shape[1], w4.shape[2]
    out, k4 = _outputs(feat, inp, c4)
    grid = lambda meta: (triton.cdiv(h * w, meta["BLOCK_P"]), n)  # noqa: E731
    FUSED_WARP(inp.device, grid, feat, wt, bias, inp, w4, b4, out, k4, c, h, w, h * w,
               *feat.stride(), *inp.stride(), *out.stride(), *k4.stride(),
               NEG_SLOPE=negative_slope, K_FEAT=k_feat, C4=c4, KSIZE=kernel_size,
               DOT_PRECISION=_dot_precision(feat))
    return out, k4


@fused_warp_op.register_fake
def _(feat: torch.Tensor, wt: torch.Tensor, bias: torch.Tensor, inp: torch.Tensor, w4: torch.Tensor,
      b4: torch.Tensor, negative_slope: float, kernel_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    return _outputs(feat, inp, w4.shape[2])
