"""Filter Adaptive Convolution (FAC) as Triton kernels: same function as ``fac_reference``.

Why: the reference unfolds the padded input into a (N, C*25, H, W) tensor and
multiplies it with the filters, so one FAC writes and reads two extra tensors
as large as the filters themselves. At 1280x720 each of those is 3200 channels
at 320x180, 737 MB in float32. These kernels read each filter tap once, gather
the input through clamped indices (that *is* replicate padding), accumulate in
float32 and write only the (N, C, H, W) result.

Three entry points:

- :func:`fac_triton` ``(inp, filters)``: drop-in for ``fac_reference``, with a
  backward pass (Triton kernels for the gradients wrt input and filters), so it
  also serves training.
- :func:`fused_filter_fac` ``(feat, weight, bias, inp)``: the last layer of a
  filter head (1x1 conv 128->3200 + LeakyReLU(0.1)) fused with the FAC that
  consumes it. Each program computes its 25 filter taps per pixel and channel
  with a matrix product in registers and applies them at once, so the
  (N, 3200, H, W) filter tensor is never written to memory. In STFAN this fits
  the *deblurring* filters only: the alignment (warp) filters are also read by
  ``kconv4``, so they must exist in memory anyway. It is an inference kernel:
  when autograd needs gradients it falls back to conv + :func:`fac_triton`.

Kernels take arbitrary strides, so NCHW and channels_last tensors both work
without copies. Offsets within one batch item are 32-bit: one item's filter
tensor must hold fewer than 2**31 numbers (a 3840x2160 frame needs 1.66e9).

On CUDA the block sizes are autotuned once per shape; under the Triton
interpreter (``TRITON_INTERPRET=1``, used by the tests on the CPU) fixed large
blocks keep the interpreter fast.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import triton
import triton.language as tl

from .fac import KERNEL_SIZE

INT32_LIMIT = 2**31


@triton.jit
def _clamp(v, hi):
    return tl.minimum(tl.maximum(v, 0), hi)


@triton.jit
def _pixel_channel_block(C, W, HW, BLOCK_P: tl.constexpr, BLOCK_C: tl.constexpr):
    """This program's batch item, channels, pixel rows/columns and in-bounds mask (grid: pixels, channels, batch)."""
    n = tl.program_id(2).to(tl.int64)
    offs_p = tl.program_id(0) * BLOCK_P + tl.arange(0, BLOCK_P)
    offs_c = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    mask = (offs_p < HW)[:, None] & (offs_c < C)[None, :]
    return n, offs_c, offs_p // W, offs_p % W, mask


