"""The blur detector (deblur_cli.analysis): arrays in, scores out; no file, no network."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from deblur_cli.analysis import BlurDetector, blurred_fraction, measure, per_second, rgb_luma, stretches
from deblur_cli.analysis.detector import PRIOR, score_frames
from deblur_cli.analysis.luma import block_mean
from deblur_cli.analysis.sharpness import FrameSharpness, frame_width
from tests.blurgen import box_blur, texture

W, H = 320, 192


def frames(count: int, blurred=(), length: int = 7, noise: float = 0.0, seed: int = 0, region=None):
    """A slow pan over a texture; frames in ``blurred`` smeared (only inside ``region`` = (y0, y1, x0, x1) if given)."""
    base = texture(W + count, H, seed)
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        frame = base[:, i: i + W]
        if i in blurred:
            smeared = box_blur(frame, length, axis=1)
            if region is None:
                frame = smeared
            else:
                y0, y1, x0, x1 = region
                frame = frame.copy()
                frame[y0:y1, x0:x1] = smeared[y0:y1, x0:x1]
        if noise:
            frame = frame + rng.normal(0.0, noise, frame.shape).astype(np.float32)
        out.append(np.clip(frame, 0, 255).astype(np.float32))
    return out


def judge(planes, rate=30.0):
    detector = BlurDetector(rate)
    for plane in planes:
        detector.add(measure(plane))
    return detector.scores()


def test_motion_blur_lowers_the_measure_and_noise_does_not_hide_it():
    sharp = texture(W, H)
    for length in (3, 5, 9):
        assert measure(box_blur(sharp, length)).value < 0.8 * measure(sharp).value
    noisy_blurred = box_blur(sharp, 5) + np.random.default_rng(1).normal(0, 6, sharp.shape).astype(np.float32)
    assert measure(noisy_blurred).value < 0.8 * measure(sharp).value
    assert measure(noisy_blurred).noise > 4  # the noise is seen, and taken out


def test_edges_read_as_wide_as_the_blur_path_whatever_their_contrast():
    sharp = texture(W, H)
    assert 1.0 / measure(sharp).value < 2.2  # a sharp edge: 1-2 px
    for length, axis in ((3, 1), (5, 0)):
        assert abs(1.0 / measure(box_blur(sharp, length, axis)).value - length) <= 0.5


def test_one_direction_of_soft_shading_does_not_make_a_sharp_frame_blurred():
    sharp = texture(W, H)
    stripes = sharp + 40.0 * np.sin(np.arange(W, dtype=np.float32) * 0.15)[None, :]  # soft ramps across x only
    assert 1.0 / measure(stripes).value < 2.2
    assert frame_width(np.array([7.0, 1.2, 1.5, np.nan])) == 1.5  # stands alone: shading
    assert frame_width(np.array([5.0, 1.2, 2.3, 2.2])) == 5.0  # its neighbours widened too: blur
    assert frame_width(np.array([np.nan, 6.0, np.nan, np.nan])) == 6.0
    faint = 128.0 + (sharp - 128.0) * 0.3  # a third of the contrast: the same widths
    assert abs(1.0 / measure(faint).value - 1.0 / measure(sharp).value) < 0.3


def test_flat_and_dark_frames_have_no_measure_and_are_not_blurred():
    flat = np.full((H, W), 128.0, np.float32) + np.random.default_rng(2).normal(0, 3, (H, W)).astype(np.float32)
    dark = np.clip(texture(W, H) * 0.03 + np.random.default_rng(3).normal(0, 2, (H, W)), 0, 255).astype(np.float32)
    assert math.isnan(measure(flat).value)
    scores = judge(frames(10) + [flat] * 10 + [dark] * 10 + frames(10, seed=4))
    assert not any(s.blurred for s in scores[10:30])


def test_a_shaky_stretch_among_sharp_frames_is_found_as_global():
    scores = judge(frames(40, blurred=set(range(15, 25)), noise=2.0))
    flags = [s.blurred for s in scores]
    assert flags[15:25] == [True] * 10
    assert sum(flags[:15] + flags[25:]) <= 1
    assert {s.kind for s in scores[15:25]} == {"global"}


def test_blur_in_a_region_of_a_still_background_is_local():
    region = (40, 140, 100, 220)  # about a fifth of the frame
    scores = judge(frames(40, blurred=set(range(20, 30)), region=region))
    assert sum(s.blurred for s in scores[20:30]) >= 9
    assert sum(s.blurred for s in scores[:20]) <= 1
    assert {s.kind for s in scores[20:30] if s.blurred} == {"local"}


def test_measure_reads_uint8_planes_and_large_frames_by_whole_factors():
    sharp = texture(W, H)
    assert abs(measure(sharp.astype(np.uint8)).value - measure(np.round(sharp)).value) < 1e-3
    big = np.repeat(np.repeat(sharp, 4, 0), 4, 1)  # 1280x768: averaged down by 1 (short side < 1080)
    assert block_mean(big, 4).shape == (H, W)
    rgb = np.repeat(sharp.astype(np.uint8)[..., None], 3, 2)
    assert np.allclose(rgb_luma(rgb), sharp.astype(np.uint8), atol=0.01)


def test_stretches_fraction_and_per_second():
    times = [i / 10 for i in range(30)]
    flags = [10 <= i < 15 or i == 17 for i in range(30)]
    scores = [0.9 if f else 0.1 for f in flags]
    found = stretches(times, flags, scores, ["global"] * 30, 0.1)
    assert [(s.first, s.last) for s in found] == [(10, 17)]  # a gap under a quarter second joins them
    assert math.isclose(blurred_fraction(times, flags, 0.1), 0.6 / 3.0)
    assert per_second(times, scores) == [0.9 if k == 1 else 0.1 for k in range(3)]


def test_shake_that_leaves_no_frame_crisp_is_found_by_its_unrest_and_a_steady_shot_is_not():
    rng = np.random.default_rng(5)

    def clip(wander: float) -> list[FrameSharpness]:
        """30 frames whose edges read 2.3 px (not crisp, but under the bar of a frame on its own), their four
        directions' widths wandering from frame to frame by about ``wander`` (log px)."""
        out = []
        for _ in range(30):
            directions = (2.3 * np.exp(rng.normal(0.0, wander, 4))).astype(np.float32)
            out.append(FrameSharpness(np.full(6, np.nan, np.float32), (2, 3), 2.0, 0, None, 1 / 2.3, 500, directions))
        return out

    assert 1 / 2.3 > 0.6 * PRIOR  # on its own such a frame is not blurred
    shaky = score_frames(clip(0.3), 30.0)
    assert all(s.blurred and s.kind == "global" for s in shaky)
    assert not any(s.blurred for s in score_frames(clip(0.02), 30.0))  # a steady soft shot
    crisp = [replace(m, overall=1 / 1.9) for m in clip(0.3)]
    assert not any(s.blurred for s in score_frames(crisp, 30.0))  # crisp frames are never blurred for unrest


def test_a_soft_shot_after_a_crisp_one_is_judged_among_its_own_shot():
    def steady(width: float, count: int) -> list[FrameSharpness]:
        directions = np.full(4, width, np.float32)
        return [FrameSharpness(np.full(6, np.nan, np.float32), (2, 3), 2.0, 0, None, 1 / width, 500, directions)
                for _ in range(count)]

    frames = steady(1.3, 20) + steady(2.3, 20)  # a crisp shot, then a soft one (not blurred on its own)
    assert all(s.blurred for s in score_frames(frames, 30.0)[20:])  # against the crisp shot: "blurred"
    assert not any(s.blurred for s in score_frames(frames, 30.0, cuts=[20]))
    detector = BlurDetector(30.0)
    for i, m in enumerate(frames):
        detector.add(m, cut=i == 20)
    assert detector.cuts == [20] and not any(s.blurred for s in detector.scores())
