"""Losses, schedule, the recurrent trainer (checkpoints, resume, export) and the train/synth commands."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from deblur_cli.errors import InputError, Interrupted, OutputError
from deblur_cli.inference.build import build_engine
from deblur_cli.models import STFAN
from deblur_cli.models.weights import load_weights
from deblur_cli.training import (
    DeblurLoss,
    TrainConfig,
    Trainer,
    start_as_identity,
    train,
)
from deblur_cli.training.losses import (
    EPS,
    charbonnier,
    frequency_charbonnier,
    gradient_charbonnier,
)
from deblur_cli.training.trainer import CHECKPOINT, lr_at


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory) -> Path:
    """Five small textured photos (enough for a train/validation split)."""
    import imageio.v3 as iio

    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for i in range(5):
        ys, xs = np.mgrid[0:96, 0:128]
        base = ((ys // (6 + i) + xs // 7) % 2) * 140 + 40 * np.sin(xs / (3 + i))
        img = np.clip(base[..., None] + rng.normal(0, 12, (96, 128, 3)) + 50, 0, 255).astype(np.uint8)
        iio.imwrite(folder / f"photo_{i}.png", img)
    return folder


def tiny_config(photo_dir: Path, run_dir: Path, **overrides) -> TrainConfig:
    settings = dict(images=str(photo_dir), run_dir=str(run_dir), steps=6, seq_len=2, size=(16, 16), batch=1,
                    warmup=2, val_clips=1, val_len=2, val_size=(16, 24), val_every=4, ckpt_every=2, log_every=2,
                    device="cpu")
    settings.update(overrides)
    return TrainConfig(**settings)


# ----------------------------------------------------------------------------- losses and schedule


def test_losses_are_minimal_for_a_perfect_prediction():
    x = torch.rand(2, 3, 16, 16)
    total, terms = DeblurLoss()(x, x)
    assert float(terms["charbonnier"]) == pytest.approx(EPS, rel=1e-3)
    assert float(total) == pytest.approx(EPS * (1 + 0.5 + 0.05), rel=1e-3)
    # A constant offset has no gradient error, only a pixel (and DC) error.
    assert float(gradient_charbonnier(x + 0.1, x)) == pytest.approx(EPS, rel=1e-3)
    assert float(charbonnier(torch.full((4,), 0.1))) == pytest.approx(0.1, rel=1e-3)
    blurred = torch.nn.functional.avg_pool2d(x, 3, stride=1, padding=1)
    assert float(frequency_charbonnier(blurred, x)) > float(frequency_charbonnier(x + 0.001, x))


def test_learning_rate_warms_up_then_decays_to_min():
    cfg = TrainConfig(images="x", run_dir="y", steps=1000, lr=1e-3, min_lr=1e-6, warmup=100)
    assert lr_at(0, cfg) == pytest.approx(1e-5)
    assert lr_at(99, cfg) == pytest.approx(1e-3)
    assert lr_at(550, cfg) == pytest.approx((1e-3 + 1e-6) / 2, rel=1e-3)
    assert lr_at(1000, cfg) == pytest.approx(1e-6)


def test_config_rejects_bad_sizes():
    with pytest.raises(InputError):
        TrainConfig(images="x", run_dir="y", size=(30, 32))
    with pytest.raises(InputError):
        TrainConfig(images="x", run_dir="y", profile="nope")


def test_identity_start_returns_the_input():
    model = STFAN()
    start_as_identity(model)
    frames = torch.rand(2, 1, 3, 16, 20)
    state = None
    for frame in frames:
        out, state = model(frame, state)
        assert torch.equal(out, frame)


def test_recurrent_training_reduces_the_loss_on_a_fixed_clip():
    """Overfitting one clip, one optimiser step per frame with detached state: the loss must fall.

    From the identity start (zero residual, identity FAC filters) the network must
    learn at once: with the filters at their random init it did not move here at all.
    """
    torch.manual_seed(0)
    model = STFAN()
    start_as_identity(model)
    optimiser = torch.optim.Adam(model.parameters(), lr=5e-4)
    criterion = DeblurLoss()
    g = torch.Generator().manual_seed(0)
    # Flat 4x4 blocks (edges to restore), box-blurred.
    sharp = torch.rand(3, 1, 3, 8, 8, generator=g).repeat_interleave(4, -1).repeat_interleave(4, -2)
    blurry = torch.nn.functional.avg_pool2d(sharp.flatten(0, 1), 5, stride=1, padding=2,
                                            count_include_pad=False).view_as(sharp)

    def epoch(learn: bool) -> float:
        state, total = None, 0.0
        for t in range(3):
            out, state = model(blurry[t], state)
            loss, _ = criterion(out, sharp[t])
            if learn:
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
            state = state.detach()
            total += float(loss.detach())
        return total / 3

    before = epoch(learn=False)
    for _ in range(20):
        epoch(learn=True)
    assert epoch(learn=False) < 0.85 * before


# ----------------------------------------------------------------------------- the trainer


def test_training_run_writes_checkpoint_log_and_weights(photo_dir, tmp_path):
    run = tmp_path / "run"
    lines: list[str] = []
    result = train(tiny_config(photo_dir, run), log=lines.append)
    assert result.step == 6 and result.export_path == run / "stfan_synth.safetensors"
    assert (run / CHECKPOINT).is_file() and json.loads((run / "config.json").read_text())["steps"] == 6
    kinds = [json.loads(line)["kind"] for line in (run / "log.jsonl").read_text().splitlines()]
    assert kinds.count("val") == 3 and "train" in kinds and kinds[-1] == "export"  # at 0, 4 and the end
    assert any(line.startswith("step") for line in lines)
    assert set(result.validation) == {"shake", "sharp"}

    loaded = load_weights(result.export_path)
    assert loaded.meta.channel_order == "RGB" and loaded.meta.source == "stfan-deblur"
    assert loaded.meta.metrics["shake"]["frames"] == 2
    assert loaded.meta.recipe["seq_len"] == 2 and "synthesis" in loaded.meta.recipe
    engine = build_engine(result.export_path, device="cpu")
    assert engine.step(torch.rand(3, 16, 16)).shape == (3, 16, 16)
    # The training checkpoint itself is also a loadable weights file.
    assert load_weights(run / CHECKPOINT).meta.channel_order == "RGB"

    with pytest.raises(OutputError):
        Trainer(tiny_config(photo_dir, run))
    with pytest.raises(InputError):
        Trainer(tiny_config(photo_dir, tmp_path / "empty"), resume=True)


def test_interrupted_run_resumes_to_the_same_weights(photo_dir, tmp_path):
    straight = train(tiny_config(photo_dir, tmp_path / "a", val_clips=0), log=lambda _: None)

    def stop_at_four(line: str) -> None:
        if line.startswith("step      4/"):
            raise KeyboardInterrupt

    with pytest.raises(Interrupted):
        train(tiny_config(photo_dir, tmp_path / "b", val_clips=0), log=stop_at_four)
    ckpt = torch.load(tmp_path / "b" / CHECKPOINT, weights_only=True)
    assert ckpt["step"] == 4 and ckpt["next_clip"] == 2
    resumed = train(tiny_config(photo_dir, tmp_path / "b", val_clips=0), resume=True, log=lambda _: None)
    assert resumed.step == 6
    a = load_weights(straight.export_path).state_dict
    b = load_weights(resumed.export_path).state_dict
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_worker_processes_render_the_same_clips_as_in_line(photo_dir, tmp_path):
    """Rendering in DataLoader workers is a speed choice only: same clips, same order, same weights."""
    in_line = train(tiny_config(photo_dir, tmp_path / "a", steps=4, val_clips=0), log=lambda _: None)
    workers = train(tiny_config(photo_dir, tmp_path / "b", steps=4, val_clips=0, workers=2), log=lambda _: None)
    a = load_weights(in_line.export_path).state_dict
    b = load_weights(workers.export_path).state_dict
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_time_limit_stops_the_run_and_the_schedule_follows_the_clock(photo_dir, tmp_path):
    cfg = TrainConfig(images="x", run_dir="y", steps=10**6, lr=1e-3, min_lr=1e-6, warmup=10, time_limit=100.0)
    assert lr_at(50, cfg, seconds=50.0) == pytest.approx((1e-3 + 1e-6) / 2, rel=1e-2)
    assert lr_at(60, cfg, seconds=100.0) == pytest.approx(1e-6)

    result = train(tiny_config(photo_dir, tmp_path / "t", steps=10**6, val_clips=0, time_limit=1e-3),
                   log=lambda _: None)
    assert result.step < 10**6
    ckpt = torch.load(tmp_path / "t" / CHECKPOINT, weights_only=True)
    assert ckpt["seconds"] >= 1e-3  # the clock ran out
    assert load_weights(result.export_path).meta.recipe["train_seconds"] >= 0


def test_fine_tuning_keeps_the_channel_order_of_the_start_weights(photo_dir, tmp_path):
    from deblur_cli.models.weights import save_weights

    start = tmp_path / "bgr.safetensors"
    model = STFAN()
    start_as_identity(model)
    save_weights(model.state_dict(), start, {"name": "bgr-start", "channel_order": "BGR"}, half=False)
    result = train(tiny_config(photo_dir, tmp_path / "ft", steps=2, val_clips=0, init_weights=str(start)),
                   log=lambda _: None)
    meta = load_weights(result.export_path).meta
    assert meta.channel_order == "BGR" and "bgr-start" in meta.recipe["init"]


# ----------------------------------------------------------------------------- commands


def test_train_and_synth_commands(photo_dir, tmp_path):
    from deblur_cli.cli.train_cmds import synth_command, train_command

    runner = CliRunner()
    out = runner.invoke(train_command, ["--images", str(photo_dir), "--run-dir", str(tmp_path / "run"),
                                        "--steps", "2", "--seq-len", "2", "--size", "16x16", "--batch", "1",
                                        "--val-clips", "0", "--device", "cpu"])
    assert out.exit_code == 0, out.output
    assert "done: 2 steps" in out.output and (tmp_path / "run" / "stfan_synth.safetensors").is_file()

    bad = runner.invoke(train_command, ["--images", str(photo_dir), "--run-dir", str(tmp_path / "r2"),
                                        "--size", "15x16"])
    assert bad.exit_code != 0 and isinstance(bad.exception, InputError)

    out = runner.invoke(synth_command, [str(tmp_path / "seqs"), "--images", str(photo_dir), "--count", "2",
                                        "--seq-len", "2", "--size", "32x24"])
    assert out.exit_code == 0, out.output
    assert sorted(p.name for p in (tmp_path / "seqs").iterdir()) == ["shake_00000", "shake_00001"]
    assert len(list((tmp_path / "seqs" / "shake_00001" / "GT").iterdir())) == 2
