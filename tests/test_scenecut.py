"""Scene-cut detection: quiet through a continuous shot, fires on hard cuts, harmless to the engine."""

from __future__ import annotations

import numpy as np
import pytest

from deblur_cli.pipeline.scenecut import (
    FLAT_STD,
    MAX_SHIFT,
    SceneCutDetector,
    compare_signatures,
    frame_signature,
    structure_distance,
)
from tests.shotgen import ShotSpec, clip_with_cuts, pictures, render_shot

SIZE = (48, 64)  # (H, W): tiny frames, and a valid STFAN size


@pytest.fixture(scope="module")
def pics() -> list[np.ndarray]:
    """Photos from the shared folder where present, procedural textures otherwise."""
    return pictures(8)


def detected_cuts(frames: list[np.ndarray], detector: SceneCutDetector | None = None) -> list[int]:
    detector = detector or SceneCutDetector()
    return [i for i, frame in enumerate(frames) if detector.is_cut(frame)]


@pytest.mark.parametrize(
    "spec",
    [
        ShotSpec("pan", frames=10, size=SIZE, speed=2.5, blur=1.0, flicker=0.1),
        ShotSpec("shake", frames=10, size=SIZE, speed=2.5, blur=0.8, flicker=0.1),
        ShotSpec("zoom", frames=10, size=SIZE, speed=2.5, blur=0.5, flicker=0.1),
        ShotSpec("static", frames=10, size=SIZE, flicker=0.15, noise=3 / 255),
    ],
    ids=lambda spec: spec.motion,
)
def test_continuous_shot_has_no_cuts(pics, spec):
    rng = np.random.default_rng(1)
    for picture in pics:
        assert detected_cuts(render_shot(picture, spec, rng)) == []


def test_hard_cuts_are_found_at_the_right_frames(pics):
    rng = np.random.default_rng(2)
    for start in range(0, len(pics) - 2, 3):
        specs = [ShotSpec(m, frames=9, size=SIZE, speed=2.0, blur=0.7) for m in ("pan", "shake", "zoom")]
        frames, cuts = clip_with_cuts(pics[start:start + 3], specs, rng)
        assert cuts == [9, 18]
        assert detected_cuts(frames) == cuts


def test_cut_in_16_bit_frames(pics):
    rng = np.random.default_rng(3)
    specs = [ShotSpec("pan", frames=5, size=SIZE)] * 2
    frames, cuts = clip_with_cuts(pics[:2], specs, rng, dtype=np.uint16)
    assert frames[0].dtype == np.uint16
    assert detected_cuts(frames) == cuts == [5]


def test_brightness_flicker_alone_is_not_a_cut(pics):
    spec = ShotSpec("static", frames=1, size=SIZE, flicker=0, noise=0)
    frame = render_shot(pics[0], spec, np.random.default_rng(0))[0]
    gains = [1.0, 0.7, 1.2, 0.8, 1.3, 0.75]
    frames = [np.clip(frame * g, 0, 255).astype(np.uint8) for g in gains]
    assert detected_cuts(frames) == []


def test_fade_to_black_and_back_is_not_a_cut(pics):
    frame = render_shot(pics[1], ShotSpec("static", frames=1, size=SIZE, noise=0), np.random.default_rng(0))[0]
    levels = np.concatenate([np.linspace(1, 0, 12), np.linspace(0, 1, 12)[1:]])
    frames = [(frame * level).round().astype(np.uint8) for level in levels]
    assert detected_cuts(frames) == []


def test_identical_frames_score_zero_and_different_pictures_score_high(pics):
    a = render_shot(pics[0], ShotSpec("static", frames=1, size=SIZE, noise=0), np.random.default_rng(0))[0]
    b = render_shot(pics[1], ShotSpec("static", frames=1, size=SIZE, noise=0), np.random.default_rng(0))[0]
    assert compare_signatures(frame_signature(a), frame_signature(a)).score == pytest.approx(0.0, abs=1e-6)
    assert compare_signatures(frame_signature(a), frame_signature(b)).score > SceneCutDetector().threshold


def test_flash_frame_fires_once_within_min_gap(pics):
    """A single white frame is two big changes in a row; min_gap keeps it to one reset."""
    frames = render_shot(pics[0], ShotSpec("static", frames=8, size=SIZE), np.random.default_rng(0))
    frames[4] = np.full_like(frames[4], 255)
    assert detected_cuts(frames, SceneCutDetector(min_gap=3)) == [4]
    # With min_gap=1 both the flash and the return from it count.
    assert detected_cuts(frames, SceneCutDetector(min_gap=1)) == [4, 5]


