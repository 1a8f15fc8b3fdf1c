"""File-to-file throughput: a generated clip through deblur_cli.pipeline.video.deblur_video, frames per second.

Why: what users feel is decode + network + encode with the pipeline's threads
overlapping them; bench_model.py measures the network alone. The clip is made
with tests/clipgen.py (PyAV, libx264) so the run needs no sample files.
Random weights unless --weights is given: speed does not depend on the values.

Each run prints its stage table (``--json``'s ``stages``, ``run --stats``): seconds
per stage of the read, restore and write threads and the time each waited,
as a RESULTS.md-ready Markdown table. ``--device-colour auto,off`` runs the
same clip with colour converted on the device and then on the CPU.

    python benchmarks/bench_file.py --size 1280x720 --frames 120 --fp16            # GPU, fast path
    python benchmarks/bench_file.py --size 1280x720 --frames 120 --fac reference   # GPU, reference FAC
    python benchmarks/bench_file.py --device cpu --size 160x96 --frames 4          # CPU smoke run
    python benchmarks/bench_file.py --device cpu --size 320x192 --frames 24 --weights weights/stfan_synth_v0.safetensors
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_flops import parse_size  # noqa: E402

from deblur_cli.cli.report import stage_rows  # noqa: E402
from deblur_cli.inference.accelerate import accelerate  # noqa: E402
from deblur_cli.inference.build import build_engine  # noqa: E402
from deblur_cli.inference.devices import resolve_device, resolve_dtype  # noqa: E402
from deblur_cli.inference.engine import RecurrentEngine  # noqa: E402
from deblur_cli.inference.strength import StrengthEngine  # noqa: E402
from deblur_cli.inference.tiling import DEFAULT_OVERLAP, TiledEngine  # noqa: E402
from deblur_cli.models import STFAN  # noqa: E402
from deblur_cli.pipeline.batch import FileOutcome  # noqa: E402
from deblur_cli.pipeline.video import VideoResult, deblur_video  # noqa: E402
from tests.clipgen import make_clip  # noqa: E402


def make_engine(args) -> RecurrentEngine:
    if args.weights:
        engine = build_engine(args.weights, device=args.device, fp16=args.fp16)
        model, order = engine.model, engine.channel_order
    else:
        torch.manual_seed(0)
        model, order = STFAN(), "RGB"
    device = resolve_device(args.device)
    dtype = resolve_dtype(device, args.fp16)
    if args.tile:
        engine = TiledEngine(model, tile=args.tile, overlap=args.overlap, channel_order=order, device=device,
                             dtype=dtype)
    else:
        engine = RecurrentEngine(model, channel_order=order, device=device, dtype=dtype)
    engine = accelerate(engine, args.fac)
    return StrengthEngine(engine, args.strength) if args.strength is not None else engine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1280x720", help="WIDTHxHEIGHT of the generated clip")
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--fp16", action="store_true")
    parser.add_argument("--fac", default="auto", choices=("reference", "triton", "auto"))
    parser.add_argument("--tile", type=int, default=None, help="restore in tiles of this side (pixels)")
    parser.add_argument("--overlap", type=int, default=DEFAULT_OVERLAP, help="tile overlap (pixels, multiple of 4)")
    parser.add_argument("--weights", default=None, help="a weights file (default: random weights)")
    parser.add_argument("--strength", default=None,
                        help="auto or 0..1: time the blend run writes (default: the network's output alone)")
    parser.add_argument("--codec", default=None)
    parser.add_argument("--preset", default=None)
    parser.add_argument("--crf", type=int, default=None)
    parser.add_argument("--device-colour", default="auto",
                        help="auto, on or off (where YUV <-> RGB happens; see pipeline/reading.py); a comma "
                             "list runs the same clip once per value")
    args = parser.parse_args()
    height, width = parse_size(args.size)

    engine = make_engine(args)
    with tempfile.TemporaryDirectory() as tmp:
        made = time.perf_counter()
        source = make_clip(Path(tmp) / "input.mp4", size=(width, height), frames=args.frames)
        print(f"generated {args.frames} frames of {width}x{height} in {time.perf_counter() - made:.1f} s")
        for mode in args.device_colour.split(","):
            result = deblur_video(source, Path(tmp) / "output.mp4", engine, codec=args.codec, crf=args.crf,
                                  preset=args.preset, overwrite=True, device_colour=mode)
            report(engine, args, result, mode)


def report(engine: RecurrentEngine, args, result: VideoResult, mode: str) -> None:
    """The run's speed, then its stage table (Markdown)."""
    print(f"\ndevice {engine.device} dtype {str(engine.dtype).removeprefix('torch.')} FAC "
          f"{'fused Triton' if engine.model.fused_deblur else 'reference'}"
          f"{f' tiles {args.tile}' if args.tile else ''}"
          f"{f' strength {args.strength} (mean {result.strength:.2f})' if args.strength is not None else ''}"
          f", {args.size}, colour converted on the "
          f"{'device' if result.colour == 'device' else 'CPU'} (--device-colour {mode}): "
          f"{result.frames} frames in {result.seconds:.2f} s = **{result.fps:.2f} frames/s** "
          f"(file to file, including model warm-up)\n")
    if engine.device.type == "cuda":
        print(f"peak GPU memory {torch.cuda.max_memory_allocated(engine.device) / 2**20:.0f} MiB "
              f"({torch.cuda.get_device_name(engine.device)})\n")
    outcome = FileOutcome.finished(result.input, result.output, result, str(engine.device))
    rows, verdict = stage_rows([outcome])
    print("| thread | stage | seconds | ms/frame | share of wall |")
    print("|---|---|---|---|---|")
    for thread, stage, seconds, per_frame, share in rows:
        print(f"| {thread} | {stage} | {seconds:.3f} | {per_frame:.2f} | {100 * share:.1f} % |")
    print(f"\n{verdict}")
    for warning in result.warnings:
        print(f"warning: {warning}")


if __name__ == "__main__":
    main()
