"""Where a frame's time goes, two ways: by network stage, and by kernel (GPU) or operator (CPU) group.

Why: RESULTS.md must say where the time goes, not only how much there is.

- Stage table: every block the network runs (through ``models.layers.LayerRunner``)
  and every FAC call is timed (CUDA events on the GPU, the clock on the CPU) and
  summed per stage: encoder, filter network, alignment filters, alignment FAC,
  deblurring head and FAC, decoder; "other" is the rest of the step
  (concatenations, the clamp, layout conversions, launch gaps).
- Group table: torch.profiler over a few frames after warm-up, CUDA kernels (or,
  on the CPU, operators by self time) grouped by name and ranked.

    python benchmarks/profile_model.py --size 1280x720 --dtype fp16 --path fast
    python benchmarks/profile_model.py --device cpu --size 320x192 --path reference --frames 2
    python benchmarks/profile_model.py --device cpu --size 320x192 --path cpu --frames 2      # the CPU default
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_flops import parse_size  # noqa: E402
from bench_model import DTYPES, build, run_frames  # noqa: E402

from deblur_cli.inference.devices import cpu_model  # noqa: E402
from deblur_cli.models.layers import LayerRunner  # noqa: E402

GROUPS = (  # first match wins; lower-case substrings of kernel or operator names
    ("FAC (Triton, fused filter head)", ("fused_filter_fac",)),
    ("FAC (Triton)", ("fac_forward", "_fac_")),
    ("bias + LeakyReLU + residual (Triton epilogue)", ("bias_act",)),
    ("convolution (cuDNN/cutlass/oneDNN)", ("conv", "cudnn", "cutlass", "sm90_xmma", "xmma", "gemm", "wgrad", "dgrad")),
    ("FAC reference (pad/unfold/mul/sum)", ("im2col", "reduce", "unfold", "replication_pad", "aten::mul", "aten::sum")),
    ("FAC taps (CPU: addcmul)", ("addcmul",)),
    ("LeakyReLU / adds / elementwise", ("leaky", "elementwise", "vectorized", "aten::add", "clamp")),
    ("copies / layout / cat", ("copy", "cat", "transpose", "nchw", "nhwc", "contiguous", "clone")),
)
STAGES = {
    "encoder (conv1-3)": [f"conv{i}_{j}" for i in (1, 2, 3) for j in (1, 2, 3)],
    "filter network (kconv1-3)": [f"kconv{i}_{j}" for i in (1, 2, 3) for j in (1, 2, 3)],
    "alignment filters (fac_warp, kconv4)": ["fac_warp", "kconv4", "fused_warp"],
    "alignment FAC (fea + FAC)": ["fea", "fac#1"],
    "deblurring head + FAC": ["fac_deblur", "fac#2", "fused_deblur"],
    "decoder (upconv1-2, img_prd)": ["upconv2_u", "upconv2_2", "upconv2_1", "upconv1_u", "upconv1_2", "upconv1_1",
                                     "img_prd"],
}


def group_of(name: str) -> str:
    low = name.lower()
    for label, keys in GROUPS:
        if any(key in low for key in keys):
            return label
    return "other"


class StageTimer:
    """Times LayerRunner blocks and FAC calls of one model, outermost calls only, per stage."""

    def __init__(self, model, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.stage_of = {id(module): stage for stage, names in STAGES.items() for name in names
                         if (module := getattr(model, name, None)) is not None}
        self.pending: list[tuple[str, object, object]] = []
        self.totals: dict[str, float] = defaultdict(float)
        self.depth = 0
        self.fac_calls = 0

    def _clock(self):
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            return event
        return time.perf_counter()

    def timed(self, stage_for, fn):
        def wrapper(*args, **kwargs):
            if self.depth:
                return fn(*args, **kwargs)
            self.depth += 1
            start = self._clock()
            try:
                return fn(*args, **kwargs)
            finally:
                self.pending.append((stage_for(*args), start, self._clock()))
                self.depth -= 1
        return wrapper

    def block_stage(self, block) -> str:
        stage = self.stage_of.get(id(block))
        if stage is None and isinstance(block, torch.nn.Sequential) and len(block):  # a slice of a filter head
            stage = self.stage_of.get(id(block[0]), "other")
        return stage or "other"

    def fac_stage(self) -> str:
        self.fac_calls += 1
        return STAGES_BY_NAME[f"fac#{1 + (self.fac_calls - 1) % 2}"]

    def collect(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()
        for stage, start, end in self.pending:
            self.totals[stage] += start.elapsed_time(end) if self.cuda else (end - start) * 1e3
        self.pending.clear()


STAGES_BY_NAME = {name: stage for stage, names in STAGES.items() for name in names}


def stage_table(model, step, frames, state, count: int, device: torch.device) -> list[tuple[str, float]]:
    """ms per frame per stage (plus "other" and the whole step) over ``count`` frames."""
    timer = StageTimer(model, device)
    saved = LayerRunner._block, LayerRunner.conv, model.fac, model.fused_deblur, model.fused_warp
    LayerRunner._block = timer.timed(lambda runner, block, x: timer.block_stage(block), saved[0])
    LayerRunner.conv = timer.timed(lambda runner, x, block, **kw: timer.block_stage(block), saved[1])
    model.fac = timer.timed(lambda *a, **kw: timer.fac_stage(), saved[2])
    for name, op in (("fused_deblur", saved[3]), ("fused_warp", saved[4])):
        if op is not None:
            setattr(model, name, timer.timed(lambda *a, _n=name: STAGES_BY_NAME[_n], op))
    try:
        whole = 0.0
        for i in range(count):
            if device.type == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
            _, state = step(frames[i % len(frames)], state)
            if device.type == "cuda":
                torch.cuda.synchronize()
            whole += (time.perf_counter() - started) * 1e3
            timer.collect()
    finally:
        LayerRunner._block, LayerRunner.conv, model.fac, model.fused_deblur, model.fused_warp = saved
    rows = [(stage, timer.totals.get(stage, 0.0) / count) for stage in STAGES]
    rows.append(("other (cat, clamp, layout, gaps)", whole / count - sum(ms for _, ms in rows)))
    rows.append(("whole step (synchronised, timers on)", whole / count))
    return rows


def group_table(step, frames, state, count: int, device: torch.device):
    kind = torch.profiler.ProfilerActivity
    activities = [kind.CUDA if device.type == "cuda" else kind.CPU]
    with torch.profiler.profile(activities=activities) as prof:
        run_frames(step, frames, count, state)
        if device.type == "cuda":
            torch.cuda.synchronize()
    totals: dict[str, float] = defaultdict(float)
    kernels: dict[str, float] = defaultdict(float)
    for event in prof.key_averages():
        if device.type == "cuda":
            if event.device_type != torch.autograd.DeviceType.CUDA:
                continue  # CPU-side operator events would count their kernels a second time
            us = getattr(event, "device_time_total", None) or getattr(event, "cuda_time_total", 0.0)
        else:
            us = event.self_cpu_time_total  # self time: nested operators are not counted twice
        if us > 0:
            totals[group_of(event.key)] += us
            kernels[event.key] += us
    return totals, kernels


def markdown(title: str, rows: list[tuple[str, float]], whole: float, what: str = "stage") -> str:
    lines = [title, "", f"| {what} | ms/frame | share |", "|---|---|---|"]
    lines += [f"| {name} | {ms:.2f} | {100 * ms / whole:.1f} % |" for name, ms in rows]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--dtype", default="fp16", choices=tuple(DTYPES))
    parser.add_argument("--path", default="fast",
                        choices=("reference", "reference-cl", "cpu", "fast-prev", "fast-taps", "fast", "warp"))
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--markdown", type=Path, default=None, help="append both tables, in markdown, to this file")
    args = parser.parse_args()
    height, width = parse_size(args.size)
    device = torch.device(args.device)
    dtype = DTYPES[args.dtype] if device.type == "cuda" else torch.float32
    torch.backends.cudnn.benchmark = True
    model, step = build(args.path, device, dtype)
    gen = torch.Generator(device=device).manual_seed(1)
    frames = [torch.rand(1, 3, height, width, device=device, dtype=dtype, generator=gen) for _ in range(2)]
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU {cpu_model()}"
    with torch.inference_mode():
        _, state = run_frames(step, frames, 3 if device.type == "cuda" else 1)
        stages = stage_table(model, step, frames, state, args.frames, device)
        totals, kernels = group_table(step, frames, state, args.frames, device)
    whole = stages[-1][1]
    title = f"{where}, {width}x{height} {str(dtype).removeprefix('torch.')}, path {args.path}"
    print(f"{title}: {whole:.2f} ms per step (synchronised, stage timers on)")
    for name, ms in stages:
        print(f"  {name:<40} {ms:9.2f} ms/frame  {100 * ms / whole:5.1f} %")
    group_total = sum(totals.values())
    unit = "kernels" if device.type == "cuda" else "operators (self time)"
    print(f"{unit}: {group_total / args.frames / 1e3:.2f} ms per frame")
    group_rows = [(label, us / args.frames / 1e3) for label, us in sorted(totals.items(), key=lambda kv: -kv[1])]
    for label, ms in group_rows:
        print(f"  {label:<46} {ms:8.2f} ms/frame  {100 * ms * 1e3 * args.frames / group_total:5.1f} %")
    print(f"top {unit}:")
    for name, us in sorted(kernels.items(), key=lambda kv: -kv[1])[:12]:
        print(f"  {us / args.frames / 1e3:8.3f} ms/frame  {name[:110]}")
    if args.markdown:
        with args.markdown.open("a", encoding="utf-8") as fh:
            fh.write(markdown(f"### By stage: {title}", stages, whole) + "\n")
            fh.write(markdown(f"### By {unit}: {title}", group_rows, group_total / args.frames / 1e3, "group") + "\n")


if __name__ == "__main__":
    main()
