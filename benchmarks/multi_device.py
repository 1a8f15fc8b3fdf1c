"""One video on one device or spread over several: wall time of `run` (deblur_path), one pass and in segments.

The clip is generated (tests/clipgen.py, a keyframe every second) and cut into
segments of ``--segment`` seconds; each configuration restores the whole file,
encode and join included. On a GPU machine give ``--devices cuda:0,cuda:1``;
on the CPU, ``cpu,cpu`` means two workers in one process (``--threads`` torch
threads in all, shared by the workers). Random weights: speed does not depend
on their values.

    PYTHONPATH=. python benchmarks/multi_device.py [--size 96x64] [--frames 200] [--segment 2]
        [--devices cpu,cpu] [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from deblur_cli.inference.devices import cpu_model  # noqa: E402
from deblur_cli.models import STFAN  # noqa: E402
from deblur_cli.models.weights import save_weights  # noqa: E402
from deblur_cli.pipeline.runner import deblur_path  # noqa: E402
from tests.clipgen import make_clip  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="96x64", help="WIDTHxHEIGHT of the generated clip")
    parser.add_argument("--frames", type=int, default=200, help="frames at 25 frames/s")
    parser.add_argument("--segment", type=float, default=2.0, help="segment length in seconds")
    parser.add_argument("--devices", default="cpu,cpu", help="the several devices to compare with the first alone")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the CPU case)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    width, height = (int(v) for v in args.size.split("x"))
    first = args.devices.split(",")[0]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        torch.manual_seed(0)
        weights = folder / "random.safetensors"
        save_weights(STFAN().state_dict(), weights, {"name": "random", "channel_order": "RGB"}, half=False)
        src = make_clip(folder / "in.mp4", size=(width, height), frames=args.frames, audio=["aac"],
                        params="keyint=25:min-keyint=25:scenecut=0")
        print(f"{args.frames} frames {width}x{height}, segments of {args.segment} s; CPU: {cpu_model()}, "
              f"torch threads {args.threads}")
        print("\n| devices | segments | seconds | frames/s | speed-up |\n|---|---|---|---|---|")
        base = None
        for devices, segment in ((first, 0.0), (first, args.segment), (args.devices, args.segment)):
            started = time.perf_counter()
            summary = deblur_path(src, folder / f"out-{len(devices)}-{segment}.mp4", weights=weights,
                                  device=devices, segment=segment)
            seconds = time.perf_counter() - started
            base = base or seconds
            frames = summary.outcomes[0].frames
            print(f"| {devices} | {'off' if not segment else f'{segment} s'} | {seconds:.1f} | "
                  f"{frames / seconds:.2f} | {base / seconds:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
