"""CUDA-graph replay of a step gives the eager step's results; shape changes, resets and fallbacks are handled.

On the CPU the buffer handling is tested with a stand-in backend whose replay
re-runs the captured function (as a graph re-runs its kernels on the same
buffers); the real CUDA-graph backend falls back to eager there. With a GPU the
last test compares real graphs with eager steps.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deblur_cli.inference.accelerate import accelerate
from deblur_cli.inference.engine import RecurrentEngine
from deblur_cli.inference.graphs import CudaGraphs, GraphedModel
from deblur_cli.inference.tiling import AutoTiledEngine, TiledEngine
from deblur_cli.models import STFAN


class _Rerun:
    def __init__(self, fn, out):
        self.fn, self.out = fn, out

    def replay(self):
        self.out.copy_(self.fn())


class RerunBackend:
    """Capture = run once and remember; replay = run again into the same output buffer."""

    def __init__(self, fail: bool = False):
        self.fail, self.captured = fail, 0

    def usable(self, x):
        return True

    def warm_up(self, fn):
        fn()

    def capture(self, fn, pool):
        if self.fail:
            raise RuntimeError("operation not permitted when stream is capturing")
        self.captured += 1
        out = fn()
        return _Rerun(fn, out), out, pool


def _model() -> STFAN:
    torch.manual_seed(0)
    return STFAN().eval()


def _frames(count, h=8, w=12, seed=0):  # tiny frames: each model call costs CI time
    gen = torch.Generator().manual_seed(seed)
    return [torch.rand(1, 3, h, w, generator=gen) for _ in range(count)]


def _eager(model, frames, resets=()):
    outs, state = [], None
    for t, x in enumerate(frames):
        state = None if t in resets else state
        out, state = model(x, state)
        outs.append(out)
    return outs


@torch.inference_mode()
def test_replayed_steps_equal_eager_steps_with_a_reset_in_between():
    model, frames = _model(), _frames(3)
    graphed = GraphedModel(model, RerunBackend())
    want = _eager(model, frames, resets={2})
    got = _eager(graphed, frames, resets={2})
    assert graphed.captures == 1
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, atol=0, rtol=0)


@torch.inference_mode()
def test_a_state_from_elsewhere_is_copied_in_and_outputs_are_the_callers_own():
    model, frames = _model(), _frames(3)
    graphed = GraphedModel(model, RerunBackend())
    _, eager_state = model(frames[0], None)
    out1, state = graphed(frames[1], eager_state)
    want1, want_state = model(frames[1], eager_state)
    torch.testing.assert_close(out1, want1, atol=0, rtol=0)
    torch.testing.assert_close(state.features, want_state.features, atol=0, rtol=0)
    kept = out1.clone()
    graphed(frames[2], state)
    assert torch.equal(out1, kept)  # the next replay did not overwrite a returned frame


@torch.inference_mode()
def test_a_new_frame_size_captures_again():
    model = _model()
    graphed = GraphedModel(model, RerunBackend())
    for frames in (_frames(1), _frames(1, 12, 16, seed=1)):
        torch.testing.assert_close(_eager(graphed, frames)[-1], _eager(model, frames)[-1], atol=0, rtol=0)
    assert graphed.captures == 2


@torch.inference_mode()
def test_cpu_tensors_and_failed_captures_run_eagerly():
    model, frames = _model(), _frames(2)
    on_cpu = GraphedModel(model)  # the real CUDA-graph backend
    torch.testing.assert_close(_eager(on_cpu, frames)[-1], _eager(model, frames)[-1], atol=0, rtol=0)
    assert on_cpu.captures == 0 and on_cpu.eager_reason is None
    failing = GraphedModel(model, RerunBackend(fail=True))
    torch.testing.assert_close(_eager(failing, frames)[-1], _eager(model, frames)[-1], atol=0, rtol=0)
    assert "capture failed" in failing.eager_reason


def test_autograd_runs_eagerly():
    backend = RerunBackend()
    graphed = GraphedModel(_model(), backend)
    with torch.enable_grad():
        graphed(_frames(1)[0].requires_grad_(), None)
    assert backend.captured == 0


def test_engines_use_graphs_for_one_tile_only():
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, size=(10, 14, 3), dtype=np.uint8) for _ in range(2)]
    plain = list(RecurrentEngine(_model()).restore(frames))
    engine = RecurrentEngine(_model())
    backend = RerunBackend()
    engine.enable_graphs(backend)
    got = list(engine.restore(frames))
    assert backend.captured == 2  # the first-frame and the later-frame graphs
    assert all(np.array_equal(a, b) for a, b in zip(got, plain))
    whole, tiled = AutoTiledEngine(_model()), TiledEngine(_model(), tile=8, overlap=4)
    for e in (whole, tiled):
        e.enable_graphs(RerunBackend())
    assert [e.graphed is not None for _, e in whole._layout(12, 16)] == [True]  # the CPU never tiles
    layout = tiled._layout(12, 16)
    assert len(layout) > 1 and all(e.graphed is None for _, e in layout)


def test_accelerate_enables_graphs_on_cuda_only():
    assert accelerate(RecurrentEngine(_model())).graphed is None
    assert accelerate(RecurrentEngine(_model()), graphs=True).graphed is not None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_real_cuda_graphs_equal_eager_steps_on_the_gpu(dtype):
    pytest.importorskip("triton")
    model = accelerate(RecurrentEngine(_model(), device="cuda", dtype=dtype), graphs=False).model
    graphed = GraphedModel(model, CudaGraphs())
    frames = [x.to("cuda", dtype) for x in _frames(4, 64, 96)]
    with torch.inference_mode():
        want, got = _eager(model, frames, resets={3}), _eager(graphed, frames, resets={3})
    assert graphed.captures == 1 and graphed.eager_reason is None
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, atol=1e-3 if dtype == torch.float16 else 1e-5, rtol=0)
