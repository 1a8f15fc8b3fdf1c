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
from deblur_cli.models.choice import load_weights
from deblur_cli.training import (
    DeblurLoss,
    TrainConfig,
    Trainer,
    fine_tune_lr,
    start_as_identity,
    train,
)
from deblur_cli.training.card import newest_weights, read_card
from deblur_cli.training.checkpoint import CHECKPOINT
from deblur_cli.training.losses import (
    EPS,
    charbonnier,
    frequency_charbonnier,
    gradient_charbonnier,
)
from deblur_cli.training.schedule import lr_at
from deblur_cli.training.step import StepRunner, make_optimizer, zero_totals

REPO = Path(__file__).resolve().parents[1]


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
    assert lr_at(0, cfg) == pytest.approx(1e-5)  # step 0: lr / warmup
    assert lr_at(99, cfg) == pytest.approx(1e-3)  # the last warm-up step reaches the peak ...
    assert lr_at(100, cfg) == pytest.approx(1e-3)  # ... and decay starts there, without a jump
    assert lr_at(550, cfg) == pytest.approx((1e-3 + 1e-6) / 2, rel=1e-3)
    assert lr_at(1000, cfg) == pytest.approx(1e-6)


def test_schedule_on_the_clock_starts_decaying_when_warm_up_ends():
    cfg = TrainConfig(images="x", run_dir="y", steps=10**6, lr=2e-4, min_lr=1e-6, warmup=50, time_limit=100.0)
    assert lr_at(0, cfg, seconds=0.0) == pytest.approx(2e-4 / 50)
    assert lr_at(49, cfg, seconds=9.0) == pytest.approx(2e-4)
    # Warm-up took 10 s: the decay runs over the remaining 90 s, from the peak.
    assert lr_at(50, cfg, seconds=10.0, warmup_seconds=10.0) == pytest.approx(2e-4)
    assert lr_at(80, cfg, seconds=55.0, warmup_seconds=10.0) == pytest.approx((2e-4 + 1e-6) / 2, rel=1e-3)
    assert lr_at(90, cfg, seconds=100.0, warmup_seconds=10.0) == pytest.approx(1e-6)
    assert lr_at(91, cfg, seconds=130.0, warmup_seconds=10.0) == pytest.approx(1e-6)


def test_fine_tuning_rate_scales_with_the_batch_within_its_range():
    assert fine_tune_lr(1) == pytest.approx(1e-4) and fine_tune_lr(16) == pytest.approx(1e-4)
    assert fine_tune_lr(32) == pytest.approx(1e-4 * 2**0.5) and fine_tune_lr(64) == pytest.approx(2e-4)
    assert fine_tune_lr(256) == pytest.approx(2e-4)
    assert TrainConfig(images="x", run_dir="y", batch=32).peak_lr == pytest.approx(2e-4)  # from scratch
    tuned = TrainConfig(images="x", run_dir="y", batch=32, init_weights="w.safetensors")
    assert tuned.peak_lr == pytest.approx(fine_tune_lr(32))
    assert TrainConfig(images="x", run_dir="y", lr=3e-5, init_weights="w").peak_lr == 3e-5


def test_config_rejects_bad_sizes():
    with pytest.raises(InputError):
        TrainConfig(images="x", run_dir="y", size=(30, 32))
    with pytest.raises(InputError):
        TrainConfig(images="x", run_dir="y", profile="nope")
    with pytest.raises(InputError):
        TrainConfig(images="x", run_dir="y", compile="fast")


def test_identity_start_returns_the_input():
    model = STFAN()
    start_as_identity(model)
    frames = torch.rand(2, 1, 3, 16, 20)
    state = None
    for frame in frames:
        out, state = model(frame, state)
        assert torch.equal(out, frame)


def fixed_clips() -> tuple[torch.Tensor, torch.Tensor]:
    """One clip of two 16x16 frames: flat 4x4 blocks (edges to restore), box-blurred."""
    g = torch.Generator().manual_seed(0)
    sharp = torch.rand(1, 2, 3, 4, 4, generator=g).repeat_interleave(4, -1).repeat_interleave(4, -2)
    blurry = torch.nn.functional.avg_pool2d(sharp.flatten(0, 1), 5, stride=1, padding=2,
                                            count_include_pad=False).view_as(sharp)
    return blurry, sharp


def identity_runner(lr: float = 7e-4) -> StepRunner:
    torch.manual_seed(0)
    model = STFAN()
    start_as_identity(model)
    return StepRunner(model, model, make_optimizer(model, lr, 0.0), torch.amp.GradScaler("cuda", enabled=False),
                      DeblurLoss(), torch.device("cpu"), None, grad_clip=1.0)


