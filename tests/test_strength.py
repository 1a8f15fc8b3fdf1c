"""--strength: the weight map (sharp ~0, blurred ~1, steady in time), exact 0 and 1, tiles, 10-bit, CLI, report, map."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from deblur_cli.errors import OptionError
from deblur_cli.inference.build import build_engine
from deblur_cli.inference.streaming import to_float
from deblur_cli.inference.strength import AUTO, RestoredTally, StrengthEngine, parse_strength
from deblur_cli.inference.weightmap import CAUTIOUS, STANDARD, TemporalSmoother, gaussian_blur, grid_size, weight_grid
from deblur_cli.io.images import encode_png, list_frames, read_frame
from deblur_cli.pipeline.compare import MAP_LABELS, compose
from deblur_cli.pipeline.options import EngineOptions
from deblur_cli.pipeline.video import deblur_video
from tests.cliutil import assert_clean_error, read_report, run_cli

H, W = 96, 160


def texture(seed: int = 0, height: int = H, width: int = W) -> torch.Tensor:
    """(3, H, W) in [0, 1]: random 4-pixel blocks, sharp edges in every region."""
    g = torch.Generator().manual_seed(seed)
    blocks = torch.rand(3, height // 4, width // 4, generator=g)
    return F.interpolate(blocks[None], size=(height, width), mode="nearest")[0]


def motion_blur(frame: torch.Tensor, length: int = 15) -> torch.Tensor:
    """A horizontal box blur of ``length`` pixels (camera motion during the exposure)."""
    kernel = torch.ones(3, 1, 1, length) / length
    padded = F.pad(frame[None], (length // 2, length - 1 - length // 2, 0, 0), mode="replicate")
    return F.conv2d(padded, kernel, groups=3)[0]


def noise(frame: torch.Tensor, levels: float, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (frame + levels / 255 * torch.randn(frame.shape, generator=g)).clamp(0, 1)


class FakeEngine:
    """A StepEngine whose restoration is given per call (e.g. the true sharp frame: a perfect deblurrer)."""

    device = torch.device("cpu")

    def __init__(self, restore=lambda frame: frame.clone()):
        self.restore_fn = restore
        self.resets = 0
        self.steps = 0

    def reset(self):
        self.resets += 1

    def step(self, frame):
        self.steps += 1
        return self.restore_fn(frame)


def to_array(frame: torch.Tensor, dtype=np.uint8) -> np.ndarray:
    peak = np.iinfo(dtype).max
    return (frame.permute(1, 2, 0).numpy() * peak).round().astype(dtype)


# --- the map ------------------------------------------------------------------------------------

@pytest.mark.parametrize("settings", [STANDARD, CAUTIOUS])
def test_map_of_a_sharp_frame_is_near_zero_and_of_a_blurred_one_near_one(settings):
    sharp = texture()
    blurred = motion_blur(sharp)
    unsharp = (sharp + 0.5 * (sharp - motion_blur(sharp, 3))).clamp(0, 1)  # a network that over-sharpens
    for restored in (sharp, noise(sharp, 1.0, 1), unsharp):
        assert weight_grid(sharp[None], restored[None], settings).mean() < 0.02
    assert weight_grid(blurred[None], sharp[None], settings).mean() > 0.95  # a perfect deblurrer on strong blur
    assert weight_grid(blurred[None], blurred[None], settings).max() == 0  # a restoration that changes nothing


def test_standard_writes_a_milder_blur_undone_than_cautious():
    """A network that leaves sharp content alone is trusted with mild blur; the cautious setting is not."""
    sharp = texture()
    mild = motion_blur(sharp, 4)
    assert weight_grid(mild[None], sharp[None], STANDARD).mean() > 0.95
    assert weight_grid(mild[None], sharp[None], CAUTIOUS).mean() < 0.05


def soften(frame: torch.Tensor, sigma: float) -> torch.Tensor:
    """A Gaussian blur of ``sigma`` pixels (what a network that softens sharp footage writes)."""
    return gaussian_blur(frame[:, None], sigma)[:, 0]


@pytest.mark.parametrize("settings", [STANDARD, CAUTIOUS])
def test_a_restoration_that_softens_sharp_content_is_not_written(settings):
    """Softening an edge moves it as much as sharpening one; only a restoration that sharpens is written."""
    sharp = texture()
    for sigma in (0.7, 1.0, 1.5):
        assert weight_grid(sharp[None], soften(sharp, sigma)[None], settings).max() < 0.02, sigma


def test_a_restoration_that_deblurs_but_is_a_little_soft_is_still_written():
    sharp = texture()
    for blurred in (motion_blur(sharp), motion_blur(sharp, 6)):
        assert weight_grid(blurred[None], soften(sharp, 1.0)[None], STANDARD).mean() > 0.95


def test_the_experimental_weights_get_the_cautious_map_and_other_weights_the_standard_one(random_weights):
    from deblur_cli.inference.strength import map_settings_for
    from deblur_cli.models.choice import resolve

    shipped = build_engine(resolve("synth-v0").path, device="cpu", strength=AUTO)
    assert shipped.settings is CAUTIOUS and map_settings_for(shipped.weights) is CAUTIOUS
    assert build_engine(random_weights, device="cpu", strength=AUTO).settings is STANDARD
    assert map_settings_for(None) is STANDARD


def test_map_is_local_a_blurred_object_on_a_sharp_background():
    sharp = texture()
    frame = sharp.clone()
    frame[:, 32:64, 64:112] = motion_blur(sharp)[:, 32:64, 64:112]  # a moving object, blurred
    grid = weight_grid(frame[None], sharp[None])[0, 0]
    rows, cols = grid_size(H, W)
    cell_h, cell_w = H / rows, W / cols
    inside = grid[round(40 / cell_h):round(56 / cell_h), round(76 / cell_w):round(100 / cell_w)]
    assert inside.min() > 0.9
    assert grid[:, :round(32 / cell_w)].max() < 0.05  # the static background far from it is left alone
    assert grid[:, round(140 / cell_w):].max() < 0.05


def test_map_is_the_same_for_8_and_16_bit_frames():
    blurred = to_array(motion_blur(texture()))
    restored = to_array(texture())
    maps = []
    for dtype, scale in ((np.uint8, 1), (np.uint16, 257)):
        x = to_float(blurred.astype(dtype) * scale, torch.device("cpu"))
        y = to_float(restored.astype(dtype) * scale, torch.device("cpu"))
        maps.append(weight_grid(x[None], y[None]))
    torch.testing.assert_close(maps[0], maps[1], atol=1e-4, rtol=0)


# The standard map moves from 0 to 1 over a narrower range of restorations, so noise of 3 levels that differs
# in every frame (input and restoration alike) moves a mid-range map more; 0.1 of a weight is under a level
# of the written frame here, where the restoration moves the picture by a few levels.
@pytest.mark.parametrize("settings, share, bound", [(CAUTIOUS, 0.3, 0.04), (STANDARD, 0.06, 0.1)])
def test_map_changes_little_from_frame_to_frame_on_a_steady_clip(settings, share, bound):
    sharp = texture()
    blurred = motion_blur(sharp, 9)
    partly = blurred + share * (sharp - blurred)  # a restoration part of the way: a mid-range map, noise shows most

    def maps(keep: float) -> list[np.ndarray]:
        engine = StrengthEngine(FakeEngine(lambda frame: noise(partly, 3.0, int(frame.sum() * 1000) % 1000)),
                                settings=settings)
        engine.smoother = TemporalSmoother(keep=keep)
        out = []
        for t in range(8):
            engine.process_array(to_array(noise(blurred, 3.0, 100 + t)))  # sensor noise differs in every frame
            out.append(engine.weight_map())
        return out

    def changes(seq: list[np.ndarray]) -> list[float]:
        return [float(np.abs(b - a).mean()) for a, b in zip(seq, seq[1:])]

    smoothed, raw = changes(maps(TemporalSmoother().keep)), changes(maps(0.0))
    assert 0.2 < float(maps(0.5)[-1].mean()) < 0.9  # the case is not trivially 0 or 1
    assert max(smoothed[3:]) < bound  # once settled (the memory starts from the first estimate alone)
    assert max(smoothed) < max(raw)
    assert sum(smoothed) < 0.7 * sum(raw)  # smoothing damps what the estimate alone does


def test_temporal_memory_is_emptied_by_reset_and_by_a_new_size():
    smoother = TemporalSmoother(keep=0.5)
    ones, zeros = torch.ones(1, 1, 3, 4), torch.zeros(1, 1, 3, 4)
    smoother(ones)
    assert torch.equal(smoother(zeros), torch.full_like(zeros, 0.5))
    smoother.reset()
    assert torch.equal(smoother(zeros), zeros)
    assert torch.equal(smoother(torch.ones(1, 1, 5, 6)), torch.ones(1, 1, 5, 6))  # new size: no memory


def test_reset_reaches_the_inner_engine_and_the_map_memory():
    inner = FakeEngine(lambda frame: texture())
    engine = StrengthEngine(inner)
    engine.step(motion_blur(texture()))
    assert engine.smoother.previous is not None
    engine.reset()
    assert inner.resets == 1 and engine.smoother.previous is None


# --- fixed strengths ------------------------------------------------------------------------------

def test_fixed_strength_blends_uniformly_and_zero_skips_the_network():
    x, y = texture(1), texture(2)
    half = StrengthEngine(FakeEngine(lambda frame: y), 0.25)
    torch.testing.assert_close(half.step(x), x + 0.25 * (y - x))
    zero_inner = FakeEngine(lambda frame: y)
    assert torch.equal(StrengthEngine(zero_inner, 0).step(x), x) and zero_inner.steps == 0
    assert torch.equal(StrengthEngine(FakeEngine(lambda frame: y), 1).step(x), y)


@pytest.mark.parametrize("dtype, tile", [(np.uint8, None), (np.uint16, None), (np.uint16, 32)])
def test_strength_one_is_the_network_and_zero_the_input(random_weights, dtype, tile):
    """Over the plain and the tiled engine, 8- and 10-bit (uint16) frames alike."""
    frames = [to_array(texture(seed, 40, 56), dtype) for seed in range(2)]
    network = build_engine(random_weights, device="cpu", tile=tile)
    raw = list(network.restore(frames))
    results = {}
    for strength in (1, 0.0, "auto"):
        network.reset()
        engine = StrengthEngine(network, strength)
        results[strength] = (list(engine.restore(frames)), engine)
    for a, b in zip(results[1][0], raw, strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(results[0.0][0], frames, strict=True):
        np.testing.assert_array_equal(a, b)
    blended, auto = results["auto"]
    assert all(b.dtype == dtype and b.shape == f.shape for b, f in zip(blended, frames))
    assert auto.weight_map().shape == (40, 56)  # one map for the whole merged frame, not per tile
    assert 0.0 <= auto.mean_strength <= 1.0
    assert results[1][1].mean_strength == 1.0 and results[0.0][1].mean_strength == 0.0


def test_build_engine_wraps_only_when_asked(random_weights):
    plain = build_engine(random_weights, device="cpu")
    wrapped = build_engine(random_weights, device="cpu", tile=32, strength="0.3")
    assert not isinstance(plain, StrengthEngine)
    assert isinstance(wrapped, StrengthEngine) and wrapped.strength == 0.3
    assert wrapped.weights.name == "random-test" and wrapped.tile == 32  # the inner engine's attributes
    with pytest.raises(OptionError, match="--strength"):
        build_engine(random_weights, device="cpu", strength=7)


def test_maps_come_back_aligned_with_their_frames():
    """restore() keeps one frame in flight; weight_map() must still describe the frame just returned."""
    sharp = texture()
    frames = [to_array(motion_blur(sharp) if t % 2 else sharp) for t in range(6)]
    streamed = StrengthEngine(FakeEngine(lambda frame: sharp))
    one_by_one = StrengthEngine(FakeEngine(lambda frame: sharp))
    for out, frame in zip(streamed.restore(frames), frames):
        expected = one_by_one.process_array(frame)
        np.testing.assert_array_equal(out, expected)
        np.testing.assert_array_equal(streamed.weight_map(), one_by_one.weight_map())
    assert streamed.mean_strength == pytest.approx(one_by_one.mean_strength)


# --- options, CLI, report, --compare map -----------------------------------------------------------

@pytest.mark.parametrize("value, expected", [("auto", AUTO), (" AUTO ", AUTO), ("0", 0.0), ("1", 1.0),
                                             ("0.35", 0.35), (0.5, 0.5), (1, 1.0)])
def test_strength_values(value, expected):
    assert parse_strength(value) == expected
    assert EngineOptions(strength=value).strength == expected


@pytest.mark.parametrize("value", ["2", "-0.1", "foo", "nan", "", "inf", True, None, [0.5]])
def test_bad_strength_is_refused(value):
    with pytest.raises(OptionError, match="--strength must be auto or a number from 0 to 1"):
        EngineOptions(strength=value)


@pytest.mark.parametrize("value", ["2", "foo", "-1", "1.5", "auto-ish"])
def test_cli_refuses_a_bad_strength_in_one_line(tmp_path, value):
    result = run_cli([tmp_path / "missing.mp4", "-o", tmp_path / "out.mp4", "--strength", value])
    assert_clean_error(result, "--strength")
    assert not list(tmp_path.iterdir())


def test_cli_refuses_a_bad_strength_from_the_environment(tmp_path):
    result = run_cli([tmp_path / "missing.mp4", "-o", tmp_path / "out.mp4"], env={"STFAN_DEBLUR_STRENGTH": "high"})
    assert_clean_error(result, "--strength")


@pytest.fixture
def sequence(tmp_path):
    folder = tmp_path / "seq"
    folder.mkdir()
    sharp = texture(3, 48, 64)
    for t in range(3):
        frame = motion_blur(sharp) if t == 1 else sharp
        (folder / f"{t:03d}.png").write_bytes(encode_png(to_array(frame)))
    return folder


def frames_of(folder):
    return [read_frame(p) for p in list_frames(folder)]


def test_cli_strength_zero_writes_the_input_frames_exactly(tmp_path, sequence, random_weights):
    out = tmp_path / "out"
    result = run_cli([sequence, "-o", out, "--weights", random_weights, "--device", "cpu", "--strength", "0",
                      "--json", tmp_path / "r.json", "-q"])
    assert result.exit_code == 0, result.output
    for a, b in zip(frames_of(out), frames_of(sequence), strict=True):
        np.testing.assert_array_equal(a, b)
    assert read_report(tmp_path / "r.json")["files"][0]["strength"] == 0.0


def test_cli_strength_one_writes_what_the_network_does(tmp_path, sequence, random_weights):
    raw = tmp_path / "raw"
    deblur_video(sequence, raw, build_engine(random_weights, device="cpu"))
    out = tmp_path / "one"
    result = run_cli([sequence, "-o", out, "--weights", random_weights, "--device", "cpu", "--strength", "1", "-q"])
    assert result.exit_code == 0, result.output
    for a, b in zip(frames_of(out), frames_of(raw), strict=True):
        np.testing.assert_array_equal(a, b)


def test_json_reports_the_mean_strength_of_auto(tmp_path, sequence, random_weights):
    result = run_cli([sequence, "-o", tmp_path / "out", "--weights", random_weights, "--device", "cpu",
                      "--json", tmp_path / "r.json", "-q"])
    assert result.exit_code == 0, result.output
    strength = read_report(tmp_path / "r.json")["files"][0]["strength"]
    assert isinstance(strength, float) and 0.0 <= strength <= 1.0


@pytest.mark.parametrize("strength", ["0", "0.25"])
def test_compare_map_shows_the_weights(tmp_path, sequence, random_weights, strength):
    out = tmp_path / "map"
    result = run_cli([sequence, "-o", out, "--weights", random_weights, "--device", "cpu", "--strength", strength,
                      "--compare", "map", "-q"])
    assert result.exit_code == 0, result.output
    for shown, frame in zip(frames_of(out), frames_of(sequence), strict=True):
        weights = np.full(frame.shape[:2], float(strength), np.float32)
        np.testing.assert_array_equal(shown, compose(frame, frame, "map", MAP_LABELS, weights))


def test_compare_map_follows_the_auto_map_frame_by_frame(tmp_path, sequence):
    """A perfect deblurrer on sharp, blurred, sharp frames: the map view is orange only on the blurred one."""
    sharp = to_array(texture(3, 48, 64))
    engine = StrengthEngine(FakeEngine(lambda frame: to_float(sharp, torch.device("cpu"))))
    out = tmp_path / "map"
    deblur_video(sequence, out, engine, compare="map", scene_cuts=False)
    shown = frames_of(out)
    orange = [float(s[24:, :, 0].astype(int).mean() - s[24:, :, 2].astype(int).mean()) for s in shown]
    # The map is smoothed over time: half of the blurred frame's estimate shows at once, and it fades
    # over the next frame. A map one frame late or early would light up frame 0.
    assert orange[0] < 10 < 60 < orange[1]
    assert orange[0] < orange[2] < orange[1]


def test_the_tally_counts_only_the_frames_it_is_told_were_written():
    """A run's warm-up frames are restored but not written: the tally leaves them out, across restore calls."""
    sharp = texture(5)
    frames = [to_array(motion_blur(sharp))] * 2 + [to_array(sharp)] * 3  # two blurred, then sharp
    engine = StrengthEngine(FakeEngine(lambda frame: sharp.clone()))  # a perfect deblurrer
    tally, weights = RestoredTally(engine), []
    for _ in range(2):  # two stretches, each its own restore() call
        for index, _ in enumerate(engine.restore(frames)):
            weights.append(float(engine.shown_strength()))
            if index >= 2:
                tally.count()
    every = engine.mean_strength  # of the last call alone, warm-up frames included
    assert tally.frames == 6 and tally.strength < every  # the blurred warm-up frames carried most of the weight
    assert tally.strength == pytest.approx(sum(weights[2:5] + weights[7:]) / 6)
    assert RestoredTally(engine).strength is None and RestoredTally(FakeEngine()).strength is None


