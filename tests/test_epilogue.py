"""The fused convolution epilogue (bias + LeakyReLU + residual, in place) computes what PyTorch does in three steps.

CPU tensors run the Triton kernel in the interpreter (chosen per call by
deblur_cli.ops.triton_runtime; no environment variable involved).
"""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("triton")

from deblur_cli.ops.epilogue import bias_act_, bias_act_reference  # noqa: E402

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
CL = torch.channels_last


def _rand(*shape, seed=0, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=gen).to(DEVICE, dtype)


@pytest.mark.parametrize("layout", ["nchw", "cl"])
@pytest.mark.parametrize("slope, with_residual", [(0.1, False), (None, True), (0.1, True), (None, False)])
@pytest.mark.parametrize("shape", [(1, 32, 9, 13), (2, 3, 5, 7), (1, 200, 3, 4)])
def test_matches_bias_then_activation_then_residual(shape, slope, with_residual, layout):
    fmt = CL if layout == "cl" else torch.contiguous_format
    y = _rand(*shape, seed=1).contiguous(memory_format=fmt)
    bias = _rand(shape[1], seed=2)
    residual = _rand(*shape, seed=3).contiguous(memory_format=fmt) if with_residual else None
    want = bias_act_reference(y, bias, slope, residual)
    out = bias_act_(y.clone(memory_format=fmt), bias, slope, residual)
    assert out.stride() == y.stride()
    torch.testing.assert_close(out, want, atol=1e-6, rtol=1e-6)


def test_works_in_place_and_without_bias():
    y = _rand(1, 4, 6, 6, seed=4)
    want = bias_act_reference(y, None, 0.1)
    assert bias_act_(y, None, 0.1) is y
    torch.testing.assert_close(y, want)


@pytest.mark.parametrize("dtype, tol", [(torch.float16, 1e-3), (torch.bfloat16, 8e-3)])
def test_half_precision_rounds_once(dtype, tol):
    y = _rand(1, 64, 7, 9, seed=5, dtype=dtype).contiguous(memory_format=CL)
    bias, res = _rand(64, seed=6, dtype=dtype), _rand(1, 64, 7, 9, seed=7, dtype=dtype).contiguous(memory_format=CL)
    want = bias_act_reference(y.double(), bias.double(), 0.1, res.double())
    out = bias_act_(y.clone(memory_format=CL), bias, 0.1, res)
    assert out.dtype == dtype
    assert ((out.double() - want).abs() <= tol * want.abs().clamp_min(1.0)).all()


def test_mismatched_residual_layout_is_refused():
    y = _rand(1, 8, 4, 5, seed=8).contiguous(memory_format=CL)
    with pytest.raises(ValueError, match="one memory layout"):
        bias_act_(y, None, 0.1, _rand(1, 8, 4, 5, seed=9))


def test_non_dense_output_is_refused():
    with pytest.raises(ValueError, match="dense"):
        bias_act_(_rand(1, 8, 4, 10, seed=10)[..., ::2], None, 0.1)
