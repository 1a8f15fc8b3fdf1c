"""The FAC on the CPU without ``im2col``: the 25 taps accumulated one by one into the output.

Why: the reference (:func:`.fac.fac_reference`) unfolds the padded input into a
(C*25, H*W) matrix, multiplies it with the filters into a second one of that size
and sums it: three passes over 25 times the feature map. Here each tap reads a
shifted window of the padded input and that tap's filters and accumulates into
the output (``addcmul_``), so nothing 25 times the feature map is ever written.
Same sum, in the same order of taps (float32 rounding aside).

The filters may be tap-major (see :mod:`.fac`): then one tap's filters are C
consecutive channels, which in channels_last memory are contiguous per pixel, the
layout the input and output have too.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .fac import KERNEL_SIZE, check_fac_shapes, fac_reference


def fac_taps(inp: torch.Tensor, filters: torch.Tensor, kernel_size: int = KERNEL_SIZE, *,
             tap_major: bool = False) -> torch.Tensor:
    """Apply per-pixel filters ``filters`` (N, C*k*k, H, W) to ``inp`` (N, C, H, W), tap by tap."""
    _, c, h, w = check_fac_shapes(inp, filters, kernel_size)
    kk = kernel_size * kernel_size
    if torch.is_grad_enabled() and (inp.requires_grad or filters.requires_grad):
        return fac_reference(inp, filters, kernel_size, tap_major=tap_major)  # in-place accumulation: no backward
    pad = kernel_size // 2
    padded = F.pad(inp, (pad, pad, pad, pad), mode="replicate")
    grouped = filters.unflatten(1, (kk, c) if tap_major else (c, kk))
    out = torch.empty_like(inp)
    for tap in range(kk):
        i, j = divmod(tap, kernel_size)
        window = padded[:, :, i:i + h, j:j + w]
        taps = grouped[:, tap] if tap_major else grouped[:, :, tap]
        if tap == 0:
            torch.mul(window, taps, out=out)
        else:
            out.addcmul_(window, taps)
    return out