def test_recurrent_training_reduces_the_loss_on_a_fixed_batch():
    """The trainer's own step (fused AdamW, device-side sums, detached state) overfits one batch of clips.

    From the identity start (zero residual, identity FAC filters) the network must
    learn at once: with the filters at their random init it did not move here at all.
    """
    runner = identity_runner()
    blurry, sharp = fixed_clips()
    first = zero_totals(runner.device)
    runner.run(blurry, sharp, 2, [7e-4] * 2, first)
    assert float(first["count"]) == 2 and float(first["skipped"]) == 0
    # The identity start scores what the blurry input scores.
    assert float(first["loss"]) == pytest.approx(float(first["input_loss"]), rel=0.01)
    for _ in range(22):
        runner.run(blurry, sharp, 2, [7e-4] * 2, zero_totals(runner.device))
    last = zero_totals(runner.device)
    runner.run(blurry, sharp, 2, [7e-4] * 2, last)
    assert float(last["loss"]) < 0.92 * float(first["loss"])


def test_a_non_finite_step_is_skipped_on_the_device():
    runner = identity_runner()
    blurry, sharp = fixed_clips()
    before = {k: v.clone() for k, v in runner.model.state_dict().items()}
    poisoned = blurry.clone()
    poisoned[:, 0, 0, 0, 0] = float("nan")
    totals = zero_totals(runner.device)
    runner.run(poisoned, sharp, 1, [1e-3], totals)
    assert float(totals["skipped"]) == 1 and float(totals["count"]) == 0 and float(totals["max_streak"]) == 1
    assert float(totals["loss"]) == 0.0  # a skipped step adds nothing to the logged loss
    after = runner.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    runner.run(blurry, sharp, 1, [1e-3], totals)
    assert float(totals["count"]) == 1 and float(totals["streak"]) == 0
    assert any(not torch.equal(before[k], runner.model.state_dict()[k]) for k in before)


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
    assert loaded.meta.recipe["totals"] == {"sessions": 1, "steps": 6, "train_seconds": pytest.approx(
        loaded.meta.recipe["train_seconds"], abs=0.11), "gpu_seconds": 0.0}  # a CPU session is no GPU time
    assert [s["steps"] for s in loaded.meta.recipe["history"]] == [6]
    speed = result.throughput
    assert speed["frames_per_s"] > 0 and speed["tflop_per_s"] > 0 and 0 <= speed["data_wait_share"] <= 1
    assert speed["mpixel_per_s"] == pytest.approx(speed["frames_per_s"] * 256 / 1e6)
    assert speed["peak_memory_mib"] > 10
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
    assert all(int(state["step"]) == 4 for state in ckpt["optimizer"]["state"].values())  # Adam's state is carried
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
    result = train(tiny_config(photo_dir, tmp_path / "t", steps=10**6, val_clips=0, time_limit=1e-3),
                   log=lambda _: None)
    assert result.step < 10**6
    ckpt = torch.load(tmp_path / "t" / CHECKPOINT, weights_only=True)
    assert ckpt["seconds"] >= 1e-3  # the clock ran out
    assert load_weights(result.export_path).meta.recipe["train_seconds"] >= 0


def test_continuing_weights_accumulates_their_card(photo_dir, tmp_path):
    """From the shipped v0 (whose card predates the history) twice: sessions, steps and GPU seconds add up."""
    v0 = REPO / "weights" / "stfan_synth_v0.safetensors"
    first = train(tiny_config(photo_dir, tmp_path / "a", steps=2, val_clips=0, init_weights=str(v0)),
                  export_path=tmp_path / "next_v1.safetensors", log=lambda _: None)
    card = read_card(first.export_path)
    history, totals = card["recipe"]["history"], card["recipe"]["totals"]
    assert [h["steps"] for h in history] == [11632, 2] and history[0]["device"] == "NVIDIA H100 80GB HBM3"
    assert totals["sessions"] == 2 and totals["steps"] == 11634 == card["total_steps"]
    assert totals["gpu_seconds"] == pytest.approx(401.1) and totals["train_seconds"] > 401.1
    assert "stfan_synth_v0" in card["init"] and card["recipe"]["optimizer"]["lr"] == pytest.approx(fine_tune_lr(1))
    second = train(tiny_config(photo_dir, tmp_path / "b", steps=2, val_clips=0, init_weights=str(first.export_path)),
                   export_path=tmp_path / "next_v2.safetensors", log=lambda _: None)
    again = read_card(second.export_path)["recipe"]
    assert again["totals"]["sessions"] == 3 and again["totals"]["steps"] == 11636
    assert [h["name"] for h in again["history"]][1:] == ["next_v1", "next_v2"]
    # The most trained file of a folder is the one to continue.
    assert newest_weights(tmp_path) == tmp_path / "next_v2.safetensors"
    assert newest_weights(REPO / "weights") == v0


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


