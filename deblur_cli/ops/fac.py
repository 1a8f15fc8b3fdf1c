"""Filter Adaptive Convolution (FAC), the plain PyTorch reference.

This is the ground truth that faster kernels are tested against: every pixel of
every channel gets its own k x k filter, applied to the replicate-padded input:

    out[n, c, y, x] = sum_{i,j} pad(inp)[n, c, y+i, x+j] * F[n, c*k*k + i*k + j, y, x]
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

KERNEL_SIZE = 5

# (inp, filters) -> out: what every FAC implementation computes.
FacOp = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
# (features, weight, bias, inp) -> fac(inp, lrelu(conv1x1(features, weight, bias))): the last layer of a
# filter head fused with the FAC that consumes it, so the 3200-channel filters need not be stored.
FusedFacOp = Callable[[torch.Tensor, torch.Tensor, "torch.Tensor | None", torch.Tensor], torch.Tensor]


def fac_reference(inp: torch.Tensor, filters: torch.Tensor, kernel_size: int = KERNEL_SIZE) -> torch.Tensor:
    """Apply per-pixel filters ``filters`` (N, C*k*k, H, W) to ``inp`` (N, C, H, W)."""
    n, c, h, w = inp.shape
    kk = kernel_size * kernel_size
    if filters.shape != (n, c * kk, h, w):
        raise ValueError(f"FAC filters must have shape {(n, c * kk, h, w)}, got {tuple(filters.shape)}")
    pad = kernel_size // 2
    padded = F.pad(inp, (pad, pad, pad, pad), mode="replicate")
    # (N, C*k*k, H*W) with the channel index running c*k*k + i*k + j, like the filters.
    patches = F.unfold(padded, kernel_size).view(n, c, kk, h, w)
    return (patches * filters.view(n, c, kk, h, w)).sum(dim=2)
