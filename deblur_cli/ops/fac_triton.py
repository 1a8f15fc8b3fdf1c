"""Filter Adaptive Convolution (FAC) as Triton kernels: same function as ``fac_reference``.

Why: the reference unfolds the padded input into a (N, C*25, H, W) tensor and
multiplies it with the filters, so one FAC writes and reads two extra tensors
as large as the filters themselves. At 1280x720 each of those is 3200 channels
at 320x180, 737 MB in float32. These kernels (:mod:`.fac_kernels`) read each
filter tap once, gather the input through clamped indices (that *is*
replicate padding), accumulate in float32 and write only the (N, C, H, W) result.

Two entry points:

- :func:`fac_triton` ``(inp, filters)``: drop-in for ``fac_reference``, with a
  backward pass (Triton kernels for the gradients wrt input and filters), so it
  also serves training. The forward walks the filters' contiguous axis: the
  pixel axis of NCHW filters, the (channel, tap) axis of channels_last filters,
  or, for ``tap_major=True`` filters (channel index ``t * C + c``, which STFAN's
  fast path produces by reordering the producing convolution's weights), the
  channel axis.
- :func:`fused_filter_fac` ``(feat, weight, bias, inp)``: the last layer of a
  filter head (1x1 conv 128->3200 + LeakyReLU(0.1)) fused with the FAC that
  consumes it (see :mod:`.fac_fused`).

Kernels run on CUDA tensors compiled (autotuned once per shape) and on CPU
tensors in Triton's interpreter (:mod:`.triton_runtime`); one batch item's
filter tensor must hold fewer than 2**31 numbers (32-bit offsets).
"""

from __future__ import annotations

import torch
import triton

from .fac import KERNEL_SIZE, tap_major_filters
from .fac_fused import fused_filter_fac  # noqa: F401  (re-exported)
from .triton_runtime import Kernel

__all__ = ["fac_triton", "fused_filter_fac", "FORWARD", "FORWARD_TAPS"]

INT32_LIMIT = 2**31
_KERNELS = "deblur_cli.ops.fac_kernels"
_INTERPRETER_BLOCKS = {"BLOCK_P": 512, "BLOCK_C": 128}  # few programs: each costs Python overhead there


def elementwise_configs() -> list[triton.Config]:
    # All spill-free on sm_90 (40-74 registers); which is fastest depends on the memory layout.
    return [
        triton.Config({"BLOCK_P": p, "BLOCK_C": c}, num_warps=w)
        for p, c, w in [(128, 4, 4), (256, 4, 4), (64, 16, 4), (32, 32, 4), (128, 16, 8), (16, 64, 4), (8, 128, 4)]
    ]


def taps_configs() -> list[triton.Config]:
    # (pixels, channels) per program, x 32 taps each: no spills on sm_90 (benchmarks/compile_kernels.py; 16x16 spilled).
    return [
        triton.Config({"BLOCK_P": p, "BLOCK_C": c}, num_warps=w)
        for p, c, w in [(16, 8, 4), (32, 4, 4), (8, 16, 4), (32, 8, 8), (64, 4, 8)]
    ]


FORWARD = Kernel(_KERNELS, "fac_forward", elementwise_configs, ["C", "HW", "f_cs"], _INTERPRETER_BLOCKS)
FORWARD_TAPS = Kernel(_KERNELS, "fac_forward_taps", taps_configs, ["C", "HW"], {"BLOCK_P": 128, "BLOCK_C": 64})
GRAD_FILTERS = Kernel(_KERNELS, "fac_grad_filters", elementwise_configs, ["C", "HW"], _INTERPRETER_BLOCKS)
GRAD_PADDED = Kernel(_KERNELS, "fac_grad_padded_input", elementwise_configs, ["C", "HWP"], _INTERPRETER_BLOCKS)


def _grid(c: int, hw: int, n: int):
    return lambda meta: (triton.cdiv(hw, meta["BLOCK_P"]), triton.cdiv(c, meta["BLOCK_C"]), n)


def is_channels_last(t: torch.Tensor) -> bool:
    return not t.is_contiguous() and t.is_contiguous(memory_format=torch.channels_last)


def check_fac_args(inp: torch.Tensor, filters: torch.Tensor, kernel_size: int) -> None:
    n, c, h, w = inp.shape
    expected = (n, c * kernel_size * kernel_size, h, w)
    if filters.shape != expected:
        raise ValueError(f"FAC filters must have shape {expected}, got {tuple(filters.shape)}")
    if inp.device != filters.device:
        raise ValueError(f"FAC input on {inp.device} but filters on {filters.device}")
    if filters[0].numel() >= INT32_LIMIT:
        raise ValueError(f"FAC filters of {filters[0].numel()} numbers per item exceed 32-bit offsets: tile the frame")


def forward_kind(filters: torch.Tensor, tap_major: bool) -> str:
    """Which forward kernel walks these filters' contiguous axis: "taps" (channels_last, reference order) or "loop"."""
    return "taps" if is_channels_last(filters) and not tap_major and filters.shape[1] > 1 else "loop"


