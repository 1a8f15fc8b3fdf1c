"""Synthetic blur: camera paths, image formation in linear light, codec/noise models, datasets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from deblur_cli.errors import InputError, OutputError
from deblur_cli.evaluation.metrics import psnr
from deblur_cli.synth import (
    SequenceGenerator,
    list_images,
    split_images,
    write_sequences,
)
from deblur_cli.synth.atlas import GUTTER, LEVELS, PhotoAtlas
from deblur_cli.synth.camera import (
    MotionRange,
    Trajectory,
    corner_points,
    path_length,
    poses_at_packed,
    sample_trajectory,
)
from deblur_cli.synth.dataset import clip_seed, load_image
from deblur_cli.synth.plan import ClipPlan, View, plan_clip
from deblur_cli.synth.profiles import SHAKE, SHARP, TRAIN, BlurProfile
from deblur_cli.synth.raster import render_linear
from deblur_cli.synth.sensor import (
    add_sensor_noise,
    jpeg_like,
    linear_to_srgb,
    srgb_to_linear,
)

QUIET = dict(noise_prob=0.0, jpeg_prob=0.0, object_prob=0.0)


def textured_image(seed: int, h: int = 120, w: int = 160) -> torch.Tensor:
    """A uint8 (3, H, W) photo stand-in with edges at every scale."""
    g = torch.Generator().manual_seed(seed)
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    checker = ((ys // 8 + xs // 8) % 2).float()
    noise = torch.rand((3, h, w), generator=g)
    img = 0.5 * checker + 0.3 * noise + 0.2 * torch.sin(xs / 5.0)
    return (img.clamp(0, 1) * 255).round().to(torch.uint8)


def steady_pan(speed_x: float) -> Trajectory:
    """A camera moving right at ``speed_x`` px per frame, nothing else."""
    zero = torch.zeros((1, 4), dtype=torch.float64)
    drift = torch.tensor([speed_x, 0.0, 0.0, 0.0], dtype=torch.float64)
    return Trajectory(drift, zero, torch.ones((1, 4), dtype=torch.float64), zero)


# ----------------------------------------------------------------------------- camera


def test_trajectory_starts_at_identity_and_velocity_is_its_derivative():
    traj = sample_trajectory(torch.Generator().manual_seed(3), MotionRange())
    assert torch.allclose(traj.pose(torch.zeros(1)), torch.zeros(1, 4, dtype=torch.float64))
    t = torch.tensor([-1.3, 0.2, 2.7], dtype=torch.float64)
    h = 1e-5
    numeric = (traj.pose(t + h) - traj.pose(t - h)) / (2 * h)
    assert torch.allclose(numeric, traj.velocity(t), atol=1e-6)


def test_path_length_of_a_pan_is_speed_times_exposure():
    times = torch.linspace(-0.25, 0.25, 33, dtype=torch.float64)  # half a frame of exposure
    length = path_length(steady_pan(10.0).pose(times), corner_points((32, 48)))
    assert float(length) == pytest.approx(5.0, abs=1e-9)


# ----------------------------------------------------------------------------- image formation


def test_srgb_round_trip_and_known_values():
    x = torch.linspace(0, 1, 1001)
    assert torch.allclose(linear_to_srgb(srgb_to_linear(x)), x, atol=1e-6)
    assert float(srgb_to_linear(torch.tensor(0.5))) == pytest.approx(0.21404, abs=1e-4)


def test_packed_trajectories_give_the_same_poses_on_any_batch_shape():
    gen = torch.Generator().manual_seed(4)
    paths = [sample_trajectory(gen, MotionRange()) for _ in range(3)]
    times = torch.tensor([[-1.5, 0.0, 0.7]] * 3, dtype=torch.float64)
    packed = poses_at_packed(torch.stack([p.params() for p in paths])[:, None], times)
    for i, path in enumerate(paths):
        assert torch.allclose(packed[i], path.pose(times[i]), atol=1e-12)
    fast = paths[0].scaled(2.0)
    assert torch.allclose(fast.pose(times[0]), 2 * paths[0].pose(times[0]))
    straight = paths[0].linear()
    assert torch.allclose(straight.velocity(times[0]), straight.drift.expand(3, 4))


def line_atlas(width: int = 96, height: int = 24, column: int = 48) -> PhotoAtlas:
    """A photo that is black but for one white column (linear value 1)."""
    image = torch.zeros((3, height, width), dtype=torch.uint8)
    image[:, :, column] = 255
    return PhotoAtlas([image])


def still_plan(atlas: PhotoAtlas, camera: Trajectory, *, exposure: float = 1.0, subframes: int = 17,
               readout: float = 0.0, centre=(47.5, 11.5), flip: bool = False) -> ClipPlan:
    return ClipPlan(View(0, centre, 1.0, flip), camera, [0.0], exposure, subframes, readout, gain=1.0, shot=0.0,
                    read=0.0, quality=None, noise_seed=0)


def test_atlas_holds_every_photo_at_every_level_with_replicated_gutters():
    photos = [textured_image(0, 40, 60), textured_image(1, 30, 20)]
    atlas = PhotoAtlas(photos)
    for i, photo in enumerate(photos):
        place = atlas.placements[i][0]
        stored = atlas.texture[0, :, place.y:place.y + place.height, place.x:place.x + place.width]
        assert torch.allclose(stored, srgb_to_linear(photo.float() / 255), atol=1e-6)
        left = atlas.texture[0, :, place.y:place.y + place.height, place.x - GUTTER]
        assert torch.equal(left, stored[:, :, 0])
        sizes = [(p.height, p.width) for p in atlas.placements[i]]
        assert sizes[2] == (round(photo.shape[1] / 2), round(photo.shape[2] / 2)) and len(sizes) == len(LEVELS)
    boxes = [(p.x - GUTTER, p.y - GUTTER, p.x + p.width + GUTTER, p.y + p.height + GUTTER)
             for row in atlas.placements for p in row]
    for a in range(len(boxes)):  # no two stored images (gutters included) overlap
        for b in range(a):
            (ax0, ay0, ax1, ay1), (bx0, by0, bx1, by1) = boxes[a], boxes[b]
            assert ax1 <= bx0 or bx1 <= ax0 or ay1 <= by0 or by1 <= ay0
    assert [atlas.level_for(s) for s in (0.5, 1.0, 1.3, 1.5, 2.5, 9.0)] == [0, 0, 0, 1, 2, 3]


def test_blur_is_averaged_in_linear_light_and_ground_truth_is_mid_exposure():
    atlas = line_atlas()
    blurry, sharp = render_linear([still_plan(atlas, steady_pan(8.0))], atlas, (16, 64))
    row = blurry[0, 0, 0, 8]
    # Energy is conserved: the line is spread, not dimmed or brightened.
    assert float(row.sum()) == pytest.approx(1.0, abs=2e-2)
    lit = (row > 1e-3).nonzero().flatten()
    assert 7 <= int(lit.max() - lit.min()) <= 10
    # The ground truth is the sharp frame at the middle of the exposure (pose at t=0: identity):
    # the photo's column 48 lands on output column 48 - 47.5 + 31.5 = 32 (centre 47.5 <-> 31.5).
    truth = sharp[0, 0, 0, 8]
    assert float(truth[32]) == pytest.approx(1.0, abs=1e-4) and float(truth.sum()) == pytest.approx(1.0, abs=1e-4)
    # sRGB-encoding the linear mean is brighter than averaging sRGB values would be.
    assert float(linear_to_srgb(row).max()) > float(row.max()) + 0.05


def test_rolling_shutter_slants_a_vertical_line_and_flips_mirror_it():
    atlas = line_atlas(height=40, column=40)
    pan = steady_pan(10.0)
    _, sharp = render_linear([still_plan(atlas, pan, exposure=0.01, subframes=1, readout=0.8, centre=(47.5, 19.5))],
                             atlas, (40, 64))
    top = float((sharp[0, 0, 0, 0] * torch.arange(64.0)).sum())
    bottom = float((sharp[0, 0, 0, -1] * torch.arange(64.0)).sum())
    # Rows read later see the camera further right, so the line sits further left: 10 px/frame x 0.8 frames.
    assert top - bottom == pytest.approx(10.0 * 0.8 * 39 / 40, abs=0.7)  # centroids of clipped bicubic taps
    _, mirrored = render_linear([still_plan(atlas, pan, exposure=0.01, subframes=1, centre=(47.5, 19.5), flip=True)],
                                atlas, (40, 64))
    # Photo column 40 is output column 40 - 47.5 + 31.5 = 24; mirrored, 63 - 24.
    assert int(mirrored[0, 0, 0, 10].argmax()) == 63 - 24


def test_sensor_noise_variance_follows_signal():
    flat = torch.full((3, 64, 64), 0.25)
    g = torch.Generator().manual_seed(0)
    noisy = add_sensor_noise(flat, shot=1e-3, read=1e-2, gen=g)
    expected = 1e-3 * 0.25 + 1e-4
    assert float((noisy - flat).var()) == pytest.approx(expected, rel=0.1)
    assert torch.equal(add_sensor_noise(flat, 0.0, 0.0, g), flat)
    again = add_sensor_noise(flat, shot=1e-3, read=1e-2, gen=torch.Generator().manual_seed(0))
    assert torch.equal(again, noisy)


def test_jpeg_like_degrades_with_quality_and_keeps_shape():
    ys, xs = torch.meshgrid(torch.arange(37.0), torch.arange(53.0), indexing="ij")
    img = torch.stack([0.5 + 0.4 * torch.sin(xs / 3), 0.5 + 0.4 * torch.cos(ys / 4), (xs + ys) / 90])[None]
    high, low = jpeg_like(img, 95.0), jpeg_like(img, 20.0)
    assert high.shape == img.shape and low.shape == img.shape
    assert float(high.min()) >= 0.0 and float(high.max()) <= 1.0
    assert float(psnr(high, img)) > float(psnr(low, img)) + 3.0
    assert float(psnr(high, img)) > 28.0
    both = jpeg_like(torch.cat([img, img]), [95.0, 20.0])  # one quality per frame, as batches use it
    assert torch.equal(both[0], high[0]) and torch.equal(both[1], low[0])


# ----------------------------------------------------------------------------- clips


@pytest.fixture(scope="module")
def photos() -> list[torch.Tensor]:
    return [textured_image(seed) for seed in range(3)]


def test_clips_are_reproducible_from_their_seed_and_index(photos):
    gen = SequenceGenerator(photos, seq_len=3, size=(32, 48), seed=5)
    a, b = gen.sequence(4), SequenceGenerator(photos, seq_len=3, size=(32, 48), seed=5).sequence(4)
    assert torch.equal(a.blurry, b.blurry) and torch.equal(a.sharp, b.sharp)
    assert not torch.equal(gen.sequence(5).sharp, a.sharp)
    assert a.blurry.shape == a.sharp.shape == (3, 3, 32, 48)
    # Frames sit on 8-bit levels, like decoded video.
    assert torch.allclose(a.blurry * 255, (a.blurry * 255).round(), atol=1e-4)
    blurry, sharp = gen[0]
    assert torch.equal(sharp, gen.sequence(0).sharp)
    bb, bs = gen.batch(2, 3)
    assert bb.shape == (3, 3, 3, 32, 48)
    # A clip is the same whichever batch renders it.
    assert torch.equal(bs[1], gen.sequence(3).sharp) and torch.equal(bb[2], gen.sequence(4).blurry)


def test_shake_clips_are_blurry_and_sharp_clips_are_not(photos):
    shake = SequenceGenerator(photos, 3, (48, 64), seed=1, profile=BlurProfile(**{**SHAKE.__dict__, **QUIET}))
    sharp = SequenceGenerator(photos, 3, (48, 64), seed=1, profile=BlurProfile(**{**SHARP.__dict__, **QUIET}))
    for i in range(2):
        blurred, still = shake.sequence(i), sharp.sequence(i)
        assert max(still.info["blur_px"]) < 0.5 and np.mean(blurred.info["blur_px"]) > 2.0
        assert float(psnr(still.blurry, still.sharp).min()) > 40.0
        assert float(psnr(blurred.blurry, blurred.sharp).max()) < 30.0


def test_moving_objects_occlude_the_scene():
    bright = torch.full((3, 120, 160), 200, dtype=torch.uint8)
    atlas = PhotoAtlas([bright, torch.zeros_like(bright)])
    profile = BlurProfile(**{**SHARP.__dict__, **QUIET, "object_prob": 1.0})
    plan = plan_clip(torch.Generator().manual_seed(2), atlas, profile, 2, (48, 64), photo=0)
    assert plan.sprites and all(sprite.view.photo == 1 for sprite in plan.sprites)
    blurry, sharp = render_linear([plan], atlas, (48, 64))
    covered = float((sharp < 0.1).float().mean())  # the black object hides part of the bright scene
    assert 0.01 < covered < 0.9


def test_training_profile_covers_the_range_of_real_blur():
    atlas = PhotoAtlas([textured_image(0, 400, 600)])
    plans = [plan_clip(torch.Generator().manual_seed(clip_seed(0, i)), atlas, TRAIN, 4, (64, 64)) for i in range(300)]
    blurred = [max(p.info["blur_px"]) for p in plans if not p.info["nearly_sharp"]]
    assert min(blurred) < 3.0 and max(blurred) > 30.0 and max(blurred) < 60.0
    counts = [p.subframes for p in plans]
    assert min(counts) <= 3 and max(counts) >= 31 and all(c % 2 == 1 for c in counts)
    share = lambda key: np.mean([bool(p.info[key]) for p in plans])  # noqa: E731
    assert 0.2 < share("linear") < 0.4 and 0.2 < share("rolling_readout") < 0.4 and 0.12 < share("nearly_sharp") < 0.3
    clean = [p for p in plans if p.info["clean"]]
    assert clean and all(p.info["nearly_sharp"] and p.shot == p.read == 0 and p.quality is None for p in clean)
    assert min(q for p in plans if (q := p.quality) is not None) < 40


# ----------------------------------------------------------------------------- files


def test_split_is_by_name_disjoint_and_stable():
    names = [Path(f"photo_{i:03d}.jpg") for i in range(60)]
    train, val = split_images(names)
    assert set(train).isdisjoint(val) and set(train) | set(val) == set(names)
    assert 3 <= len(val) <= 25
    more_train, more_val = split_images(names + [Path(f"extra_{i}.png") for i in range(20)])
    assert set(val) <= set(more_val) and set(train) <= set(more_train)
    assert split_images(list(reversed(names))) == (sorted(train, reverse=True), val)
    two_train, two_val = split_images(names[:2])
    assert len(two_train) == len(two_val) == 1


def test_image_folder_loading_and_errors(tmp_path):
    import imageio.v3 as iio

    with pytest.raises(InputError):
        list_images(tmp_path / "missing")
    with pytest.raises(InputError):
        list_images(tmp_path)
    iio.imwrite(tmp_path / "b.png", np.full((10, 12), 7, np.uint8))  # greyscale
    iio.imwrite(tmp_path / "a.jpg", np.zeros((20, 30, 3), np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    assert [p.name for p in list_images(tmp_path)] == ["a.jpg", "b.png"]
    grey = load_image(tmp_path / "b.png")
    assert grey.shape == (3, 10, 12) and grey.dtype == torch.uint8 and int(grey[2, 0, 0]) == 7
    assert load_image(tmp_path / "a.jpg", max_side=15).shape == (3, 10, 15)


def test_write_sequences_dvd_layout(tmp_path, photos):
    import imageio.v3 as iio

    gen = SequenceGenerator(photos, 2, (24, 32), seed=0, profile="shake")
    written = write_sequences(tmp_path, gen, 2)
    assert [p.name for p in written] == ["seq_00000", "seq_00001"]
    for seq in written:
        assert sorted(p.name for p in (seq / "input").iterdir()) == ["00000.png", "00001.png"]
        assert sorted(p.name for p in (seq / "GT").iterdir()) == ["00000.png", "00001.png"]
    frame = iio.imread(written[1] / "GT" / "00001.png")
    expected = (gen.sequence(1).sharp[1] * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    assert frame.shape == (24, 32, 3) and np.array_equal(frame, expected)
    with pytest.raises(OutputError):
        write_sequences(tmp_path, gen, 1)
    assert write_sequences(tmp_path, gen, 1, overwrite=True) == written[:1]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
