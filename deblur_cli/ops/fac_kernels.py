"""The FAC's Triton kernels (launched by :mod:`.fac_triton` through :mod:`.triton_runtime`).

Kernels take arbitrary strides, so NCHW and channels_last tensors both work
without copies; offsets within one batch item are 32-bit. Filter tap ``t`` of
channel ``c`` sits at channel index ``c * KK + t`` of the filter tensor (the
reference's order) unless a caller says otherwise through ``f_cs``/``f_ts``
(the element strides between channels and between taps), which is how the
"tap-major" order ``t * C + c`` is read.

This module imports nothing but Triton: :mod:`.triton_runtime` loads it a second
time in interpreter mode for CPU tensors. For that twin to run in a process that
imported Triton compiled, kernels call only ``triton.language`` *builtins*, not the
``@jit`` functions of its standard library (``tl.zeros``, ``tl.sum``), which would
stay compiled: hence ``tl.full`` and ``tl.reduce(..., _sum_combine)`` below.
"""

import triton
import triton.language as tl
from triton.language.standard import _sum_combine  # the interpreter sums with numpy when it sees this one


@triton.jit
def _pixel_channel_block(C, W, HW, BLOCK_P: tl.constexpr, BLOCK_C: tl.constexpr):
    """This program's batch item, channels, pixel rows/columns and in-bounds mask (grid: pixels, channels, batch)."""
    n = tl.program_id(2).to(tl.int64)
    offs_p = tl.program_id(0) * BLOCK_P + tl.arange(0, BLOCK_P)
    offs_c = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    mask = (offs_p < HW)[:, None] & (offs_c < C)[None, :]
    return n, offs_c, offs_p // W, offs_p % W, mask


