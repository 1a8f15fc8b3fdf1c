"""Evaluation on DVD/GoPro folders and synthetic clips, through the product's engine; eval/demo commands."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from deblur_cli.errors import InputError
from deblur_cli.evaluation.evaluate import (
    evaluate_clips,
    evaluate_folder,
    find_sequences,
    synthetic_clips,
)
from deblur_cli.evaluation.metrics import psnr
from deblur_cli.inference.engine import RecurrentEngine
from deblur_cli.models import STFAN
from deblur_cli.synth import SequenceGenerator, write_sequences
from deblur_cli.training import start_as_identity


def textured(seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    ys, xs = torch.meshgrid(torch.arange(80), torch.arange(100), indexing="ij")
    img = 0.5 * ((ys // 6 + xs // 9) % 2) + 0.3 * torch.rand((3, 80, 100), generator=g) + 0.1
    return (img.clamp(0, 1) * 255).round().to(torch.uint8)


def identity_engine(order: str = "RGB") -> RecurrentEngine:
    model = STFAN()
    start_as_identity(model)
    return RecurrentEngine(model, channel_order=order)


@pytest.fixture(scope="module")
def dvd_folder(tmp_path_factory) -> Path:
    """Two clips of three 30x46 frames (not multiples of 4) in the DVD layout."""
    root = tmp_path_factory.mktemp("dvd")
    generator = SequenceGenerator([textured(0), textured(1)], 3, (30, 46), seed=0, profile="shake")
    write_sequences(root, generator, 2)
    return root


def test_identity_weights_score_exactly_the_blurry_input(dvd_folder):
    for order in ("RGB", "BGR"):
        report = evaluate_folder(identity_engine(order), dvd_folder)
        assert [s.name for s in report.sequences] == ["seq_00000", "seq_00001"]
        for seq in report.sequences:
            assert seq.frames == 3
            assert seq.psnr == pytest.approx(seq.input_psnr, abs=1e-6) and seq.gain_db == pytest.approx(0, abs=1e-6)
            assert seq.ssim == pytest.approx(seq.input_ssim, abs=1e-6)
            assert 10 < seq.input_psnr < 60 and 0 < seq.input_ssim < 1


def test_figures_match_a_direct_computation(dvd_folder):
    import imageio.v3 as iio

    torch.manual_seed(0)
    engine = RecurrentEngine(STFAN())  # random weights: changes the frames
    report = evaluate_folder(engine, dvd_folder)
    seq = dvd_folder / "seq_00001"
    load = lambda p: torch.from_numpy(iio.imread(p).astype(np.float32) / 255).permute(2, 0, 1)  # noqa: E731
    blurry = [load(seq / "input" / f"{i:05d}.png") for i in range(3)]
    sharp = [load(seq / "GT" / f"{i:05d}.png") for i in range(3)]
    engine.reset()
    restored = [(engine.step(b) * 255).round() / 255 for b in blurry]
    score = report.sequences[1]
    assert score.input_psnr == pytest.approx(float(np.mean([psnr(b, s) for b, s in zip(blurry, sharp)])), abs=1e-4)
    assert score.psnr == pytest.approx(float(np.mean([psnr(r, s) for r, s in zip(restored, sharp)])), abs=1e-4)
    assert score.psnr != pytest.approx(score.input_psnr, abs=1e-3)
    overall = report.overall()
    assert overall["frames"] == 6 and overall["sequences"] == 2
    assert overall["psnr"] == pytest.approx(np.mean([s.psnr for s in report.sequences]), abs=1e-6)
    table = report.format_table()
    assert "seq_00001" in table and "overall" in table
    assert json.loads(json.dumps(report.to_dict()))["sequences"][0]["frames"] == 3


def test_gopro_layout_and_single_sequence_folders(dvd_folder, tmp_path):
    import shutil

    gopro = tmp_path / "gopro" / "clip"
    shutil.copytree(dvd_folder / "seq_00000" / "input", gopro / "blur")
    shutil.copytree(dvd_folder / "seq_00000" / "GT", gopro / "sharp")
    assert [s.name for s in find_sequences(tmp_path / "gopro")] == ["clip"]
    single = find_sequences(dvd_folder / "seq_00001")
    assert len(single) == 1 and len(single[0].inputs) == 3


def test_bad_dataset_folders_raise_input_errors(dvd_folder, tmp_path):
    with pytest.raises(InputError):
        find_sequences(tmp_path / "missing")
    (tmp_path / "empty" / "x").mkdir(parents=True)
    with pytest.raises(InputError):
        find_sequences(tmp_path / "empty")
    import shutil

    broken = tmp_path / "broken" / "s"
    shutil.copytree(dvd_folder / "seq_00000", broken)
    (broken / "GT" / "00002.png").unlink()
    with pytest.raises(InputError, match="no ground-truth frame"):
        find_sequences(tmp_path / "broken")


def test_psnr_averages_count_each_frame_at_most_60_db():
    """A nearly lossless input (one 8-bit level off in one pixel: ~78 dB) must not swamp a mean."""
    from deblur_cli.evaluation.metrics import PSNR_CEILING

    sharp = torch.rand(2, 3, 16, 20).mul(255).round().div(255)
    blurry = sharp.clone()
    blurry[1, 0, 0, 0] += 1 / 255
    assert float(psnr(blurry[1], sharp[1])) > 75
    report = evaluate_clips(identity_engine(), [("lossless", blurry, sharp)])
    assert report.sequences[0].input_psnr == PSNR_CEILING == 60.0
    assert report.overall()["psnr"] == pytest.approx(60.0) and report.overall()["gain_db"] == pytest.approx(0.0)


def test_synthetic_clips_are_fixed_and_scored():
    photos = [textured(2), textured(3)]
    clips = synthetic_clips(photos, "shake", count=2, seq_len=2, size=(24, 32))
    again = synthetic_clips(photos, "shake", count=2, seq_len=2, size=(24, 32))
    assert [c[0] for c in clips] == ["shake_000", "shake_001"]
    assert torch.equal(clips[1][1], again[1][1])
    report = evaluate_clips(identity_engine(), clips)
    assert report.overall()["gain_db"] == pytest.approx(0.0, abs=1e-6)


# ----------------------------------------------------------------------------- commands


def test_eval_command_on_a_folder(dvd_folder, random_weights, tmp_path):
    from deblur_cli.cli.train_cmds import eval_command

    out_json = tmp_path / "report.json"
    result = CliRunner().invoke(eval_command, [str(dvd_folder), "--weights", str(random_weights), "--device", "cpu",
                                               "--json", str(out_json)])
    assert result.exit_code == 0, result.output
    assert "overall" in result.output and "seq_00001" in result.output
    data = json.loads(out_json.read_text())
    assert data[dvd_folder.name]["overall"]["frames"] == 6
    neither = CliRunner().invoke(eval_command, ["--weights", str(random_weights)])
    assert neither.exit_code != 0 and isinstance(neither.exception, InputError)


def test_demo_writes_three_videos_and_reports_the_gain(tmp_path):
    pytest.importorskip("deblur_cli.pipeline.video")
    from deblur_cli.errors import OutputError
    from deblur_cli.evaluation.demo import MARKER, OUTPUT_NAMES, run_demo

    result = run_demo(tmp_path / "demo", identity_engine(), frames=3)
    assert sorted(p.name for p in (tmp_path / "demo").iterdir()) == sorted([*OUTPUT_NAMES, MARKER])
    assert result.frames == 3
    assert result.gain_db == pytest.approx(0.0, abs=1e-6)  # identity weights change nothing
    assert 15 < result.input_psnr < 45
    from deblur_cli.evaluation.demo import read_clip

    side = read_clip(result.side_by_side)
    assert len(side) == 3 and side[0].shape == (192, 640, 3)
    first = result.blurry.stat().st_mtime_ns
    run_demo(tmp_path / "demo", identity_engine(), frames=2)  # its own folder: replaced without --overwrite
    assert len(read_clip(result.blurry)) == 2 and result.blurry.stat().st_mtime_ns != first
    mine = tmp_path / "mine"  # a user's folder: its files are never replaced without --overwrite
    mine.mkdir()
    (mine / "blurry.mp4").write_bytes(b"my own video")
    (mine / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="--overwrite"):
        run_demo(mine, identity_engine(), frames=2)
    assert (mine / "blurry.mp4").read_bytes() == b"my own video" and not (mine / MARKER).exists()
