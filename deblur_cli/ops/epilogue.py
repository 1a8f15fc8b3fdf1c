"""A convolution's epilogue in one pass: bias, LeakyReLU and a residual added in place, as a Triton kernel.

Why: PyTorch's cuDNN convolution adds the bias in a separate kernel (cuDNN
"does not handle bias", ATen's ConvShared.cpp), a broadcast add that runs on
PyTorch's generic strided path (the 2.87 ms "non-vectorised CUDAFunctor_add" of
the H100 profile, benchmarks/RESULTS.md). Then LeakyReLU reads and writes the
output again, and a residual block's sum a third time. :func:`bias_act_` does
all three in one read and one write of the convolution's output (computed
without bias), in float32, rounding once.

``y`` must be dense in NCHW or channels_last order; a residual must have the
same shape and strides (the model keeps every operand in one layout: a
mismatch is a bug to fix there, so it raises instead of copying).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from .triton_runtime import Kernel

BLOCK = 1024
_INTERPRETER_BLOCK = 1 << 18  # interpreter: one program per feature map of a test frame


@triton.jit
def bias_act_kernel(
    y_ptr, bias_ptr, res_ptr, numel, C, HW, slope,
    CHANNELS_LAST: tl.constexpr, ACT: tl.constexpr, RESIDUAL: tl.constexpr, BLOCK: tl.constexpr,
):
    """y = act(y + bias[c]) (+ res), element by element over the dense storage of y."""
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < numel
    if CHANNELS_LAST:
        c = offs % C
    else:
        c = (offs // HW) % C
    v = tl.load(y_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    v += tl.load(bias_ptr + c, mask=mask, other=0.0).to(tl.float32)
    if ACT:
        v = tl.where(v >= 0, v, v * slope)
    if RESIDUAL:
        v += tl.load(res_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    tl.store(y_ptr + offs, v.to(y_ptr.dtype.element_ty), mask=mask)


def _configs() -> list[triton.Config]:
    # One configuration, so nothing is benchmarked per shape (a frame has about 20 distinct epilogue shapes):
    # 8 elements a thread, 16-byte loads in fp16 (benchmarks/compile_kernels.py), no spills.
    return [triton.Config({"BLOCK": BLOCK}, num_warps=4)]


BIAS_ACT = Kernel("deblur_cli.ops.epilogue", "bias_act_kernel", _configs, ["numel", "C"],
                  {"BLOCK": _INTERPRETER_BLOCK})


def dense_layout(t: torch.Tensor) -> str | None:
    """"nchw" or "channels_last" for a dense 4D tensor (NCHW wins where both hold), else None."""
    if t.dim() == 4 and t.is_contiguous():
        return "nchw"
    if t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last):
        return "channels_last"
    return None


def bias_act_(y: torch.Tensor, bias: torch.Tensor | None, slope: float | None,
              residual: torch.Tensor | None = None) -> torch.Tensor:
    """In place: ``y = leaky_relu(y + bias, slope)`` (no activation when ``slope`` is None), then ``+= residual``.

    ``y`` (N, C, H, W) dense NCHW or channels_last; ``bias`` (C,) or None;
    ``residual`` None or the same shape and strides as ``y``. Returns ``y``.
    """
    layout = dense_layout(y)
    if layout is None:
        raise ValueError(f"bias_act_ needs a dense NCHW or channels_last tensor, got strides {y.stride()}")
    if residual is not None and (residual.shape != y.shape or residual.stride() != y.stride()):
        raise ValueError(f"residual {tuple(residual.shape)} strides {residual.stride()} does not match "
                         f"{tuple(y.shape)} strides {y.stride()}: give both operands one memory layout")
    n, c, h, w = y.shape
    if bias is None:
        bias = torch.zeros(c, device=y.device, dtype=y.dtype)
    numel = y.numel()
    BIAS_ACT(y.device, lambda meta: (triton.cdiv(numel, meta["BLOCK"]),),
             y, bias, residual if residual is not None else y, numel, c, h * w,
             0.0 if slope is None else float(slope),
             CHANNELS_LAST=layout == "channels_last", ACT=slope is not None, RESIDUAL=residual is not None)
    return y


def bias_act_reference(y: torch.Tensor, bias: torch.Tensor | None, slope: float | None,
                       residual: torch.Tensor | None = None) -> torch.Tensor:
    """What :func:`bias_act_` computes, in plain PyTorch (not in place): the tests' ground truth."""
    out = y if bias is None else y + bias.view(1, -1, 1, 1)
    if slope is not None:
        out = torch.nn.functional.leaky_relu(out, slope)
    return out if residual is None else out + residual