def test_segments_with_auto_strength_match_one_pass(tmp_path, random_weights):
    """Segments run the same blend as one pass: the first segment is identical, later ones close (warm-up)."""
    from tests.test_segments import SEGMENT, long_clip, psnr, times

    src = long_clip(tmp_path / "in.mkv", frames=36, audio=[])  # two segments: frames 0-23 and 24-35
    engine = build_engine(random_weights, device="cpu", strength=AUTO)
    one = deblur_video(src, tmp_path / "one.mkv", engine, crf=0, preset="ultrafast", segment=0)
    seg = deblur_video(src, tmp_path / "seg.mkv", engine, crf=0, preset="ultrafast", segment=SEGMENT)
    a, b = times(tmp_path / "one.mkv")[1], times(tmp_path / "seg.mkv")[1]
    assert len(a) == len(b) == 36
    assert all(np.array_equal(x, y) for x, y in zip(a[:24], b[:24]))
    assert min(psnr(x, y) for x, y in zip(a, b)) >= 40
    assert one.strength is not None and seg.strength == pytest.approx(one.strength, abs=0.02)


@pytest.mark.parametrize("strength", [AUTO, 0.0])
def test_strength_on_the_device_colour_path(tmp_path, random_weights, strength):
    """The blend takes the decoder's planes like the network does (--device-colour on): same frames, its figure."""
    from tests.clipgen import decode_video, make_clip

    src = make_clip(tmp_path / "in.mp4", frames=4, size=(64, 48))
    engine = build_engine(random_weights, device="cpu", strength=strength)
    result = deblur_video(src, tmp_path / "out.mp4", engine, device_colour="on")
    assert result.colour == "device" and result.frames == 4
    assert result.strength is not None and 0.0 <= result.strength <= 1.0
    assert len(decode_video(tmp_path / "out.mp4")[0]) == 4


