"""The blur detector on shots from a second, independent renderer: clip by clip, as ``scan --json`` reports.

    python benchmarks/bench_scan_shots.py [--threshold T]

``bench_scan.py detector`` judges frames of the training synth (deblur_cli.synth). This judges whole clips
drawn by the tests' shot renderer (``tests/shotgen.py``: a virtual camera over a still picture, each frame
averaged over its exposure, Gaussian noise, flicker), from the validation photos (never tuned on) and two
procedural pictures (smooth colour fields with a few hard discs): sharp shots (a still camera, a pan with a
very short exposure) and blurred ones (a straight pan whose path during the exposure is 3, 5 or 9 px; a
shake with a whole-frame exposure). 320x192, 12 frames, 2 shots per picture and kind. Figures per kind:
the share of frames flagged, and the share of clips whose ``blurred_fraction`` is above one half (what
decides a folder run's ``--skip-sharp`` for a clip of one kind).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from deblur_cli.analysis import BlurDetector, blurred_fraction, measure, rgb_luma  # noqa: E402
from deblur_cli.analysis.detector import DEFAULT_THRESHOLD  # noqa: E402

KINDS = ("sharp, still", "sharp, pan", "pan 3 px", "pan 5 px", "pan 9 px", "shake")


def spec_for(kind: str, rng: np.random.Generator, frames: int, size: tuple[int, int]):
    from shotgen import ShotSpec

    noise = rng.uniform(1.0, 3.0) / 255
    if kind == "sharp, still":
        return ShotSpec("static", frames, size, 0.0, 0.0, 0.02, noise)
    if kind == "sharp, pan":
        return ShotSpec("pan", frames, size, rng.uniform(1.0, 6.0), 0.0, 0.02, noise)
    if kind == "shake":
        return ShotSpec("shake", frames, size, rng.uniform(4.0, 8.0), 1.0, 0.02, noise)
    length = float(kind.split()[1])
    return ShotSpec("pan", frames, size, length / 0.8, 0.8, 0.02, noise)


def main(argv: list[str] | None = None) -> dict:
    from shotgen import load_picture, photo_paths, procedural_picture, render_shot

    from deblur_cli.synth import split_images

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    parser.add_argument("--shots", type=int, default=2, help="shots per picture and kind")
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    size = (192, 320)
    _, val = split_images(photo_paths())
    pictures = [load_picture(p, 3 * size[1]) for p in val]
    pictures += [procedural_picture(i, (3 * size[0], 3 * size[1])) for i in range(2)]
    rng = np.random.default_rng(args.seed)
    flagged: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for picture in pictures:
        for kind in KINDS:
            for _ in range(args.shots):
                frames = render_shot(picture, spec_for(kind, rng, args.frames, size), rng)
                detector = BlurDetector(30.0, args.threshold)
                for frame in frames:
                    detector.add(measure(rgb_luma(frame)))
                flags = [s.blurred for s in detector.scores()]
                flagged[kind].append(blurred_fraction([i / 30.0 for i in range(len(flags))], flags, 1 / 30.0))
    print(f"{len(pictures)} pictures ({len(val)} validation photos, 2 procedural), {args.shots} shots each, "
          f"{args.frames} frames, {size[1]}x{size[0]}, threshold {args.threshold}")
    print(f"{'shot':<13} {'frames flagged':>15} {'clips judged blurred (> 1/2)':>29}")
    for kind, shares in flagged.items():
        print(f"{kind:<13} {100 * np.mean(shares):14.1f}% {100 * np.mean(np.array(shares) > 0.5):28.1f}%")
    return flagged


if __name__ == "__main__":
    main()
