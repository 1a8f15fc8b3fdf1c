"""The Triton FAC kernels compute the reference FAC: forward (both kernels, every layout), gradients, fused head.

Without a GPU the kernels run in Triton's interpreter: :mod:`deblur_cli.ops.triton_runtime`
picks it for CPU tensors at call time, so these tests neither set nor need
TRITON_INTERPRET (one test checks that in a fresh process without it); with CUDA
they run for real on the GPU. Sizes are kept small because the interpreter is slow.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

pytest.importorskip("triton")

import torch.nn.functional as F  # noqa: E402

from deblur_cli.inference.accelerate import make_fast  # noqa: E402
from deblur_cli.models import STFAN  # noqa: E402
from deblur_cli.models.weights import strip_prefix  # noqa: E402
from deblur_cli.ops.fac import fac_reference, tap_major_filters  # noqa: E402
from deblur_cli.ops.fac_fused import FUSED_WARP, fused_warp_fac  # noqa: E402
from deblur_cli.ops.fac_triton import _forward, fac_triton, forward_kind, fused_filter_fac  # noqa: E402

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
CL = torch.channels_last


@pytest.fixture()
def triton_allowed_on_cpu(monkeypatch):
    """``--fac triton`` on the CPU is refused unless TRITON_INTERPRET=1 (dispatch policy): allow it here."""
    monkeypatch.setenv("TRITON_INTERPRET", "1")


@pytest.fixture(autouse=True)
def _exact_float32():
    """TF32 would make CUDA float32 results differ from the reference by ~1e-3; compare in true float32."""
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


def _rand(*shape, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=gen).to(DEVICE)


SHAPES = [(2, 4, 9, 11), (1, 3, 13, 7), (1, 128, 5, 6), (1, 2, 1, 3), (1, 5, 2, 17)]
LAYOUTS = [("nchw", "nchw"), ("nchw", "cl"), ("cl", "nchw"), ("cl", "cl")]


def _layout(t: torch.Tensor, name: str) -> torch.Tensor:
    return t.contiguous(memory_format=CL) if name == "cl" else t.contiguous()


@pytest.mark.parametrize("kind", ["loop", "taps"])
@pytest.mark.parametrize("shape", SHAPES)
def test_both_forward_kernels_match_reference(shape, kind):
    n, c, h, w = shape
    inp, filters = _rand(n, c, h, w, seed=1), _rand(n, c * 25, h, w, seed=2)
    out = _forward(inp, filters, 5, kind=kind)
    torch.testing.assert_close(out, fac_reference(inp, filters), atol=2e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", ["loop", "taps"])
@pytest.mark.parametrize("inp_layout, filt_layout", LAYOUTS)
def test_every_layout_gives_the_reference_result_in_the_inputs_layout(inp_layout, filt_layout, kind):
    inp, filters = _rand(2, 6, 9, 11, seed=3), _rand(2, 150, 9, 11, seed=4)
    out = _forward(_layout(inp, inp_layout), _layout(filters, filt_layout), 5, kind=kind)
    assert out.is_contiguous(memory_format=CL if inp_layout == "cl" else torch.contiguous_format)
    torch.testing.assert_close(out, fac_reference(inp, filters), atol=2e-5, rtol=1e-5)


@pytest.mark.parametrize("filt_layout", ["nchw", "cl"])
def test_tap_major_filters_match_reference(filt_layout):
    inp, filters = _rand(1, 7, 10, 13, seed=5), _rand(1, 175, 10, 13, seed=6)
    tap_major = _layout(tap_major_filters(filters), filt_layout)
    want = fac_reference(inp, filters)
    torch.testing.assert_close(fac_reference(inp, tap_major, tap_major=True), want, atol=2e-5, rtol=1e-5)
    torch.testing.assert_close(fac_triton(_layout(inp, filt_layout), tap_major, tap_major=True), want,
                               atol=2e-5, rtol=1e-5)


def test_the_kernel_follows_the_filters_contiguous_axis():
    filters = _rand(1, 50, 4, 6)
    assert forward_kind(filters, tap_major=False) == "loop"  # NCHW: pixels are contiguous
    assert forward_kind(filters.contiguous(memory_format=CL), tap_major=False) == "taps"  # (channel, tap) run
    assert forward_kind(filters.contiguous(memory_format=CL), tap_major=True) == "loop"  # channels of one tap


@pytest.mark.parametrize("dtype, tol", [(torch.float16, 2e-3), (torch.bfloat16, 1.6e-2)])
@pytest.mark.parametrize("kind", ["loop", "taps"])
def test_half_precision_within_tolerance_of_float32(dtype, tol, kind):
    """Inputs rounded to the half type, float32 accumulation: error ~ one rounding of the output."""
    inp, filters = _rand(1, 8, 7, 9, seed=7), 0.2 * _rand(1, 200, 7, 9, seed=8)
    inp_h, filt_h = inp.to(dtype).contiguous(memory_format=CL), filters.to(dtype).contiguous(memory_format=CL)
    out = _forward(inp_h, filt_h, 5, kind=kind)
    assert out.dtype == dtype
    want = fac_reference(inp_h.double(), filt_h.double())
    rel = ((out.double() - want).norm() / want.norm()).item()
    assert rel < tol / 4 and (out.double() - want).abs().max().item() < tol * want.abs().max().item()


def test_cpu_tensors_run_without_triton_interpret_set():
    """Issue 8: importing the kernels without TRITON_INTERPRET must not make them unusable on the CPU."""
    code = ("import torch; from deblur_cli.ops.fac_triton import fac_triton; from deblur_cli.ops.fac import "
            "fac_reference; x, f = torch.rand(1, 2, 5, 6), torch.rand(1, 50, 5, 6); "
            "assert torch.allclose(fac_triton(x, f), fac_reference(x, f), atol=1e-5); print('ok')")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["CUDA_VISIBLE_DEVICES"] = ""
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_golden_fac_case(golden):
    inp, filters = (torch.from_numpy(golden[k]).to(DEVICE) for k in ("fac_input", "fac_kernel"))
    out = fac_triton(inp, filters).cpu().numpy()
    assert abs(out - golden["fac_output"]).max() < 1e-5


def test_wrong_filter_shape_is_refused():
    with pytest.raises(ValueError, match="filters must have shape"):
        fac_triton(_rand(1, 2, 4, 4), _rand(1, 49, 4, 4))


@pytest.mark.parametrize("shape", [(2, 4, 9, 11), (1, 3, 13, 7), (1, 2, 1, 3), (1, 2, 3, 2)])
def test_gradients_match_reference_autograd(shape):
    """Includes frames smaller than the padding, where every border strip folds onto one row."""
    n, c, h, w = shape
    inp, filters, grad_out = _rand(n, c, h, w, seed=5), _rand(n, c * 25, h, w, seed=6), _rand(n, c, h, w, seed=7)
    grads = []
    for fac in (fac_triton, fac_reference):
        a, b = inp.clone().requires_grad_(), filters.clone().requires_grad_()
        fac(a, b).backward(grad_out)
        grads.append((a.grad, b.grad))
    (gi, gf), (ri, rf) = grads
    torch.testing.assert_close(gi, ri, atol=5e-5, rtol=1e-5)
    torch.testing.assert_close(gf, rf, atol=1e-6, rtol=1e-6)


def test_gradient_wrt_one_argument_only():
    inp, filters = _rand(1, 2, 5, 6, seed=8), _rand(1, 50, 5, 6, seed=9).requires_grad_()
    fac_triton(inp, filters).sum().backward()
    ref = filters.detach().clone().requires_grad_()
    fac_reference(inp, ref).sum().backward()
    torch.testing.assert_close(filters.grad, ref.grad)


def _unfused(feat, weight, bias, inp):
    return fac_reference(inp, F.leaky_relu(F.conv2d(feat, weight, bias), 0.1))


@pytest.mark.parametrize("channels,size", [(4, (9, 11)), (128, (5, 6))])
def test_fused_filter_head_matches_unfused(channels, size):
    h, w = size
    feat, inp = _rand(2, 128, h, w, seed=10), _rand(2, channels, h, w, seed=11)
    weight, bias = 0.1 * _rand(channels * 25, 128, 1, 1, seed=12), 0.1 * _rand(channels * 25, seed=13)
    with torch.no_grad():
        out = fused_filter_fac(feat, weight, bias, inp)
        torch.testing.assert_close(out, _unfused(feat, weight, bias, inp), atol=1e-4, rtol=1e-5)
        without_bias = fused_filter_fac(feat, weight, None, inp)
        torch.testing.assert_close(without_bias, _unfused(feat, weight, None, inp), atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("layout, channel_block", [("nchw", None), ("cl", 4)])
def test_fused_alignment_matches_filters_fac_and_kconv4(layout, channel_block, monkeypatch):
    """One kernel for lrelu(conv1x1) filters -> FAC and -> lrelu(conv1x1) (kconv4): the filters are never stored.

    With a channel block of 4 the 6 channels take two passes of the kernel's channel loop, the last one masked.
    """
    if channel_block and DEVICE == "cpu":
        monkeypatch.setitem(FUSED_WARP.blocks, "BLOCK_C", channel_block)
    feat, inp = _layout(_rand(2, 16, 5, 7, seed=20), layout), _layout(_rand(2, 6, 5, 7, seed=21), layout)
    weight, bias = 0.2 * _rand(150, 16, 1, 1, seed=22), 0.1 * _rand(150, seed=23)
    weight4, bias4 = 0.1 * _rand(16, 150, 1, 1, seed=24), 0.1 * _rand(16, seed=25)
    with torch.no_grad():
        aligned, k4 = fused_warp_fac(feat, weight, bias, inp, weight4, bias4)
        filters = F.leaky_relu(F.conv2d(feat, weight, bias), 0.1)
        want_k4 = F.leaky_relu(F.conv2d(filters, weight4, bias4), 0.1)
        torch.testing.assert_close(aligned, fac_reference(inp, filters), atol=1e-4, rtol=1e-5)
        torch.testing.assert_close(k4, want_k4, atol=1e-4, rtol=1e-5)
    assert aligned.stride() == inp.stride() and k4.is_contiguous(memory_format=CL if layout == "cl" else
                                                                 torch.contiguous_format)


def test_fused_op_under_autograd_takes_the_unfused_path_with_gradients():
    feat, inp = _rand(1, 128, 4, 5, seed=14), _rand(1, 3, 4, 5, seed=15)
    weight = (0.1 * _rand(75, 128, 1, 1, seed=16)).requires_grad_()
    bias = (0.1 * _rand(75, seed=17)).requires_grad_()
    fused_filter_fac(feat, weight, bias, inp).sum().backward()
    w2, b2 = weight.detach().clone().requires_grad_(), bias.detach().clone().requires_grad_()
    _unfused(feat, w2, b2, inp).sum().backward()
    torch.testing.assert_close(weight.grad, w2.grad, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(bias.grad, b2.grad, atol=1e-4, rtol=1e-5)


def test_fast_model_reproduces_golden_recurrence_and_keeps_state_dict(golden, golden_state_dict,
                                                                     triton_allowed_on_cpu):
    model = STFAN().eval()
    model.load_state_dict(strip_prefix(golden_state_dict))
    names = list(model.state_dict())
    model = make_fast(model.to(DEVICE), "triton")
    assert model.fused_deblur is fused_filter_fac and list(model.state_dict()) == names
    frames, state = torch.from_numpy(golden["frames"]), None
    with torch.inference_mode():
        for t in range(frames.shape[0]):
            out, state = model(frames[t].to(DEVICE), state)
            err = (out.cpu() - torch.from_numpy(golden["outputs"][t])).abs().max().item()
            assert err < 1e-4, f"frame {t}: max abs error {err}"
    reference = make_fast(model, "reference")
    assert reference.fused_deblur is None and reference.epilogue is None and not reference.warp_tap_major
