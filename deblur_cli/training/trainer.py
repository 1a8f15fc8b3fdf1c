"""Train STFAN on synthetic blurry clips, resumably, and export weights with their own record.

A run lives in one folder: ``config.json``, ``log.jsonl`` (one JSON object per
log or validation line), ``checkpoint.pt`` (model, optimiser, step, next clip,
clock, RNG state, config, the start weights' card; written atomically) and, at
the end, the exported weights. Clip ``i`` of the training stream is a pure
function of (seed, i), so a resumed run sees exactly the clips the
uninterrupted run would have seen, and its optimiser state is carried.

From scratch the network starts as the identity (:func:`.setup.start_as_identity`);
from weights (``init_weights``) it continues them at a fine-tuning rate after a
warm-up that re-warms Adam, and the exported card adds this session to theirs.
The loop never waits for the device: figures are read once per ``log_every``.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import torch

from ..errors import Interrupted, OutputError
from ..evaluation.evaluate import VALIDATION_SEED, evaluate_clips
from ..inference.engine import RecurrentEngine
from ..io.atomic import write_atomic
from ..models import STFAN
from ..synth import get_profile
from .card import build_card, read_card
from .checkpoint import CHECKPOINT, load_checkpoint, restore_rng, rng_state, save_atomic
from .config import TrainConfig, TrainResult
from .data import ClipStream, load_training_data
from .losses import DeblurLoss, LossWeights
from .schedule import lr_at, warmup_steps
from .setup import (
    device_name,
    prepare_for_training,
    resolve_amp,
    start_as_identity,
    uses_channels_last,
)
from .step import StepRunner, make_optimizer, zero_totals
from .throughput import Meter, peak_memory_mib, train_step_flops

CONFIG = "config.json"
LOG = "log.jsonl"
DEFAULT_EXPORT = "stfan_synth.safetensors"
MAX_BAD_STEPS = 20  # consecutive non-finite steps before giving up
LOSS_TERMS = ("loss", "input_loss", "charbonnier", "gradient", "frequency")


class Trainer:
    """One training run in ``cfg.run_dir``; ``resume=True`` continues its checkpoint."""

    def __init__(self, cfg: TrainConfig, *, resume: bool = False, log: Callable[[str], None] = print) -> None:
        from ..inference.devices import resolve_device

        self.run_dir, self.log = Path(cfg.run_dir), log
        saved = None
        if resume:
            saved = load_checkpoint(self.run_dir)
            # The run's recipe is the saved one; only the length (and where to run) may change.
            cfg = TrainConfig.from_dict({**saved["config"], "steps": max(cfg.steps, saved["step"]),
                                         "device": cfg.device, "run_dir": cfg.run_dir})
        elif (self.run_dir / CHECKPOINT).exists():
            raise OutputError(f"{self.run_dir} already holds a run: use --resume, or another --run-dir")
        self.cfg = cfg
        self.device = resolve_device(cfg.device)
        self.amp_dtype = resolve_amp(cfg.amp, self.device)
        torch.manual_seed(cfg.seed)
        self.model = STFAN().to(self.device)
        self.channel_order, self.init_source, self.previous_card = "RGB", "scratch (identity start)", {}
        if saved is None:
            self._initialise_weights()
        else:
            self.model.load_state_dict(saved["model"])
            meta = saved["meta"]
            self.channel_order, self.init_source = meta["channel_order"], meta.get("init", self.init_source)
            self.previous_card = json.loads(meta.get("previous_card", "{}"))
        self.forward = prepare_for_training(self.model, self.device, cfg.fac, cfg.compile, cfg.channels_last)
        self.model.train()
        self.optimizer = make_optimizer(self.model, cfg.peak_lr, cfg.weight_decay)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.runner = StepRunner(self.model, self.forward, self.optimizer, self.scaler,
                                 DeblurLoss(LossWeights(**cfg.loss)), self.device, self.amp_dtype, cfg.grad_clip,
                                 self.channel_order)
        self.step, self.next_clip, self.seconds_before, self.warmup_seconds = 0, 0, 0.0, None
        self.validation: dict[str, dict[str, float]] = {}
        self.throughput: dict[str, float] = {}
        self._started: float | None = None
        if saved is not None:
            self.optimizer.load_state_dict(saved["optimizer"])
            if saved.get("scaler"):
                self.scaler.load_state_dict(saved["scaler"])
            self.step, self.next_clip = int(saved["step"]), int(saved["next_clip"])
            self.validation = saved.get("validation", {})
            self.seconds_before = float(saved.get("seconds", 0.0))
            self.warmup_seconds = saved.get("warmup_seconds")
            restore_rng(saved["rng"], self.device)
        self.data = load_training_data(cfg, self.device)

    def _initialise_weights(self) -> None:
        if self.cfg.init_weights is None:
            start_as_identity(self.model)
            return
        from ..models.choice import load_weights
        from ..models.weights import load_into

        loaded = load_weights(self.cfg.init_weights)
        load_into(self.model, loaded)
        # Fine-tuning keeps the order the weights were trained in (BGR for the authors' file).
        self.channel_order = loaded.meta.channel_order
        self.init_source = f"{loaded.meta.name} ({Path(self.cfg.init_weights).name}, sha256 {loaded.meta.sha256[:12]})"
        self.previous_card = read_card(self.cfg.init_weights)

    # ------------------------------------------------------------------ the loop

    def _seconds(self) -> float:
        """Training time of the whole run so far, earlier sessions of this run included."""
        now = 0.0 if self._started is None else time.perf_counter() - self._started
        return self.seconds_before + now

    def _out_of_time(self) -> bool:
        return self.cfg.time_limit is not None and self._seconds() >= self.cfg.time_limit

    def _rates(self, count: int) -> list[float]:
        """The learning rates of the next ``count`` steps (the clock read once per batch of clips)."""
        seconds = self._seconds()
        if self.warmup_seconds is None and self.step >= warmup_steps(self.cfg):
            self.warmup_seconds = seconds
        return [lr_at(self.step + t, self.cfg, seconds, self.warmup_seconds) for t in range(count)]

    def _report(self, totals: dict[str, torch.Tensor], meter: Meter) -> float:
        """Read the interval's sums (the loop's one wait for the device), log them; returns the mean loss."""
        host = dict(zip(totals, torch.stack(list(totals.values())).tolist()))  # one transfer per log line
        if host["max_streak"] >= MAX_BAD_STEPS:
            raise RuntimeError(f"training diverged: {int(host['max_streak'])} non-finite steps in a row "
                               f"before step {self.step}")
        count = max(host["count"], 1.0)
        means = {name: host[name] / count for name in LOSS_TERMS}
        speed = meter.take()
        self.throughput = speed
        lr = self.optimizer.param_groups[0]["lr"]
        self._record({"kind": "train", "step": self.step, **means, "lr": lr, "skipped": int(host["skipped"]),
                      "clips": self.next_clip, **speed})
        self.log(f"step {self.step:>6}/{self.cfg.steps}  loss {means['loss']:.4f} "
                 f"(input {means['input_loss']:.4f}, ratio {means['loss'] / max(means['input_loss'], 1e-12):.3f})  "
                 f"lr {lr:.2e}  {speed['frames_per_s']:.1f} frames/s, {speed['mpixel_per_s']:.2f} Mpx/s, "
                 f"{speed['tflop_per_s']:.2f} TFLOP/s, data {100 * speed['data_wait_share']:.0f}%")
        return means["loss"]

    def run(self, export_path: str | Path | None = None) -> TrainResult:
        cfg = self.cfg
        self.run_dir.mkdir(parents=True, exist_ok=True)
        write_atomic(self.run_dir / CONFIG, json.dumps(cfg.to_dict(), indent=2, sort_keys=True) + "\n")
        flops = train_step_flops(self.model, cfg.size, self.device)
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)  # the peak of training, not of the FLOP probe
        self._record({"kind": "start", "step": self.step, "device": str(self.device), "amp": str(self.amp_dtype),
                      "train_images": len(self.data.train_names), "val_images": self.data.val_names,
                      "init": self.init_source, "peak_lr": cfg.peak_lr, "flops_per_frame_step": flops})
        self.log(f"training on {self.device} ({'fp32' if self.amp_dtype is None else self.amp_dtype}), "
                 f"{len(self.data.train_names)} train / {len(self.data.val_names)} validation photos, "
                 f"step {self.step} -> {cfg.steps}, peak lr {cfg.peak_lr:.2e}, from {self.init_source}, "
                 f"{flops / 1e9:.1f} GFLOP per frame step, run folder {self.run_dir}")
        if self.step == 0 and not self.validation:
            self.validate()

        totals, meter = zero_totals(self.device), Meter(cfg.size[0] * cfg.size[1], flops)
        first_loss = last_loss = None
        stream = ClipStream(self.data.train, cfg.batch, self.next_clip, self.device, cfg.workers)
        self._started = time.perf_counter()
        try:
            while self.step < cfg.steps and not self._out_of_time():
                before, waited = self.step, stream.wait_seconds
                blurry, sharp = next(stream)
                self.next_clip = stream.next_clip
                count = min(cfg.seq_len, cfg.steps - self.step)
                self.runner.run(blurry, sharp, count, self._rates(count), totals)
                self.step += count
                meter.add(count * cfg.batch, stream.wait_seconds - waited)
                if _crossed(before, self.step, cfg.log_every) or self.step >= cfg.steps or self._out_of_time():
                    last_loss = self._report(totals, meter)
                    first_loss = last_loss if first_loss is None else first_loss
                    totals = zero_totals(self.device)
                if _crossed(before, self.step, cfg.val_every) and self.step < cfg.steps:
                    self.validate()
                if _crossed(before, self.step, cfg.ckpt_every):
                    self.save_checkpoint()
        except KeyboardInterrupt:
            self.save_checkpoint()
            raise Interrupted(f"training stopped at step {self.step}; checkpoint saved, "
                              "continue with --resume") from None
        finally:
            stream.close()
        self.throughput["peak_memory_mib"] = peak_memory_mib(self.device)
        self.validate()
        self.save_checkpoint()
        path = self.export(export_path)
        return TrainResult(self.step, path, self.validation, first_loss, last_loss, dict(self.throughput))

    # ------------------------------------------------------------------ validation, saving

    def validate(self) -> dict[str, dict[str, float]]:
        """PSNR/SSIM on the fixed synthetic validation clips, through the product's engine."""
        if not self.data.val_sets:
            return {}
        engine = RecurrentEngine(self.model, channel_order=self.channel_order, device=self.device)
        try:
            results = {profile: evaluate_clips(engine, clips).overall()
                       for profile, clips in self.data.val_sets.items()}
        finally:
            self.model.train()
        self.validation = results
        self._record({"kind": "val", "step": self.step, **results})
        self.log(f"validation @ {self.step}: " + "; ".join(
            f"{p} {r['psnr']:.2f} dB (input {r['input_psnr']:.2f}, {r['gain_db']:+.2f}) SSIM {r['ssim']:.4f}"
            for p, r in results.items()))
        return results

    def save_checkpoint(self) -> Path:
        path = self.run_dir / CHECKPOINT
        save_atomic({
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else {},
            "step": self.step, "next_clip": self.next_clip, "config": self.cfg.to_dict(),
            "meta": {"channel_order": self.channel_order, "source": "stfan-deblur", "init": self.init_source,
                     "previous_card": json.dumps(self.previous_card)},
            "validation": self.validation, "seconds": self._seconds(), "warmup_seconds": self.warmup_seconds,
            "rng": rng_state(self.device),
        }, path)
        return path

    def export(self, path: str | Path | None = None) -> Path:
        """The shareable weights file (fp16 safetensors) with its card: recipe, data, figures, history."""
        from ..models.weights import save_weights

        path = Path(path) if path else self.run_dir / DEFAULT_EXPORT
        if path.suffix != ".safetensors":
            raise OutputError(f"export path must end in .safetensors: {path}")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            sha = save_weights(self.model.state_dict(), path, self.card(path.stem))
        except OSError as exc:
            raise OutputError(f"cannot write weights to {path}: {exc}") from None
        self._record({"kind": "export", "step": self.step, "path": str(path), "sha256": sha})
        self.log(f"exported weights to {path} (sha256 {sha[:12]})")
        return path

    def card(self, name: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """This run's weights card (see :mod:`.card`); ``extra`` adds to this session's record."""
        cfg = self.cfg
        recipe = {
            "trainer": "stfan-deblur train", "init": self.init_source,
            "loss": {"terms": "charbonnier + gradient + frequency", **cfg.loss},
            "optimizer": {"name": "AdamW (fused)", "lr": cfg.peak_lr, "min_lr": cfg.min_lr, "warmup": cfg.warmup,
                          "schedule": "linear warm-up, cosine decay (on the clock with a time limit)",
                          "weight_decay": cfg.weight_decay, "grad_clip": cfg.grad_clip},
            "recurrence": "one step per frame, state detached between frames",
            "seq_len": cfg.seq_len, "crop": list(cfg.size), "batch": cfg.batch, "seed": cfg.seed,
            "photo_max_side": cfg.max_side, "train_seconds": round(self._seconds(), 1),
            "device": device_name(self.device),
            "amp": str(self.amp_dtype) if self.amp_dtype else "fp32", "fac": cfg.fac, "compile": cfg.compile,
            "channels_last": uses_channels_last(self.model),
            "render": f"{cfg.workers} CPU workers" if cfg.workers else "on the training device",
            "synthesis": {"profile": cfg.profile, **get_profile(cfg.profile).to_dict()},
        }
        data = {"images": Path(cfg.images).name, "train_images": len(self.data.train_names),
                "validation_images": self.data.val_names, "clips_seen": self.next_clip,
                "validation": {"profiles": list(self.data.val_sets), "clips": cfg.val_clips, "frames": cfg.val_len,
                               "size": list(cfg.val_size), "seed": VALIDATION_SEED}}
        session = {"name": name, "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
                   "device": device_name(self.device), "seconds": round(self._seconds(), 1), "steps": self.step,
                   "init": self.init_source, "recipe": {k: v for k, v in recipe.items() if k != "synthesis"},
                   "data": {k: v for k, v in data.items() if k != "validation"}, "validation": self.validation,
                   "throughput": {k: round(v, 3) for k, v in self.throughput.items()}, **(extra or {})}
        return build_card(name=name, channel_order=self.channel_order, init=self.init_source,
                          previous=self.previous_card, session=session, recipe=recipe, data=data,
                          metrics=self.validation)

    def _record(self, entry: dict[str, Any]) -> None:
        entry = {"time": time.time(), **entry}
        with open(self.run_dir / LOG, "a") as fh:
            fh.write(json.dumps(entry, sort_keys=True, default=str) + "\n")


def _crossed(before: int, after: int, every: int) -> bool:
    """Did the step counter pass a multiple of ``every`` between ``before`` and ``after``?"""
    return every > 0 and after // every > before // every


def train(cfg: TrainConfig, *, resume: bool = False, export_path: str | Path | None = None,
          log: Callable[[str], None] = print) -> TrainResult:
    """Run (or continue) a training run and export its weights."""
    return Trainer(cfg, resume=resume, log=log).run(export_path)