def test_size_change_is_always_a_cut(pics):
    rng = np.random.default_rng(0)
    small = render_shot(pics[0], ShotSpec("static", frames=2, size=SIZE), rng)
    large = render_shot(pics[0], ShotSpec("static", frames=2, size=(64, 96)), rng)
    assert detected_cuts(small + large, SceneCutDetector(min_gap=50)) == [2]


def test_reset_forgets_the_previous_frame(pics):
    rng = np.random.default_rng(0)
    a = render_shot(pics[0], ShotSpec("static", frames=1, size=SIZE), rng)[0]
    b = render_shot(pics[1], ShotSpec("static", frames=1, size=SIZE), rng)[0]
    detector = SceneCutDetector()
    assert detector.is_cut(a) is False  # the first frame is never a cut
    detector.reset()
    assert detector.is_cut(b) is False
    assert detector.is_cut(a) is True


def test_flat_frames_do_not_crash_and_black_to_white_is_a_cut():
    black, white = np.zeros((*SIZE, 3), np.uint8), np.full((*SIZE, 3), 255, np.uint8)
    assert detected_cuts([black, black, white, white]) == [2]


def test_rejects_bad_arguments():
    with pytest.raises(ValueError):
        SceneCutDetector(threshold=0)
    with pytest.raises(ValueError):
        SceneCutDetector(min_gap=0)
    with pytest.raises(ValueError):
        SceneCutDetector().is_cut(np.zeros((8, 8), np.uint8))


# --- with the real engine: detection changes nothing inside a shot and isolates shots ---


@pytest.fixture(scope="module")
def make_engine(random_weights):
    from deblur_cli.inference.build import build_engine

    return lambda: build_engine(random_weights, device="cpu")


def run_engine(engine, frames, detector: SceneCutDetector | None) -> list[np.ndarray]:
    """What the pipeline does per frame: reset the engine at a cut, then restore the frame."""
    outputs = []
    for frame in frames:
        if detector is not None and detector.is_cut(frame):
            engine.reset()
        outputs.append(engine.process_array(frame))
    return outputs


def test_detection_changes_nothing_in_a_cut_free_clip(pics, make_engine):
    frames = render_shot(pics[0], ShotSpec("pan", frames=4, size=SIZE, speed=2.0, blur=1.0), np.random.default_rng(4))
    with_detection = run_engine(make_engine(), frames, SceneCutDetector())
    without = run_engine(make_engine(), frames, None)
    for a, b in zip(with_detection, without):
        np.testing.assert_array_equal(a, b)


def test_first_frame_after_a_cut_is_restored_as_by_a_fresh_engine(pics, make_engine):
    specs = [ShotSpec("pan", frames=2, size=SIZE, blur=1.0), ShotSpec("shake", frames=2, size=SIZE, blur=1.0)]
    frames, cuts = clip_with_cuts(pics[:2], specs, np.random.default_rng(5))
    with_detection = run_engine(make_engine(), frames, SceneCutDetector())
    fresh = make_engine().process_array(frames[cuts[0]])
    np.testing.assert_array_equal(with_detection[cuts[0]], fresh)
    # ... and the whole second shot equals that shot processed on its own.
    alone = run_engine(make_engine(), frames[cuts[0]:], None)
    for a, b in zip(with_detection[cuts[0]:], alone):
        np.testing.assert_array_equal(a, b)
    # Without detection the previous shot's memory does reach the new shot.
    without = run_engine(make_engine(), frames, None)
    assert not np.array_equal(without[cuts[0]], fresh)


def _shift_by_shift(a: np.ndarray, b: np.ndarray) -> float:
    """structure_distance written out one shift at a time (the definition the batched version must keep)."""
    def standardise(x):
        return (x - x.mean()) / max(float(x.std()), FLAT_STD)

    h, w = a.shape
    best = np.inf
    for dy in range(-MAX_SHIFT, MAX_SHIFT + 1):
        for dx in range(-MAX_SHIFT, MAX_SHIFT + 1):
            if 2 * abs(dy) > h or 2 * abs(dx) > w:
                continue
            pa = a[max(dy, 0): h + min(dy, 0), max(dx, 0): w + min(dx, 0)]
            pb = b[max(-dy, 0): h + min(-dy, 0), max(-dx, 0): w + min(-dx, 0)]
            best = min(best, float(np.square(standardise(pa) - standardise(pb)).mean()))
    return min(best / 2.0, 1.0)


@pytest.mark.parametrize("shape", [(18, 32), (32, 18), (3, 5), (1, 1), (2, 3)])
def test_all_shifts_at_once_give_the_shift_by_shift_distance(shape):
    rng = np.random.default_rng(0)
    a = rng.random(shape, dtype=np.float32)
    for b in (np.roll(a, 1, axis=1), rng.random(shape, dtype=np.float32), np.full(shape, 0.5, np.float32)):
        assert structure_distance(a, b) == pytest.approx(_shift_by_shift(a, b), abs=1e-6)
