"""STFAN on the CPU: frames/s, achieved GFLOP/s and PSNR of each variant against today's eager reference.

Why (issue 22): the CPU path should run near what the machine can do. Each row
is one variant of the same network and weights, run over the demo's blurry
clip (the shipped sample photo with camera shake, state carried from frame to
frame), timed frame by frame with the variants interleaved (A, B, C, A, B, C...)
and the best frame kept, so a machine shared with other work compares them
under the same load. GFLOP/s counts the convolutions and FACs of
bench_flops.py; "of matmul" is that rate over a 2048x2048 float32 matmul's on
the same threads, measured in the same run (between the frames, the best kept). PSNR is of each variant's restored
frames (clamped to [0, 1]) against the reference's, over every frame run.

Variants:
  reference   NCHW, the im2col FAC, eager (what the CPU ran before issue 22)
  ref-cl      reference in channels_last
  taps-cl     channels_last, the tap-by-tap FAC with tap-major alignment filters
  cpu         the CPU default now (--fac auto): taps-cl + oneDNN fused convolutions with packed weights
  compile     the reference model in channels_last, torch.compile'd (inductor, freezing); its one-time
              compile cost is printed (slow: opt in with --variants ...,compile)

    python benchmarks/bench_cpu.py                                  # 320x192 and 1280x720
    python benchmarks/bench_cpu.py --sizes 320x192 --frames 6 --variants reference,cpu,compile

The last line is ``speed-up N.NNx``: the default's frames/s over the reference's, the smaller over the sizes.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_flops import count_flops, parse_size  # noqa: E402

from deblur_cli.evaluation.demo import demo_clip  # noqa: E402
from deblur_cli.evaluation.metrics import psnr  # noqa: E402
from deblur_cli.inference.accelerate import make_fast  # noqa: E402
from deblur_cli.inference.devices import cpu_model  # noqa: E402
from deblur_cli.models import STFAN  # noqa: E402
from deblur_cli.models.choice import load_weights  # noqa: E402
from deblur_cli.models.weights import load_into  # noqa: E402

VARIANTS = ("reference", "ref-cl", "taps-cl", "cpu", "compile")
DEFAULT_VARIANTS = "reference,ref-cl,taps-cl,cpu"


def matmul_gflops(size: int = 2048, repeats: int = 5) -> float:
    """Best-of-``repeats`` rate of a size x size float32 matmul on the current threads."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * size**3 / best / 1e9


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def build(variant: str, weights) -> torch.nn.Module:
    model = STFAN().eval()
    load_into(model, weights)
    if variant != "reference":
        model.to(memory_format=torch.channels_last)
    if variant == "taps-cl":
        make_fast(model, "cpu", "cpu")
        model.convs = None
    elif variant == "cpu":
        make_fast(model, "cpu", "cpu")
    if variant == "compile":
        import torch._inductor.config as inductor_config

        inductor_config.freezing = True  # weights as constants: inductor packs them for oneDNN and fuses post-ops
        return torch.compile(model, dynamic=False)
    return model


class Runner:
    """One variant's recurrence over the clip: its state, outputs and per-frame times."""

    def __init__(self, variant: str, weights, clip: torch.Tensor) -> None:
        self.variant, self.clip = variant, clip
        self.step = build(variant, weights)
        self.state = None
        self.outputs: list[torch.Tensor] = []
        self.times: list[float] = []
        self.warmup_s = 0.0

    def run(self, index: int, timed: bool) -> None:
        frame = self.clip[index % len(self.clip)].unsqueeze(0)
        started = time.perf_counter()
        with torch.inference_mode():
            out, self.state = self.step(frame, self.state)
        elapsed = time.perf_counter() - started
        self.outputs.append(out.clamp(0, 1))
        if timed:
            self.times.append(elapsed)
        else:
            self.warmup_s += elapsed


def bench_size(size: str, args, weights) -> float | None:
    height, width = parse_size(size)
    flops = count_flops(height, width)
    gflop = (flops["conv"] + flops["fac"]) / 1e9
    clip, _ = demo_clip(frames=max(2, min(args.frames + args.warmup, 8)), size=(height, width))
    variants = args.variants.split(",")
    runners = [Runner(v, weights, clip) for v in variants]
    matmul = 0.0
    for index in range(args.warmup + args.frames):  # interleaved: every variant sees the same load
        for runner in runners:
            runner.run(index, timed=index >= args.warmup)
        matmul = max(matmul, matmul_gflops(repeats=2))
    base = runners[0]
    print(f"-- {width}x{height}: {gflop:.1f} GFLOP per frame; {args.warmup} warm-up + {args.frames} timed frames, "
          f"interleaved, best frame; 2048x2048 float32 matmul {matmul:.1f} GFLOP/s (best between frames); "
          f"PSNR against {base.variant} over all {len(base.outputs)} frames (100 dB: the metric's cap)")
    rates = {}
    for runner in runners:
        best = min(runner.times)
        rates[runner.variant] = 1 / best
        quality = min(float(psnr(a, b)) for a, b in zip(runner.outputs, base.outputs))
        note = f"  warm-up {runner.warmup_s:.1f} s" + (" (compiles)" if runner.variant == "compile" else "")
        print(f"{width}x{height} {runner.variant:>10}: {1e3 * best:8.0f} ms  {1 / best:6.3f} frames/s  "
              f"{gflop / best:6.1f} GFLOP/s  {100 * gflop / best / matmul:5.1f} % of matmul  "
              f"x{rates[runner.variant] / rates[base.variant]:.2f}  PSNR {quality:6.1f} dB{note}", flush=True)
    if "reference" in rates and "cpu" in rates:
        return rates["cpu"] / rates["reference"]
    return None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="320x192,1280x720")
    parser.add_argument("--variants", default=DEFAULT_VARIANTS, help=f"comma-separated, of {', '.join(VARIANTS)}")
    parser.add_argument("--frames", type=int, default=None, help="timed frames (default 4 at 320x192, 2 larger)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    parser.add_argument("--weights", default="synth-v0", help="weights entry or file (default the shipped synth-v0)")
    args = parser.parse_args(argv)
    for variant in args.variants.split(","):
        if variant not in VARIANTS:
            parser.error(f"unknown variant {variant!r}; choose from {', '.join(VARIANTS)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    weights = load_weights(args.weights)
    print(f"CPU {cpu_model()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}")
    speedups = []
    frames_given = args.frames
    for size in args.sizes.split(","):
        height, width = parse_size(size)
        args.frames = frames_given or (4 if height * width <= 320 * 192 else 2)
        speedup = bench_size(size, args, weights)
        if speedup is not None:
            speedups.append((speedup, size))
    if speedups:
        detail = ", ".join(f"{s:.2f}x at {size}" for s, size in speedups)
        print(f"speed-up {min(speedups)[0]:.2f}x (cpu over reference, the smaller of: {detail})")


if __name__ == "__main__":
    main()
