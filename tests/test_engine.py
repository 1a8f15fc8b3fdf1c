"""The engine hides the network's constraints: any size, channel order, state reset."""

from __future__ import annotations

import numpy as np
import torch

from deblur_cli.inference.engine import RecurrentEngine, pad_to_multiple
from deblur_cli.models import STFAN
from deblur_cli.models.weights import strip_prefix


def _golden_engine(golden_state_dict, order="RGB"):
    model = STFAN()
    model.load_state_dict(strip_prefix(golden_state_dict))
    return RecurrentEngine(model, channel_order=order)


def test_engine_reproduces_golden_recurrence(golden, golden_state_dict):
    engine = _golden_engine(golden_state_dict)
    for t in range(3):
        out = engine.step(torch.from_numpy(golden["frames"][t]))
        np.testing.assert_allclose(out.numpy(), np.clip(golden["outputs"][t], 0, 1), atol=1e-4)


def test_bgr_weights_see_bgr_frames(golden, golden_state_dict):
    """An RGB frame given to a BGR engine must equal the network run on the flipped frame."""
    engine = _golden_engine(golden_state_dict, order="BGR")
    rgb = torch.from_numpy(golden["frames"][0]).flip(1)  # so that BGR == the golden frame
    out = engine.step(rgb).flip(1)
    np.testing.assert_allclose(out.numpy(), np.clip(golden["outputs"][0], 0, 1), atol=1e-4)


def test_pad_is_replicate_and_crop_restores_size():
    x = torch.arange(2 * 5 * 6, dtype=torch.float32).view(1, 2, 5, 6)
    padded, (h, w) = pad_to_multiple(x)
    assert padded.shape[-2:] == (8, 8) and (h, w) == (5, 6)
    assert torch.equal(padded[..., 7, :6], x[..., 4, :])
    assert torch.equal(padded[..., :5, 7], x[..., :, 5])


def test_any_frame_size_and_integer_depths():
    torch.manual_seed(0)
    engine = RecurrentEngine(STFAN())
    rng = np.random.default_rng(0)
    for shape, dtype in [((30, 42, 3), np.uint8), ((17, 13, 3), np.uint16)]:
        frame = rng.integers(0, np.iinfo(dtype).max, size=shape, dtype=dtype)
        engine.reset()
        out = engine.process_array(frame)
        assert out.shape == frame.shape and out.dtype == dtype


def test_reset_makes_the_next_frame_a_first_frame(golden, golden_state_dict):
    engine = _golden_engine(golden_state_dict)
    frames = torch.from_numpy(golden["frames"])
    first = engine.step(frames[0])
    engine.step(frames[1])
    engine.reset()
    assert torch.equal(engine.step(frames[0]), first)
