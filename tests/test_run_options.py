"""The run command's features end to end: a part of a video, before/after composites, the JSON report,
PNG frames out, image-sequence input, scene cuts, tiles, the FAC choice, shell completion, environment
defaults and Ctrl-C in a batch. Library calls use stand-in engines where exact values matter; the CLI
runs use a small random-weights STFAN."""

from __future__ import annotations

import _thread
import time
from fractions import Fraction

import numpy as np
import pytest
import torch

from deblur_cli.cli.run_cmd import run_command
from deblur_cli.errors import DeviceError, InputError, OptionError
from deblur_cli.inference.build import build_engine
from deblur_cli.inference.engine import RecurrentEngine
from deblur_cli.inference.streaming import stream_arrays
from deblur_cli.inference.tiling import AutoTiledEngine, TiledEngine
from deblur_cli.io.images import encode_png, list_frames, read_frame
from deblur_cli.io.timespan import Span, parse_time
from deblur_cli.pipeline.inputs import input_kind
from deblur_cli.pipeline.video import deblur_video
from tests.clipgen import decode_video, make_clip, moving_pattern, packet_bytes
from tests.cliutil import assert_clean_error, read_report, run_cli, seconds, temp_files
from tests.shotgen import ShotSpec, clip_with_cuts, pictures
from tests.test_pipeline import IdentityEngine


class InvertingEngine(IdentityEngine):
    """Returns the negative of each frame, so before and after are told apart at a glance."""

    def process_array(self, frame):
        return np.iinfo(frame.dtype).max - super().process_array(frame)


class RecordingEngine:
    """A streaming engine (``step``/``device``) that returns frames unchanged and logs resets and steps."""

    device = torch.device("cpu")

    def __init__(self):
        self.events: list[str] = []

    def reset(self):
        self.events.append("reset")

    def step(self, frame):
        self.events.append("step")
        return frame

    def restore(self, frames):
        return stream_arrays(self, frames)


@pytest.fixture
def cli_args(random_weights):
    """The arguments every CLI run here shares: the test weights, the CPU, no progress bars."""
    return ["--weights", random_weights, "--device", "cpu", "-q"]


def rgb(path, index=0) -> np.ndarray:
    return decode_video(path, rgb=True)[2][index].astype(int)


# --- --start / --duration ------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_a_part_starts_at_zero_with_its_audio_bit_exact(tmp_path, suffix):
    src = make_clip(tmp_path / f"in{suffix}", frames=25, audio=["aac", "libopus"])  # 1 s at 25 fps
    dst = tmp_path / f"out{suffix}"
    result = deblur_video(src, dst, IdentityEngine(), start="0.5", duration=0.4)

    times_in = seconds(*decode_video(src)[:2])
    first = min(t for t in times_in if t >= Fraction(1, 2))  # 0.52: no frame sits exactly at 0.5
    kept = [t for t in times_in if first <= t < Fraction(9, 10)]
    assert result.frames == len(kept) == 10 and result.warnings == []
    pts_out, tb_out, _, frame = decode_video(dst)
    assert seconds(pts_out, tb_out) == [t - first for t in kept]
    assert (frame.width, frame.height) == (64, 48)
    for stream_in, stream_out in zip(packet_bytes(src), packet_bytes(dst), strict=True):
        assert stream_out == [(t - first, data) for t, data in stream_in if first <= t < Fraction(9, 10)]


def test_duration_alone_keeps_the_input_times_and_the_audio_priming(tmp_path):
    src = make_clip(tmp_path / "in.mp4", frames=20, audio=["aac"])
    result = deblur_video(src, tmp_path / "out.mp4", IdentityEngine(), duration="00:00:00.4")
    pts_in, tb_in, _, _ = decode_video(src)
    pts_out, tb_out, _, _ = decode_video(tmp_path / "out.mp4")
    assert result.frames == 10 and seconds(pts_out, tb_out) == seconds(pts_in, tb_in)[:10]
    audio_in = packet_bytes(src)[0]
    assert audio_in[0][0] < 0  # the AAC priming packet
    assert packet_bytes(tmp_path / "out.mp4")[0] == [(t, d) for t, d in audio_in if t < Fraction(2, 5)]


