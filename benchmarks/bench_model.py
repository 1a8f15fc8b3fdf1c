"""Model-only speed and peak memory of STFAN: reference path vs fast path, side by side.

Why: the file-to-file figure (bench_file.py) mixes in decoding and encoding;
this one isolates the network. Each row runs the recurrence on random frames
already on the device (state carried from frame to frame, as in a video),
after warm-up frames that let cuDNN's benchmark mode and Triton's autotuner
settle. GPU timing uses CUDA events; memory is torch.cuda.max_memory_allocated
(weights included, ~21 MB in float32).

Paths ("--paths"):
  reference     NCHW, PyTorch FAC (unfold) - what the engine runs by default
  reference-cl  channels_last, PyTorch FAC - isolates the layout's effect
  fast          channels_last, Triton FAC + fused deblurring filter head (deblur_cli.inference.accelerate)

    python benchmarks/bench_model.py                              # GPU: 540p..2160p x fp32/fp16/bf16
    python benchmarks/bench_model.py --sizes 1280x720 --dtypes fp16 --frames 50
    python benchmarks/bench_model.py --cpu                        # CPU: 320x192 float32, reference
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_flops import count_flops, parse_size  # noqa: E402

from deblur_cli.inference.accelerate import make_fast  # noqa: E402
from deblur_cli.inference.devices import cpu_model as cpu_name  # noqa: E402
from deblur_cli.models import STFAN  # noqa: E402

GPU_SIZES = "960x540,1280x720,1920x1080,3840x2160"
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
PATHS = ("reference", "reference-cl", "fast")


def build(path: str, device: torch.device, dtype: torch.dtype) -> STFAN:
    torch.manual_seed(0)
    model = STFAN().eval().to(device=device, dtype=dtype)
    if path != "reference":
        model.to(memory_format=torch.channels_last)
    if path == "fast":
        make_fast(model, "triton", device)
    return model


def run_frames(model: STFAN, frames: list[torch.Tensor], count: int, state=None):
    out = None
    for i in range(count):
        out, state = model(frames[i % len(frames)], state)
    return out, state


def bench_gpu_row(path: str, height: int, width: int, dtype: torch.dtype, device: torch.device, args, gflop: float,
                  reference_out: dict) -> str:
    label = f"{width}x{height} {args.dtype_names[dtype]:>4} {path:>12}"
    try:
        model = build(path, device, dtype)
        gen = torch.Generator(device=device).manual_seed(1)
        frames = [torch.rand(1, 3, height, width, generator=gen, device=device, dtype=dtype) for _ in range(2)]
        with torch.inference_mode():
            first, state = model(frames[0], None)
            key = (height, width, dtype)
            if path == "reference":
                reference_out[key] = first.float()
            diff = (first.float() - reference_out[key]).abs().max().item() if key in reference_out else float("nan")
            run_frames(model, frames, args.warmup, state)
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            run_frames(model, frames, args.frames, state)
            end.record()
            end.synchronize()
        ms = start.elapsed_time(end) / args.frames
        peak_mib = torch.cuda.max_memory_allocated(device) / 2**20
        return (f"{label} {ms:9.2f} ms {1e3 / ms:8.2f} fps {peak_mib:9.0f} MiB "
                f"{gflop / ms:8.1f} TFLOPS  max|out-ref| {diff:.1e}")
    except torch.cuda.OutOfMemoryError:
        return f"{label}   out of memory"
    finally:
        model = frames = state = None  # noqa: F841
        torch.cuda.empty_cache()


def bench_gpu(args) -> None:
    if not torch.cuda.is_available():
        sys.exit("no CUDA device: run with --cpu for CPU figures")
    device = torch.device(args.device)
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = not args.no_tf32
    try:
        import triton

        triton_version = triton.__version__
    except ImportError:
        triton_version = "not installed (fast path unavailable)"
    props = torch.cuda.get_device_properties(device)
    print(f"GPU: {props.name}, {props.total_memory / 2**30:.0f} GiB; torch {torch.__version__}, CUDA {torch.version.cuda}, "
          f"cuDNN {torch.backends.cudnn.version()}, triton {triton_version}; fp32 convs use TF32: {not args.no_tf32}")
    print(f"{args.warmup} warm-up + {args.frames} timed frames per row; recurrent state carried; batch 1")
    reference_out: dict = {}
    for size in args.sizes.split(","):
        height, width = parse_size(size)
        gflop = count_flops(height, width)["conv"] / 1e9
        print(f"-- {width}x{height}: {gflop:.0f} GFLOP/frame of convolutions")
        for name in args.dtypes.split(","):
            for path in args.paths.split(","):
                print(bench_gpu_row(path, height, width, DTYPES[name], device, args, gflop, reference_out), flush=True)
            reference_out.clear()


def bench_cpu(args) -> None:
    size = args.sizes if args.sizes != GPU_SIZES else "320x192"
    height, width = parse_size(size)
    gflop = count_flops(height, width)["conv"] / 1e9
    model = build("reference", torch.device("cpu"), torch.float32)
    gen = torch.Generator().manual_seed(1)
    frames = [torch.rand(1, 3, height, width, generator=gen) for _ in range(2)]
    print(f"CPU: {cpu_name()}, {torch.get_num_threads()} torch threads; torch {torch.__version__}; "
          f"{width}x{height} float32, reference path; {gflop:.1f} GFLOP/frame")
    with torch.inference_mode():
        _, state = model(frames[0], None)
        run_frames(model, frames, args.warmup, state)
        started = time.perf_counter()
        run_frames(model, frames, args.frames, state)
        seconds = (time.perf_counter() - started) / args.frames
    peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{width}x{height} fp32    reference {seconds * 1e3:9.1f} ms {1 / seconds:8.3f} fps "
          f"{gflop / seconds / 1e3:6.3f} TFLOPS; peak RSS of the process {peak_rss_mib:.0f} MiB "
          f"({args.warmup} warm-up + {args.frames} timed frames)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", action="store_true", help="measure on the CPU (default size 320x192)")
    parser.add_argument("--device", default="cuda:0")
    parser.add_argument("--sizes", default=GPU_SIZES, help=f"comma-separated WIDTHxHEIGHT (default {GPU_SIZES})")
    parser.add_argument("--dtypes", default="fp32,fp16,bf16")
    parser.add_argument("--paths", default=",".join(PATHS))
    parser.add_argument("--frames", type=int, default=None, help="timed frames (default 20 GPU, 3 CPU)")
    parser.add_argument("--warmup", type=int, default=None, help="warm-up frames (default 5 GPU, 1 CPU)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for --cpu")
    parser.add_argument("--no-tf32", action="store_true", help="true float32 convolutions on the GPU")
    args = parser.parse_args()
    args.dtype_names = {v: k for k, v in DTYPES.items()}
    for name in args.dtypes.split(","):
        if name not in DTYPES:
            parser.error(f"unknown dtype {name!r}; choose from {', '.join(DTYPES)}")
    for path in args.paths.split(","):
        if path not in PATHS:
            parser.error(f"unknown path {path!r}; choose from {', '.join(PATHS)}")
    if args.cpu:
        if args.threads:
            torch.set_num_threads(args.threads)
        args.frames, args.warmup = args.frames or 3, args.warmup if args.warmup is not None else 1
        bench_cpu(args)
    else:
        args.frames, args.warmup = args.frames or 20, args.warmup if args.warmup is not None else 5
        bench_gpu(args)


if __name__ == "__main__":
    main()
