"""Model-only speed and peak memory of STFAN: the reference path and the fast paths, side by side.

Why: the file-to-file figure (bench_file.py) mixes in decoding and encoding;
this one isolates the network. Each row runs the recurrence on random frames
already on the device (state carried from frame to frame, as in a video),
after warm-up frames that let cuDNN's benchmark mode, Triton's autotuner and
CUDA-graph capture settle. GPU timing uses CUDA events; memory is
torch.cuda.max_memory_allocated (weights included). The last column is the
row's largest difference on the first frame from the first path listed (normally the reference).

Paths ("--paths"):
  reference       NCHW, PyTorch FAC (unfold) - the CPU's path, the ground truth
  reference-cl    channels_last, PyTorch FAC - isolates the layout's effect
  cpu             the CPU's default since issue 22: channels_last, tap-by-tap FAC, oneDNN fused convolutions
  fast-prev       channels_last, Triton FAC (reference filter order, the pixel x channel kernel) + fused
                  deblurring head: the fast path measured on the H100 before issue 14
  fast-taps       fast-prev + fused bias/LeakyReLU/residual epilogue, FAC by the (channel, tap) kernel
  fast            fast-prev + epilogue + tap-major alignment filters (the pixel x channel kernel, coalesced)
  fast-graphs     fast, each step replayed from CUDA graphs (what `run` uses on CUDA)
  warp, warp-graphs  fast (+ graphs) with the alignment filters, FAC and kconv4 in one kernel that never
                  stores the filters (ops/fac_fused.py fused_warp_fac; opt-in until measured)
  compile         fast-prev with tap-major filters, torch.compile'd (inductor fuses the epilogues)
  compile-graphs  compile, replayed from CUDA graphs
With --tile N, frames larger than N pixels go through TiledEngine tiles of N (graphs do not apply).

    python benchmarks/bench_model.py --sizes 1280x720 --dtypes fp16 --paths reference,fast,fast-graphs
    python benchmarks/bench_model.py --device cpu                 # CPU: 320x192 float32, reference
    python benchmarks/bench_model.py ... --markdown out.md        # also append a RESULTS.md-ready table
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path
from typing import Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_flops import count_flops, parse_size  # noqa: E402

from deblur_cli.inference.accelerate import make_fast  # noqa: E402
from deblur_cli.inference.devices import cpu_model  # noqa: E402
from deblur_cli.inference.graphs import GraphedModel  # noqa: E402
from deblur_cli.inference.tiling import TiledEngine, tile_overlap  # noqa: E402
from deblur_cli.models import STFAN  # noqa: E402
from deblur_cli.ops.fac import KERNEL_SIZE  # noqa: E402


def fac_triton_forward(*args, **kwargs):
    from deblur_cli.ops.fac_triton import _forward  # Triton is imported only for the Triton paths

    return _forward(*args, **kwargs)


GPU_SIZES = "960x540,1280x720,1920x1080,3840x2160"
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
PATHS = ("reference", "reference-cl", "cpu", "fast-prev", "fast-taps", "fast", "fast-graphs", "warp", "warp-graphs",
         "compile", "compile-graphs")
Step = Callable[[torch.Tensor, object], tuple[torch.Tensor, object]]


def build(path: str, device: torch.device, dtype: torch.dtype) -> tuple[STFAN, Step]:
    """The model for ``path`` and the step function to time (``(x, state) -> (out, state)``)."""
    torch.manual_seed(0)
    model = STFAN().eval().to(device=device, dtype=dtype)
    if path != "reference":
        model.to(memory_format=torch.channels_last)
    if path.startswith(("fast", "compile", "warp")):
        make_fast(model, "triton", device)
    if path == "cpu":
        make_fast(model, "cpu", device)
    if path.startswith("warp"):
        from deblur_cli.ops.fac_fused import fused_warp_fac

        model.fused_warp = fused_warp_fac
    if path in ("fast-prev", "compile", "compile-graphs"):
        model.epilogue = None  # fast-prev: as measured before; compile: inductor fuses the epilogues itself
    if path in ("fast-prev", "fast-taps"):
        model.warp_tap_major = False
    if path == "fast-prev":  # before issue 14 every FAC ran the pixel x channel kernel
        model.fac = lambda inp, filters: fac_triton_forward(inp, filters, KERNEL_SIZE, kind="loop")
    step: Step = model
    if path.startswith("compile"):
        step = torch.compile(model)
    if path.endswith("graphs"):
        graphed = GraphedModel(model)
        if path.startswith("compile"):
            graphed.model = step  # the compiled module is captured like the eager one
        step = graphed
    return model, step


def tiled_step(model: STFAN, tile: int, device: torch.device, dtype: torch.dtype) -> Step:
    engine = TiledEngine(model, tile=tile, overlap=tile_overlap(tile), device=device, dtype=dtype)

    def step(x: torch.Tensor, state: object) -> tuple[torch.Tensor, object]:
        if state is None:
            engine.reset()
        return engine.step(x), True

    return step


def run_frames(step: Step, frames: list[torch.Tensor], count: int, state=None):
    out = None
    for i in range(count):
        out, state = step(frames[i % len(frames)], state)
    return out, state


class Table:
    """Rows printed as they come and, with a markdown file, appended to it at once (a timeout keeps what was done)."""

    def __init__(self, markdown: Path | None, title: str, header: str, base: str) -> None:
        self.markdown = markdown
        self.rows: list[tuple[str, ...]] = []
        head = ["size", "dtype", "path", "ms (frames/s)", "peak MiB", "conv TFLOP/s", f"max abs diff vs {base}"]
        print(header)
        self._write(f"### {title}\n\n{header}\n\n| " + " | ".join(head) + " |\n|" + "---|" * len(head) + "\n")

    def _write(self, text: str) -> None:
        if self.markdown:
            with self.markdown.open("a", encoding="utf-8") as fh:
                fh.write(text)

    def add(self, size: str, dtype: str, path: str, ms: float | None, mib: float | None, tflops: float | None,
            diff: float | None, note: str = "") -> None:
        cells = (size, dtype, path, f"{ms:.2f} ({1e3 / ms:.1f})" if ms else note or "-",
                 f"{mib:.0f}" if mib is not None else "-", f"{tflops:.3g}" if tflops else "-",
                 f"{diff:.1e}" if diff is not None else "-")
        self.rows.append(cells)
        print(" ".join(f"{c:>16}" for c in cells), flush=True)
        self._write("| " + " | ".join(cells) + " |\n")

    def close(self) -> None:
        self._write("\n")


def bench_gpu_row(path: str, height: int, width: int, dtype: torch.dtype, device: torch.device, args, gflop: float,
                  reference_out: dict, table: Table) -> None:
    size, dname = f"{width}x{height}", args.dtype_names[dtype]
    tiled = args.tile and max(height, width) > args.tile
    label = f"{path} (tiles {args.tile})" if tiled else path
    model = frames = state = None
    try:
        model, step = build(path, device, dtype)
        if tiled:
            step = tiled_step(model, args.tile, device, dtype)
        gen = torch.Generator(device=device).manual_seed(1)
        frames = [torch.rand(1, 3, height, width, generator=gen, device=device, dtype=dtype) for _ in range(2)]
        with torch.inference_mode():
            first, state = step(frames[0], None)
            key = (height, width, dtype)
            if path == args.paths.split(",")[0]:  # the base of the last column
                reference_out[key] = first.float().clone()
            diff = (first.float() - reference_out[key]).abs().max().item() if key in reference_out else None
            run_frames(step, frames, args.warmup, state)
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            run_frames(step, frames, args.frames, state)
            end.record()
            end.synchronize()
        ms = start.elapsed_time(end) / args.frames
        table.add(size, dname, label, ms, torch.cuda.max_memory_allocated(device) / 2**20, gflop / ms, diff)
        eager = getattr(step, "eager_reason", None)
        if eager:
            print(f"   note: {eager}")
    except torch.cuda.OutOfMemoryError:
        table.add(size, dname, label, None, None, None, None, "out of memory")
    except Exception as exc:  # one failing variant must not stop the others
        table.add(size, dname, label, None, None, None, None, f"failed: {type(exc).__name__}")
        print(f"   {type(exc).__name__}: {str(exc)[:400]}")
    finally:
        model = frames = state = step = None  # noqa: F841
        torch.cuda.empty_cache()


def bench_gpu(args) -> Table:
    device = torch.device(args.device if args.device != "cuda" else "cuda:0")
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = not args.no_tf32
    try:
        import triton

        triton_version = triton.__version__
    except ImportError:
        triton_version = "not installed (fast paths unavailable)"
    props = torch.cuda.get_device_properties(device)
    table = Table(args.markdown, args.title, (
        f"GPU: {props.name}, {props.total_memory / 2**30:.0f} GiB; torch {torch.__version__}, "
        f"CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}, triton {triton_version}; "
        f"{args.warmup} warm-up + {args.frames} timed frames per row, batch 1, state carried"),
        base=args.paths.split(",")[0])
    reference_out: dict = {}
    for size in args.sizes.split(","):
        height, width = parse_size(size)
        gflop = count_flops(height, width)["conv"] / 1e9
        print(f"-- {width}x{height}: {gflop:.0f} GFLOP/frame of convolutions")
        for name in args.dtypes.split(","):
            for path in args.paths.split(","):
                bench_gpu_row(path, height, width, DTYPES[name], device, args, gflop, reference_out, table)
            reference_out.clear()
    return table


def bench_cpu(args) -> Table:
    sizes = args.sizes if args.sizes != GPU_SIZES else "320x192"
    paths = [p for p in args.paths.split(",") if p.startswith("reference") or p == "cpu"] or ["reference"]
    table = Table(args.markdown, args.title, (
        f"CPU: {cpu_model()}, {torch.get_num_threads()} torch threads; torch {torch.__version__}; float32; "
        f"{args.warmup} warm-up + {args.frames} timed frames per row; peak MiB is the process's peak RSS"), paths[0])
    for size in sizes.split(","):
        height, width = parse_size(size)
        gflop = count_flops(height, width)["conv"] / 1e9
        gen = torch.Generator().manual_seed(1)
        frames = [torch.rand(1, 3, height, width, generator=gen) for _ in range(2)]
        reference = None
        for path in paths:
            _, step = build(path, torch.device("cpu"), torch.float32)
            with torch.inference_mode():
                first, state = step(frames[0], None)
                reference = first if reference is None else reference
                run_frames(step, frames, args.warmup, state)
                started = time.perf_counter()
                run_frames(step, frames, args.frames, state)
                ms = (time.perf_counter() - started) / args.frames * 1e3
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            table.add(f"{width}x{height}", "fp32", path, ms, rss, gflop / ms, (first - reference).abs().max().item())
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu")
    parser.add_argument("--cpu", action="store_true", help="same as --device cpu")
    parser.add_argument("--sizes", default=GPU_SIZES, help=f"comma-separated WIDTHxHEIGHT (default {GPU_SIZES})")
    parser.add_argument("--dtypes", default="fp32,fp16,bf16")
    parser.add_argument("--paths", default="reference,fast-prev,fast-taps,fast,fast-graphs")
    parser.add_argument("--frames", type=int, default=None, help="timed frames (default 20 GPU, 3 CPU)")
    parser.add_argument("--warmup", type=int, default=None, help="warm-up frames (default 5 GPU, 1 CPU)")
    parser.add_argument("--tile", type=int, default=None, help="tile frames larger than this (pixels)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads")
    parser.add_argument("--no-tf32", action="store_true", help="true float32 convolutions on the GPU")
    parser.add_argument("--markdown", type=Path, default=None, help="append the table, in markdown, to this file")
    parser.add_argument("--title", default="Model only", help="heading of the markdown table")
    args = parser.parse_args()
    args.dtype_names = {v: k for k, v in DTYPES.items()}
    for name in args.dtypes.split(","):
        if name not in DTYPES:
            parser.error(f"unknown dtype {name!r}; choose from {', '.join(DTYPES)}")
    for path in args.paths.split(","):
        if path not in PATHS:
            parser.error(f"unknown path {path!r}; choose from {', '.join(PATHS)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.cpu or args.device == "cpu":
        args.frames, args.warmup = args.frames or 3, args.warmup if args.warmup is not None else 1
        table = bench_cpu(args)
    else:
        if not torch.cuda.is_available():
            sys.exit("no CUDA device: run with --device cpu for CPU figures")
        args.frames, args.warmup = args.frames or 20, args.warmup if args.warmup is not None else 5
        table = bench_gpu(args)
    table.close()


if __name__ == "__main__":
    main()