@triton.jit
def _store_block(out_ptr, acc, n, offs_c, y, x, so_n, so_c, so_h, so_w, mask):
    """Write a (pixels x channels) float32 block to ``out`` in its own dtype."""
    out_off = n * so_n + (offs_c * so_c)[None, :] + (y * so_h + x * so_w)[:, None]
    tl.store(out_ptr + out_off, acc.to(out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def fac_forward(
    inp_ptr, filt_ptr, out_ptr,
    C, H, W, HW,
    si_n, si_c, si_h, si_w,
    sf_n, f_cs, f_ts, sf_h, sf_w,
    so_n, so_c, so_h, so_w,
    KSIZE: tl.constexpr, BLOCK_P: tl.constexpr, BLOCK_C: tl.constexpr,
):
    """out[n, c, p] = sum_t inp[n, c, clamp(p + off_t)] * filt[n, c*f_cs + t*f_ts, p], a (pixels x channels) block.

    One tap per loop step: coalesced where the (pixel, channel) block is contiguous
    for a fixed tap, i.e. NCHW filters (along pixels) and tap-major channels_last
    filters (along channels).
    """
    KK: tl.constexpr = KSIZE * KSIZE
    PAD: tl.constexpr = KSIZE // 2
    n, offs_c, y, x, mask = _pixel_channel_block(C, W, HW, BLOCK_P, BLOCK_C)

    inp_base = inp_ptr + n * si_n + (offs_c * si_c)[None, :]
    filt_base = filt_ptr + n * sf_n + (offs_c * f_cs)[None, :] + (y * sf_h + x * sf_w)[:, None]
    acc = tl.full((BLOCK_P, BLOCK_C), 0.0, tl.float32)
    for t in range(KK):  # a loop, not unrolled: 25 taps' loads hoisted at once would spill registers
        i = t // KSIZE
        j = t - i * KSIZE
        row = tl.minimum(tl.maximum(y + (i - PAD), 0), H - 1)  # clamped indices: replicate padding
        col = tl.minimum(tl.maximum(x + (j - PAD), 0), W - 1)
        src = row * si_h + col * si_w
        v = tl.load(inp_base + src[:, None], mask=mask, other=0.0)
        f = tl.load(filt_base + t * f_ts, mask=mask, other=0.0)
        acc += v.to(tl.float32) * f.to(tl.float32)
    _store_block(out_ptr, acc, n, offs_c, y, x, so_n, so_c, so_h, so_w, mask)


@triton.jit
def fac_forward_taps(
    inp_ptr, filt_ptr, out_ptr,
    C, H, W, HW,
    si_n, si_c, si_h, si_w,
    sf_n, sf_c, sf_h, sf_w,
    so_n, so_c, so_h, so_w,
    KSIZE: tl.constexpr, TAPS: tl.constexpr, BLOCK_P: tl.constexpr, BLOCK_C: tl.constexpr,
):
    """The same sum over a (pixels, channels, taps) block whose innermost axis is the tap.

    For channels_last filters in the reference's order, one pixel's C*KK taps are
    contiguous in memory, so a block's (channel, tap) slice is one contiguous run per
    pixel: every filter byte is read once, coalesced (the tap axis is padded to
    ``TAPS``, a power of two, and masked). The input is gathered through the cache.
    """
    KK: tl.constexpr = KSIZE * KSIZE
    PAD: tl.constexpr = KSIZE // 2
    n, offs_c, y, x, mask = _pixel_channel_block(C, W, HW, BLOCK_P, BLOCK_C)
    t = tl.arange(0, TAPS)
    i = t // KSIZE
    j = t - i * KSIZE
    mask3 = mask[:, :, None] & (t < KK)[None, None, :]

    f_off = (y * sf_h + x * sf_w)[:, None, None] + ((offs_c * KK)[:, None] + t[None, :])[None, :, :] * sf_c
    f = tl.load(filt_ptr + n * sf_n + f_off, mask=mask3, other=0.0)
    rows = tl.minimum(tl.maximum(y[:, None] + (i[None, :] - PAD), 0), H - 1)  # clamped: replicate padding
    cols = tl.minimum(tl.maximum(x[:, None] + (j[None, :] - PAD), 0), W - 1)
    src = (rows * si_h + cols * si_w)[:, None, :] + (offs_c * si_c)[None, :, None]
    v = tl.load(inp_ptr + n * si_n + src, mask=mask3, other=0.0)
    acc = tl.reduce(v.to(tl.float32) * f.to(tl.float32), 2, _sum_combine)
    _store_block(out_ptr, acc, n, offs_c, y, x, so_n, so_c, so_h, so_w, mask)


@triton.jit
def fac_grad_filters(
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
        row = tl.minimum(tl.maximum(y + (i - PAD), 0), H - 1) * si_h
        for j in tl.static_range(KSIZE):
            col = tl.minimum(tl.maximum(x + (j - PAD), 0), W - 1) * si_w
            v = tl.load(inp_base + (row + col)[:, None], mask=mask, other=0.0)
            gf = g * v.to(tl.float32)
            tl.store(gf_base + (i * KSIZE + j) * sf_c, gf.to(gfilt_ptr.dtype.element_ty), mask=mask)


@triton.jit
def fac_grad_padded_input(
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
    acc = tl.full((BLOCK_P, BLOCK_C), 0.0, tl.float32)
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
def fused_filter_fac(
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
    n, offs_c, y, x, mask = _pixel_channel_block(C, W, HW, BLOCK_P, BLOCK_C)
    offs_k = tl.arange(0, K_FEAT)
    pmask = (y * W + x) < HW
    cmask = offs_c < C

    # The block's features (BLOCK_P, K_FEAT) are loaded once and reused for all taps.
    feat = tl.load(
        feat_ptr + n * sx_n + (offs_k * sx_k)[None, :] + (y * sx_h + x * sx_w)[:, None],
        mask=pmask[:, None], other=0.0,
    )
    inp_base = inp_ptr + n * si_n + (offs_c * si_c)[None, :]
    w_base = wt_ptr + (offs_k * C)[:, None] + offs_c[None, :]
    acc = tl.full((BLOCK_P, BLOCK_C), 0.0, tl.float32)
    # A real loop, not unrolled: unrolling 25 matrix products hoists their weight loads and spills registers.
    for t in range(KK):
        i = t // KSIZE
        j = t - i * KSIZE
        w = tl.load(w_base + t * (K_FEAT * C), mask=cmask[None, :], other=0.0)
        b = tl.load(bias_ptr + offs_c * KK + t, mask=cmask, other=0.0).to(tl.float32)
        taps = tl.dot(feat, w, input_precision=DOT_PRECISION) + b[None, :]
        taps = tl.where(taps >= 0, taps, taps * NEG_SLOPE)
        row = tl.minimum(tl.maximum(y + (i - PAD), 0), H - 1)  # clamped indices: replicate padding
        col = tl.minimum(tl.maximum(x + (j - PAD), 0), W - 1)
        src = row * si_h + col * si_w
        v = tl.load(inp_base + src[:, None], mask=mask, other=0.0)
        acc += v.to(tl.float32) * taps
    _store_block(out_ptr, acc, n, offs_c, y, x, so_n, so_c, so_h, so_w, mask)


@triton.jit
def fused_warp_fac(
    feat_ptr, wt_ptr, bias_ptr, inp_ptr, w4_ptr, b4_ptr, out_ptr, k4_ptr,
    C, H, W, HW,
    sx_n, sx_k, sx_h, sx_w,
    si_n, si_c, si_h, si_w,
    so_n, so_c, so_h, so_w,
    s4_n, s4_c, s4_h, s4_w,
    NEG_SLOPE: tl.constexpr, K_FEAT: tl.constexpr, C4: tl.constexpr, KSIZE: tl.constexpr,
    DOT_PRECISION: tl.constexpr, BLOCK_P: tl.constexpr, BLOCK_C: tl.constexpr,
):
    """STFAN's alignment in one pass: filters f = lrelu(W @ feat + b) are made per block in registers, applied
    to ``inp`` (the FAC) and fed to the 1x1 convolution that reads them (``kconv4``: lrelu(W4 @ f + b4)).

    One program owns BLOCK_P pixels and loops over all C channels (BLOCK_C at a time) and their KK taps, so
    the kconv4 sum over every (channel, tap) stays in its registers and the C*KK filters never reach memory.
    ``wt`` is (KK, K_FEAT, C) and ``w4`` is (KK, C, C4), both contiguous.
    """
    KK: tl.constexpr = KSIZE * KSIZE
    PAD: tl.constexpr = KSIZE // 2
    n = tl.program_id(1).to(tl.int64)
    offs_p = tl.program_id(0) * BLOCK_P + tl.arange(0, BLOCK_P)
    offs_k = tl.arange(0, K_FEAT)
    offs_o = tl.arange(0, C4)
    y = offs_p // W
    x = offs_p % W
    pmask = offs_p < HW
    feat = tl.load(feat_ptr + n * sx_n + (offs_k * sx_k)[None, :] + (y * sx_h + x * sx_w)[:, None],
                   mask=pmask[:, None], other=0.0)
    acc4 = tl.full((BLOCK_P, C4), 0.0, tl.float32)
    for c0 in range(0, C, BLOCK_C):
        offs_c = c0 + tl.arange(0, BLOCK_C)
        cmask = offs_c < C
        mask = pmask[:, None] & cmask[None, :]
        inp_base = inp_ptr + n * si_n + (offs_c * si_c)[None, :]
        acc = tl.full((BLOCK_P, BLOCK_C), 0.0, tl.float32)
        for t in range(KK):
            i = t // KSIZE
            j = t - i * KSIZE
            w = tl.load(wt_ptr + t * (K_FEAT * C) + (offs_k * C)[:, None] + offs_c[None, :], mask=cmask[None, :],
                        other=0.0)
            b = tl.load(bias_ptr + offs_c * KK + t, mask=cmask, other=0.0).to(tl.float32)
            taps = tl.dot(feat, w, input_precision=DOT_PRECISION) + b[None, :]
            taps = tl.where(taps >= 0, taps, taps * NEG_SLOPE)
            taps = tl.where(mask, taps, 0.0)
            row = tl.minimum(tl.maximum(y + (i - PAD), 0), H - 1)  # clamped indices: replicate padding
            col = tl.minimum(tl.maximum(x + (j - PAD), 0), W - 1)
            v = tl.load(inp_base + (row * si_h + col * si_w)[:, None], mask=mask, other=0.0)
            acc += v.to(tl.float32) * taps
            w4 = tl.load(w4_ptr + t * (C * C4) + (offs_c * C4)[:, None] + offs_o[None, :], mask=cmask[:, None],
                         other=0.0)
            acc4 += tl.dot(taps.to(w4.dtype), w4, input_precision=DOT_PRECISION)
        _store_block(out_ptr, acc, n, offs_c, y, x, so_n, so_c, so_h, so_w, mask)
    b4 = tl.load(b4_ptr + offs_o).to(tl.float32)
    k4 = acc4 + b4[None, :]
    k4 = tl.where(k4 >= 0, k4, k4 * NEG_SLOPE)
    _store_block(k4_ptr, k4, n, offs_o, y, x, s4_n, s4_c, s4_h, s4_w, pmask[:, None])
