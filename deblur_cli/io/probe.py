"""What an input file holds: opening it safely, choosing its main video stream, and the facts about it.

:class:`VideoFacts` is everything the output side needs to write a faithful
copy: size, timing, colour, rotation, pixel aspect ratio, chapters, timecode,
tags, and the other streams (:class:`OtherStream`) to copy or to drop with a
reason. :mod:`.source` decodes; this module only looks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
from av.stream import Disposition

from ..errors import InputError, first_line
from .chapters import (
    Chapter,
    find_timecode,
    is_chapter_track,
    is_timecode_track,
    read_chapters,
)
from .colour import ColourInfo, HdrMetadata, colour_of, dynamic_hdr_of, hdr_of
from .mp4boxes import find_trailer, sample_entry_boxes


@dataclass(frozen=True)
class OtherStream:
    """A non-main stream of the input, as the output side needs to decide about it."""

    index: int
    type: str  # "audio", "subtitle", "data", "attachment", "video"
    codec: str
    attached_pic: bool = False  # cover art
    chapter_track: bool = False  # MP4/MOV's text track of the chapter list (rewritten from the chapters)
    timecode_track: bool = False  # MOV/MP4's tmcd track (rewritten from the timecode)

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
    duration: float | None  # seconds from the first frame to the stated end (of the video stream where known)
    duration_exact: bool  # True when ``duration`` is the video stream's own length
    time_base: Fraction
    average_rate: Fraction | None
    colour: ColourInfo
    rotation: int  # degrees counter-clockwise, from the display matrix
    other_streams: tuple[OtherStream, ...] = field(default=())
    video_tags: dict[str, str] = field(default_factory=dict)  # language, title... of the video stream
    container_tags: dict[str, str] = field(default_factory=dict)  # title, creation_time... of the file
    hdr: HdrMetadata | None = None  # mastering display / light level, when the input carries them
    sample_aspect_ratio: Fraction | None = None  # pixel shape as the input states it (1 kept); None: not stated
    chapters: tuple[Chapter, ...] = field(default=())
    timecode: str | None = None  # start timecode (HH:MM:SS:FF), from a tag or a tmcd track
    dynamic_hdr: tuple[str, ...] = ()  # per-frame HDR metadata a re-encode loses ("Dolby Vision RPU"...)
    major_brand: str = ""  # an MP4/MOV file's major brand ('qt  ': a QuickTime file, whatever its name)
    trailer: tuple[int, int] | None = None  # (offset, length) of bytes after an MP4/MOV file's boxes (Samsung SEF)

    @property
    def is_mp4_family(self) -> bool:
        """Whether the input is an ISO-BMFF file (MP4, MOV, 3GP...), read by FFmpeg's mov demuxer."""
        return self.container.split(",")[0] == "mov"

    @property
    def total_frames(self) -> int | None:
        """Exact count if the container has one, else the estimate (for progress bars)."""
        return self.frame_count if self.frame_count is not None else self.estimated_frames


# Tags that describe the old file's encoding or length, not the content: not carried over.
# (A timecode is carried as VideoFacts.timecode, written where the output container can hold it.)
_STALE_TAGS = ("duration", "encoder", "_statistics", "number_of_", "bps", "major_brand", "minor_version",
               "compatible_brands", "timecode")


def content_tags(metadata: dict[str, str]) -> dict[str, str]:
    """The tags worth carrying over to the output (language, title, creation time...)."""
    return {k: v for k, v in metadata.items() if not k.lower().startswith(_STALE_TAGS)}


def is_attached_picture(stream) -> bool:
    return bool(stream.disposition & Disposition.attached_pic)


# Codecs of single pictures: a stream of one of these beside a real video is cover art that lost its flag.
STILL_IMAGE_CODECS = frozenset({"png", "mjpeg", "bmp", "gif", "webp", "tiff", "jpegls", "jpeg2000", "qoi"})


def _frames_of(stream) -> tuple[int, float]:
    """(frames, seconds) the container states for ``stream`` (0 where it does not say); frames from the
    duration and rate where there is no count (Matroska)."""
    frames = getattr(stream, "frames", 0) or 0
    duration, time_base = getattr(stream, "duration", None), getattr(stream, "time_base", None)
    seconds = float(duration * time_base) if duration and time_base else 0.0
    rate = getattr(stream, "average_rate", None) or getattr(stream, "guessed_rate", None)
    if not frames and seconds and rate:
        frames = max(1, round(seconds * float(rate)))
    return frames, seconds