def test_times_parse_and_bad_parts_are_refused(tmp_path, cli_args):
    assert parse_time("12") == 12.0 and parse_time("1:30") == 90.0 and parse_time("01:02:03.250") == 3723.25
    for bad in ("abc", "-1", "1:75", "nan", "1:2:3:4"):
        with pytest.raises(OptionError):
            parse_time(bad)
    with pytest.raises(OptionError, match="--duration"):
        Span.of(duration=0)
    src = make_clip(tmp_path / "in.mkv", frames=5)
    with pytest.raises(InputError, match="past the last frame"):
        deblur_video(src, tmp_path / "out.mkv", IdentityEngine(), start=5)
    assert [p.name for p in tmp_path.iterdir()] == ["in.mkv"]
    assert_clean_error(run_cli([src, "-o", tmp_path / "o.mkv", "--start", "soon", *cli_args]), "--start")
    assert_clean_error(run_cli([src, "-o", tmp_path / "o.mkv", "--start", "9", *cli_args]), "past the last frame")
    assert [p.name for p in tmp_path.iterdir()] == ["in.mkv"]


# --- --compare -------------------------------------------------------------------------------------

LABEL_ROWS = 12  # the caption boxes' rows at this size (1 px per font pixel, 2 px margin)


def assert_captions(frame: np.ndarray, left: str, right: str) -> None:
    """The captions' boxes and letters, where compose() draws them (within lossy-coding error)."""
    from deblur_cli.pipeline.labels import label_size, text_mask

    width = frame.shape[1]
    for text, x in ((left, 2), (right, width - 2 - label_size(right, 1)[0])):
        ink = text_mask(text)
        region = frame[3:3 + ink.shape[0], x + 1:x + 1 + ink.shape[1]].mean(axis=2)
        assert region[ink].mean() > 200 and region[~ink].mean() < 60, text


def test_compare_side_and_split_show_input_left_and_restored_right(tmp_path):
    src = make_clip(tmp_path / "in.mkv", frames=3, audio=["aac"], lossless=True)
    before = rgb(src)
    deblur_video(src, tmp_path / "side.mkv", InvertingEngine(), compare="side", crf=0)
    side = rgb(tmp_path / "side.mkv")
    assert side.shape == (48, 128, 3)
    below = slice(LABEL_ROWS, None)  # under the captions
    assert np.abs(side[below, :64] - before[below]).mean() < 3
    assert np.abs(side[below, 64:] - (255 - before[below])).mean() < 3
    assert_captions(side, "input", "restored")
    assert packet_bytes(tmp_path / "side.mkv") == packet_bytes(src)

    deblur_video(src, tmp_path / "split.mkv", InvertingEngine(), compare="split", crf=0)
    split = rgb(tmp_path / "split.mkv")
    assert split.shape == (48, 64, 3)  # too narrow for captions in a half: none drawn
    assert np.abs(split[:, :28] - before[:, :28]).mean() < 3
    assert np.abs(split[:, 36:] - (255 - before[:, 36:])).mean() < 3
    assert split[:, 31:33].mean() > 235  # the white divider (4:2:0 chroma blurs its colour a little)
    with pytest.raises(OptionError, match="comparison mode"):
        deblur_video(src, tmp_path / "x.mkv", IdentityEngine(), compare="top")


