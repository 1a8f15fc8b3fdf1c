"""The blur detector on shots from a second, independent renderer: clip by clip, as ``scan --json`` reports.

    python benchmarks/bench_scan_shots.py [--threshold T]
    python benchmarks/bench_scan_shots.py --cuts     # clips of 4 shots x 20 frames, judged as ``scan`` does

``bench_scan.py detector`` judges frames of the training synth (deblur_cli.synth). This judges whole clips
drawn by the tests' shot renderer (``tests/shotgen.py``: a virtual camera over a still picture, each frame
averaged over its exposure, Gaussian noise, flicker), from the validation photos (never tuned on) and two
procedural pictures (smooth colour fields with a few hard discs): sharp shots (a still camera, a pan with a
very short exposure) and blurred ones (a straight pan whose path during the exposure is 3, 5 or 9 px; a
shake with a whole-frame exposure). 320x192, 12 frames, 2 shots per picture and kind. Figures per kind:
the share of frames flagged, and the share of clips whose ``blurred_fraction`` is above one half (what
decides a folder run's ``--skip-sharp`` for a clip of one kind). With ``--cuts``: 6 clips of 4 sharp shots
(a still camera or a pan, short exposure) and 6 of 4 shaky ones, each shot 20 frames of another picture,
measured and cut as ``scan`` does (``pipeline.scan._Measure``): the share flagged, per shot, and whether the
cuts were found exactly.
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


def cuts(pictures: list, rng: np.random.Generator, size: tuple[int, int]) -> None:
    from shotgen import ShotSpec, clip_with_cuts

    from deblur_cli.pipeline.scan import _Measure

    for kind in ("sharp", "shake"):
        shares, exact = [], 0
        for _ in range(6):
            order = rng.permutation(len(pictures))[:4]
            if kind == "sharp":
                specs = [ShotSpec(str(rng.choice(["static", "pan"])), 20, size, float(rng.uniform(0.5, 4.0)), 0.0,
                                  0.02, 2 / 255) for _ in order]
            else:
                specs = [ShotSpec("shake", 20, size, float(rng.uniform(4.0, 8.0)), 1.0, 0.02, 2 / 255) for _ in order]
            frames, found = clip_with_cuts([pictures[i] for i in order], specs, rng)
            detector, measured = BlurDetector(30.0), _Measure()
            for frame in frames:
                detector.add(*measured(rgb_luma(frame)))
            exact += detector.cuts == found
            flags = np.array([s.blurred for s in detector.scores()])
            shares.append([float(flags[k: k + 20].mean()) for k in range(0, len(flags), 20)])
        print(f"{kind} shots, 4 a clip: {100 * np.mean(shares):.1f} % of frames flagged, cuts found exactly in "
              f"{exact} of 6 clips; per shot: {np.round(shares, 2).tolist()}")


def main(argv: list[str] | None = None) -> dict:
    from shotgen import load_picture, photo_paths, procedural_picture, render_shot

    from deblur_cli.synth import split_images

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    parser.add_argument("--shots", type=int, default=2, help="shots per picture and kind")
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--cuts", action="store_true", help="clips of several shots, with cuts")
    args = parser.parse_args(argv)
    size = (192, 320)
    _, val = split_images(photo_paths())
    pictures = [load_picture(p, 3 * size[1]) for p in val]
    pictures += [procedural_picture(i, (3 * size[0], 3 * size[1])) for i in range(2)]
    rng = np.random.default_rng(args.seed)
    if args.cuts:
        cuts(pictures, rng, size)
        return {}
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
