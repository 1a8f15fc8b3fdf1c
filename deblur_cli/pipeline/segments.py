"""Cut a long video into segments at keyframes, each restored on its own after a few warm-up frames.

A demux pass reads the timestamps and keyframe flags of the main video
stream's packets (nothing is decoded, so it costs a read of the file). A
segment boundary is a keyframe about every ``target`` seconds (default
:data:`deblur_cli.pipeline.DEFAULT_SEGMENT_S`). Segment ``i``
writes the frames presented in ``[start, end)``; before its first written
frame it runs :data:`DEFAULT_WARMUP` earlier frames through the network
without writing them, so the recurrence (previous blurry frame, previous
restored frame, hidden features) is rebuilt as a one-pass run would have it.
``benchmarks/segment_boundary.py`` measured how many are enough.

Timestamps are the stream's own integers (its time base), so a boundary is
exact whatever the container's rounding. A video whose packets lack
timestamps is not segmented (one pass, as before).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
from av.stream import Discard

from ..io.probe import choose_video_stream, open_input
from ..io.timespan import EPSILON

DEFAULT_WARMUP = 8  # frames run through the network before a segment's first written frame (see module doc)
MIN_LAST_FRACTION = 0.5  # a last segment shorter than this part of the target is merged into the one before


@dataclass(frozen=True)
class VideoIndex:
    """The presentation timestamps of the main video stream's frames, and which are keyframes (sorted)."""

    time_base: Fraction
    frames: tuple[int, ...]
    keyframes: tuple[int, ...]

    def seconds(self, pts: int) -> Fraction:
        return pts * self.time_base


@dataclass(frozen=True)
class Segment:
    """Frames presented in [``start``, ``end``) (stream timestamps; None: open end), restored after warm-up.

    ``warmup_from``: the first frame that goes through the network (None: the
    segment starts where the run starts, and needs none). ``frames``: how many
    frames the index expects (for progress; decoding decides).
    """

    index: int
    start: int | None
    end: int | None
    warmup_from: int | None
    frames: int

    def as_dict(self) -> dict:
        return {"index": self.index, "start": self.start, "end": self.end, "warmup_from": self.warmup_from,
                "frames": self.frames}


def _main_packets(container):
    """The main video stream and its packets that give a frame (no decoding; other streams skipped)."""
    stream = choose_video_stream(container.streams)
    if stream is None:
        return None, iter(())
    for other in container.streams:
        if other.index != stream.index:
            other.discard = Discard.all

    def packets():
        try:
            for packet in container.demux(stream):
                if packet.size and not packet.is_discard:  # discard: before an edit list's start, never shown
                    yield packet
        except av.error.FFmpegError:
            pass  # a demuxer error ends the stream here (decoding stops there too)

    return stream, packets()


def scan(path: Path) -> VideoIndex | None:
    """Read the main video stream's packets (no decoding); None when some packet has no timestamp.

    A demuxer error ends the scan where it happens (decoding stops there too).
    """
    with open_input(path) as container:
        stream, packets = _main_packets(container)
        if stream is None:
            return None
        frames, keys = [], []
        for packet in packets:
            if packet.pts is None:
                return None
            frames.append(packet.pts)
            if packet.is_keyframe:
                keys.append(packet.pts)
        return VideoIndex(stream.time_base, tuple(sorted(frames)), tuple(sorted(set(keys))))


def count_frames(path: Path) -> int | None:
    """How many frames the main video stream holds, counted from its packets (no decoding; None: no video).

    The container's own count (MP4's sample count) can include a sample an
    edit list hides; reading the packets costs a read of the file, far less than restoring it.
    """
    with open_input(path) as container:
        stream, packets = _main_packets(container)
        return None if stream is None else sum(1 for _ in packets)


def plan_segments(index: VideoIndex, target: float, warmup: int = DEFAULT_WARMUP,
                  first: float | None = None, end: float | None = None) -> list[Segment]:
    """Segments of about ``target`` seconds between the run's first frame and ``end`` (seconds, None: the last).

    ``first``: the time of the first frame the run writes (after ``--start``;
    None: the video's first). Frames before it never reach the network, so
    warm-up does not reach before it either: the one-pass run starts fresh there too.
    """
    frames = index.frames
    lo = 0 if first is None else bisect.bisect_left(frames, _ticks(first, index.time_base))
    hi = len(frames) if end is None else bisect.bisect_left(frames, _ticks(end, index.time_base))
    if hi - lo < 2 or target <= 0:
        return [Segment(0, None, None, None, max(hi - lo, 0))]
    t_first, t_last = index.seconds(frames[lo]), index.seconds(frames[hi - 1])
    bounds: list[int] = []
    for key in index.keyframes:
        position = bisect.bisect_left(frames, key)
        if not lo < position < hi:
            continue
        previous = index.seconds(bounds[-1]) if bounds else t_first
        if index.seconds(key) - previous >= target - EPSILON:
            bounds.append(key)
    if bounds and t_last - index.seconds(bounds[-1]) < target * MIN_LAST_FRACTION:
        bounds.pop()
    starts: list[int | None] = [None, *bounds]
    ends: list[int | None] = [*bounds, None]
    segments = []
    for i, (start, stop) in enumerate(zip(starts, ends)):
        first_at = lo if start is None else bisect.bisect_left(frames, start)
        stop_at = hi if stop is None else bisect.bisect_left(frames, stop)
        warm = None if start is None else frames[max(first_at - warmup, lo)]
        segments.append(Segment(i, start, stop, warm, stop_at - first_at))
    return segments


def _ticks(seconds: float, time_base: Fraction) -> int:
    """The smallest timestamp at or after ``seconds`` (within EPSILON)."""
    return -int(-(Fraction(seconds) - Fraction(EPSILON)) // time_base)
