"""Filter Adaptive Convolution (FAC), the plain PyTorch reference.

This is the ground truth that faster kernels are tested against: every pixel of
every channel gets its own k x k filter, applied to the replicate-padded input:

    out[n, c, y, x] = sum_{i,j} pad(inp)[n, c, y+i, x+j] * F[n, c*k*k + i*k + j, y, x]
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

KERNEL_SIZE = 5


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