def test_compare_from_the_environment_through_the_cli(tmp_path, cli_args):
    src = make_clip(tmp_path / "in.mp4", frames=3, audio=["aac"])
    result = run_cli([src, "-o", tmp_path / "out.mp4", *cli_args], env={"STFAN_DEBLUR_COMPARE": "side"})
    assert result.exit_code == 0, result.output
    pts, _, _, frame = decode_video(tmp_path / "out.mp4")
    assert len(pts) == 3 and (frame.width, frame.height) == (128, 48)
    below = slice(LABEL_ROWS, None)
    assert np.abs(rgb(tmp_path / "out.mp4")[below, :64] - rgb(src)[below]).mean() < 4  # the left half is the input
    assert_captions(rgb(tmp_path / "out.mp4"), "input", "restored")


# --- --frames-out ----------------------------------------------------------------------------------

def test_frames_out_holds_the_restored_frames_beside_the_video(tmp_path):
    src = make_clip(tmp_path / "in.mp4", frames=4, audio=["aac"])
    engine = IdentityEngine()
    result = deblur_video(src, tmp_path / "out.mp4", engine, frames_out=tmp_path / "frames", compare="side")
    paths = list_frames(tmp_path / "frames")
    assert result.frames_out == tmp_path / "frames"
    assert [p.name for p in paths] == [f"{i:06d}.png" for i in range(4)]
    np.testing.assert_array_equal(read_frame(paths[0]), engine.first)  # the restored frame, not the composite
    assert decode_video(tmp_path / "out.mp4")[3].width == 128

    # A run that fails leaves no frames behind (here: the video output exists).
    with pytest.raises(Exception, match="exists"):
        deblur_video(src, tmp_path / "out.mp4", IdentityEngine(), frames_out=tmp_path / "frames2")
    assert not (tmp_path / "frames2").exists()


# --- image sequences -------------------------------------------------------------------------------

@pytest.fixture
def sequence(tmp_path):
    folder = tmp_path / "seq" / "input"  # the DVD/GoPro layout
    folder.mkdir(parents=True)
    for i in range(6):
        (folder / f"{i:05d}.png").write_bytes(encode_png(moving_pattern(i, 64, 48)))
    return folder


def test_which_folders_are_image_sequences(tmp_path, sequence):
    assert input_kind(sequence) == "sequence"
    assert input_kind(sequence.parent) == "folder"  # no frames directly in it
    make_clip(sequence / "preview.mp4", frames=2)
    assert input_kind(sequence) == "folder"  # a video inside: a folder of videos
    assert input_kind(tmp_path / "seq" / "input" / "preview.mp4") == "video"


def test_image_sequence_to_frames_and_to_a_video(tmp_path, sequence, cli_args):
    inputs = [read_frame(p) for p in list_frames(sequence)]
    result = deblur_video(sequence, tmp_path / "restored", IdentityEngine())
    assert result.frames == 6
    for path, frame in zip(list_frames(tmp_path / "restored"), inputs, strict=True):
        np.testing.assert_array_equal(read_frame(path), frame)  # PNG in, PNG out: lossless
    deblur_video(sequence, tmp_path / "part", IdentityEngine(), start=2 / 24, fps=24)
    for path, frame in zip(list_frames(tmp_path / "part"), inputs[2:], strict=True):
        np.testing.assert_array_equal(read_frame(path), frame)

    result = run_cli([sequence, "-o", tmp_path / "seq.mp4", "--fps", "24", *cli_args])
    assert result.exit_code == 0, result.output
    pts, tb, _, frame = decode_video(tmp_path / "seq.mp4")
    assert seconds(pts, tb) == [Fraction(i, 24) for i in range(6)] and (frame.width, frame.height) == (64, 48)
    result = run_cli([sequence, "-o", tmp_path / "frames", *cli_args])
    assert result.exit_code == 0
    assert [read_frame(p).shape for p in list_frames(tmp_path / "frames")] == [(48, 64, 3)] * 6
    assert temp_files(tmp_path) == []


