"""``stfan-deblur scan``: the table, --json, errors like run's, folders and frame folders."""

from __future__ import annotations

import json

import numpy as np

from deblur_cli.analysis.stretches import MIN_STRETCH_FRAMES, counted, stretches
from deblur_cli.io.images import encode_png
from deblur_cli.pipeline.scan import scan_file
from tests.blurgen import shaky_content
from tests.clipgen import make_clip
from tests.cliutil import assert_clean_error, run_cli

SIZE = (160, 96)
SHAKY = set(range(25, 40))  # one second of 25 frames/s in the middle of a 3 s clip


def shaky_clip(path, blurred=SHAKY, frames=75, **kwargs):
    path.parent.mkdir(parents=True, exist_ok=True)
    return make_clip(path, size=SIZE, frames=frames, fps=25, content=shaky_content(blurred, 7), **kwargs)


def test_scan_json_names_each_file_its_share_and_stretches(tmp_path):
    clip = shaky_clip(tmp_path / "shaky.mp4", audio=["aac"])
    result = run_cli(["scan", clip, "--json", "-", "--no-estimate"])
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    [entry] = report["files"]
    assert entry["path"] == str(clip)
    assert abs(entry["duration"] - 3.0) < 0.05
    assert 0.15 <= entry["blurred_fraction"] <= 0.3  # 0.6 s of 3 s, give or take a frame at each edge
    [stretch] = entry["stretches"]
    assert abs(stretch["start"] - 1.0) <= 0.08 and abs(stretch["end"] - 1.6) <= 0.08 and stretch["score"] > 0.4
    assert stretch["kind"] == "global" and entry["kind"] == "global"
    assert len(entry["per_second"]) == 3 and entry["per_second"][1] > 0.4 > entry["per_second"][0]
    assert "blurred" in result.stderr and "shaky.mp4" in result.stderr  # the table (one line off a terminal)


def test_scan_a_folder_and_a_frame_folder(tmp_path):
    folder = tmp_path / "clips"
    shaky_clip(folder / "a.mp4")
    shaky_clip(folder / "sub" / "sharp.mkv", blurred=set())
    (folder / "broken.mp4").write_bytes(b"not a video")
    report = tmp_path / "scan.json"
    result = run_cli(["scan", folder, "--json", report, "--no-estimate"])
    assert result.exit_code == 1  # a file failed; the others are reported
    files = {f["path"]: f for f in json.loads(report.read_text())["files"]}
    assert set(files) == {"a.mp4", "broken.mp4", "sub/sharp.mkv"}
    assert files["sub/sharp.mkv"]["blurred_fraction"] == 0 and files["sub/sharp.mkv"]["stretches"] == []
    assert files["a.mp4"]["blurred_fraction"] > 0.1 and "error" in files["broken.mp4"]
    frames = tmp_path / "frames"
    frames.mkdir()
    content = shaky_content({5, 6, 7})
    for i in range(12):
        (frames / f"{i:04d}.png").write_bytes(encode_png(content(i, *SIZE)))
    scan = scan_file(frames, fps=10)
    assert [i for i, s in enumerate(scan.scores) if s.blurred] == [5, 6, 7]


def test_scan_a_folder_named_relative_to_the_working_folder(tmp_path, monkeypatch):
    shaky_clip(tmp_path / "clips" / "a.mp4", frames=25)
    monkeypatch.chdir(tmp_path)
    result = run_cli(["scan", "clips/", "--json", "-", "--no-estimate"])
    assert result.exit_code == 0, result.stderr
    assert [f["path"] for f in json.loads(result.stdout)["files"]] == ["a.mp4"]


def test_scan_errors_are_one_line(tmp_path):
    assert_clean_error(run_cli(["scan", tmp_path / "missing.mp4"]), "input not found")
    (tmp_path / "bad.mp4").write_bytes(b"garbage")
    assert_clean_error(run_cli(["scan", tmp_path / "bad.mp4", "--no-estimate"]))
    assert_clean_error(run_cli(["scan", tmp_path / "bad.mp4", "--threshold", "2"]), "threshold")


def test_scan_estimates_the_run_cost(tmp_path, random_weights):
    clip = shaky_clip(tmp_path / "a.mp4", frames=50)
    result = run_cli(["scan", clip, "--json", "-", "--weights", random_weights, "--device", "cpu"])
    assert result.exit_code == 0, result.stderr
    cost = json.loads(result.stdout)["files"][0]["run_seconds"]
    assert 0 < cost["skip_sharp"] < cost["all"]
    assert "run cost" in result.stderr


def test_plot_without_matplotlib_is_one_line(tmp_path, monkeypatch):
    import builtins

    real = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    clip = shaky_clip(tmp_path / "a.mp4", frames=10)
    assert_clean_error(run_cli(["scan", clip, "--plot", tmp_path / "a.png"]), "stfan-deblur[plot]")


def test_plot_draws_a_png_per_file(tmp_path):
    import pytest

    pytest.importorskip("matplotlib")
    folder = tmp_path / "clips"
    shaky_clip(folder / "a.mp4", frames=30, blurred=set(range(10, 16)))
    shaky_clip(folder / "sub" / "b.mkv", frames=20, blurred=set())
    result = run_cli(["scan", folder, "--plot", tmp_path / "plots", "--no-estimate", "-q"])
    assert result.exit_code == 0, result.stderr
    for name in ("a.mp4.png", "sub/b.mkv.png"):
        assert (tmp_path / "plots" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert_clean_error(run_cli(["scan", folder, "--plot", tmp_path / "one.png", "--no-estimate"]), "folder")


def test_a_stray_flag_is_not_a_stretch_but_two_frames_are():
    """analysis.stretches' one rule: joined across short gaps, a stretch counts from MIN_STRETCH_FRAMES frames."""
    times = [i / 10 for i in range(40)]
    flags = [i in (5, 20, 21, 30, 32) for i in range(40)]  # 30 and 32 join across a gap of one frame (0.1 s)
    assert MIN_STRETCH_FRAMES == 2
    assert counted(times, flags, 0.1) == [i in (20, 21, 30, 32) for i in range(40)]
    found = stretches(times, flags, [0.5] * 40, ["global"] * 40, 0.1)
    assert [(s.first, s.last) for s in found] == [(20, 21), (30, 32)]


def test_scan_finds_the_cuts_between_shots_from_luma_alone():
    from deblur_cli.analysis import BlurDetector
    from deblur_cli.pipeline.scan import _Measure
    from deblur_cli.pipeline.scenecut import luma_thumbnail, structure_differs, structure_distance
    from tests.blurgen import texture

    a, b = texture(360, 96, seed=1), texture(360, 96, seed=2)
    planes = [a[:, i * 3: i * 3 + 160] for i in range(8)] + [b[:, i * 3: i * 3 + 160] for i in range(8)]
    rng = np.random.default_rng(0)
    planes += [np.full((96, 160), 20.0) + rng.normal(0, 1.0, (96, 160)) for _ in range(4)]  # dark, noisy: one shot
    detector, measured = BlurDetector(30.0), _Measure()
    for plane in planes:
        detector.add(*measured(plane))
    assert detector.cuts == [8, 16]
    thumbs = [luma_thumbnail(p) for p in planes]
    for x, y in zip(thumbs, thumbs[1:]):  # the quick path answers as the full comparison does
        assert structure_differs(x, y, 0.3) == (structure_distance(x, y) > 0.3)