def test_bench_train_runs_on_the_cpu_at_a_tiny_size(tmp_path):
    """benchmarks/bench_train.py, as CI runs it: every figure present and sane."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_train", REPO / "benchmarks" / "bench_train.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "bench.json"
    [row] = bench.main(["--device", "cpu", "--size", "16x16", "--batch", "1", "--seq-len", "2", "--batches", "1",
                        "--warmup", "1", "--json", str(out)])
    assert json.loads(out.read_text())["results"][0]["frames_per_s"] == row["frames_per_s"] > 0
    assert row["gflop_per_frame_step"] == pytest.approx(209.0 / 256, rel=0.01)  # 209 GFLOP at 256x256
    assert row["tflop_per_s"] == pytest.approx(row["frames_per_s"] * row["gflop_per_frame_step"] / 1e3)
    assert 0 <= row["data_wait_share"] <= 1 and 0 <= row["host_wait_share"] <= 1
    assert row["render_s_per_batch"] > 0 and row["peak_memory_mib"] > 10 and row["loss_finite"]


def test_shipping_rule():
    from deblur_cli.training.shipping import judge

    def figures(shake: float, shake_in: float, sharp: float, sharp_in: float) -> dict:
        return {"shake": {"psnr": shake, "input_psnr": shake_in, "gain_db": shake - shake_in},
                "sharp": {"psnr": sharp, "input_psnr": sharp_in, "gain_db": sharp - sharp_in}}

    v0 = figures(34.86, 34.34, 44.44, 53.30)
    better = judge(figures(35.50, 34.34, 44.20, 53.30), v0)  # +0.64 on shake, -0.24 on sharp
    assert better.ships and not better.default and better.figures["blurry_vs_previous_db"] == pytest.approx(0.64)
    assert not judge(figures(35.50, 34.34, 44.10, 53.30), v0).ships  # -0.34 dB on sharp: too much
    assert not judge(figures(34.80, 34.34, 50.00, 53.30), v0).ships  # not better on shake
    best = judge(figures(37.40, 34.34, 53.10, 53.30), v0)  # +3.06 dB gain, -0.2 dB on sharp
    assert best.ships and best.default and best.summary().startswith("SHIP as the default")
    assert not judge(figures(37.40, 34.34, 52.90, 53.30), v0).default  # sharp loses 0.4 dB against its input
    assert judge(figures(34.0, 34.34, 53.0, 53.30), None).ships  # nothing to beat


def test_the_triton_fac_trains_like_the_reference():
    """The CUDA recipe's fast path (Triton FAC forward and backward, the fused epilogue's fallback under autograd;
    interpreted on the CPU) takes the reference's step."""
    pytest.importorskip("triton")
    from deblur_cli.training.setup import prepare_for_training

    blurry, sharp = fixed_clips()
    states = []
    for fac in ("reference", "triton"):
        runner = identity_runner()
        runner.forward = prepare_for_training(runner.model, torch.device("cpu"), fac)
        totals = zero_totals(runner.device)
        runner.run(blurry, sharp, 2, [7e-4] * 2, totals)
        assert float(totals["count"]) == 2
        states.append(runner.model.state_dict())
    for key, value in states[0].items():
        assert torch.allclose(states[1][key], value, rtol=1e-4, atol=1e-6), key


def test_channels_last_training_takes_the_same_step():
    """NHWC end to end (the CUDA layout; fused AdamW on NHWC parameters) trains like NCHW."""
    from deblur_cli.training.setup import prepare_for_training, uses_channels_last

    blurry, sharp = fixed_clips()
    states = []
    for layout in (False, True):
        runner = identity_runner()
        runner.forward = prepare_for_training(runner.model, torch.device("cpu"), "reference", channels_last=layout)
        assert uses_channels_last(runner.model) == layout
        runner.run(blurry, sharp, 2, [7e-4] * 2, zero_totals(runner.device))
        states.append(runner.model.state_dict())
    for key, value in states[0].items():
        assert torch.allclose(states[1][key], value, rtol=1e-4, atol=1e-6), key


def test_gpu_session_continues_scores_and_judges_on_the_cpu(photo_dir, tmp_path):
    """The prepared GPU call's logic end to end, tiny: continue v0, train on the clock, score both, judge."""
    import sys

    from deblur_cli.training import session

    out = tmp_path / "out"
    blocked = sys.modules.get("av", "absent")
    sys.modules["av"] = None  # the training path must not need PyAV
    try:
        assert session.main(["--out", str(out), "--images", str(photo_dir), "--seconds", "1", "--size", "16x16",
                             "--batch", "1", "--seq-len", "2", "--warmup", "1", "--eval-clips", "1",
                             "--eval-frames", "1", "--device", "cpu"]) == 0
    finally:
        if blocked == "absent":
            del sys.modules["av"]
        else:
            sys.modules["av"] = blocked
    report = json.loads((out / "eval.json").read_text())
    assert report["previous"]["file"] == "stfan_synth_v0.safetensors" and report["totals"]["sessions"] == 2
    verdict = report["verdict"]
    assert set(verdict) == {"ships", "default", "reasons", "figures"} and not verdict["default"]
    [weights] = list(out.glob("*.safetensors"))  # the candidate is replaced by the named file
    assert weights.name == "stfan_synth_s2.safetensors" == report["new"]["file"]
    card = read_card(weights)
    assert card["verdict"] == verdict and card["metrics"]["shake"] == report["new"]["shake"]["overall"]
    assert [h["name"] for h in card["recipe"]["history"]] == ["stfan_synth_v0", "stfan_synth_s2"]
    assert (out / "train_log.jsonl").is_file() and weights.stat().st_size < 16 * 2**20