def test_frames_written_from_a_sequence_keep_the_input_names(tmp_path):
    import imageio.v3 as iio

    folder = tmp_path / "shots"
    folder.mkdir()
    names = ["take_a_9.png", "take_a_10.png", "take_b_2.jpg"]  # natural order, mixed formats
    for i, name in enumerate(names):
        if name.endswith(".jpg"):
            iio.imwrite(folder / name, moving_pattern(i, 64, 48))
        else:
            (folder / name).write_bytes(encode_png(moving_pattern(i, 64, 48)))
    deblur_video(folder, tmp_path / "restored", IdentityEngine(), frames_out=tmp_path / "also")
    expected = ["take_a_9.png", "take_a_10.png", "take_b_2.png"]  # written as PNG, under the same names
    assert [p.name for p in list_frames(tmp_path / "restored")] == expected
    assert [p.name for p in list_frames(tmp_path / "also")] == expected
    deblur_video(folder, tmp_path / "part", IdentityEngine(), start=1 / 30)  # a part: the names of its frames
    assert [p.name for p in list_frames(tmp_path / "part")] == expected[1:]
    (folder / "take_b_2.png").write_bytes(encode_png(moving_pattern(5, 64, 48)))  # two frames named take_b_2
    deblur_video(folder, tmp_path / "both", IdentityEngine())
    assert [p.name for p in list_frames(tmp_path / "both")] == [n + ".png" for n in
                                                               [*names[:2], "take_b_2.jpg", "take_b_2.png"]]
    np.testing.assert_array_equal(read_frame(tmp_path / "restored" / "take_a_10.png"),
                                  read_frame(folder / "take_a_10.png"))


# --- scene cuts ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cut_clip(tmp_path_factory):
    """Two shots of 5 frames each: the cut is at frame 5."""
    specs = [ShotSpec("pan", frames=5, size=(48, 64), blur=0.5)] * 2
    frames, cuts = clip_with_cuts(pictures(2), specs, np.random.default_rng(7))
    assert cuts == [5]
    path = tmp_path_factory.mktemp("cuts") / "cut.mkv"
    return make_clip(path, frames=10, content=lambda i, w, h: frames[i], audio=["aac"], lossless=True)


def test_the_engine_restarts_at_a_cut(tmp_path, cut_clip):
    engine = RecordingEngine()
    result = deblur_video(cut_clip, tmp_path / "out.mkv", engine)
    assert result.cuts == [5] and result.frames == 10
    assert engine.events == ["reset"] + ["step"] * 5 + ["reset"] + ["step"] * 5
    engine = RecordingEngine()
    assert deblur_video(cut_clip, tmp_path / "off.mkv", engine, scene_cuts=False).cuts == []
    assert engine.events == ["reset"] + ["step"] * 10


def test_cuts_are_counted_in_the_summary_and_the_report(tmp_path, cut_clip, random_weights):
    args = [cut_clip, "-o", tmp_path / "out.mkv", "--weights", random_weights, "--device", "cpu",
            "--json", tmp_path / "r.json"]
    result = run_cli(args)
    assert result.exit_code == 0, result.output
    assert "1 scene cut" in result.stderr
    entry = read_report(tmp_path / "r.json")["files"][0]
    assert (entry["scene_cuts"], entry["cut_frames"]) == (1, [5])
    result = run_cli(args + ["--overwrite"], env={"STFAN_DEBLUR_SCENE_CUTS": "0"})
    assert result.exit_code == 0 and read_report(tmp_path / "r.json")["files"][0]["scene_cuts"] == 0


# --- --tile and --fac ------------------------------------------------------------------------------

def test_tiling_only_when_asked_on_the_cpu(random_weights):
    assert type(build_engine(random_weights, device="cpu")) is RecurrentEngine
    tiled = build_engine(random_weights, device="cpu", tile=16)
    assert isinstance(tiled, TiledEngine) and (tiled.tile, tiled.overlap) == (16, 4)
    assert tiled.process_array(moving_pattern(0, 40, 24)).shape == (24, 40, 3)
    assert len(tiled._tiles) == 6  # 24x40 in 16-pixel tiles overlapping by 4 or more: 2 rows x 3 columns
    with pytest.raises(OptionError, match="multiple of 4"):
        build_engine(random_weights, device="cpu", tile=30)


