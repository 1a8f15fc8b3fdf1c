"""``train``, ``eval``, ``demo`` and ``synth``: options in, calls into the training/evaluation API out."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..errors import InputError, OutputError
from .options import env, strength_option
from .weights_cmd import offline_option, uses_weights, weights_option

SETTINGS = {"show_default": True}
DEFAULT_IMAGES = Path("..") / "shared" / "train-images"  # beside a checkout of the repository


def parse_size(text: str) -> tuple[int, int]:
    """'WIDTHxHEIGHT' -> (height, width), the order tensors use."""
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise InputError(f"size must look like WIDTHxHEIGHT (e.g. 320x192), got {text!r}") from None
    if width < 8 or height < 8:
        raise InputError(f"size {text} is too small (at least 8x8)")
    return height, width


def resolve_images(images: Path | None) -> Path:
    if images is not None:
        return images
    if DEFAULT_IMAGES.is_dir():
        return DEFAULT_IMAGES
    raise InputError(f"no photo folder given and {DEFAULT_IMAGES} does not exist: pass --images DIR")


def images_option(func):
    return click.option("--images", type=click.Path(path_type=Path), default=None,
                        help=f"Folder of sharp photos. Default: {DEFAULT_IMAGES} if it exists.")(func)


def weights_options(command: str):
    """--weights, --offline, --device and --fp16 of a command that runs the network."""

    def decorate(func):
        func = uses_weights(func)
        func = click.option("--fp16", is_flag=True, **env("FP16", command), help="Half precision (CUDA only).")(func)
        func = click.option("--device", default="auto", **env("DEVICE", command),
                            help="auto, cpu, cuda or cuda:N.")(func)
        func = offline_option(command)(func)
        return weights_option(command)(func)

    return decorate


# ----------------------------------------------------------------------------- train


@click.command(context_settings=SETTINGS)
@images_option
@click.option("--run-dir", type=click.Path(path_type=Path), required=True,
              help="Folder for the run's checkpoint, log and config.")
@click.option("--steps", type=click.IntRange(1), default=20000, help="Optimiser steps (one per frame).")
@click.option("--resume", is_flag=True,
              help="Continue the checkpoint in --run-dir (to --steps), optimiser state included.")
@click.option("--seq-len", type=click.IntRange(1), default=4, help="Frames per training clip.")
@click.option("--size", default="128x128", help="Training crop WIDTHxHEIGHT (multiples of 4).")
@click.option("--batch", type=click.IntRange(1), default=4, help="Clips per step.")
@click.option("--seed", type=int, default=0, help="Seed of the model's start and of the clip stream.")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Peak learning rate (AdamW, warm-up then cosine decay). Default: 2e-4 from scratch; "
                   "with --weights 1e-4 x sqrt(batch/16), within 1e-4..2e-4.")
@click.option("--warmup", type=click.IntRange(1), default=200, help="Warm-up steps (re-warms Adam for --weights).")
@click.option("--val-every", type=click.IntRange(0), default=1000, help="Validate every N steps (0: only at the end).")
@click.option("--val-size", default="320x192", help="Validation clip size WIDTHxHEIGHT.")
@click.option("--val-clips", type=click.IntRange(0), default=8, help="Validation clips per profile (shake, sharp).")
@click.option("--amp", type=click.Choice(["auto", "bf16", "fp16", "off"]), default="auto",
              help="Mixed precision on CUDA (the CPU always trains in float32).")
@click.option("--fac", type=click.Choice(["auto", "triton", "reference"]), default="auto",
              help="FAC implementation (auto: the Triton kernels, forward and backward, on CUDA).")
@click.option("--compile", "compile_mode", type=click.Choice(["off", "default", "reduce-overhead", "max-autotune"]),
              default="off", help="torch.compile the network (reduce-overhead: with CUDA graphs).")
@click.option("--threads", type=click.IntRange(1), default=None, help="CPU threads for torch.")
@click.option("--workers", type=click.IntRange(0), default=0,
              help="Processes rendering clips on the CPU while the model trains (0: render on the training device).")
@click.option("--time-limit", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Stop after this many seconds of training; the learning rate decays on the clock.")
@click.option("--weights", type=click.Path(path_type=Path), default=None,
              help="Continue these weights (their card's history carries on) instead of starting from scratch.")
@click.option("--device", default="auto", **env("DEVICE", "train"), help="auto, cpu, cuda or cuda:N.")
@click.option("--export", "export_path", type=click.Path(path_type=Path), default=None,
              help="Where to write the final weights. Default: RUN_DIR/stfan_synth.safetensors.")
def train_command(images, run_dir, steps, resume, seq_len, size, batch, seed, lr, warmup, val_every, val_size,
                  val_clips, amp, fac, compile_mode, threads, workers, time_limit, weights, device,
                  export_path) -> None:
    """Train STFAN on synthetic motion blur made from sharp photos."""
    import torch

    from ..training import TrainConfig, train

    if threads:
        torch.set_num_threads(threads)
    cfg = TrainConfig(images=str(resolve_images(images)), run_dir=str(run_dir), steps=steps, seq_len=seq_len,
                      size=parse_size(size), batch=batch, seed=seed, lr=lr, warmup=warmup, val_every=val_every,
                      val_size=parse_size(val_size), val_clips=val_clips, amp=amp, fac=fac, compile=compile_mode,
                      init_weights=str(weights) if weights else None, device=device, workers=workers,
                      time_limit=time_limit)
    result = train(cfg, resume=resume, export_path=export_path, log=click.echo)
    click.echo(f"done: {result.step} steps, weights in {result.export_path}")


# ----------------------------------------------------------------------------- eval


@click.command(context_settings=SETTINGS)
@click.argument("dataset", required=False, type=click.Path(path_type=Path))
@weights_options("eval")
@click.option("--synthetic", type=click.Choice(["shake", "sharp", "both"]), default=None,
              help="Score synthetic clips made from the validation split of --images instead of DATASET.")
@images_option
@click.option("--clips", type=click.IntRange(1), default=8, help="Synthetic clips per profile.")
@click.option("--frames", type=click.IntRange(1), default=6, help="Frames per synthetic clip.")
@click.option("--size", default="320x192", help="Synthetic clip size WIDTHxHEIGHT.")
@click.option("--max-frames", type=click.IntRange(1), default=None, help="Score at most N frames per sequence.")
@click.option("--json", "json_path", type=click.Path(path_type=Path), default=None,
              help="Also write the report as JSON to this file.")
def eval_command(dataset, weights, offline, device, fp16, synthetic, images, clips, frames, size, max_frames,
                 json_path) -> None:
    """PSNR/SSIM of deblurred frames against ground truth, beside the blurry input's.

    DATASET is a folder in the DVD layout (<seq>/input, <seq>/GT) or the GoPro
    layout (<seq>/blur, <seq>/sharp); or use --synthetic.
    """
    from ..evaluation.evaluate import (
        evaluate_clips,
        evaluate_folder,
        synthetic_clips,
        validation_images,
    )
    from ..inference.build import build_engine
    from ..io.atomic import write_atomic

    if (dataset is None) == (synthetic is None):
        raise InputError("give either a DATASET folder or --synthetic shake|sharp|both")
    if json_path is not None and json_path.exists() and json_path.is_dir():
        raise OutputError(f"--json must name a file, not a folder: {json_path}")
    engine = build_engine(weights, device=device, fp16=fp16)
    show = lambda s: click.echo(  # noqa: E731
        f"  {s.name}: {s.psnr:.2f} dB (input {s.input_psnr:.2f}, {s.gain_db:+.2f}), SSIM {s.ssim:.4f}")
    reports = {}
    if dataset is not None:
        reports[dataset.name] = evaluate_folder(engine, dataset, max_frames=max_frames, on_sequence=show)
    else:
        photos = validation_images(resolve_images(images), device=engine.device)
        for profile in (("shake", "sharp") if synthetic == "both" else (synthetic,)):
            clip_set = synthetic_clips(photos, profile, count=clips, seq_len=frames, size=parse_size(size))
            reports[profile] = evaluate_clips(engine, clip_set, on_sequence=show)
    for name, report in reports.items():
        click.echo(f"\n{name}\n{report.format_table()}")
    if json_path is not None:
        payload = {"weights": str(weights) if weights else "default", **{k: r.to_dict() for k, r in reports.items()}}
        write_atomic(json_path, json.dumps(payload, indent=2) + "\n")


# ----------------------------------------------------------------------------- demo


@click.command(context_settings=SETTINGS)
@click.option("-o", "--out", "out_dir", type=click.Path(path_type=Path), default=Path("stfan-demo"),
              help="Folder for blurry.mp4, deblurred.mp4 and side_by_side.mp4.")
@weights_options("demo")
@strength_option("demo")
@click.option("--frames", type=click.IntRange(2, 240), default=24, help="Length of the demo clip.")
@click.option("--overwrite", is_flag=True,
              help="Replace blurry.mp4, deblurred.mp4 and side_by_side.mp4 in a folder that is not the demo's own "
                   "(in its own folder the demo replaces them on every run, and nothing else).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def demo_command(out_dir, weights, offline, device, fp16, strength, frames, overwrite, quiet) -> None:
    """Blur a built-in photo with camera shake, deblur it, and report the gain.

    Without --weights the demo uses the default weights (fetching them like a run does) and, offline or when
    they cannot be downloaded, the shipped experimental 'synth-v0'.
    """
    from ..evaluation.demo import run_demo
    from ..inference.build import build_engine
    from .progress import ProgressReporter
    from .weights_cmd import demo_weights

    engine = build_engine(demo_weights(weights), device=device, fp16=fp16, strength=strength)
    reporter = ProgressReporter(enabled=not quiet)
    with reporter.session(1), reporter.file("demo") as bar:
        result = run_demo(out_dir, engine, frames=frames, overwrite=overwrite,
                          on_start=bar.on_start, on_frame=bar.on_frame)
    click.echo(f"blurry:       {result.blurry}\ndeblurred:    {result.deblurred}\nside by side: {result.side_by_side}")
    click.echo(f"PSNR {result.input_psnr:.2f} dB -> {result.output_psnr:.2f} dB ({result.gain_db:+.2f} dB), "
               f"SSIM {result.input_ssim:.4f} -> {result.output_ssim:.4f} over {result.frames} frames, "
               f"strength {strength} (mean {engine.mean_strength:.2f})")


# ----------------------------------------------------------------------------- synth


@click.command(context_settings=SETTINGS)
@click.argument("out_dir", type=click.Path(path_type=Path))
@images_option
@click.option("--profile", type=click.Choice(["train", "shake", "sharp"]), default="shake", help="Kind of blur.")
@click.option("--split", type=click.Choice(["validation", "train", "all"]), default="validation",
              help="Which photos to use (validation photos are never trained on).")
@click.option("--count", type=click.IntRange(1), default=8, help="Number of sequences.")
@click.option("--seq-len", type=click.IntRange(1), default=12, help="Frames per sequence.")
@click.option("--size", default="320x192", help="Frame size WIDTHxHEIGHT.")
@click.option("--seed", type=int, default=None, help="Default: the fixed validation seed.")
@click.option("--device", default="cpu", help="Where to synthesise (cpu, cuda...).")
@click.option("--overwrite", is_flag=True, help="Replace sequences that already exist.")
def synth_command(out_dir, images, profile, split, count, seq_len, size, seed, device, overwrite) -> None:
    """Write synthetic blurry/sharp sequences in the DVD layout (<seq>/input, <seq>/GT)."""
    from ..evaluation.evaluate import VALIDATION_SEED
    from ..inference.devices import resolve_device
    from ..synth import (
        SequenceGenerator,
        list_images,
        load_images,
        split_images,
        write_sequences,
    )

    paths = list_images(resolve_images(images))
    train_paths, val_paths = split_images(paths)
    chosen = {"validation": val_paths, "train": train_paths, "all": paths}[split]
    if not chosen:
        raise InputError(f"the {split} split of {images} is empty")
    generator = SequenceGenerator(load_images(chosen, resolve_device(device)), seq_len, parse_size(size),
                                  seed=VALIDATION_SEED if seed is None else seed, profile=profile)
    written = write_sequences(out_dir, generator, count, overwrite=overwrite, prefix=profile)
    click.echo(f"wrote {len(written)} sequences of {seq_len} frames to {out_dir}")
