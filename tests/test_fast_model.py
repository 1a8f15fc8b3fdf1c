"""The fast path keeps STFAN's function and gives every add and concatenation operands of one memory layout.

The H100 profile (benchmarks/RESULTS.md) found a non-vectorised add: PyTorch's
elementwise kernels take a slow strided path when operands differ in layout.
Here the accelerated configuration (channels_last, Triton FAC in the
interpreter, fused epilogue) runs on the CPU under a dispatch mode that records
the strides of every elementwise operand; the epilogue kernel itself refuses a
residual whose strides differ from its output's.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from deblur_cli.inference.accelerate import accelerate
from deblur_cli.inference.engine import RecurrentEngine
from deblur_cli.models import STFAN
from deblur_cli.ops.epilogue import bias_act_reference

ELEMENTWISE = {"add", "sub", "mul", "div", "where", "cat", "maximum", "minimum"}


class LayoutRecorder(TorchDispatchMode):
    """Records (op, [(shape, strides) of each tensor operand]) for elementwise ops and concatenations."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, list[tuple[tuple[int, ...], tuple[int, ...]]]]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__.rstrip("_")
        if name in ELEMENTWISE:
            operands = list(args[0]) if name == "cat" else [a for a in args if isinstance(a, torch.Tensor)]
            self.calls.append((name, [(tuple(t.shape), t.stride()) for t in operands if t.dim() == 4]))
        return func(*args, **(kwargs or {}))

    def mixed(self) -> list:
        """Calls whose 4D operands (of one shape, or of one batch/size for a concatenation) differ in layout."""
        bad = []
        for name, operands in self.calls:
            if name == "cat":
                layouts = {_layout_of(shape, stride) for shape, stride in operands}
            else:
                layouts = {stride for shape, stride in operands if shape == operands[0][0]}
            if len(layouts) > 1:
                bad.append((name, operands))
        return bad


def _layout_of(shape, stride) -> str:
    t = torch.empty_strided(shape, stride)
    return "nchw" if t.is_contiguous() else "cl" if t.is_contiguous(memory_format=torch.channels_last) else "other"


def _frames(count=2, shape=(30, 42, 3)):  # 30x42 is padded to 32x44: the engine's padding must keep the layout
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, size=shape, dtype=np.uint8) for _ in range(count)]


def _model() -> STFAN:
    torch.manual_seed(0)
    return STFAN()


@pytest.mark.parametrize("fac, channels_last", [("triton", True), ("reference", False)],
                         ids=["accelerated-channels-last", "cpu-default"])
def test_every_add_and_concatenation_sees_one_layout(monkeypatch, fac, channels_last):
    pytest.importorskip("triton")
    monkeypatch.setenv("TRITON_INTERPRET", "1")  # allows --fac triton on the CPU (dispatch policy)
    engine = accelerate(RecurrentEngine(_model()), fac=fac, channels_last=channels_last)
    assert (engine.model.epilogue is not None) == (fac == "triton")
    with LayoutRecorder() as recorder:
        restored = [engine.process_array(frame) for frame in _frames()]
    assert sum(name == "cat" for name, _ in recorder.calls) >= 6  # the recorder saw the network's concatenations
    assert recorder.mixed() == []
    want = [RecurrentEngine(_model()).process_array(frame) for frame in _frames()[:1]]
    assert np.abs(restored[0].astype(int) - want[0].astype(int)).max() <= 1


def test_a_channels_last_model_takes_any_input_layout():
    model = _model().eval().to(memory_format=torch.channels_last)
    x = torch.rand(1, 3, 16, 24)
    with torch.inference_mode():
        a, state = model(x, None)
        b, _ = model(x.contiguous(memory_format=torch.channels_last), None)
    assert a.is_contiguous(memory_format=torch.channels_last) and state.prev_blurry.stride() == a.stride()
    torch.testing.assert_close(a, b)


def test_epilogue_and_tap_major_filters_keep_the_function():
    """The fused layer path (here with the plain-PyTorch epilogue) and the reordered warp filters change no output."""
    model = _model().eval()
    frames = [torch.rand(1, 3, 24, 32, generator=torch.Generator().manual_seed(i)) for i in range(2)]
    with torch.inference_mode():
        want, state = [], None
        for x in frames:
            out, state = model(x, state)
            want.append(out)
        model.epilogue, model.warp_tap_major = bias_act_reference, True
        state = None
        for x, expected in zip(frames, want):
            out, state = model(x, state)
            torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


def test_the_recorder_sees_a_mixed_layout_add():
    a = torch.rand(1, 4, 5, 6)
    with LayoutRecorder() as recorder:
        _ = a + a.contiguous(memory_format=torch.channels_last)
        _ = torch.cat([a, a.contiguous(memory_format=torch.channels_last)], 1)
    assert [name for name, _ in recorder.mixed()] == ["add", "cat"]


def test_the_compile_path_traces_in_one_graph_and_keeps_the_outputs(monkeypatch):
    """torch.compile sees the Triton FAC ops as opaque custom ops: one graph, no break, same outputs.

    The aot_eager backend traces exactly what inductor would get without generating
    code (a C++ or Triton build would cost CI minutes); the GPU run measures inductor.
    """
    pytest.importorskip("triton")
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    torch._dynamo.reset()
    model = accelerate(RecurrentEngine(_model()), fac="triton", channels_last=True).model
    model.epilogue = None  # the compile path leaves the epilogues to the compiler
    compiled = torch.compile(model, backend="aot_eager", fullgraph=True)
    frames = [torch.rand(1, 3, 8, 12, generator=torch.Generator().manual_seed(i)) for i in range(2)]
    with torch.inference_mode():
        want_first, want_state = model(frames[0], None)
        got_first, got_state = compiled(frames[0], None)
        want, _ = model(frames[1], want_state)
        got, _ = compiled(frames[1], got_state)
    torch.testing.assert_close(got_first, want_first, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_the_fused_alignment_kernel_keeps_the_function(monkeypatch):
    """The opt-in fused_warp_fac (filters, FAC and kconv4 in one kernel) gives the reference model's frames."""
    pytest.importorskip("triton")
    from deblur_cli.ops.fac_fused import fused_warp_fac

    monkeypatch.setenv("TRITON_INTERPRET", "1")
    reference = _model().eval()
    fast = accelerate(RecurrentEngine(_model()), fac="triton", channels_last=True).model
    fast.fused_warp = fused_warp_fac
    frames = [torch.rand(1, 3, 16, 24, generator=torch.Generator().manual_seed(i)) for i in range(2)]
    with torch.inference_mode():
        want_state = got_state = None
        for x in frames:
            want, want_state = reference(x, want_state)
            got, got_state = fast(x, got_state)
            torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