def test_automatic_tiling_follows_choose_tile(random_weights, monkeypatch):
    plain = build_engine(random_weights, device="cpu")
    auto = AutoTiledEngine(plain.model, overlap=4)
    frame = moving_pattern(1, 40, 24)
    monkeypatch.setattr("deblur_cli.inference.tiling.choose_tile", lambda *a, **k: None)  # the frame fits
    np.testing.assert_array_equal(auto.process_array(frame), plain.process_array(frame))
    assert len(auto._tiles) == 1
    monkeypatch.setattr("deblur_cli.inference.tiling.choose_tile", lambda *a, **k: 16)  # it does not
    auto.reset()
    auto.process_array(frame)
    assert auto.tile == 16 and len(auto._tiles) == 6


def test_tile_through_the_cli(tmp_path, cli_args):
    src = make_clip(tmp_path / "in.mp4", frames=3, audio=["aac"])
    result = run_cli([src, "-o", tmp_path / "out.mp4", "--tile", "32", *cli_args])
    assert result.exit_code == 0, result.output
    assert len(decode_video(tmp_path / "out.mp4")[0]) == 3
    assert_clean_error(run_cli([src, "-o", tmp_path / "x.mp4", "--tile", "30", *cli_args]), "--tile")


def test_build_engine_applies_the_fac_choice(random_weights, monkeypatch, tmp_path, cli_args):
    from deblur_cli.inference import build as acceleration
    from deblur_cli.ops.fac import fac_reference

    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    calls = []
    real = acceleration.accelerate
    monkeypatch.setattr(acceleration, "accelerate", lambda engine, fac="auto": calls.append(fac) or real(engine, fac))
    engine = build_engine(random_weights, device="cpu", fac="reference")
    assert calls == ["reference"] and engine.model.fac is fac_reference and engine.model.fused_deblur is None
    with pytest.raises(DeviceError, match="CUDA"):
        build_engine(random_weights, device="cpu", fac="triton")
    with pytest.raises(OptionError):
        build_engine(random_weights, device="cpu", fac="fastest")
    src = make_clip(tmp_path / "in.mp4", frames=2)
    assert_clean_error(run_cli([src, "-o", tmp_path / "o.mp4", "--fac", "triton", *cli_args]), "Triton")
    assert not (tmp_path / "o.mp4").exists()


# --- --json ----------------------------------------------------------------------------------------

