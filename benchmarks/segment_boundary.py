"""How many warm-up frames a segment needs before its first written frame: PSNR against a one-pass run.

A segmented run restores each segment on its own, starting the network's
recurrence K frames before the segment's first written frame. This script
restores generated blurry clips (tests/shotgen.py: a camera panning, shaking
or zooming over the shared photos, with motion blur, flicker and noise) once in
one pass, then again from each boundary with K warm-up frames, and reports the
PSNR between the two outputs at the boundary frames (the restored 8-bit
arrays, so encoding plays no part). ``inf`` means bit-identical.

    PYTHONPATH=. python benchmarks/segment_boundary.py [--weights weights/stfan_synth_v0.safetensors]
        [--size 64x96] [--frames 40] [--boundaries 12,24] [--ks 0,1,2,4,8,16] [--window 6]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from deblur_cli.inference.build import build_engine  # noqa: E402
from deblur_cli.inference.devices import cpu_model  # noqa: E402
from tests.shotgen import ShotSpec, pictures, render_shot  # noqa: E402

MOTIONS = (("pan", 2.5), ("shake", 2.0), ("zoom", 1.5), ("pan", 1.0))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def random_weights(seed: int) -> Path:
    """A seeded random-weights file (as the tests make), in a temporary folder."""
    import tempfile

    from deblur_cli.models import STFAN
    from deblur_cli.models.weights import save_weights

    torch.manual_seed(seed)
    path = Path(tempfile.mkdtemp()) / "random.safetensors"
    save_weights(STFAN().state_dict(), path, {"name": "random", "channel_order": "RGB"}, half=False)
    return path


def restore(engine, frames: list[np.ndarray]) -> list[np.ndarray]:
    engine.reset()
    return list(engine.restore(iter(frames)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default="weights/stfan_synth_v0.safetensors",
                        help="a weights file, or 'random' (seeded random weights: a network that leans on its memory)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: steady on a shared machine)")
    parser.add_argument("--size", default="64x96", help="HxW of the generated frames")
    parser.add_argument("--frames", type=int, default=40, help="frames per clip")
    parser.add_argument("--clips", type=int, default=len(MOTIONS))
    parser.add_argument("--boundaries", default="12,24", help="frame indices where a segment starts")
    parser.add_argument("--ks", default="0,1,2,4,8,16", help="warm-up lengths to try")
    parser.add_argument("--window", type=int, default=6, help="frames after a boundary that are compared")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    height, width = (int(v) for v in args.size.split("x"))
    ks = [int(k) for k in args.ks.split(",")]
    boundaries = [int(b) for b in args.boundaries.split(",")]
    engine = build_engine(random_weights(args.seed) if args.weights == "random" else args.weights, device="cpu")
    rng = np.random.default_rng(args.seed)
    pics = pictures(args.clips, seed=args.seed)
    print(f"weights {args.weights} (sha256 {engine.weights.sha256[:12]}), CPU: {cpu_model()}, "
          f"{torch.get_num_threads()} threads; {args.clips} clips of {args.frames} frames {width}x{height}; "
          f"boundaries at {boundaries}; PSNR (dB) of the segmented run against one pass")
    first: dict[int, list[float]] = {k: [] for k in ks}  # the boundary frame itself
    worst: dict[int, list[float]] = {k: [] for k in ks}  # the worst of the window
    started = time.perf_counter()
    for clip in range(args.clips):
        motion, speed = MOTIONS[clip % len(MOTIONS)]
        spec = ShotSpec(motion=motion, frames=args.frames, size=(height, width), speed=speed, blur=1.0,
                        flicker=0.03, noise=1.5 / 255)
        frames = render_shot(pics[clip], spec, rng)
        reference = restore(engine, frames)
        for b in boundaries:
            for k in ks:
                start = max(b - k, 0)
                out = restore(engine, frames[start:b + args.window])[b - start:]
                scores = [psnr(o, r) for o, r in zip(out, reference[b:b + args.window])]
                first[k].append(scores[0])
                worst[k].append(min(scores))
    print(f"\n| warm-up K | boundary frame: min / median PSNR | first {args.window} frames: min PSNR |")
    print("|---|---|---|")
    for k in ks:
        print(f"| {k} | {min(first[k]):.1f} / {float(np.median(first[k])):.1f} | {min(worst[k]):.1f} |")
    print(f"\n{len(boundaries) * args.clips} boundaries, {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
