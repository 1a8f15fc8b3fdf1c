"""Filter Adaptive Convolution (FAC), the plain PyTorch reference.

This is the ground truth that faster kernels are tested against: every pixel of
every channel gets its own k x k filter, applied to the replicate-padded input:

    out[n, c, y, x] = sum_{i,j} pad(inp)[n, c, y+i, x+j] * F[n, c*k*k + i*k + j, y, x]

A *tap-major* filter tensor holds the same numbers with the channel index
``t * C + c`` (t = i*k + j) instead of ``c * k*k + t``. Fast kernels prefer it
for channels_last filters (one tap of consecutive channels is then contiguous);
STFAN produces it by reordering the rows of the producing 1x1 convolution's
weight (:func:`tap_major_rows`) and the columns of the one consuming it
(:func:`tap_major_columns`), which leaves the network's function unchanged.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

KERNEL_SIZE = 5

# (inp, filters) -> out: what every FAC implementation computes. Implementations
# may also take ``tap_major=True`` (see above); callers pass it only when set.
FacOp = Callable[..., torch.Tensor]
# (features, weight, bias, inp) -> fac(inp, lrelu(conv1x1(features, weight, bias))): the last layer of a
# filter head fused with the FAC that consumes it, so the 3200-channel filters need not be stored.
FusedFacOp = Callable[[torch.Tensor, torch.Tensor, "torch.Tensor | None", torch.Tensor], torch.Tensor]
# (features, weight, bias, inp, weight4, bias4) -> (fac(inp, f), lrelu(conv1x1(f, weight4, bias4))) with
# f = lrelu(conv1x1(features, weight, bias)): STFAN's alignment, its filters never stored.
FusedWarpOp = Callable[..., "tuple[torch.Tensor, torch.Tensor]"]


def tap_major_filters(filters: torch.Tensor, kernel_size: int = KERNEL_SIZE, inverse: bool = False) -> torch.Tensor:
    """(N, C*k*k, H, W) filters reordered to the tap-major channel index (``inverse``: back), same memory format."""
    n, ckk, h, w = filters.shape
    kk = kernel_size * kernel_size
    grouped = (n, kk, ckk // kk, h, w) if inverse else (n, ckk // kk, kk, h, w)
    cl = filters.dim() == 4 and not filters.is_contiguous() and filters.is_contiguous(memory_format=torch.channels_last)
    out = filters.reshape(grouped).transpose(1, 2).reshape(n, ckk, h, w)
    return out.contiguous(memory_format=torch.channels_last) if cl else out


def tap_major_rows(weight: torch.Tensor, bias: torch.Tensor | None, kernel_size: int = KERNEL_SIZE):
    """Weight (C*k*k, ...) and bias of a convolution emitting filters, reordered to emit them tap-major."""
    kk = kernel_size * kernel_size
    c = weight.shape[0] // kk
    rows = weight.reshape(c, kk, -1).transpose(0, 1).reshape(weight.shape)
    return rows, None if bias is None else bias.reshape(c, kk).t().reshape(-1)


def tap_major_columns(weight: torch.Tensor, kernel_size: int = KERNEL_SIZE) -> torch.Tensor:
    """Weight (O, C*k*k, ...) of a convolution reading filters, reordered to read them tap-major."""
    kk = kernel_size * kernel_size
    out_ch, ckk = weight.shape[:2]
    return weight.reshape(out_ch, ckk // kk, kk, -1).transpose(1, 2).reshape(weight.shape)


def check_fac_shapes(inp: torch.Tensor, filters: torch.Tensor, kernel_size: int = KERNEL_SIZE) -> torch.Size:
    """``inp``'s shape (N, C, H, W), after checking that ``filters`` is (N, C*k*k, H, W)."""
    n, c, h, w = inp.shape
    kk = kernel_size * kernel_size
    if filters.shape != (n, c * kk, h, w):
        raise ValueError(f"FAC filters must have shape {(n, c * kk, h, w)}, got {tuple(filters.shape)}")
    return inp.shape


def fac_reference(inp: torch.Tensor, filters: torch.Tensor, kernel_size: int = KERNEL_SIZE, *,
                  tap_major: bool = False) -> torch.Tensor:
    """Apply per-pixel filters ``filters`` (N, C*k*k, H, W) to ``inp`` (N, C, H, W)."""
    n, c, h, w = check_fac_shapes(inp, filters, kernel_size)
    kk = kernel_size * kernel_size
    if tap_major:
        filters = tap_major_filters(filters, kernel_size, inverse=True)
    pad = kernel_size // 2
    padded = F.pad(inp, (pad, pad, pad, pad), mode="replicate")
    # (N, C*k*k, H*W) with the channel index running c*k*k + i*k + j, like the filters.
    patches = F.unfold(padded, kernel_size).view(n, c, kk, h, w)
    return (patches * filters.reshape(n, c, kk, h, w)).sum(dim=2)