def _forward(inp: torch.Tensor, filters: torch.Tensor, kernel_size: int, tap_major: bool = False,
             kind: str | None = None) -> torch.Tensor:
    n, c, h, w = inp.shape
    kk = kernel_size * kernel_size
    out = torch.empty_like(inp)  # keeps the input's memory format (NCHW or channels_last)
    kind = kind or forward_kind(filters, tap_major)
    sf_n, sf_c, sf_h, sf_w = filters.stride()
    if kind == "taps":
        if tap_major:
            raise ValueError("the (channel, tap) kernel reads filters in the reference's order only")
        FORWARD_TAPS(inp.device, _grid(c, h * w, n), inp, filters, out, c, h, w, h * w,
                     *inp.stride(), *filters.stride(), *out.stride(),
                     KSIZE=kernel_size, TAPS=triton.next_power_of_2(kk))
    else:
        f_cs, f_ts = (sf_c, c * sf_c) if tap_major else (kk * sf_c, sf_c)
        FORWARD(inp.device, _grid(c, h * w, n), inp, filters, out, c, h, w, h * w,
                *inp.stride(), sf_n, f_cs, f_ts, sf_h, sf_w, *out.stride(), KSIZE=kernel_size)
    return out


def _grad_filters(inp: torch.Tensor, grad_out: torch.Tensor, filters: torch.Tensor, kernel_size: int) -> torch.Tensor:
    n, c, h, w = inp.shape
    grad = torch.empty_like(filters)
    GRAD_FILTERS(inp.device, _grid(c, h * w, n), inp, grad_out, grad, c, h, w, h * w,
                 *inp.stride(), *grad_out.stride(), *grad.stride(), KSIZE=kernel_size)
    return grad


def _fold_replicate_border(grad_padded: torch.Tensor, pad: int) -> torch.Tensor:
    """Gradient of replicate padding: each border strip adds onto the edge row/column it copied."""
    rows = grad_padded[..., pad:-pad, :].clone()
    rows[..., 0, :] += grad_padded[..., :pad, :].sum(-2)
    rows[..., -1, :] += grad_padded[..., -pad:, :].sum(-2)
    out = rows[..., pad:-pad].clone()
    out[..., 0] += rows[..., :pad].sum(-1)
    out[..., -1] += rows[..., -pad:].sum(-1)
    return out


def _grad_input(grad_out: torch.Tensor, filters: torch.Tensor, inp: torch.Tensor, kernel_size: int) -> torch.Tensor:
    n, c, h, w = inp.shape
    pad = kernel_size // 2
    hp, wp = h + 2 * pad, w + 2 * pad
    grad_padded = torch.empty((n, c, hp, wp), device=inp.device, dtype=torch.float32)
    GRAD_PADDED(inp.device, _grid(c, hp * wp, n), grad_out, filters, grad_padded, c, h, w, hp, wp, hp * wp,
                *grad_out.stride(), *filters.stride(), KSIZE=kernel_size)
    grad = _fold_replicate_border(grad_padded, pad).to(inp.dtype)
    return grad.contiguous(memory_format=torch.channels_last) if is_channels_last(inp) else grad


class _FacFunction(torch.autograd.Function):
    """Autograd wrapper: forward and both gradients are Triton kernels (filters in the reference's order)."""

    @staticmethod
    def forward(ctx, inp: torch.Tensor, filters: torch.Tensor, kernel_size: int) -> torch.Tensor:
        ctx.save_for_backward(inp, filters)
        ctx.kernel_size = kernel_size
        return _forward(inp, filters, kernel_size)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        inp, filters = ctx.saved_tensors
        k = ctx.kernel_size
        grad_inp = _grad_input(grad_out, filters, inp, k) if ctx.needs_input_grad[0] else None
        grad_filters = _grad_filters(inp, grad_out, filters, k) if ctx.needs_input_grad[1] else None
        return grad_inp, grad_filters, None


@torch.library.custom_op("stfan_deblur::fac_forward", mutates_args=())
def fac_forward_op(inp: torch.Tensor, filters: torch.Tensor, kernel_size: int, tap_major: bool) -> torch.Tensor:
    """The forward as an operator torch.compile treats as opaque (it does not trace into Triton's launcher)."""
    return _forward(inp, filters, kernel_size, tap_major)


@fac_forward_op.register_fake
def _(inp: torch.Tensor, filters: torch.Tensor, kernel_size: int, tap_major: bool) -> torch.Tensor:
    return torch.empty_like(inp)


def fac_triton(inp: torch.Tensor, filters: torch.Tensor, kernel_size: int = KERNEL_SIZE, *,
               tap_major: bool = False) -> torch.Tensor:
    """Same contract as :func:`~deblur_cli.ops.fac.fac_reference`: filters (N, C*k*k, H, W) applied to inp (N, C, H, W).

    ``tap_major``: the filters' channel index is ``t * C + c`` instead of
    ``c * k * k + t``. Under autograd such filters are reordered and go through
    the differentiable path.
    """
    check_fac_args(inp, filters, kernel_size)
    if tap_major and torch.is_grad_enabled() and (inp.requires_grad or filters.requires_grad):
        filters, tap_major = tap_major_filters(filters, kernel_size, inverse=True), False
    if torch.is_grad_enabled() and (inp.requires_grad or filters.requires_grad):
        return _FacFunction.apply(inp, filters, kernel_size)
    return fac_forward_op(inp, filters, kernel_size, tap_major)
