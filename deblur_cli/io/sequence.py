"""A folder of image frames read as if it were a video, so the pipeline treats both alike.

The frames (any format :mod:`.images` reads) are taken in natural order and
given timestamps at a fixed rate (``--fps``, default 30): frame ``i`` is at
``i / fps`` seconds; written back as frames, each keeps its name (as PNG).
:attr:`FrameSequence.facts` describes them the way
:class:`~deblur_cli.io.probe.VideoFacts` describes a video stream, so the same
encoder planning turns a sequence into a video.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import InputError, OptionError
from .colour import ColourInfo
from .images import iter_frames, list_frames, read_frame
from .probe import VideoFacts
from .timespan import EPSILON

DEFAULT_FPS = 30.0
MAX_RATE_DENOMINATOR = 1001  # 29.97 -> 2997/100, 23.976 -> 2997/125: exact NTSC-style rates survive


def frame_rate(fps: float | str) -> Fraction:
    """``--fps`` as an exact rate; OptionError for anything not a positive finite number."""
    try:
        value = float(fps)
    except (TypeError, ValueError):
        raise OptionError(f"--fps must be a number of frames per second, got {fps!r}") from None
    if not math.isfinite(value) or value <= 0 or value > 1000:
        raise OptionError(f"--fps must be above 0 and at most 1000, got {fps}")
    return Fraction(str(value)).limit_denominator(MAX_RATE_DENOMINATOR)


class FrameSequence:
    """An image-sequence input: its :attr:`facts`, and its frames as (array, pts, time_base)."""

    def __init__(self, folder: str | Path, fps: float | str = DEFAULT_FPS) -> None:
        self.path = Path(folder)
        self.rate = frame_rate(fps)
        self.paths = list_frames(self.path)
        first = read_frame(self.paths[0])
        self._start = 0
        self.first_time = 0.0
        self.seeked = False
        height, width = first.shape[:2]
        deep = first.dtype == np.uint16
        count = len(self.paths)
        self.facts = VideoFacts(
            path=self.path, container="image sequence", stream_index=0, codec=self.paths[0].suffix.lower()[1:],
            width=width, height=height, pix_fmt="rgb48le" if deep else "rgb24", bit_depth=16 if deep else 8,
            is_rgb=True, frame_count=count, estimated_frames=None, duration=float(count / self.rate),
            duration_exact=True, time_base=1 / self.rate, average_rate=self.rate, colour=ColourInfo(), rotation=0,
        )

    def seek(self, target: float) -> float:
        """Start from the first frame at or after ``target`` seconds; returns its time."""
        index = max(0, math.ceil(target * self.rate - EPSILON))
        if index >= len(self.paths):
            raise InputError(f"--start is past the last frame of {self.path} "
                             f"({len(self.paths)} frames at {float(self.rate):g} fps = {self.facts.duration:.2f} s)")
        self._start, self.seeked = index, True
        return float(index / self.rate)

    def output_names(self) -> list[str]:
        """The PNG name each frame from the start point on gets in an output folder: the input's own name.

        ``0001.jpg`` becomes ``0001.png``; where two inputs differ only in their
        extension (``a.jpg``, ``a.png``), every name keeps its extension too (``a.jpg.png``).
        """
        stems = [p.stem for p in self.paths]
        if len(set(stems)) < len(stems):
            stems = [p.name for p in self.paths]
        return [f"{stem}.png" for stem in stems[self._start:]]

    def arrays(self) -> Iterator[tuple[np.ndarray, int, Fraction]]:
        """The frames from the start point on, in order, with their timestamps (in frames)."""
        frames = iter_frames([self.paths[0], *self.paths[self._start:]])  # iter_frames checks all against frame 0
        next(frames)
        yield from ((frame, i, self.facts.time_base) for i, frame in enumerate(frames, self._start))

    def truncation_warning(self, until: float | None = None) -> str | None:
        return None  # every frame is a file: a sequence cannot end early

    def damage_warning(self) -> str | None:
        return None

    def close(self) -> None:
        pass  # nothing held open: each frame is read when needed

    def __enter__(self) -> "FrameSequence":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def is_sequence_output(path: Path) -> bool:
    """Whether ``path`` names a frame folder rather than a video file (no video extension)."""
    from .encode_plan import MUXER_FOR_SUFFIX

    return path.suffix.lower() not in MUXER_FOR_SUFFIX


__all__ = ["DEFAULT_FPS", "FrameSequence", "frame_rate", "is_sequence_output"]
