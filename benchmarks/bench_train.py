"""Training throughput: frames/s, Mpixel/s, achieved TFLOP/s, how much the data path costs, peak memory.

    python benchmarks/bench_train.py --device cuda --size 256x256 --batch 32,64 --workers 0,14
    python benchmarks/bench_train.py --device cpu --size 32x32 --batch 2 --seq-len 2 --batches 1   # CI

For every (size, batch, workers) it measures, with the trainer's own pieces
(prepare_for_training, StepRunner, ClipStream) on a fresh identity-start STFAN:

- render: seconds to render one batch of clips (device synchronised);
- train only: seconds per batch of ``seq_len`` optimiser steps on one fixed,
  pre-rendered batch (the data path's cost removed);
- full: rendering (in the process, or by ``workers`` CPU processes) and training
  together, as a run does; its frames/s, Mpixel/s and TFLOP/s are the result.

``data_wait_share`` = 1 - full / train-only frames/s: the share of the time
lost to data. With workers, a short run is served from batches the workers
prefetched, so "full" is never counted faster than their steady supply
(``workers`` batches per one-thread render time of a batch). ``host_wait_share``: the share of the
main loop spent obtaining batches. TFLOP/s come from the model's FLOPs per training step counted by
``torch.utils.flop_counter.FlopCounterMode`` (convolutions and matrix products
of the forward and backward pass; the FAC's multiply-adds are not counted).
Peak memory: ``torch.cuda.max_memory_allocated`` on CUDA, peak RSS on the CPU.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from deblur_cli.inference.devices import resolve_device  # noqa: E402
from deblur_cli.models import STFAN  # noqa: E402
from deblur_cli.synth import SequenceGenerator, list_images, load_images  # noqa: E402
from deblur_cli.training.data import ClipStream  # noqa: E402
from deblur_cli.training.losses import DeblurLoss  # noqa: E402
from deblur_cli.training.setup import (  # noqa: E402
    prepare_for_training,
    resolve_amp,
    start_as_identity,
)
from deblur_cli.training.step import StepRunner, make_optimizer, zero_totals  # noqa: E402
from deblur_cli.training.throughput import Throughput, peak_memory_mib, train_step_flops  # noqa: E402


def synthetic_photos(count: int = 6, hw: tuple[int, int] = (480, 720)) -> list[torch.Tensor]:
    """Textured stand-ins for photos (CI has none): edges at every scale, uint8 (3, H, W)."""
    photos = []
    for seed in range(count):
        g = torch.Generator().manual_seed(seed)
        ys, xs = torch.meshgrid(torch.arange(hw[0]), torch.arange(hw[1]), indexing="ij")
        checker = ((ys // (6 + seed) + xs // (9 + seed)) % 2).float()
        img = 0.5 * checker + 0.3 * torch.rand((3, *hw), generator=g) + 0.2 * torch.sin(xs / (4.0 + seed))
        photos.append((img.clamp(0, 1) * 255).round().to(torch.uint8))
    return photos


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(photos, size, batch, seq_len, workers, device, batches, warmup, amp, fac, compile_mode) -> dict:
    torch.manual_seed(0)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    model = STFAN().to(device)
    start_as_identity(model)
    forward = prepare_for_training(model, device, fac, compile_mode)
    amp_dtype = resolve_amp(amp, device)
    runner = StepRunner(model, forward, make_optimizer(model, 1e-4, 1e-4), torch.amp.GradScaler(
        "cuda", enabled=amp_dtype == torch.float16), DeblurLoss(), device, amp_dtype, grad_clip=1.0)
    flops = train_step_flops(model, size, device)
    clips = SequenceGenerator(photos, seq_len, size, seed=0, device=torch.device("cpu") if workers else device)
    rates = [1e-4] * seq_len
    pixels = size[0] * size[1]

    def timed(work, count: int) -> float:
        _sync(device)
        start = time.perf_counter()
        for i in range(count):
            work(i)
        _sync(device)
        return (time.perf_counter() - start) / count

    threads = torch.get_num_threads()
    if workers:  # a worker renders with one thread: time it that way
        torch.set_num_threads(1)
    try:
        render_s = timed(lambda i: clips.batch(i * batch, batch), max(1, batches // 2))
    finally:
        torch.set_num_threads(threads)
    fixed = clips.batch(0, batch)
    if workers:
        fixed = tuple(t.to(device) for t in fixed)
    totals = zero_totals(device)
    timed(lambda i: runner.run(*fixed, seq_len, rates, totals), warmup)  # cuDNN / Triton autotuning, compilation
    train_s = timed(lambda i: runner.run(*fixed, seq_len, rates, totals), batches)

    stream = ClipStream(clips, batch, 1000, device, workers)
    try:
        timed(lambda i: runner.run(*next(stream), seq_len, rates, totals), min(warmup, 2))  # start the workers
        stream.wait_seconds = 0.0
        full_s = timed(lambda i: runner.run(*next(stream), seq_len, rates, totals), batches)
        host_wait = stream.wait_seconds / (full_s * batches)
    finally:
        stream.close()
    frames = batch * seq_len
    if workers:  # a short run is served from the workers' prefetched batches: count their steady supply too
        full_s = max(full_s, render_s / workers)
    full = Throughput(frames, full_s, host_wait * full_s, pixels, flops).figures()
    only = Throughput(frames, train_s, 0.0, pixels, flops).figures()
    return {
        "size": list(size), "batch": batch, "seq_len": seq_len, "workers": workers, "device": str(device),
        "amp": str(amp_dtype) if amp_dtype else "fp32", "fac": fac, "compile": compile_mode,
        "gflop_per_frame_step": flops / 1e9,
        "frames_per_s": full["frames_per_s"], "mpixel_per_s": full["mpixel_per_s"], "tflop_per_s": full["tflop_per_s"],
        "train_only_frames_per_s": only["frames_per_s"], "train_only_tflop_per_s": only["tflop_per_s"],
        "render_s_per_batch": render_s, "train_s_per_batch": train_s, "full_s_per_batch": full_s,
        "data_wait_share": max(0.0, 1.0 - full["frames_per_s"] / only["frames_per_s"]),
        "host_wait_share": min(1.0, host_wait), "peak_memory_mib": peak_memory_mib(device),
        "loss_finite": bool(torch.isfinite(totals["loss"]).item()) and float(totals["skipped"]) == 0,
    }


def _sizes(text: str) -> list[tuple[int, int]]:
    return [(int(h), int(w)) for w, h in (part.lower().split("x") for part in text.split(","))]


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--size", default="256x256", help="crop WIDTHxHEIGHT, comma-separated for several")
    p.add_argument("--batch", default="32", help="clips per step, comma-separated for several")
    p.add_argument("--workers", default="0", help="rendering processes (0: on the device), comma-separated")
    p.add_argument("--seq-len", type=int, default=4)
    p.add_argument("--batches", type=int, default=6, help="timed batches (each seq_len optimiser steps)")
    p.add_argument("--warmup", type=int, default=3, help="untimed batches first")
    p.add_argument("--amp", default="auto")
    p.add_argument("--fac", default="auto")
    p.add_argument("--compile", default="off")
    p.add_argument("--images", type=Path, default=None, help="photo folder (default: generated textures)")
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = p.parse_args(argv)
    device = resolve_device(args.device)
    photos = load_images(list_images(args.images)) if args.images else synthetic_photos()
    results = []
    header = (f"{'size':>9} {'batch':>5} {'wrk':>3} {'frames/s':>9} {'Mpx/s':>8} {'TFLOP/s':>8} {'train-only':>10} "
              f"{'data wait':>9} {'host wait':>9} {'render s':>8} {'train s':>8} {'peak MiB':>9}")
    print(f"{device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'}), torch "
          f"{torch.__version__}, seq_len {args.seq_len}, {args.batches} timed batches\n{header}", flush=True)
    for size in _sizes(args.size):
        for batch in (int(b) for b in args.batch.split(",")):
            for workers in (int(w) for w in args.workers.split(",")):
                try:
                    r = measure(photos, size, batch, args.seq_len, workers, device, args.batches, args.warmup,
                                args.amp, args.fac, args.compile)
                except torch.OutOfMemoryError as exc:
                    r = {"size": list(size), "batch": batch, "workers": workers, "error": str(exc).splitlines()[0]}
                    print(f"{size[1]}x{size[0]:<4} {batch:>5} {workers:>3} out of memory", flush=True)
                    results.append(r)
                    continue
                results.append(r)
                print(f"{size[1]:>4}x{size[0]:<4} {batch:>5} {workers:>3} {r['frames_per_s']:9.1f} "
                      f"{r['mpixel_per_s']:8.2f} {r['tflop_per_s']:8.2f} {r['train_only_frames_per_s']:10.1f} "
                      f"{100 * r['data_wait_share']:8.0f}% {100 * r['host_wait_share']:8.0f}% "
                      f"{r['render_s_per_batch']:8.3f} {r['train_s_per_batch']:8.3f} {r['peak_memory_mib']:9.0f}",
                      flush=True)
    if args.json:
        args.json.write_text(json.dumps({"results": results}, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
