"""Tiled restoration: exact blend weights, exact single tile, close to the untiled frame, memory-based choice."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deblur_cli.errors import DeviceError
from deblur_cli.inference.engine import RecurrentEngine
from deblur_cli.inference.tiling import (
    TiledEngine,
    blend_weights_1d,
    choose_tile,
    plan_tiles,
    tile_spans,
)
from deblur_cli.models import STFAN
from deblur_cli.models.weights import strip_prefix


@pytest.mark.parametrize("length,tile,overlap", [(192, 128, 64), (1080, 256, 64), (724, 200, 32), (100, 128, 32)])
def test_spans_are_aligned_cover_and_overlap_enough(length, tile, overlap):
    spans = tile_spans(length, tile, overlap)
    assert spans[0][0] == 0 and spans[-1][1] == length
    assert all(start % 4 == 0 and stop - start <= tile for start, stop in spans)
    assert all(prev_stop - start >= overlap for (_, prev_stop), (start, _) in zip(spans, spans[1:]))


@pytest.mark.parametrize("height,width,tile,overlap", [(192, 256, 128, 64), (724, 1080, 200, 32), (64, 96, 128, 32)])
def test_blend_weights_sum_to_one_everywhere(height, width, tile, overlap):
    total = torch.zeros(height, width, dtype=torch.float64)
    for t in plan_tiles(height, width, tile, overlap):
        assert t.weight.min() >= 0 and t.weight.max() <= 1
        total[t.rows, t.cols] += t.weight.double()
    torch.testing.assert_close(total, torch.ones_like(total), atol=1e-6, rtol=0)


def test_weights_ramp_smoothly_without_jumps():
    """No seams: between neighbouring pixels a weight changes by a small step only."""
    weights = blend_weights_1d(192, tile_spans(192, 128, 64), 64)
    assert max(w.diff().abs().max().item() for w in weights) < 0.06


def test_bad_tile_settings_are_refused():
    with pytest.raises(ValueError, match="multiple of 4"):
        TiledEngine(STFAN(), tile=130)
    with pytest.raises(ValueError, match="larger than the overlap"):
        TiledEngine(STFAN(), tile=64, overlap=64)


def _golden_model(golden_state_dict) -> STFAN:
    model = STFAN().eval()
    model.load_state_dict(strip_prefix(golden_state_dict))
    return model


def _moving_frames(height, width, count=3, seed=0):
    """Smooth random content shifting by a few pixels per frame, like a panning shot."""
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, height // 8 + 4, width // 8 + 4, generator=gen)
    big = torch.nn.functional.interpolate(coarse, scale_factor=8, mode="bilinear")[0].clamp(0, 1)
    return [big[:, 2 * t:2 * t + height, t:t + width].contiguous() for t in range(count)]


def test_single_tile_is_exactly_the_untiled_engine(golden_state_dict):
    model = _golden_model(golden_state_dict)
    tiled = TiledEngine(model, tile=128, overlap=32, channel_order="BGR")
    plain = RecurrentEngine(model, channel_order="BGR")
    rng = np.random.default_rng(0)
    for _ in range(2):
        frame = rng.integers(0, 256, size=(30, 42, 3), dtype=np.uint8)
        assert np.array_equal(tiled.process_array(frame), plain.process_array(frame))
    assert tiled.frames_done == plain.frames_done == 2


def test_tiled_frames_match_untiled_closely(golden_state_dict):
    """2x2 tiles of 112 px overlapping by 64, 3 recurrent frames, the golden (random) weights.

    Measured on 160x160: max abs error 7e-4 to 8e-4 (the network's residuals here
    reach 0.2), mean 2e-5; pixels where the top-left tile alone counts, >= 52 px
    from its inner edges, within 3e-6. Not exact because STFAN's receptive field
    (over 100 px) is larger than the overlap.
    """
    model = _golden_model(golden_state_dict)
    plain, tiled = RecurrentEngine(model), TiledEngine(model, tile=112, overlap=64)
    assert len(plan_tiles(160, 160, 112, 64)) == 4
    for frame in _moving_frames(160, 160):
        want, got = plain.step(frame), tiled.step(frame)
        err = (got - want).abs()
        assert err.max() < 2e-3 and err.mean() < 5e-5
        # The second tiles start at 48; with the edge margin (16 px) the first tile's weight is 1 up to 64.
        assert err[:, :60, :60].max() < 1e-5
    assert tiled.frames_done == 3


def test_new_frame_size_restarts_the_clip(golden_state_dict):
    model = _golden_model(golden_state_dict)
    tiled = TiledEngine(model, tile=64, overlap=32)
    frame = _moving_frames(64, 96, count=1)[0]
    first = tiled.step(frame)
    tiled.step(_moving_frames(96, 96, count=1)[0])
    assert tiled.frames_done == 1
    tiled.step(frame)
    assert tiled.frames_done == 1
    tiled.reset()
    assert torch.equal(tiled.step(frame), first)


def test_choose_tile_only_when_the_frame_does_not_fit():
    assert choose_tile(2160, 3840, "cpu", torch.float32) is None  # the CPU is never tiled
    gib = 2**30
    assert choose_tile(720, 1280, "cuda", torch.float16, free_bytes=40 * gib) is None
    tile = choose_tile(2160, 3840, "cuda", torch.float32, free_bytes=4 * gib)
    assert tile is not None and tile % 64 == 0 and 256 <= tile < 2160
    assert choose_tile(2160, 3840, "cuda", torch.float32, fast=True, free_bytes=4 * gib) > tile
    with pytest.raises(DeviceError, match="not enough free GPU memory"):
        choose_tile(2160, 3840, "cuda", torch.float32, free_bytes=64 * 2**20)