# --- the benchmark --------------------------------------------------------------------------------

def test_bench_strength_runs_at_a_tiny_size_and_replays_its_cache(tmp_path, capsys):
    """benchmarks/bench_strength.py with a softening stand-in: figures present; a second run replays the cache."""
    import importlib.util

    import imageio.v3 as iio

    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):
        iio.imwrite(photos / f"photo_{i}.png", to_array(texture(i, 96, 128)))
    repo = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("bench_strength", repo / "benchmarks" / "bench_strength.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    args = ["--stand-in", "0.6", "--soften", "1", "--clean", "--images", str(photos), "--clips", "1", "--frames", "2",
            "--size", "64x48", "--kinds", "sharp,shake", "--cache", str(tmp_path / "cache"), "--threads", "1"]
    first = bench.main(args)
    assert len(list((tmp_path / "cache").iterdir())) == 2  # one file per kind and clip
    second = bench.main(args + ["--json", str(tmp_path / "out.json")])
    for kind in ("sharp", "shake"):
        assert first[kind]["frames"] == 2 and 0 <= first[kind]["strength"] <= 1
        for key in ("input", "raw", "auto", "oracle", "strength"):
            assert second[kind][key] == pytest.approx(first[kind][key])
    assert "results" in json.loads((tmp_path / "out.json").read_text())
    bench.main(["--time-map", "32x24", "--device", "cpu"])
    assert "32x24:" in capsys.readouterr().out
