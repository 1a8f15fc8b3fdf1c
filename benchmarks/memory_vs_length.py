"""Peak memory of deblur_video against clip length: it must not grow with the number of frames.

Each length runs in a fresh Python process (peak RSS only ever goes up within
one), on a generated clip with an audio track, with a real STFAN engine (random
weights; memory does not depend on the values) or the identity engine.

    python benchmarks/memory_vs_length.py                 # 40 vs 400 frames, 96x64, STFAN on CPU
    python benchmarks/memory_vs_length.py --frames 40 400 1200 --engine identity
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def measure(frames: int, width: int, height: int, engine_kind: str) -> dict:
    """Runs in the child process: make the clip, deblur it, report peak RSS."""
    sys.path.insert(0, str(REPO))
    import torch

    from deblur_cli.pipeline.video import deblur_video
    from tests.clipgen import make_clip

    torch.set_num_threads(1)
    if engine_kind == "stfan":
        from deblur_cli.inference.engine import RecurrentEngine
        from deblur_cli.models import STFAN

        engine = RecurrentEngine(STFAN())
    else:
        class Identity:
            def reset(self):
                pass

            def process_array(self, frame):
                return frame.copy()

        engine = Identity()
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(Path(tmp) / "in.mp4", size=(width, height), frames=frames, audio=["aac"])
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        result = deblur_video(clip, Path(tmp) / "out.mp4", engine)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"frames": result.frames, "fps": round(result.fps, 1),
            "peak_rss_mib": round(peak / 1024, 1), "rss_before_run_mib": round(before / 1024, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[40, 400])
    parser.add_argument("--size", default="96x64", help="WIDTHxHEIGHT of the generated clip")
    parser.add_argument("--engine", choices=["stfan", "identity"], default="stfan")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    if args.child is not None:
        print(json.dumps(measure(args.child, width, height, args.engine)))
        return
    print(f"engine={args.engine} size={width}x{height} (peak RSS of a fresh process per run)")
    rows = []
    for frames in args.frames:
        out = subprocess.run([sys.executable, __file__, "--child", str(frames), "--size", args.size,
                              "--engine", args.engine], check=True, capture_output=True, text=True)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(f"  {row['frames']:6d} frames: peak RSS {row['peak_rss_mib']:8.1f} MiB "
              f"(before the run {row['rss_before_run_mib']:.1f} MiB), {row['fps']} fps")
    growth = rows[-1]["peak_rss_mib"] - rows[0]["peak_rss_mib"]
    print(f"peak RSS change from {rows[0]['frames']} to {rows[-1]['frames']} frames: {growth:+.1f} MiB")


if __name__ == "__main__":
    main()
