"""What an exact progress total costs: counting the main video's packets against decoding the frames.

The progress bar's total of a one-pass run is counted from the video's packets
(``pipeline.segments.count_frames``: a demux, no decoding) instead of taken from
the container's frame count. This prints how long the count takes next to a
decode of the same file (what any run does anyway, before the network's work),
on a generated clip (x264, keyframe every 2 s, AAC audio), medians of a few runs.

    python benchmarks/bench_frame_count.py [--size 1280x720] [--frames 300] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import av

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from deblur_cli.pipeline.segments import count_frames  # noqa: E402
from tests.clipgen import make_clip  # noqa: E402


def timed(fn, repeat: int) -> tuple[float, object]:
    times, value = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), value


def decode_all(path: Path) -> int:
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        stream.thread_type = "AUTO"
        return sum(1 for _ in c.decode(stream))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as folder:
        clip = make_clip(Path(folder) / "clip.mp4", size=(width, height), frames=args.frames, fps=30,
                         audio=["aac"], params="keyint=60:min-keyint=60")
        count_s, counted = timed(lambda: count_frames(clip), args.repeat)
        decode_s, decoded = timed(lambda: decode_all(clip), args.repeat)
        size_mb = clip.stat().st_size / 1e6
    figures = {"size": args.size, "frames": args.frames, "file_mb": round(size_mb, 2), "counted": counted,
               "decoded": decoded, "count_ms": round(count_s * 1000, 2), "decode_ms": round(decode_s * 1000, 1),
               "count_per_frame_us": round(count_s / args.frames * 1e6, 2),
               "decode_over_count": round(decode_s / count_s, 1)}
    for key, value in figures.items():
        print(f"{key}: {value}")
    return figures


if __name__ == "__main__":
    main()
