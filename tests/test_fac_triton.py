"""The Triton FAC kernels compute the reference FAC: forward, gradients, fused filter head, whole model.

Without a GPU the kernels run in Triton's interpreter (numpy on the CPU: tests/conftest.py
sets TRITON_INTERPRET=1 for the whole session before anything imports triton); with CUDA
they run for real on the GPU. Sizes are kept small because the interpreter is slow.
"""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("triton")

import torch.nn.functional as F  # noqa: E402

from deblur_cli.inference.accelerate import make_fast  # noqa: E402
from deblur_cli.models import STFAN  # noqa: E402
from deblur_cli.models.weights import strip_prefix  # noqa: E402
from deblur_cli.ops.fac import fac_reference  # noqa: E402
from deblur_cli.ops.fac_triton import INTERPRETED, fac_triton, fused_filter_fac  # noqa: E402

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"

if DEVICE == "cpu" and not INTERPRETED:
    pytest.skip("no GPU and Triton not in interpreter mode (run under tests/conftest.py)", allow_module_level=True)


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


SHAPES = [(2, 4, 9, 11), (1, 3, 13, 7), (1, 128, 5, 6), (1, 2, 1, 3)]


@pytest.mark.parametrize("shape", SHAPES)
def test_forward_matches_reference(shape):
    n, c, h, w = shape
    inp, filters = _rand(n, c, h, w, seed=1), _rand(n, c * 25, h, w, seed=2)
    torch.testing.assert_close(fac_triton(inp, filters), fac_reference(inp, filters), atol=2e-5, rtol=1e-5)


def test_channels_last_tensors_give_the_same_result_and_layout():
    inp, filters = _rand(2, 4, 9, 11, seed=3), _rand(2, 100, 9, 11, seed=4)
    cl = torch.channels_last
    out = fac_triton(inp.contiguous(memory_format=cl), filters.contiguous(memory_format=cl))
    assert out.is_contiguous(memory_format=cl)
    torch.testing.assert_close(out, fac_reference(inp, filters), atol=2e-5, rtol=1e-5)


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


def test_fused_op_under_autograd_takes_the_unfused_path_with_gradients():
    feat, inp = _rand(1, 128, 4, 5, seed=14), _rand(1, 3, 4, 5, seed=15)
    weight = (0.1 * _rand(75, 128, 1, 1, seed=16)).requires_grad_()
    bias = (0.1 * _rand(75, seed=17)).requires_grad_()
    fused_filter_fac(feat, weight, bias, inp).sum().backward()
    w2, b2 = weight.detach().clone().requires_grad_(), bias.detach().clone().requires_grad_()
    _unfused(feat, w2, b2, inp).sum().backward()
    torch.testing.assert_close(weight.grad, w2.grad, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(bias.grad, b2.grad, atol=1e-4, rtol=1e-5)


def test_fast_model_reproduces_golden_recurrence_and_keeps_state_dict(golden, golden_state_dict):
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
    assert make_fast(model, "reference").fused_deblur is None
