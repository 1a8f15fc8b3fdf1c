"""Train STFAN on synthetic blurry clips, resumably, and export weights with their own record.

The recurrence is trained as in the paper: every frame of a clip is one
optimiser step, and the hidden state (previous blurry and restored frames,
features) is carried to the next frame *detached*, so memory does not grow with
the clip and no gradient flows backwards in time.

A run lives in one folder: ``config.json``, ``log.jsonl`` (one JSON object per
log or validation line), ``checkpoint.pt`` (model, optimiser, step, next clip,
RNG state, config; written atomically) and, at the end, the exported weights.
Clip ``i`` of the training stream is a pure function of (seed, i), so a resumed
run sees exactly the clips the uninterrupted run would have seen.

From scratch, the network starts as the identity (see :func:`start_as_identity`):
training starts from "do no harm" instead of from random noise added to every frame.

Clips are rendered in-line on the training device, or, with ``workers``, on the
CPU by DataLoader worker processes while the GPU trains. With ``time_limit`` a
run stops after that many seconds of training, its learning rate having decayed
on the clock.
"""

from __future__ import annotations

import json
import math
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

import torch

from ..errors import InputError, Interrupted, OutputError
from ..evaluation.evaluate import (
    VALIDATION_SEED,
    EvalReport,
    evaluate_clips,
    synthetic_clips,
)
from ..inference.engine import RecurrentEngine
from ..io.atomic import atomic_output, write_atomic
from ..models import STFAN
from ..ops.fac import KERNEL_SIZE
from ..synth import (
    SYNTH_MAX_SIDE,
    SequenceGenerator,
    get_profile,
    list_images,
    load_images,
    split_images,
)
from .losses import DeblurLoss, LossWeights

CHECKPOINT = "checkpoint.pt"
CONFIG = "config.json"
LOG = "log.jsonl"
DEFAULT_EXPORT = "stfan_synth.safetensors"
VALIDATION_PROFILES = ("shake", "sharp")
MAX_BAD_STEPS = 20  # consecutive non-finite losses before giving up


