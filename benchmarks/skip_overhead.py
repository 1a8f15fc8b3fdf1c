"""Where ``run --skip-sharp`` spends time besides restoring: per file, and the steps around the network.

    python benchmarks/skip_overhead.py                  # a sharp and a shaky 320x192 clip, one pass
    python benchmarks/skip_overhead.py --segment 0.5    # the same in 0.5 s segments (parts, journal)
    python benchmarks/skip_overhead.py --sharp-only     # a folder with nothing to restore

The scan is real, but the detector is a black box here (it is being retuned): the sharp clip's flags are
cleared after its scan, so it is judged sharp and copied whatever the detector says, and the shaky clip
keeps its own (8 frames are smeared). Prints each file's status and seconds, the time outside the files
(weights, engine), and the calls and seconds of the steps that are not the network: scans, engine
builds, weights loads, packet indexes, copies; and the frames that went through the network. Run it
with another checkout first on PYTHONPATH to compare code versions on the same machine.
"""

from __future__ import annotations

import argparse
import functools
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.append(str(REPO))  # tests.clipgen; a checkout already on PYTHONPATH comes first

CALLS: dict[str, list] = defaultdict(lambda: [0, 0.0])


def count(owner, name: str, label: str) -> None:
    """Count the calls of ``owner.name`` and their seconds under ``label``."""
    original = getattr(owner, name)

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            CALLS[label][0] += 1
            CALLS[label][1] += time.perf_counter() - started
    setattr(owner, name, wrapper)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--segment", type=float, default=30.0)
    parser.add_argument("--sharp-only", action="store_true")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--weights", default="synth-v0")
    args = parser.parse_args(argv)

    import deblur_cli
    from deblur_cli.inference import build
    from deblur_cli.inference.strength import StrengthEngine
    from deblur_cli.io import remux
    from deblur_cli.models import choice
    from deblur_cli.pipeline import scan, split
    from deblur_cli.pipeline.runner import deblur_path
    from tests.blurgen import shaky_content
    from tests.clipgen import make_clip

    count(scan, "scan_file", "scan (a decode)")
    scan_file = scan.scan_file

    def judged(path, *rest, **kwargs):
        result = scan_file(path, *rest, **kwargs)
        if "sharp" in Path(path).name:
            for score in result.scores:
                object.__setattr__(score, "blurred", False)
        return result

    scan.scan_file = judged
    count(build, "build_engine", "engine builds")
    count(choice, "load_weights", "weights loads")
    count(split, "scan", "packet indexes")
    count(remux, "remux", "copies")
    count(StrengthEngine, "step", "frames through the network")
    print(f"deblur_cli from {Path(deblur_cli.__file__).parent}", flush=True)

    work = Path(tempfile.mkdtemp(prefix="skip-overhead-"))
    try:
        clips = work / "clips"
        clips.mkdir()
        gop = "keyint=12:min-keyint=12:scenecut=0"
        n = args.frames
        make_clip(clips / "a-sharp.mkv", size=(320, 192), frames=n, fps=25, content=shaky_content(set(), 7), params=gop)
        if not args.sharp_only:
            make_clip(clips / "b-shaky.mkv", size=(320, 192), frames=n, fps=25, params=gop,
                      content=shaky_content(set(range(n // 2, n // 2 + 8)), 7))
        for run in range(args.runs):
            started = time.perf_counter()
            summary = deblur_path(clips, work / f"out{run}", weights=args.weights, device="cpu", skip_sharp=True,
                                  overwrite=True, segment=args.segment)
            total = time.perf_counter() - started
            for o in summary.outcomes:
                restored = getattr(o, "restored", None)
                print(f"  {o.input.name}: {o.status}, {o.seconds:.2f} s, {o.frames} frames"
                      + ("" if restored is None else f", {restored} restored"))
            outside = total - sum(o.seconds for o in summary.outcomes)
            print(f"run {run}: {total:.2f} s in all; outside the files' own seconds {outside:.2f} s", flush=True)
        for label, (calls, seconds) in sorted(CALLS.items()):
            print(f"  {label}: {calls} calls, {seconds:.2f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