def test_json_report_for_a_folder_and_for_a_failed_file(tmp_path, cli_args):
    videos = tmp_path / "videos"
    videos.mkdir()
    make_clip(videos / "a.mp4", frames=3, audio=["aac"])
    make_clip(videos / "b.mkv", frames=2)
    (videos / "bad.mp4").write_text("not a video\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "b.mkv").write_bytes(b"old")  # skipped without --overwrite
    result = run_cli([videos, "-o", out, "--json", tmp_path / "report.json", *cli_args])
    assert result.exit_code == 1
    report = read_report(tmp_path / "report.json")
    by_name = {entry["input"].rsplit("/", 1)[-1]: entry for entry in report["files"]}
    assert [by_name[n]["status"] for n in ("a.mp4", "b.mkv", "bad.mp4")] == ["done", "skipped", "failed"]
    done = by_name["a.mp4"]
    assert done["frames"] == 3 and done["fps"] > 0 and done["seconds"] > 0 and done["error"] is None
    assert done["output"] == str(out / "a.mp4") and done["warnings"] == []
    assert "not a readable video file" in by_name["bad.mp4"]["error"]
    assert report["totals"]["stages"]["model"] == done["stages"]["model"] > 0  # the only file done (test_stages.py)
    assert report["totals"] | {"seconds": 0, "stages": None} == {
        "planned": 3, "files": 3, "done": 1, "copied": 0, "skipped": 1, "failed": 1, "interrupted_files": 0,
        "frames": 3, "restored_frames": 3, "seconds": 0, "scene_cuts": 0, "interrupted": False, "stages": None}

    result = run_cli([videos / "bad.mp4", "-o", out / "bad.mp4", "--json", tmp_path / "one.json", *cli_args])
    assert_clean_error(result, "not a readable video file")
    entry = read_report(tmp_path / "one.json")["files"][0]
    assert entry["status"] == "failed" and "not a readable" in entry["error"]
    assert temp_files(tmp_path) == [] and not (out / "bad.mp4").exists()


# --- Ctrl-C in a batch -----------------------------------------------------------------------------

def test_ctrl_c_in_a_batch_says_which_files_finished(tmp_path, monkeypatch, random_weights):
    videos = tmp_path / "videos"
    videos.mkdir()
    for name in ("a.mp4", "b.mp4", "c.mp4"):
        make_clip(videos / name, frames=4, audio=["aac"])

    def ctrl_c_in_the_second_file(n):
        if n == 6:
            _thread.interrupt_main()  # KeyboardInterrupt in the main thread, as a real Ctrl-C
            time.sleep(0.3)

    monkeypatch.setattr("deblur_cli.inference.build.build_engine",
                        lambda *a, **k: IdentityEngine(on_call=ctrl_c_in_the_second_file))
    out = tmp_path / "out"
    result = run_cli([videos, "-o", out, "--json", tmp_path / "r.json", "--weights", random_weights])
    assert result.exit_code == 130
    assert error_line(result) == "error: interrupted: 1 of 3 file(s) finished (a.mp4); partial outputs removed"
    assert sorted(p.name for p in out.iterdir()) == ["a.mp4"]
    report = read_report(tmp_path / "r.json")
    assert report["totals"]["interrupted"] is True and report["totals"]["done"] == 1
    assert [e["status"] for e in report["files"]] == ["done", "interrupted"]  # not "failed", and how far it got:
    assert report["files"][1]["frames"] >= 1 and report["totals"]["interrupted_files"] == 1
    assert report["totals"]["failed"] == 0


def error_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


# --- completion and environment defaults ----------------------------------------------------------

def test_shell_completion_works_and_is_explained():
    script = run_cli([], env={"_STFAN_DEBLUR_COMPLETE": "bash_source"})
    assert script.exit_code == 0 and "_stfan_deblur_completion()" in script.stdout
    words = run_cli([], env={"_STFAN_DEBLUR_COMPLETE": "bash_complete",
                             "COMP_WORDS": "stfan-deblur in.mp4 --comp", "COMP_CWORD": "2"})
    assert words.stdout.split() == ["plain,--compare"]
    modes = run_cli([], env={"_STFAN_DEBLUR_COMPLETE": "bash_complete",
                             "COMP_WORDS": "stfan-deblur in.mp4 --compare ", "COMP_CWORD": "3"})
    assert modes.stdout.split() == ["plain,side", "plain,split", "plain,map"]
    assert "_STFAN_DEBLUR_COMPLETE=bash_source stfan-deblur" in run_cli(["--help"]).stdout


def test_every_setting_has_an_environment_default_but_destructive_flags_do_not():
    per_run = {"output_path", "start", "duration", "frames_out", "json_path"}  # paths and spans of one run
    for param in run_command.params:
        if param.name == "overwrite":
            assert param.envvar is None  # replacing files is asked for on the command line, every time
        elif param.param_type_name == "option" and param.name not in per_run and param.name != "help":
            assert param.envvar == f"STFAN_DEBLUR_{param.name.upper()}" and param.show_envvar, param.name
