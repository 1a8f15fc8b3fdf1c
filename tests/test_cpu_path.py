"""The CPU's fast path (tap-by-tap FAC, oneDNN fused convolutions, channels_last) computes the reference's frames."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from deblur_cli.evaluation.metrics import psnr
from deblur_cli.inference import accelerate
from deblur_cli.inference.engine import RecurrentEngine
from deblur_cli.models import STFAN
from deblur_cli.models.weights import strip_prefix
from deblur_cli.ops.conv_cpu import PackedConvs
from deblur_cli.ops.fac import fac_reference, tap_major_filters
from deblur_cli.ops.fac_cpu import fac_taps


@pytest.mark.parametrize("channels_last", [False, True])
def test_fac_taps_matches_the_reference_in_both_filter_orders(golden, channels_last):
    inp, filters = torch.from_numpy(golden["fac_input"]), torch.from_numpy(golden["fac_kernel"])
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    inp, filters = inp.contiguous(memory_format=fmt), filters.contiguous(memory_format=fmt)
    np.testing.assert_allclose(fac_taps(inp, filters).numpy(), golden["fac_output"], atol=1e-5)
    tap_major = tap_major_filters(filters)
    np.testing.assert_allclose(fac_taps(inp, tap_major, tap_major=True).numpy(), golden["fac_output"], atol=1e-5)
    with pytest.raises(ValueError, match="FAC filters must have shape"):
        fac_taps(inp, filters[:, :-1])


def test_fac_taps_under_autograd_gives_the_reference_gradient():
    torch.manual_seed(0)
    inp, filters = torch.rand(1, 2, 6, 7, requires_grad=True), torch.rand(1, 50, 6, 7)
    fac_taps(inp, filters).sum().backward()
    want = torch.autograd.grad(fac_reference(inp, filters).sum(), inp)[0]
    assert torch.allclose(inp.grad, want)


@pytest.mark.parametrize("transpose", [False, True])
def test_packed_convs_apply_bias_leaky_relu_and_residual(transpose):
    torch.manual_seed(0)
    layer = (nn.ConvTranspose2d(8, 8, 4, stride=2, padding=1) if transpose else nn.Conv2d(8, 8, 3, padding=1)).eval()
    x = torch.randn(1, 8, 10, 12).contiguous(memory_format=torch.channels_last)
    plain = (F.conv_transpose2d(x, layer.weight, layer.bias, 2, 1) if transpose
             else F.conv2d(x, layer.weight, layer.bias, padding=1))
    residual = torch.randn_like(plain).contiguous(memory_format=torch.channels_last)
    convs = PackedConvs()
    with torch.inference_mode():
        cases = [(0.1, None, F.leaky_relu(plain, 0.1)), (None, residual, plain + residual),
                 (0.1, residual, F.leaky_relu(plain, 0.1) + residual), (None, None, plain)]
        for slope, res, want in cases:
            got = convs(layer, x, layer.weight, layer.bias, slope, res)
            assert torch.allclose(got, want, atol=1e-5), (slope, res is None)
        assert len(convs.packed) == 1  # packed once for this shape
        with torch.no_grad():
            layer.weight.mul_(2)  # changed weights are packed again, never used stale
        assert not torch.allclose(convs(layer, x, layer.weight, layer.bias, None, None), plain, atol=1e-3)
        assert len(convs.packed) == 1  # the stale packing was replaced, not kept beside the new one


def test_the_cpu_path_is_the_default_and_matches_the_golden_outputs(golden, golden_state_dict, capsys):
    model = STFAN().eval()
    model.load_state_dict(strip_prefix(golden_state_dict))
    engine = accelerate.accelerate(RecurrentEngine(model))
    assert isinstance(engine.model.convs, PackedConvs) and engine.model.fac is fac_taps
    assert engine.model.memory_format() == torch.channels_last
    for t in range(golden["frames"].shape[0]):
        out = engine.step(torch.from_numpy(golden["frames"][t])).numpy()
        want = np.clip(golden["outputs"][t], 0, 1)
        assert np.abs(out - want).max() < 1e-4 and psnr(torch.from_numpy(out), torch.from_numpy(want)) >= 50
    assert capsys.readouterr().err == ""


def test_a_failing_cpu_path_falls_back_to_the_reference_with_one_warning(monkeypatch, capsys):
    monkeypatch.setattr(accelerate, "CPU_CHECK_SHAPE", (1, 3, 16, 16))
    torch.manual_seed(0)

    def broken(*args, **kwargs):
        raise RuntimeError("could not create a primitive\nmore detail")

    monkeypatch.setattr(PackedConvs, "__call__", broken)
    monkeypatch.setattr(accelerate, "_CPU_PATHS_VERIFIED", set())
    engine = accelerate.accelerate(RecurrentEngine(STFAN()))
    assert engine.model.fac is fac_reference and engine.model.convs is None
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "fast CPU path failed its start-up check (RuntimeError: could not create" in err[0]
    assert engine.step(torch.rand(3, 16, 20)).shape == (3, 16, 20)


def test_the_cpu_path_is_checked_once_per_process(monkeypatch):
    monkeypatch.setattr(accelerate, "CPU_CHECK_SHAPE", (1, 3, 16, 16))
    monkeypatch.setattr(accelerate, "_CPU_PATHS_VERIFIED", set())
    calls = []
    real = accelerate.fast_path_error
    monkeypatch.setattr(accelerate, "fast_path_error", lambda engine: calls.append(1) or real(engine))
    torch.manual_seed(0)
    for _ in range(2):
        engine = accelerate.accelerate(RecurrentEngine(STFAN()))
        assert isinstance(engine.model.convs, PackedConvs)
    assert len(calls) == 1
