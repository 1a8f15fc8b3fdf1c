"""Where a frame's time goes: torch.profiler over the recurrence, kernels grouped and ranked.

Why: RESULTS.md must say where the time goes, not only how much there is. The
table groups CUDA kernels by name (convolutions, FAC, elementwise, copies) over
a few frames after warm-up.

    python benchmarks/profile_model.py --size 1280x720 --dtype fp16 --path fast
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_flops import parse_size  # noqa: E402
from bench_model import DTYPES, build, run_frames  # noqa: E402

GROUPS = (  # first match wins; lower-case substrings of kernel names
    ("FAC (Triton, fused filter head)", ("fused_filter_fac",)),
    ("FAC (Triton)", ("_fac_",)),
    ("convolution (cuDNN/cutlass)", ("conv", "cudnn", "cutlass", "sm90_xmma", "xmma", "gemm", "wgrad", "dgrad")),
    ("FAC reference (unfold/mul/sum)", ("im2col", "reduce", "unfold")),
    ("LeakyReLU / elementwise", ("leaky", "elementwise", "vectorized")),
    ("copies / layout", ("copy", "cat", "transpose", "nchw", "nhwc")),
)


def group_of(name: str) -> str:
    low = name.lower()
    for label, keys in GROUPS:
        if any(key in low for key in keys):
            return label
    return "other"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--dtype", default="fp16", choices=tuple(DTYPES))
    parser.add_argument("--path", default="fast", choices=("reference", "reference-cl", "fast"))
    parser.add_argument("--frames", type=int, default=10)
    args = parser.parse_args()
    height, width = parse_size(args.size)
    device = torch.device("cuda")
    torch.backends.cudnn.benchmark = True
    model = build(args.path, device, DTYPES[args.dtype])
    frames = [torch.rand(1, 3, height, width, device=device, dtype=DTYPES[args.dtype]) for _ in range(2)]
    with torch.inference_mode():
        _, state = run_frames(model, frames, 6)
        torch.cuda.synchronize()
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
            run_frames(model, frames, args.frames, state)
            torch.cuda.synchronize()
    totals: dict[str, float] = defaultdict(float)
    kernels: dict[str, float] = defaultdict(float)
    for event in prof.key_averages():
        if event.device_type != torch.autograd.DeviceType.CUDA:
            continue  # CPU-side operator events would count their kernels a second time
        cuda_us = getattr(event, "device_time_total", None) or getattr(event, "cuda_time_total", 0.0)
        if cuda_us <= 0:
            continue
        totals[group_of(event.key)] += cuda_us
        kernels[event.key] += cuda_us
    whole = sum(totals.values())
    print(f"{torch.cuda.get_device_name()} {width}x{height} {args.dtype} {args.path}: "
          f"{whole / args.frames / 1e3:.2f} ms of GPU kernels per frame")
    for label, us in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"  {label:<34} {us / args.frames / 1e3:8.2f} ms/frame  {100 * us / whole:5.1f} %")
    print("top kernels:")
    for name, us in sorted(kernels.items(), key=lambda kv: -kv[1])[:12]:
        print(f"  {us / args.frames / 1e3:8.3f} ms/frame  {name[:110]}")


if __name__ == "__main__":
    main()
