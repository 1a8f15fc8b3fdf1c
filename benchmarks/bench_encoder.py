"""libx264 alone: frames/s and bytes of one clip at several presets and threading modes (the encode plan's choice).

Why: on a GPU run the encoder is one of the three threads a frame goes through,
and it must keep up with the model (150 frames/s at 720p is the target). The
clip is a camera panning over a shared photo with sensor noise and a little
motion blur (what deblurred footage looks like to an encoder), made in memory;
frames are encoded from yuv420p (no colour conversion timed) into memory.

    python benchmarks/bench_encoder.py --size 1280x720 --frames 120 --presets medium,faster,veryfast
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.shotgen import load_picture, photo_paths, procedural_picture  # noqa: E402


def panning_clip(width: int, height: int, frames: int, seed: int = 0, noise: float = 0.01,
                 photo: int = 0) -> list[av.VideoFrame]:
    """yuv420p frames of a slow pan over a photo (procedural texture without the photos), with noise."""
    paths = photo_paths()
    picture = load_picture(paths[photo % len(paths)], long_side=2 * max(width, height)) if paths else \
        procedural_picture(seed, (2 * height, 2 * width))
    rng = np.random.default_rng(seed)
    ph, pw = picture.shape[:2]
    scale = min(ph / (height * 1.2), pw / (width * 1.2))
    ys = ((np.arange(height) - height / 2) * scale)[:, None]
    xs = ((np.arange(width) - width / 2) * scale)[None, :]
    out = []
    for i in range(frames):
        cx, cy = pw / 2 + (i - frames / 2) * 2.0 * scale, ph / 2 + np.sin(i / 7) * 3 * scale
        rows = np.clip((cy + ys).astype(np.int64), 0, ph - 1)
        cols = np.clip((cx + xs).astype(np.int64), 0, pw - 1)
        rgb = picture[rows, cols] + rng.normal(0, noise, (height, width, 3)).astype(np.float32)
        rgb8 = (np.clip(rgb, 0, 1) * 255).round().astype(np.uint8)
        out.append(av.VideoFrame.from_ndarray(rgb8, format="rgb24").reformat(format="yuv420p"))
    return out


def encode(frames: list[av.VideoFrame], preset: str, crf: int, threading: str) -> tuple[float, int, float]:
    """(seconds, bytes, luma PSNR in dB) of ``frames`` encoded into an in-memory MP4 with libx264."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = frames[0].width, frames[0].height, "yuv420p"
        stream.time_base = stream.codec_context.time_base = Fraction(1, 25)
        stream.options = {"crf": str(crf), "preset": preset}
        stream.codec_context.thread_type = threading
        started = time.perf_counter()
        for i, frame in enumerate(frames):
            frame.pts, frame.time_base = i, Fraction(1, 25)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
        seconds = time.perf_counter() - started
    size = buffer.getbuffer().nbytes
    buffer.seek(0)
    errors = []
    with av.open(buffer) as decoded:
        for original, frame in zip(frames, decoded.decode(video=0)):
            a, b = (np.asarray(f.planes[0]).reshape(f.height, -1)[:, : f.width].astype(np.float64)
                    for f in (original, frame))
            errors.append(np.mean((a - b) ** 2))
    return seconds, size, 10 * np.log10(255.0**2 / max(float(np.mean(errors)), 1e-12))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1280x720", help="WIDTHxHEIGHT")
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--crf", type=int, default=18)
    parser.add_argument("--presets", default="medium,faster,veryfast")
    parser.add_argument("--threading", default="SLICE,FRAME", help="PyAV thread_type values to compare")
    parser.add_argument("--noise", type=float, default=0.01, help="sensor noise (standard deviation, of full scale)")
    parser.add_argument("--photo", type=int, default=0, help="which of the shared photos to pan over")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    frames = panning_clip(width, height, args.frames, noise=args.noise, photo=args.photo)
    print(f"libx264 crf {args.crf}, {args.frames} frames of {width}x{height} (pan over photo {args.photo}, "
          f"noise {args.noise}), PyAV {av.__version__}")
    print("| preset | threading | frames/s | KiB/frame | size vs first row | luma PSNR dB |")
    print("|---|---|---|---|---|---|")
    first = None
    for preset in args.presets.split(","):
        for threading in args.threading.split(","):
            seconds, size, psnr = encode(frames, preset, args.crf, threading)
            first = first or size
            print(f"| {preset} | {threading} | {args.frames / seconds:.1f} | {size / args.frames / 1024:.1f} | "
                  f"{size / first:.3f}x | {psnr:.2f} |", flush=True)


if __name__ == "__main__":
    main()
