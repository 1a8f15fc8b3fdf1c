"""How often the scene-cut detector is wrong on a few hundred generated shots, and what it costs.

Each trial renders two shots back to back (tests/shotgen.py: a virtual camera
panning, shaking, zooming or whip-panning over a photo or texture, with motion
blur, flicker and noise). A false positive is a cut reported inside a shot, a
false negative a missed boundary between two different pictures. Cuts to
another part of the *same* picture are reported separately: finding them is
not required (the network's memory is still about the same scene).

    PYTHONPATH=. python benchmarks/scenecut_check.py [--trials 150] [--threshold 0.3]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from deblur_cli.pipeline.scenecut import (  # noqa: E402
    DEFAULT_MIN_GAP,
    DEFAULT_THRESHOLD,
    SceneCutDetector,
)
from tests.shotgen import MOTIONS, photo_paths, pictures, random_spec, render_shot  # noqa: E402


def run(trials: int, frames: int, threshold: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    pics = pictures(max(len(photo_paths()), 1) + 12, seed=seed)  # every photo plus 12 textures
    print(f"{len(pics)} pictures ({len(photo_paths())} photos), {trials} trials of 2 shots x {frames} frames, "
          f"threshold {threshold}, min_gap {DEFAULT_MIN_GAP}")
    shots, false_pos = Counter(), Counter()
    cut_scores, same_picture_scores, inside_scores = [], [], []
    false_neg = same_found = 0
    for trial in range(trials):
        same_picture = trial % 5 == 4  # one trial in five cuts within one picture
        i, j = rng.choice(len(pics), 2, replace=False)
        j = i if same_picture else j
        specs = [random_spec(rng, frames=frames), random_spec(rng, frames=frames)]
        clip = render_shot(pics[i], specs[0], rng) + render_shot(pics[j], specs[1], rng)
        detector = SceneCutDetector(threshold=threshold)
        for index, frame in enumerate(clip):
            cut = detector.is_cut(frame)
            if index == 0:
                continue
            score = detector.last_score.score
            if index == frames:
                (same_picture_scores if same_picture else cut_scores).append(score)
                if same_picture:
                    same_found += cut
                else:
                    false_neg += not cut
            else:
                motion = specs[index > frames].motion
                inside_scores.append(score)
                false_pos[motion] += cut
        for spec in specs:
            shots[spec.motion] += 1

    print(f"\nfalse positives (cuts reported inside {sum(shots.values())} shots, "
          f"{len(inside_scores)} frame pairs):")
    for motion in MOTIONS:
        print(f"  {motion:7s} {false_pos[motion]:4d} in {shots[motion]:4d} shots")
    different = len(cut_scores)
    print(f"false negatives (missed cuts between different pictures): {false_neg} of {different}")
    print(f"cuts within the same picture found: {same_found} of {len(same_picture_scores)} (not required)")
    inside, cuts = np.array(inside_scores), np.array(cut_scores)
    print(f"\nscores inside shots: median {np.median(inside):.3f}, 99th pct {np.percentile(inside, 99):.3f}, "
          f"max {inside.max():.3f}")
    print(f"scores at cuts:      min {cuts.min():.3f}, 1st pct {np.percentile(cuts, 1):.3f}, "
          f"median {np.median(cuts):.3f}")


def time_per_frame() -> None:
    rng = np.random.default_rng(0)
    for shape, dtype in (((1080, 1920, 3), np.uint8), ((2160, 3840, 3), np.uint16)):
        frames = [rng.integers(0, np.iinfo(dtype).max, shape, dtype=dtype) for _ in range(2)]
        detector = SceneCutDetector()
        detector.is_cut(frames[0])
        start, n = time.perf_counter(), 30
        for k in range(n):
            detector.is_cut(frames[k % 2])
        print(f"is_cut on {shape[1]}x{shape[0]} {np.dtype(dtype).name}: "
              f"{(time.perf_counter() - start) / n * 1e3:.2f} ms per frame")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=150, help="pairs of shots (two shots each)")
    parser.add_argument("--frames", type=int, default=10, help="frames per shot")
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    run(args.trials, args.frames, args.threshold, args.seed)
    print()
    time_per_frame()


if __name__ == "__main__":
    main()
