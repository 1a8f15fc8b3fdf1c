"""``scan`` and ``run --skip-sharp``, measured: scan speed against bare decoding, the detector on synthetic
clips, and what skipping sharp footage saves on the CPU.

    python benchmarks/bench_scan.py speed            # scan rate / bare PyAV decode rate of one 720p file
    python benchmarks/bench_scan.py detector         # validation photos (never tuned on); --split train to tune
    python benchmarks/bench_scan.py skip --weights synth-v0   # a folder of half sharp, half shaky clips, CPU

Detector clips (deblur_cli.synth, 320x192 by default): camera shake with the clip's blur path set to 1, 2, 3,
5, 9 or 15 px (``shake`` profile, no moving objects) and very short exposures (``sharp``), under five
conditions: clean, strong sensor noise, JPEG-like compression at quality 30-50, dark (a fifth of the light,
noisy) and moving objects on a still camera (their blur set the same way). Each frame is labelled by its own
longest blur path (the synth's ``blur_px``): blurred at 3 px or more, sharp under 1 px. Figures: the share of
blurred frames flagged at the default threshold (goal >= 98 %), of sharp frames flagged (goal <= 5 %), and
the ROC area of the score.
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import av
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from deblur_cli.analysis import BlurDetector, measure, rgb_luma  # noqa: E402
from deblur_cli.analysis.detector import DEFAULT_THRESHOLD  # noqa: E402
from deblur_cli.evaluation.evaluate import VALIDATION_SEED  # noqa: E402

BLURS = ("sharp", 1, 2, 3, 5, 9, 15)
DEFAULT_IMAGES = REPO.parent / "shared" / "train-images"


def conditions():
    from deblur_cli.synth.camera import MotionRange

    still = MotionRange(pan_speed=(0.0, 0.0), shake_speed=(0.0, 0.0), rotation_speed=0.0, zoom_speed=0.0)
    return {
        "clean": dict(noise_prob=0.0, jpeg_prob=0.0),
        "noisy": dict(noise_prob=1.0, shot_noise=(3e-3, 6e-3), read_noise=(5e-3, 1e-2), jpeg_prob=0.0),
        "jpeg": dict(jpeg_prob=1.0, jpeg_quality=(30.0, 50.0)),
        "dark": dict(gain=(0.12, 0.2), noise_prob=1.0),
        "objects": dict(motion=still, object_prob=1.0, object_speed=(2.0, 16.0)),
    }


def profile_for(condition: str, settings: dict, blur):
    from deblur_cli.synth.profiles import SHAKE

    profile = replace(SHAKE, **{"object_prob": 0.0, **settings})
    if blur == "sharp":
        return replace(profile, sharp_prob=1.0)
    if condition == "objects":  # the objects' speed sets their blur (a whole-frame exposure)
        return replace(profile, sharp_prob=0.0, object_speed=(float(blur), float(blur)), exposure=(1.0, 1.0))
    return replace(profile, sharp_prob=0.0, blur_px=(float(blur), float(blur)))


def auc(positive: list[float], negative: list[float]) -> float:
    """The ROC area: the chance a blurred frame scores above a sharp one (ties count half)."""
    if not positive or not negative:
        return float("nan")
    values = np.concatenate([positive, negative])
    order = values.argsort(kind="mergesort")
    ranks = np.empty(len(values))
    sorted_values = values[order]
    i = 0
    while i < len(values):  # average ranks over ties
        j = i
        while j + 1 < len(values) and sorted_values[j + 1] == sorted_values[i]:
            j += 1
        ranks[order[i: j + 1]] = (i + j) / 2 + 1
        i = j + 1
    n_pos = len(positive)
    return float((ranks[:n_pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * len(negative)))


def detector(args) -> dict:
    import torch

    from deblur_cli.synth import SequenceGenerator, list_images, load_images, split_images

    torch.set_num_threads(args.threads)
    train, val = split_images(list_images(args.images))
    photos = load_images(val if args.split == "val" else train)
    width, height = (int(v) for v in args.size.lower().split("x"))
    rows = []  # (condition, blur setting, frame blur px, score)
    started = time.perf_counter()
    for ci, (condition, settings) in enumerate(conditions().items()):
        for bi, blur in enumerate(BLURS):
            profile = profile_for(condition, settings, blur)
            generator = SequenceGenerator(photos, args.frames, (height, width), seed=args.seed + 10 * ci + bi,
                                          profile=profile)
            for k in range(args.clips):
                clip = generator.sequence(k)
                frames = (clip.blurry.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
                found = BlurDetector(30.0, args.threshold)
                for frame in frames:
                    found.add(measure(rgb_luma(frame)))
                for t, score in enumerate(found.scores()):
                    rows.append((condition, str(blur), float(clip.info["blur_px"][t]), score.score))
    print(f"{len(rows)} frames ({args.split} photos, {args.size}) in {time.perf_counter() - started:.0f} s")
    print(f"{'condition':<9} " + " ".join(f"{str(b) + ' px' if b != 'sharp' else 'sharp':>8}" for b in BLURS)
          + "   (share of frames flagged)")
    for condition in conditions():
        cells = []
        for blur in BLURS:
            scores = [r[3] for r in rows if r[0] == condition and r[1] == str(blur)]
            cells.append(f"{100 * np.mean(np.array(scores) >= args.threshold):7.0f}%" if scores else "       -")
        print(f"{condition:<9} " + " ".join(cells))
    figures = {}
    for condition in [*conditions(), "all"]:
        chosen = [r for r in rows if condition in ("all", r[0])]
        blurred = [r[3] for r in chosen if r[2] >= 3.0]
        sharp = [r[3] for r in chosen if r[2] < 1.0]
        figures[condition] = {
            "blurred_flagged": float(np.mean(np.array(blurred) >= args.threshold)) if blurred else float("nan"),
            "sharp_flagged": float(np.mean(np.array(sharp) >= args.threshold)) if sharp else float("nan"),
            "auc": auc(blurred, sharp), "blurred": len(blurred), "sharp": len(sharp)}
    print(f"{'condition':<9} {'blurred>=3px flagged':>21} {'sharp<1px flagged':>18} {'ROC area':>9}")
    for condition, f in figures.items():
        print(f"{condition:<9} {100 * f['blurred_flagged']:20.1f}% {100 * f['sharp_flagged']:17.1f}% "
              f"{f['auc']:9.3f}   ({f['blurred']} blurred, {f['sharp']} sharp frames)")
    return figures


def _textured_clip(path: Path, width: int, height: int, frames: int) -> Path:
    """A noisy panning texture at ``width`` x ``height``, x264 crf 18: what a camera file decodes like."""
    sys.path.insert(0, str(REPO / "tests"))
    from blurgen import texture

    base = texture(width + frames * 4, height, shapes=400)
    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast"}
        for i in range(frames):
            grey = base[:, i * 4: i * 4 + width] + rng.normal(0, 3, (height, width))
            grey = np.clip(grey, 0, 255).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(np.repeat(grey[..., None], 3, 2), format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


def _decode_seconds(path: Path) -> float:
    started = time.perf_counter()
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for _ in container.decode(stream):
            pass
    return time.perf_counter() - started


def speed(args) -> float:
    from deblur_cli.pipeline.scan import scan_file

    width, height = (int(v) for v in args.speed_size.lower().split("x"))
    with tempfile.TemporaryDirectory() as folder:
        clip = _textured_clip(Path(folder) / "clip.mp4", width, height, args.speed_frames)
        decode, scan = [], []
        for _ in range(args.repeats):  # alternated, best of each: the machine is shared
            decode.append(_decode_seconds(clip))
            started = time.perf_counter()
            scan_file(clip)
            scan.append(time.perf_counter() - started)
    n = args.speed_frames
    print(f"{width}x{height}, {n} frames: bare decode {n / min(decode):.0f} frames/s, scan {n / min(scan):.0f} "
          f"frames/s (best of {args.repeats})")
    ratio = min(decode) / min(scan)
    print(f"scan rate / decode rate: {ratio:.2f}x (goal >= 0.8x)")
    return ratio


def skip(args) -> dict:
    """A folder of half sharp, half shaky clips, restored on the CPU with and without --skip-sharp."""
    from deblur_cli.pipeline.runner import deblur_path
    from deblur_cli.synth import SequenceGenerator, list_images, load_images, split_images
    from deblur_cli.synth.profiles import SHAKE, SHARP
    from tests.clipgen import decode_video, payloads

    train, val = split_images(list_images(args.images))
    photos = load_images(val)
    width, height = (int(v) for v in args.skip_size.lower().split("x"))
    work = Path(tempfile.mkdtemp(prefix="bench-scan-"))
    try:
        clips = work / "clips"
        clips.mkdir()
        for kind, profile in (("sharp", SHARP), ("shaky", SHAKE)):
            generator = SequenceGenerator(photos, args.skip_frames, (height, width), seed=args.seed, profile=profile)
            for k in range(args.skip_clips):
                frames = (generator.sequence(k).blurry.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
                with av.open(str(clips / f"{kind}-{k}.mkv"), "w") as out:
                    stream = out.add_stream("libx264", rate=25)
                    stream.width, stream.height, stream.pix_fmt = width, height, "yuv444p"
                    stream.options = {"qp": "0", "preset": "veryfast"}
                    for frame in frames:
                        out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
                    out.mux(stream.encode())
        common = dict(weights=args.weights, device="cpu", crf=0, overwrite=True)
        seconds = {}
        for name, skipping in (("plain", False), ("skip", True)):
            started = time.perf_counter()
            summary = deblur_path(clips, work / name, skip_sharp=skipping, **common)
            seconds[name] = time.perf_counter() - started
            statuses = sorted({o.status for o in summary.outcomes})
            print(f"{name}: {seconds[name]:.1f} s ({', '.join(statuses)})", flush=True)
            for o in summary.outcomes:  # the rest of the total: weights, engine, what precedes each file
                print(f"  {o.input.name}: {o.status}, {o.seconds:.2f} s, {o.restored} of {o.frames} frames restored, "
                      f"model {o.stages.get('model', 0.0):.2f} s", flush=True)
            print(f"  outside the files' own time: {seconds[name] - sum(o.seconds for o in summary.outcomes):.2f} s")
        figures = {"time_ratio": seconds["skip"] / seconds["plain"], "psnr": {}, "identical": {}}
        for path in sorted(clips.iterdir()):
            plain, ours = work / "plain" / path.name, work / "skip" / path.name
            a, b = decode_video(plain, rgb=True)[2], decode_video(ours, rgb=True)[2]
            mse = np.mean([(x.astype(float) - y.astype(float)) ** 2 for x, y in zip(a, b)])
            figures["psnr"][path.name] = math.inf if mse == 0 else 10 * math.log10(255**2 / mse)
            figures["identical"][path.name] = payloads(ours, "video") == payloads(path, "video")
        for name in figures["psnr"]:
            print(f"  {name}: PSNR vs plain {figures['psnr'][name]:.2f} dB, streams identical to the input: "
                  f"{figures['identical'][name]}")
        print(f"--skip-sharp total time / plain run: {figures['time_ratio']:.2f} (goal <= 0.6)")
        return figures
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("speed", "detector", "skip"))
    parser.add_argument("--images", type=Path, default=DEFAULT_IMAGES)
    parser.add_argument("--split", choices=("val", "train"), default="val")
    parser.add_argument("--clips", type=int, default=2, help="detector: clips per condition and blur")
    parser.add_argument("--frames", type=int, default=12, help="detector: frames per clip")
    parser.add_argument("--size", default="320x192", help="detector: WIDTHxHEIGHT")
    parser.add_argument("--seed", type=int, default=VALIDATION_SEED)
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--speed-size", default="1280x720")
    parser.add_argument("--speed-frames", type=int, default=120)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--weights", default="synth-v0", help="skip: the weights (any STFAN weights time alike)")
    parser.add_argument("--skip-size", default="320x192")
    parser.add_argument("--skip-clips", type=int, default=2, help="skip: clips of each kind")
    parser.add_argument("--skip-frames", type=int, default=16)
    args = parser.parse_args(argv)
    return {"speed": speed, "detector": detector, "skip": skip}[args.what](args)


if __name__ == "__main__":
    main()
