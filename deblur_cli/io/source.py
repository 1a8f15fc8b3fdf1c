"""The input side: open a video file, describe it, and decode its main video stream.

Opening decodes the first frame straight away. That catches files that open but
cannot be decoded (so the user gets an :class:`InputError` before any output
exists), and it gives facts that only frames carry in PyAV: the rotation
(display matrix) and the colour tags as the decoder reports them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
from av.stream import Disposition

from ..errors import InputError, first_line
from .colour import ColourInfo, HdrMetadata, colour_of, hdr_of
from .timespan import EPSILON


@dataclass(frozen=True)
class OtherStream:
    """A non-main stream of the input, as the output side needs to decide about it."""

    index: int
    type: str  # "audio", "subtitle", "data", "attachment", "video"
    codec: str
    attached_pic: bool = False

    def describe(self) -> str:
        kind = "cover art" if self.attached_pic else self.type
        return f"{kind} stream #{self.index} ({self.codec or 'unknown codec'})"


@dataclass(frozen=True)
class VideoFacts:
    """What the pipeline needs to know about the input's main video stream."""

    path: Path
    container: str
    stream_index: int
    codec: str
    width: int
    height: int
    pix_fmt: str
    bit_depth: int
    is_rgb: bool
    frame_count: int | None  # exact, from the container's index; None if it has none
    estimated_frames: int | None  # duration x average rate when there is no exact count
    duration: float | None  # seconds, of the video stream where the container says (else the file's)
    duration_exact: bool  # True when ``duration`` is the video stream's own length
    time_base: Fraction
    average_rate: Fraction | None
    colour: ColourInfo
    rotation: int  # degrees counter-clockwise, from the display matrix
    other_streams: tuple[OtherStream, ...] = field(default=())
    video_tags: dict[str, str] = field(default_factory=dict)  # language, title... of the video stream
    container_tags: dict[str, str] = field(default_factory=dict)  # title, creation_time... of the file
    hdr: HdrMetadata | None = None  # mastering display / light level, when the input carries them

    @property
    def total_frames(self) -> int | None:
        """Exact count if the container has one, else the estimate (for progress bars)."""
        return self.frame_count if self.frame_count is not None else self.estimated_frames


# Tags that describe the old file's encoding or length, not the content: not carried over.
_STALE_TAGS = ("duration", "encoder", "_statistics", "number_of_", "bps", "major_brand", "minor_version",
               "compatible_brands")


def content_tags(metadata: dict[str, str]) -> dict[str, str]:
    """The tags worth carrying over to the output (language, title, creation time...)."""
    return {k: v for k, v in metadata.items() if not k.lower().startswith(_STALE_TAGS)}


def is_attached_picture(stream) -> bool:
    return bool(stream.disposition & Disposition.attached_pic)


def choose_video_stream(streams):
    """The main video stream: never cover art (attached_pic); then the largest picture.

    Returns None when there is no real video stream (audio only, or only cover art).
    """
    candidates = [s for s in streams if s.type == "video" and not is_attached_picture(s)]
    if not candidates:
        return None

    def rank(stream):
        cc = stream.codec_context
        area = (cc.width * cc.height) if cc is not None else 0
        is_default = bool(stream.disposition & Disposition.default)
        return (cc is not None, area, is_default, -stream.index)

    return max(candidates, key=rank)


MAX_DAMAGED_PACKETS = 100  # more than this and the rest of the file is taken to be garbage

_DURATION_TAG = re.compile(r"^(\d+):(\d\d):(\d\d(?:\.\d+)?)$")


def _stream_duration(stream) -> tuple[float | None, bool]:
    """(seconds, whether that is the video stream's own length) of the video stream.

    Matroska's per-stream DURATION tag comes first and MP4/MOV track durations are
    exact; elsewhere FFmpeg may fill the stream duration in from the whole file's,
    which includes audio that can run longer than the video (fine for an estimate,
    not for deciding that a file was cut short).
    """
    tag = stream.metadata.get("DURATION") or stream.metadata.get("duration")
    if tag:
        match = _DURATION_TAG.match(tag.strip())
        if match:
            h, m, s = match.groups()
            return int(h) * 3600 + int(m) * 60 + float(s), True
    if stream.duration is not None and stream.duration > 0 and stream.time_base:
        own = "mp4" in stream.container.format.name or "mov" in stream.container.format.name
        return float(stream.duration * stream.time_base), own
    return None, False


def _bit_depth(pix_fmt: str) -> tuple[int, bool]:
    try:
        fmt = av.VideoFormat(pix_fmt)
    except (ValueError, TypeError):
        return 8, False
    bits = max((c.bits for c in fmt.components), default=8)
    return bits, fmt.is_rgb


def open_input(path: Path) -> av.container.InputContainer:
    """``av.open`` with every way a user file can be unusable turned into one-line InputErrors."""
    if not path.exists():
        raise InputError(f"input not found: {path}")
    if path.is_dir():
        raise InputError(f"input is a folder, not a video file: {path}")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InputError(f"cannot read input {path}: {describe_error(exc)}") from None
    if size == 0:
        raise InputError(f"input is empty (0 bytes): {path}")
    try:
        return av.open(str(path), "r")
    except PermissionError:
        raise InputError(f"cannot read input (permission denied): {path}") from None
    except av.error.FFmpegError as exc:
        raise InputError(f"not a readable video file: {path} ({describe_error(exc)})") from None


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
        self.facts = self._describe(first)

    def _describe(self, first: av.VideoFrame) -> VideoFacts:
        stream, cc = self.stream, self.stream.codec_context
        pix_fmt = first.format.name
        bits, is_rgb = _bit_depth(pix_fmt)
        rate = stream.average_rate or stream.guessed_rate or None
        count = stream.frames if stream.frames and stream.frames > 0 else None
        duration, duration_exact = _stream_duration(stream)
        estimate = round(duration * rate) if (count is None and duration and rate) else None
        others = tuple(
            OtherStream(s.index, s.type, _codec_name(s), is_attached_picture(s))
            for s in self.container.streams if s.index != stream.index
        )
        return VideoFacts(
            path=self.path,
            container=self.container.format.name,
            stream_index=stream.index,
            codec=cc.name,
            width=first.width,
            height=first.height,
            pix_fmt=pix_fmt,
            bit_depth=bits,
            is_rgb=is_rgb,
            frame_count=count,
            estimated_frames=estimate,
            duration=duration,
            duration_exact=duration_exact,
            time_base=stream.time_base,
            average_rate=rate,
            colour=colour_of(first, stream),
            rotation=int(first.rotation or 0),
            other_streams=others,
            video_tags=content_tags(stream.metadata),
            container_tags=content_tags(self.container.metadata),
            hdr=hdr_of(first),
        )

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
        start = float(self.stream.start_time * self.stream.time_base) if self.stream.start_time else 0.0
        if facts.duration and facts.duration_exact and self.last_frame_time is not None:
            end = start + facts.duration if until is None else min(start + facts.duration, until)
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


def describe_error(exc: BaseException) -> str:
    """One line for an FFmpeg/PyAV error: FFmpeg's own wording where there is one."""
    strerror = getattr(exc, "strerror", None)
    if isinstance(exc, (av.error.FFmpegError, OSError)) and strerror:
        return strerror
    return first_line(exc)


def _codec_name(stream) -> str:
    cc = stream.codec_context
    if cc is not None:
        return cc.name
    return getattr(stream, "name", None) or ""