@triton.jit
def _fac_forward_kernel(
    inp_ptr, filt_ptr, out_ptr,
    C, H, W, HW,
    si_n, si_c, si_h, si_w,
    sf_n, sf_c, sf_h, sf_w,
    so_n, so_c, so_h, so_w,
    KSIZE: tl.constexpr, BLOCK_P: tl.constexpr, BLOCK_C: tl.constexpr,
):
    """out[n, c, p] = sum_t inp[n, c, clamp(p + off_t)] * filt[n, c*KK + t, p] for a block of pixels x channels."""
    KK: tl.constexpr = KSIZE * KSIZE
    PAD: tl.constexpr = KSIZE // 2
    n, offs_c, y, x, mask = _pixel_channel_block(C, W, HW, BLOCK_P, BLOCK_C)

    inp_base = inp_ptr + n * si_n + (offs_c * si_c)[None, :]
    filt_base = filt_ptr + n * sf_n + (offs_c * (KK * sf_c))[None, :] + (y * sf_h + x * sf_w)[:, None]
    acc = tl.zeros((BLOCK_P, BLOCK_C), dtype=tl.float32)
    for t in range(KK):  # a loop, not unrolled: 25 taps' loads hoisted at once would spill registers
        i = t // KSIZE
        j = t - i * KSIZE
        src = _clamp(y + (i - PAD), H - 1) * si_h + _clamp(x + (j - PAD), W - 1) * si_w
        v = tl.load(inp_base + src[:, None], mask=mask, other=0.0)
        f = tl.load(filt_base + t * sf_c, mask=mask, other=0.0)
        acc += v.to(tl.float32) * f.to(tl.float32)
    out_off = n * so_n + (offs_c * so_c)[None, :] + (y * so_h + x * so_w)[:, None]
    tl.store(out_ptr + out_off, acc.to(out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _fac_grad_filters_kernel(
    inp_ptr, gout_ptr, gfilt_ptr,
    C, H, W, HW,
    si_n, si_c, si_h, si_w,
    sg_n, sg_c, sg_h, sg_w,
    sf_n, sf_c, sf_h, sf_w,
    KSIZE: tl.constexpr, BLOCK_P: tl.constexpr, BLOCK_C: tl.constexpr,
):
    """gfilt[n, c*KK + t, p] = gout[n, c, p] * inp[n, c, clamp(p + off_t)]."""
    KK: tl.constexpr = KSIZE * KSIZE
    PAD: tl.constexpr = KSIZE // 2
    n, offs_c, y, x, mask = _pixel_channel_block(C, W, HW, BLOCK_P, BLOCK_C)

    g = tl.load(gout_ptr + n * sg_n + (offs_c * sg_c)[None, :] + (y * sg_h + x * sg_w)[:, None], mask=mask, other=0.0)
    g = g.to(tl.float32)
    inp_base = inp_ptr + n * si_n + (offs_c * si_c)[None, :]
    gf_base = gfilt_ptr + n * sf_n + (offs_c * (KK * sf_c))[None, :] + (y * sf_h + x * sf_w)[:, None]
    for i in tl.static_range(KSIZE):
        row = _clamp(y + (i - PAD), H - 1) * si_h
        for j in tl.static_range(KSIZE):
            col = _clamp(x + (j - PAD), W - 1) * si_w
            v = tl.load(inp_base + (row + col)[:, None], mask=mask, other=0.0)
            gf = g * v.to(tl.float32)
            tl.store(gf_base + (i * KSIZE + j) * sf_c, gf.to(gfilt_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _fac_grad_padded_input_kernel(
    gout_ptr, filt_ptr, gpad_ptr,
    C, H, W, HP, WP, HWP,
    sg_n, sg_c, sg_h, sg_w,
    sf_n, sf_c, sf_h, sf_w,
    KSIZE: tl.constexpr, BLOCK_P: tl.constexpr, BLOCK_C: tl.constexpr,
):
    """Gradient wrt the *padded* input (N, C, H+2P, W+2P), contiguous; a gather, so no atomics.

    Padded pixel q was read by output pixel q - (i, j) through tap (i, j):
    gpad[q] = sum_{i,j} gout[q - (i, j)] * filt[c*KK + i*K + j, q - (i, j)].
    """
    KK: tl.constexpr = KSIZE * KSIZE
    n = tl.program_id(2).to(tl.int64)
    offs_q = tl.program_id(0) * BLOCK_P + tl.arange(0, BLOCK_P)
    offs_c = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    qy = offs_q // WP
    qx = offs_q % WP
    cmask = (offs_c < C)[None, :]
    qmask = offs_q < HWP

    g_base = gout_ptr + n * sg_n + (offs_c * sg_c)[None, :]
    f_base = filt_ptr + n * sf_n + (offs_c * (KK * sf_c))[None, :]
    acc = tl.zeros((BLOCK_P, BLOCK_C), dtype=tl.float32)
    for t in range(KK):
        i = t // KSIZE
        j = t - i * KSIZE
        y = qy - i
        x = qx - j
        ok = (qmask & (y >= 0) & (y < H) & (x >= 0) & (x < W))[:, None] & cmask
        g = tl.load(g_base + (y * sg_h + x * sg_w)[:, None], mask=ok, other=0.0)
        f = tl.load(f_base + t * sf_c + (y * sf_h + x * sf_w)[:, None], mask=ok, other=0.0)
        acc += g.to(tl.float32) * f.to(tl.float32)
    out_off = n * (C * HWP) + (offs_c * HWP)[None, :] + offs_q[:, None]
    tl.store(gpad_ptr + out_off, acc, mask=qmask[:, None] & cmask)


@triton.jit
def _fused_filter_fac_kernel(
    feat_ptr, wt_ptr, bias_ptr, inp_ptr, out_ptr,
    C, H, W, HW,
    sx_n, sx_k, sx_h, sx_w,
    si_n, si_c, si_h, si_w,
    so_n, so_c, so_h, so_w,
    NEG_SLOPE: tl.constexpr, K_FEAT: tl.constexpr, KSIZE: tl.constexpr, DOT_PRECISION: tl.constexpr,
    BLOCK_P: tl.constexpr, BLOCK_C: tl.constexpr,
):
    """FAC whose filters lrelu(W @ feat + b) are computed per block in registers, never stored.

    ``wt`` is the 1x1 conv weight rearranged to (KK, K_FEAT, C) contiguous, so the
    (K_FEAT, BLOCK_C) slice for one tap is a plain 2D load.
    """
    KK: tl.constexpr = KSIZE * KSIZE
    PAD: tl.constexpr = KSIZE // 2
    n = tl.program_id(2).to(tl.int64)
    offs_p = tl.program_id(0) * BLOCK_P + tl.arange(0, BLOCK_P)
    offs_c = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    offs_k = tl.arange(0, K_FEAT)
    y = offs_p // W
    x = offs_p % W
    pmask = offs_p < HW
    cmask = offs_c < C
    mask = pmask[:, None] & cmask[None, :]

    # The block's features (BLOCK_P, K_FEAT) are loaded once and reused for all taps.
    feat = tl.load(
        feat_ptr + n * sx_n + (offs_k * sx_k)[None, :] + (y * sx_h + x * sx_w)[:, None],
        mask=pmask[:, None], other=0.0,
    )
    inp_base = inp_ptr + n * si_n + (offs_c * si_c)[None, :]
    w_base = wt_ptr + (offs_k * C)[:, None] + offs_c[None, :]
    acc = tl.zeros((BLOCK_P, BLOCK_C), dtype=tl.float32)
    # A real loop, not unrolled: unrolling 25 matrix products hoists their weight loads and spills registers.
    for t in range(KK):
        i = t // KSIZE
        j = t - i * KSIZE
        w = tl.load(w_base + t * (K_FEAT * C), mask=cmask[None, :], other=0.0)
        b = tl.load(bias_ptr + offs_c * KK + t, mask=cmask, other=0.0).to(tl.float32)
        taps = tl.dot(feat, w, input_precision=DOT_PRECISION) + b[None, :]
        taps = tl.where(taps >= 0, taps, taps * NEG_SLOPE)
        src = _clamp(y + (i - PAD), H - 1) * si_h + _clamp(x + (j - PAD), W - 1) * si_w
        v = tl.load(inp_base + src[:, None], mask=mask, other=0.0)
        acc += v.to(tl.float32) * taps
    out_off = n * so_n + (offs_c * so_c)[None, :] + (y * so_h + x * so_w)[:, None]
    tl.store(out_ptr + out_off, acc.to(out_ptr.dtype.element_ty), mask=mask)


def _interpreted(kernel) -> bool:
    """True when Triton was imported with TRITON_INTERPRET=1 (kernels run in numpy on the CPU)."""
    return type(kernel).__name__ == "InterpretedFunction"


INTERPRETED = _interpreted(_fac_forward_kernel)

# Blocks for the interpreter: few, large programs (each program costs Python overhead there).
_INTERPRETER_BLOCKS = {"BLOCK_P": 256, "BLOCK_C": 32}
_INTERPRETER_FUSED_BLOCKS = {"BLOCK_P": 128, "BLOCK_C": 64}


def _elementwise_configs() -> list[triton.Config]:
    # All spill-free on sm_90 (40-74 registers); which is fastest depends on the memory layout.
    return [
        triton.Config({"BLOCK_P": p, "BLOCK_C": c}, num_warps=w)
        for p, c, w in [(128, 4, 4), (256, 4, 4), (64, 16, 4), (32, 32, 4), (128, 16, 8), (16, 64, 4)]
    ]


def _fused_configs() -> list[triton.Config]:
    # Each compiles for sm_90 (wgmma) without register spills in fp32, fp16 and bf16 (checked with
    # benchmarks/compile_kernels.py); larger blocks spilled.
    return [
        triton.Config({"BLOCK_P": p, "BLOCK_C": c}, num_warps=w, num_stages=2)
        for p, c, w in [(64, 32, 4), (64, 32, 8), (128, 32, 8), (64, 64, 8), (128, 16, 4)]
    ]


if INTERPRETED:
    _launch_forward = _fac_forward_kernel
    _launch_grad_filters = _fac_grad_filters_kernel
    _launch_grad_padded = _fac_grad_padded_input_kernel
    _launch_fused = _fused_filter_fac_kernel
else:  # autotuned on the GPU, once per (channels, pixels) shape
    _launch_forward = triton.autotune(_elementwise_configs(), key=["C", "HW"])(_fac_forward_kernel)
    _launch_grad_filters = triton.autotune(_elementwise_configs(), key=["C", "HW"])(_fac_grad_filters_kernel)
    _launch_grad_padded = triton.autotune(_elementwise_configs(), key=["C", "HWP"])(_fac_grad_padded_input_kernel)
    _launch_fused = triton.autotune(_fused_configs(), key=["C", "HW"])(_fused_filter_fac_kernel)


def _blocks(fused: bool = False) -> dict[str, int]:
    """Explicit block sizes under the interpreter; none on the GPU (the autotuner picks)."""
    if not INTERPRETED:
        return {}
    return dict(_INTERPRETER_FUSED_BLOCKS if fused else _INTERPRETER_BLOCKS)


def _grid(c: int, hw: int, n: int):
    return lambda meta: (triton.cdiv(hw, meta["BLOCK_P"]), triton.cdiv(c, meta["BLOCK_C"]), n)


def _check(inp: torch.Tensor, filters: torch.Tensor, kernel_size: int) -> None:
    n, c, h, w = inp.shape
    expected = (n, c * kernel_size * kernel_size, h, w)
    if filters.shape != expected:
        raise ValueError(f"FAC filters must have shape {expected}, got {tuple(filters.shape)}")
    if inp.device != filters.device:
        raise ValueError(f"FAC input on {inp.device} but filters on {filters.device}")
    if filters[0].numel() >= INT32_LIMIT:
        raise ValueError(f"FAC filters of {filters[0].numel()} numbers per item exceed 32-bit offsets: tile the frame")


def _forward(inp: torch.Tensor, filters: torch.Tensor, kernel_size: int) -> torch.Tensor:
    n, c, h, w = inp.shape
    out = torch.empty_like(inp)  # keeps the input's memory format (NCHW or channels_last)
    _launch_forward[_grid(c, h * w, n)](
        inp, filters, out, c, h, w, h * w,
        *inp.stride(), *filters.stride(), *out.stride(),
        KSIZE=kernel_size, **_blocks(),
    )
    return out


def _grad_filters(inp: torch.Tensor, grad_out: torch.Tensor, filters: torch.Tensor, kernel_size: int) -> torch.Tensor:
    n, c, h, w = inp.shape
    grad = torch.empty_like(filters)
    _launch_grad_filters[_grid(c, h * w, n)](
        inp, grad_out, grad, c, h, w, h * w,
        *inp.stride(), *grad_out.stride(), *grad.stride(),
        KSIZE=kernel_size, **_blocks(),
    )
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
    _launch_grad_padded[_grid(c, hp * wp, n)](
        grad_out, filters, grad_padded, c, h, w, hp, wp, hp * wp,
        *grad_out.stride(), *filters.stride(),
        KSIZE=kernel_size, **_blocks(),
    )
    grad = _fold_replicate_border(grad_padded, pad).to(inp.dtype)
    return grad.contiguous(memory_format=torch.channels_last) if _is_channels_last(inp) else grad


def _is_channels_last(t: torch.Tensor) -> bool:
    return not t.is_contiguous() and t.is_contiguous(memory_format=torch.channels_last)


class _FacFunction(torch.autograd.Function):
    """Autograd wrapper: forward and both gradients are Triton kernels."""

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


def fac_triton(inp: torch.Tensor, filters: torch.Tensor, kernel_size: int = KERNEL_SIZE) -> torch.Tensor:
    """Same contract as :func:`fac_reference`: filters (N, C*k*k, H, W) applied to inp (N, C, H, W)."""
    _check(inp, filters, kernel_size)
    return _FacFunction.apply(inp, filters, kernel_size)


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
    out = torch.empty_like(inp)
    _launch_fused[_grid(c, h * w, n)](
        feat, wt, bias.contiguous(), inp, out, c, h, w, h * w,
        *feat.stride(), *inp.stride(), *out.stride(),
        NEG_SLOPE=negative_slope, K_FEAT=k_feat, KSIZE=kernel_size, DOT_PRECISION=_dot_precision(feat),
        **_blocks(fused=True),
    )
    return out
