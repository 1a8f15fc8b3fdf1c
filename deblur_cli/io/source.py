"""The input side: open a video file and decode its main video stream, frame by frame.

Opening decodes the first frame straight away. That catches files that open but
cannot be decoded (so the user gets an :class:`InputError` before any output
exists), and it gives facts that only frames carry in PyAV: the rotation
(display matrix) and the colour tags as the decoder reports them. The facts
themselves (:class:`~.probe.VideoFacts`) are gathered by :mod:`.probe`.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av

from ..errors import InputError
from .probe import (
    VideoFacts,
    choose_video_stream,
    describe_error,
    open_input,
    video_facts,
)
from .timespan import EPSILON

MAX_DAMAGED_PACKETS = 100  # more than this and the rest of the file is taken to be garbage


class VideoSource:
    """An open input: :attr:`facts` about it and its decoded frames, one at a time.

    Frames are decoded lazily (never the whole video in memory) with FFmpeg's
    frame/slice threading. Damage after the first frame does not fail the run:
    a packet the decoder rejects is skipped (:meth:`damage_warning`), a demuxer
    error ends the stream (:attr:`ended_early`), and :meth:`truncation_warning`
    reports that, or a video that stops well before its stated length.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.container = open_input(self.path)
        try:
            self._setup()
        except BaseException:
            self.container.close()
            raise

    def _setup(self) -> None:
        container = self.container
        stream = choose_video_stream(container.streams)
        if stream is None:
            kinds = sorted({s.type for s in container.streams}) or ["no streams"]
            raise InputError(f"no video stream in {self.path} (it has: {', '.join(kinds)})")
        if stream.codec_context is None:
            raise InputError(f"no decoder for the video codec of {self.path}")
        stream.thread_type = "AUTO"  # must be set before the first decode
        self.stream = stream
        self.ended_early: str | None = None
        self.damaged_packets = 0
        self.damage: str | None = None
        self.frames_decoded = 0
        self.last_frame_time: float | None = None
        self._frames = self._decode()
        try:
            first = next(self._frames)
        except StopIteration:
            reason = f" ({self.ended_early})" if self.ended_early else ""
            raise InputError(f"no video frame could be decoded from {self.path}{reason}") from None
        self._first: av.VideoFrame | None = first
        self.first_time = first.time or 0.0  # seconds: where the picture starts (``--start`` counts from here)
        self.seeked = False
        self.facts: VideoFacts = video_facts(self.path, container, stream, first)

    def _decode(self) -> Iterator[av.VideoFrame]:
        """Demux and decode; a damaged packet is skipped, a demuxer error ends the stream."""
        stream = self.stream
        packets = self.container.demux(stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                return  # the demuxer's final empty packet has flushed the decoder
            except av.error.FFmpegError as exc:
                self.ended_early = describe_error(exc)
                break
            try:
                frames = stream.decode(packet)
            except av.error.FFmpegError as exc:
                self.damaged_packets += 1
                self.damage = describe_error(exc)
                if self.damaged_packets > MAX_DAMAGED_PACKETS:
                    self.ended_early = f"{self.damaged_packets} damaged packets: {self.damage}"
                    break
                continue
            for frame in frames:
                yield self._count(frame)
        try:  # frames the threaded decoder still holds
            for frame in stream.decode(None):
                yield self._count(frame)
        except av.error.FFmpegError:
            pass

    def _count(self, frame: av.VideoFrame) -> av.VideoFrame:
        self.frames_decoded += 1
        if frame.pts is not None and frame.time_base:
            self.last_frame_time = float(frame.pts * frame.time_base)
        return frame

    def frames(self) -> Iterator[av.VideoFrame]:
        """Every decoded frame of the main video stream, the already-decoded first one included."""
        if self._first is not None:
            first, self._first = self._first, None
            yield first
        yield from self._frames

    def seek(self, target: float) -> float:
        """Go on from the first frame at or after ``target`` seconds (a timestamp); returns that frame's time.

        Jumps to the keyframe at or before ``target`` and decodes forward from
        there, so the cost does not grow with how far into the file the part
        starts. Where the file cannot seek, decoding simply goes on from here.
        """
        stream = self.stream
        self._first, self.seeked = None, True
        try:
            self.container.seek(math.floor(Fraction(target) / stream.time_base), stream=stream, backward=True)
        except (av.error.FFmpegError, OverflowError, ValueError):
            pass  # not seekable: decode on from the current position
        else:
            self._frames.close()
            self._frames = self._decode()
        for frame in self._frames:
            if frame.time is None or frame.time >= target - EPSILON:
                self._first = frame
                return frame.time if frame.time is not None else target
        duration = f" (its video lasts {self.last_frame_time - self.first_time:.2f} s)" if self.last_frame_time else ""
        raise InputError(f"--start is past the last frame of {self.path}{duration}")

    def damage_warning(self) -> str | None:
        """A warning when some damaged packets were skipped (their frames are missing)."""
        if self.damaged_packets and not self.ended_early:
            return (f"input damaged: {self.damaged_packets} packet(s) could not be decoded "
                    f"and were skipped ({self.damage})")
        return None

    def truncation_warning(self, until: float | None = None) -> str | None:
        """A warning when decoding ended before the container said the video ends.

        ``until``: the timestamp (seconds) where the caller meant to stop anyway
        (the end of ``--duration``); the video only has to reach that far.
        """
        n = self.frames_decoded
        if self.ended_early:
            return f"input ended early/corrupt after {n} frames ({self.ended_early})"
        facts = self.facts
        step = float(1 / facts.average_rate) if facts.average_rate else 0.04
        if facts.duration and facts.duration_exact and self.last_frame_time is not None:
            stated_end = self.first_time + facts.duration  # counted from the first frame, not from 0
            end = stated_end if until is None else min(stated_end, until)
            missing = end - (self.last_frame_time + step)
            if missing > max(2 * step, 0.02 * facts.duration):
                return (f"input ended early/corrupt after {n} frames "
                        f"(video stops {missing:.2f} s before its stated end)")
        elif facts.frame_count is not None and until is None and not self.seeked and n < facts.frame_count - 2:
            return f"input ended early/corrupt after {n} frames (the container lists {facts.frame_count})"
        return None

    def close(self) -> None:
        self._frames.close()
        self.container.close()

    def __enter__(self) -> "VideoSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()



__all__ = ["MAX_DAMAGED_PACKETS", "VideoFacts", "VideoSource", "describe_error", "open_input"]