@dataclass
class TrainConfig:
    """Everything that defines a run; saved with every checkpoint and in the exported weights."""

    images: str
    run_dir: str
    steps: int = 20000  # optimiser steps = frames (each batch of clips gives seq_len steps)
    seq_len: int = 4
    size: tuple[int, int] = (128, 128)  # training crop (H, W), divisible by 4
    batch: int = 4
    seed: int = 0
    lr: float = 2e-4
    min_lr: float = 1e-6
    warmup: int = 200
    weight_decay: float = 1e-4
    grad_clip: float = 1.0
    profile: str = "train"
    loss: dict[str, float] = field(default_factory=lambda: asdict(LossWeights()))
    val_every: int = 1000
    val_clips: int = 8
    val_len: int = 6
    val_size: tuple[int, int] = (192, 320)
    ckpt_every: int = 500
    log_every: int = 25
    device: str = "auto"
    amp: str = "auto"  # auto (bf16/fp16 on CUDA, off on CPU), bf16, fp16, off
    init_weights: str | None = None
    max_side: int | None = SYNTH_MAX_SIDE  # long side of the training photos (validation always uses the default)
    workers: int = 0  # processes rendering clips on the CPU while the model trains (0: render in-line on the device)
    time_limit: float | None = None  # seconds of training: stop then, and run the LR schedule on time, not steps

    def __post_init__(self) -> None:
        self.size = (int(self.size[0]), int(self.size[1]))
        self.val_size = (int(self.val_size[0]), int(self.val_size[1]))
        for label, (h, w) in (("size", self.size), ("validation size", self.val_size)):
            if h % 4 or w % 4 or h < 16 or w < 16:
                raise InputError(f"{label} {w}x{h}: width and height must be multiples of 4, at least 16")
        for name in ("steps", "seq_len", "batch"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.workers < 0 or (self.time_limit is not None and self.time_limit <= 0):
            raise InputError("workers must be >= 0 and the time limit > 0")
        if self.amp not in ("auto", "bf16", "fp16", "off"):
            raise InputError(f"amp must be auto, bf16, fp16 or off, got {self.amp!r}")
        get_profile(self.profile)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["size"], data["val_size"] = list(self.size), list(self.val_size)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class TrainResult:
    step: int
    export_path: Path | None
    validation: dict[str, dict[str, float]]
    first_loss: float | None
    last_loss: float | None


IDENTITY_FILTER_WEIGHT_SCALE = 0.1  # how much of the default random init the filter heads' last layer keeps


def start_as_identity(model: STFAN) -> None:
    """Start training from "change nothing" with every path open to gradients.

    Two things, both needed (measured: with only the first, STFAN's loss did not
    move in hundreds of steps while a plain CNN's fell by a quarter):

    - the final convolution is zeroed, so the untrained network returns its
      input (STFAN predicts a residual) instead of adding noise to every frame;
    - both filter heads start near the *identity filter* (centre tap 1, others
      0; a tenth of the random weights kept). A FAC multiplies features by
      filters, so with small random filters both factors start small and the
      decoder sees almost nothing; with identity filters the FACs pass the
      encoder features and the hidden state straight through, and the network
      learns from step one like an ordinary encoder-decoder.
    """
    taps = KERNEL_SIZE * KERNEL_SIZE
    with torch.no_grad():
        final = model.img_prd[0]
        final.weight.zero_()
        final.bias.zero_()
        for head in (model.fac_warp, model.fac_deblur):
            last = head[-1][0]
            last.weight.mul_(IDENTITY_FILTER_WEIGHT_SCALE)
            last.bias.zero_()
            last.bias.view(-1, taps)[:, taps // 2] = 1.0


def lr_at(step: int, cfg: TrainConfig, seconds: float = 0.0) -> float:
    """Linear warm-up, then cosine decay from ``lr`` to ``min_lr`` at ``steps``.

    With a time limit the decay follows whichever ends first, the steps or the
    time (``seconds`` of training so far), so a run bounded by GPU time still
    ends at ``min_lr`` instead of being cut off at a high rate.
    """
    warmup = min(cfg.warmup, max(cfg.steps // 10, 1))
    if step < warmup:
        return cfg.lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, cfg.steps - warmup)
    if cfg.time_limit:
        progress = max(progress, seconds / cfg.time_limit)
    progress = min(1.0, progress)
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1.0 + math.cos(math.pi * progress))


def resolve_amp(mode: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype, or None for plain float32 (always on the CPU)."""
    if device.type != "cuda" or mode == "off":
        return None
    if mode == "fp16":
        return torch.float16
    if mode == "bf16" or torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


def save_atomic(obj: Any, path: Path) -> None:
    """torch.save all-or-nothing: a crash never leaves a torn checkpoint."""
    with atomic_output(path) as temp:
        torch.save(obj, temp)


class Trainer:
    """One training run in ``cfg.run_dir``; ``resume=True`` continues its checkpoint."""

    def __init__(self, cfg: TrainConfig, *, resume: bool = False, log: Callable[[str], None] = print) -> None:
        from ..inference.devices import resolve_device

        self.run_dir = Path(cfg.run_dir)
        self.log = log
        checkpoint = self.run_dir / CHECKPOINT
        saved = None
        if resume:
            if not checkpoint.is_file():
                raise InputError(f"nothing to resume: no {CHECKPOINT} in {self.run_dir}")
            saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
            # The run's recipe is the saved one; only the length (and where to run) may change.
            cfg = TrainConfig.from_dict({**saved["config"], "steps": max(cfg.steps, saved["step"]),
                                         "device": cfg.device, "run_dir": cfg.run_dir})
        elif checkpoint.exists():
            raise OutputError(f"{self.run_dir} already holds a run: use --resume, or another --run-dir")
        self.cfg = cfg
        self.device = resolve_device(cfg.device)
        self.amp_dtype = resolve_amp(cfg.amp, self.device)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # one crop size all run long: pick the fastest kernels once

        torch.manual_seed(cfg.seed)
        self.model = STFAN().to(self.device)
        self.channel_order = "RGB"
        self.init_source = "scratch (identity start)"
        if saved is None:
            self._initialise_weights()
        else:
            self.model.load_state_dict(saved["model"])
            self.channel_order = saved["meta"]["channel_order"]
            self.init_source = saved["meta"].get("init", self.init_source)
        self.model.train()
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.criterion = DeblurLoss(LossWeights(**cfg.loss))
        self.step = 0
        self.next_clip = 0
        self.seconds_before = 0.0  # training time of earlier sessions of this run
        self._started: float | None = None
        self.validation: dict[str, dict[str, float]] = {}
        if saved is not None:
            self.optimizer.load_state_dict(saved["optimizer"])
            if saved.get("scaler"):
                self.scaler.load_state_dict(saved["scaler"])
            self.step, self.next_clip = int(saved["step"]), int(saved["next_clip"])
            self.validation = saved.get("validation", {})
            self.seconds_before = float(saved.get("seconds", 0.0))
            torch.set_rng_state(saved["rng"]["torch"])
            if self.device.type == "cuda" and saved["rng"].get("cuda") is not None:
                torch.cuda.set_rng_state(saved["rng"]["cuda"], self.device)

        self._load_data()

    # ------------------------------------------------------------------ setup

    def _initialise_weights(self) -> None:
        if self.cfg.init_weights is None:
            start_as_identity(self.model)
            return
        from ..models.weights import load_into, load_weights

        loaded = load_weights(self.cfg.init_weights)
        load_into(self.model, loaded)
        # Fine-tuning keeps the order the weights were trained in (BGR for the authors' file).
        self.channel_order = loaded.meta.channel_order
        self.init_source = f"{loaded.meta.name} ({Path(self.cfg.init_weights).name}, sha256 {loaded.meta.sha256[:12]})"

    def _load_data(self) -> None:
        cfg = self.cfg
        train_paths, val_paths = split_images(list_images(cfg.images))
        if not train_paths:
            raise InputError(f"{cfg.images}: no images left for training after the validation split")
        self.train_names = [p.name for p in train_paths]
        self.val_names = [p.name for p in val_paths]
        # With workers, clips are rendered on the CPU in other processes while the GPU trains.
        render_on = "cpu" if cfg.workers else self.device
        self.train_clips = SequenceGenerator(load_images(train_paths, render_on, cfg.max_side), cfg.seq_len,
                                             cfg.size, seed=cfg.seed, profile=cfg.profile)
        self.val_sets: dict[str, list] = {}
        if val_paths and cfg.val_clips > 0:
            val_images = load_images(val_paths, self.device)  # the photo scale of `eval --synthetic`
            for profile in VALIDATION_PROFILES:
                self.val_sets[profile] = synthetic_clips(val_images, profile, count=cfg.val_clips,
                                                         seq_len=cfg.val_len, size=cfg.val_size,
                                                         seed=VALIDATION_SEED)

    # ------------------------------------------------------------------ the loop

    def _seconds(self) -> float:
        """Training time of the whole run so far, earlier sessions included."""
        now = 0.0 if self._started is None else time.perf_counter() - self._started
        return self.seconds_before + now

    def _out_of_time(self) -> bool:
        return self.cfg.time_limit is not None and self._seconds() >= self.cfg.time_limit

    def _autocast(self):
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def _orient(self, x: torch.Tensor) -> torch.Tensor:
        """Frames arrive RGB; weights trained BGR (the authors') see BGR."""
        return x.flip(-3) if self.channel_order == "BGR" else x

    def _batches(self):
        """(blurry, sharp) batches of clips next_clip, next_clip + 1, ... on the training device.

        The same clips in the same order whether rendered in-line or by worker
        processes (clip i depends only on (seed, i)), so resuming stays exact.
        """
        cfg = self.cfg
        if not cfg.workers:
            while True:
                yield self.train_clips.batch(self.next_clip, cfg.batch)
        from torch.utils.data import DataLoader

        loader = DataLoader(self.train_clips, batch_size=cfg.batch, sampler=range(self.next_clip, 2**62),
                            num_workers=cfg.workers, pin_memory=self.device.type == "cuda",
                            worker_init_fn=_one_thread, prefetch_factor=4, persistent_workers=False)
        for blurry, sharp in loader:
            yield blurry.to(self.device, non_blocking=True), sharp.to(self.device, non_blocking=True)

    def _train_clip_batch(self, batch, totals: dict[str, torch.Tensor]) -> int:
        """One batch of clips, one optimiser step per frame; returns the steps taken."""
        cfg = self.cfg
        blurry, sharp = self._orient(batch[0]), self._orient(batch[1])
        self.next_clip += cfg.batch
        state = None
        taken = 0
        for t in range(cfg.seq_len):
            if self.step >= cfg.steps:
                break
            for group in self.optimizer.param_groups:
                group["lr"] = lr_at(self.step, cfg, self._seconds())
            with self._autocast():
                restored, state = self.model(blurry[:, t], state)
            loss, terms = self.criterion(restored, sharp[:, t])
            state = state.detach()
            self.optimizer.zero_grad(set_to_none=True)
            if not torch.isfinite(loss):
                self.bad_steps += 1
                if self.bad_steps >= MAX_BAD_STEPS:
                    raise RuntimeError(f"training diverged: {MAX_BAD_STEPS} non-finite losses in a row at step {self.step}")
                self.step += 1
                taken += 1
                continue
            self.bad_steps = 0
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            totals["loss"] += loss.detach()
            with torch.no_grad():  # the same loss for the blurry input itself: what "no change" scores
                totals["input_loss"] += self.criterion(blurry[:, t], sharp[:, t])[0]
            for name, value in terms.items():
                totals[name] += value
            totals["count"] += 1
            self.step += 1
            taken += 1
        return taken

    def run(self, export_path: str | Path | None = None) -> TrainResult:
        cfg = self.cfg
        self.run_dir.mkdir(parents=True, exist_ok=True)
        write_atomic(self.run_dir / CONFIG, json.dumps(cfg.to_dict(), indent=2, sort_keys=True) + "\n")
        self.bad_steps = 0
        self._record({"kind": "start", "step": self.step, "device": str(self.device),
                      "amp": str(self.amp_dtype), "train_images": len(self.train_names),
                      "val_images": self.val_names, "init": self.init_source})
        self.log(f"training on {self.device} ({'fp32' if self.amp_dtype is None else self.amp_dtype}), "
                 f"{len(self.train_names)} train / {len(self.val_names)} validation photos, "
                 f"step {self.step} -> {cfg.steps}, run folder {self.run_dir}")
        if self.step == 0 and not self.validation:
            self.validate()

        zero = lambda: torch.zeros((), device=self.device)  # noqa: E731
        names = ("loss", "input_loss", "charbonnier", "gradient", "frequency", "count")
        totals = {k: zero() for k in names}
        first_loss = last_loss = None
        tick, tick_step = time.perf_counter(), self.step
        self._started = time.perf_counter()
        batches = self._batches()
        try:
            while self.step < cfg.steps and not self._out_of_time():
                before = self.step
                self._train_clip_batch(next(batches), totals)
                if _crossed(before, self.step, cfg.log_every) or self.step >= cfg.steps or self._out_of_time():
                    count = max(float(totals["count"]), 1.0)
                    means = {k: float(totals[k]) / count for k in names if k != "count"}
                    elapsed = time.perf_counter() - tick
                    per_step = elapsed / max(self.step - tick_step, 1)
                    lr = self.optimizer.param_groups[0]["lr"]
                    first_loss = means["loss"] if first_loss is None else first_loss
                    last_loss = means["loss"]
                    self._record({"kind": "train", "step": self.step, **means, "lr": lr,
                                  "sec_per_step": per_step, "clips": self.next_clip})
                    self.log(f"step {self.step:>6}/{cfg.steps}  loss {means['loss']:.4f} "
                             f"(input {means['input_loss']:.4f}, ratio {means['loss'] / max(means['input_loss'], 1e-12):.3f}; "
                             f"charb {means['charbonnier']:.4f}, grad {means['gradient']:.4f}, "
                             f"freq {means['frequency']:.4f})  lr {lr:.2e}  {per_step:.2f} s/step")
                    totals = {k: zero() for k in names}
                    tick, tick_step = time.perf_counter(), self.step
                if _crossed(before, self.step, cfg.val_every) and self.step < cfg.steps:
                    self.validate()
                if _crossed(before, self.step, cfg.ckpt_every):
                    self.save_checkpoint()
        except KeyboardInterrupt:
            self.save_checkpoint()
            raise Interrupted(f"training stopped at step {self.step}; checkpoint saved, continue with --resume") from None
        finally:
            batches.close()  # ends the worker processes
        self.validate()
        self.save_checkpoint()
        path = self.export(export_path)
        return TrainResult(self.step, path, self.validation, first_loss, last_loss)

    # ------------------------------------------------------------------ validation, saving

    def validate(self) -> dict[str, dict[str, float]]:
        """PSNR/SSIM on the fixed synthetic validation clips, through the product's engine."""
        if not self.val_sets:
            return {}
        engine = RecurrentEngine(self.model, channel_order=self.channel_order, device=self.device)
        results = {}
        try:
            for profile, clips in self.val_sets.items():
                report: EvalReport = evaluate_clips(engine, clips)
                results[profile] = {k: v for k, v in report.overall().items()}
        finally:
            self.model.train()
        self.validation = results
        self._record({"kind": "val", "step": self.step, **{p: r for p, r in results.items()}})
        parts = [f"{p} {r['psnr']:.2f} dB (input {r['input_psnr']:.2f}, {r['gain_db']:+.2f}) "
                 f"SSIM {r['ssim']:.4f}" for p, r in results.items()]
        self.log(f"validation @ {self.step}: " + "; ".join(parts))
        return results

    def _device_name(self) -> str:
        if self.device.type == "cuda":
            return torch.cuda.get_device_name(self.device)
        from ..inference.devices import cpu_model

        return cpu_model()

    def _meta(self) -> dict[str, Any]:
        return {"channel_order": self.channel_order, "source": "stfan-deblur", "init": self.init_source}

    def save_checkpoint(self) -> Path:
        rng = {"torch": torch.get_rng_state(),
               "cuda": torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None}
        path = self.run_dir / CHECKPOINT
        save_atomic({
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else {},
            "step": self.step,
            "next_clip": self.next_clip,
            "config": self.cfg.to_dict(),
            "meta": self._meta(),
            "validation": self.validation,
            "seconds": self._seconds(),
            "rng": rng,
        }, path)
        return path

    def export(self, path: str | Path | None = None) -> Path:
        """The shareable weights file (fp16 safetensors) with recipe, data and validation figures."""
        from ..models.weights import save_weights

        cfg = self.cfg
        path = Path(path) if path else self.run_dir / DEFAULT_EXPORT
        if path.suffix != ".safetensors":
            raise OutputError(f"export path must end in .safetensors: {path}")
        path.parent.mkdir(parents=True, exist_ok=True)
        recipe = {
            "trainer": "stfan-deblur train",
            "init": self.init_source,
            "loss": {"terms": "charbonnier + gradient + frequency", **cfg.loss},
            "optimizer": {"name": "AdamW", "lr": cfg.lr, "min_lr": cfg.min_lr, "warmup": cfg.warmup,
                          "schedule": "cosine", "weight_decay": cfg.weight_decay, "grad_clip": cfg.grad_clip},
            "recurrence": "one step per frame, state detached between frames",
            "seq_len": cfg.seq_len, "crop": list(cfg.size), "batch": cfg.batch, "seed": cfg.seed,
            "photo_max_side": cfg.max_side, "train_seconds": round(self._seconds(), 1), "device": self._device_name(),
            "amp": str(self.amp_dtype) if self.amp_dtype else "fp32",
            "synthesis": get_profile(cfg.profile).to_dict(),
        }
        data = {"images": Path(cfg.images).name, "train_images": len(self.train_names),
                "validation_images": self.val_names, "clips_seen": self.next_clip,
                "validation": {"profiles": list(self.val_sets), "clips": cfg.val_clips, "frames": cfg.val_len,
                               "size": list(cfg.val_size), "seed": VALIDATION_SEED}}
        meta = {**self._meta(), "name": path.stem, "recipe": recipe, "steps": self.step, "data": data,
                "metrics": self.validation}
        try:
            sha = save_weights(self.model.state_dict(), path, meta)
        except OSError as exc:
            raise OutputError(f"cannot write weights to {path}: {exc}") from None
        self._record({"kind": "export", "step": self.step, "path": str(path), "sha256": sha})
        self.log(f"exported weights to {path} (sha256 {sha[:12]})")
        return path

    def _record(self, entry: dict[str, Any]) -> None:
        entry = {"time": time.time(), **entry}
        with open(self.run_dir / LOG, "a") as fh:
            fh.write(json.dumps(entry, sort_keys=True, default=str) + "\n")


def _one_thread(_worker_id: int) -> None:
    """Rendering workers use one thread each: many processes, not many threads per process."""
    torch.set_num_threads(1)


def _crossed(before: int, after: int, every: int) -> bool:
    """Did the step counter pass a multiple of ``every`` between ``before`` and ``after``?"""
    return every > 0 and after // every > before // every


def train(cfg: TrainConfig, *, resume: bool = False, export_path: str | Path | None = None,
          log: Callable[[str], None] = print) -> TrainResult:
    """Run (or continue) a training run and export its weights."""
    return Trainer(cfg, resume=resume, log=log).run(export_path)