def choose_video_stream(streams):
    """The main video stream: the one a player shows as the video.

    Never cover art (attached_pic); then moving pictures before still-image
    codecs (PNG, JPEG...: a cover stored as an ordinary track, as AVI or an
    older tool writes it); then not a single-frame still (a phone's motion
    photo holds a large one-frame still beside its video, both marked
    default); then the most frames, the longest, the largest, the default one,
    the first. Returns None when there is no real video stream (audio only,
    or only cover art).
    """
    candidates = [s for s in streams if s.type == "video" and not is_attached_picture(s)]
    if not candidates:
        return None

    def rank(stream):
        cc = stream.codec_context
        area = (cc.width * cc.height) if cc is not None else 0
        moving = cc is not None and cc.name not in STILL_IMAGE_CODECS
        frames, seconds = _frames_of(stream)
        is_default = bool(stream.disposition & Disposition.default)
        return (cc is not None, moving, frames != 1, frames, seconds, area, is_default, -stream.index)

    return max(candidates, key=rank)


_DURATION_TAG = re.compile(r"^(\d+):(\d\d):(\d\d(?:\.\d+)?)$")


def _stated_end(stream, first_time: float) -> tuple[float | None, bool]:
    """(timestamp in seconds where the container says the video ends, whether that is the video's own end).

    Matroska's per-stream DURATION tag comes first. FFmpeg writes there the
    stream's end timestamp; mkvmerge (which adds its ``_STATISTICS`` tags) the
    stream's length, counted from its first frame. MP4/MOV track durations are
    the track's own length; elsewhere FFmpeg may fill the stream duration in
    from the whole file's, which includes audio that can run longer than the
    video (fine for an estimate, not for deciding that a file was cut short).
    Lengths count from the video's real start: its first frame (an MKV whose
    picture starts 10 s in is not 10 s short).
    """
    metadata = {k.upper(): v for k, v in stream.metadata.items()}
    match = _DURATION_TAG.match(metadata.get("DURATION", "").strip())
    if match:
        h, m, s = match.groups()
        seconds = int(h) * 3600 + int(m) * 60 + float(s)
        is_length = any(key.startswith("_STATISTICS") for key in metadata)
        return (first_time + seconds if is_length else seconds), True
    if stream.duration is not None and stream.duration > 0 and stream.time_base:
        own = "mp4" in stream.container.format.name or "mov" in stream.container.format.name
        return first_time + float(stream.duration * stream.time_base), own
    return None, False


def _bit_depth(pix_fmt: str) -> tuple[int, bool]:
    try:
        fmt = av.VideoFormat(pix_fmt)
    except (ValueError, TypeError):
        return 8, False
    bits = max((c.bits for c in fmt.components), default=8)
    return bits, fmt.is_rgb


def _sample_aspect_ratio(stream) -> Fraction | None:
    try:
        sar = stream.sample_aspect_ratio
    except (ZeroDivisionError, AttributeError, ValueError):
        return None
    return Fraction(sar) if sar and sar > 0 else None  # an explicit 1:1 is kept: the output states it too


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


def video_facts(path: Path, container, stream, first: av.VideoFrame) -> VideoFacts:
    """The facts of ``stream`` (the main video stream of ``container``), whose first decoded frame is ``first``."""
    cc = stream.codec_context
    pix_fmt = first.format.name
    bits, is_rgb = _bit_depth(pix_fmt)
    rate = stream.average_rate or stream.guessed_rate or None
    count = stream.frames if stream.frames and stream.frames > 0 else None
    first_time = first.time or 0.0
    end, duration_exact = _stated_end(stream, first_time)
    duration = max(end - first_time, 0.0) if end is not None else None
    estimate = round(duration * rate) if (count is None and duration and rate) else None
    iso = container.format.name.split(",")[0] == "mov"
    others = tuple(
        OtherStream(s.index, s.type, _codec_name(s), is_attached_picture(s), is_chapter_track(s),
                    is_timecode_track(s))
        for s in container.streams if s.index != stream.index
    )
    return VideoFacts(
        path=path,
        container=container.format.name,
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
        container_tags=content_tags(container.metadata),
        hdr=hdr_of(first),
        dynamic_hdr=dynamic_hdr_of(first, sample_entry_boxes(path) if iso else set()),
        major_brand=container.metadata.get("major_brand", "") if iso else "",
        trailer=find_trailer(path) if iso else None,
        sample_aspect_ratio=_sample_aspect_ratio(stream),
        chapters=read_chapters(container),
        timecode=find_timecode(container, stream),
    )


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
