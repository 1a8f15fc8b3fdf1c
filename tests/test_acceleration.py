"""Speed settings and streaming keep results identical on the CPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deblur_cli.errors import DeviceError
from deblur_cli.inference.accelerate import accelerate, make_fast
from deblur_cli.inference.engine import RecurrentEngine
from deblur_cli.inference.streaming import stream_arrays
from deblur_cli.inference.tiling import TiledEngine
from deblur_cli.models import STFAN
from deblur_cli.models.weights import strip_prefix
from deblur_cli.ops.dispatch import resolve_fac_impl
from deblur_cli.ops.fac import fac_reference


@pytest.fixture()
def golden_model(golden_state_dict) -> STFAN:
    model = STFAN().eval()
    model.load_state_dict(strip_prefix(golden_state_dict))
    return model


def _clip(dtype, shape=(30, 42, 3), count=3, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, np.iinfo(dtype).max, size=shape, dtype=dtype) for _ in range(count)]


def test_auto_means_the_cpu_path_on_the_cpu_and_triton_is_refused_there(monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    assert resolve_fac_impl("auto", "cpu") == "cpu"
    assert resolve_fac_impl("reference", "cpu") == "reference"
    with pytest.raises(ValueError, match="must be one of"):
        resolve_fac_impl("fastest", "cpu")
    with pytest.raises(DeviceError):
        resolve_fac_impl("triton", "cpu")


def test_accelerate_reference_on_the_cpu_changes_nothing(golden_model, golden):
    names = list(golden_model.state_dict())
    engine = accelerate(RecurrentEngine(golden_model), "reference")
    assert engine.model.fac is fac_reference and engine.model.fused_deblur is None and engine.model.convs is None
    assert engine.model.memory_format() == torch.contiguous_format
    assert list(engine.model.state_dict()) == names
    out = engine.step(torch.from_numpy(golden["frames"][0]))
    np.testing.assert_allclose(out.numpy(), np.clip(golden["outputs"][0], 0, 1), atol=1e-4)


def test_channels_last_model_gives_the_same_frames(golden_model, golden):
    engine = accelerate(RecurrentEngine(golden_model), channels_last=True)
    assert engine.model.conv1_1[0].weight.is_contiguous(memory_format=torch.channels_last)
    for t in range(2):
        out = engine.step(torch.from_numpy(golden["frames"][t]))
        np.testing.assert_allclose(out.numpy(), np.clip(golden["outputs"][t], 0, 1), atol=1e-4)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_stream_gives_exactly_what_process_array_gives(golden_model, dtype):
    frames = _clip(dtype)
    want = list(map(RecurrentEngine(golden_model).process_array, frames))
    got = list(stream_arrays(RecurrentEngine(golden_model), frames))
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert a.dtype == dtype and np.array_equal(a, b)


def test_stream_works_with_tiled_engines_and_size_changes(golden_model):
    frames = _clip(np.uint8, (20, 24, 3), 2) + _clip(np.uint8, (16, 20, 3), 1, seed=1)
    got = list(stream_arrays(TiledEngine(golden_model, tile=64, overlap=32), frames))
    want = [RecurrentEngine(golden_model).process_array(f) for f in frames[:1]]
    assert [g.shape for g in got] == [f.shape for f in frames]
    assert np.array_equal(got[0], want[0])


def test_stream_refuses_float_frames(golden_model):
    with pytest.raises(ValueError, match="uint8 or uint16"):
        list(stream_arrays(RecurrentEngine(golden_model), [np.zeros((8, 8, 3), np.float32)]))


def test_make_fast_reference_restores_the_default(golden_model):
    assert make_fast(golden_model, "reference") is golden_model
    assert golden_model.fac is fac_reference and golden_model.fused_deblur is None and golden_model.convs is None
