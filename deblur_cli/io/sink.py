"""The output side: encode the restored frames and mux them with the copied streams.

The plan (container, encoder, pixel format, options) comes from
:mod:`.encode_plan`, where everything that can make an output impossible is
decided before any frame is processed.

What the output keeps from the input: frame size, each frame's timestamp (the
input's time base is used for the stream and the encoder, so variable frame
rate survives), colour tags, HDR10 mastering/light-level metadata (x264 and
x265 only), rotation, pixel aspect ratio, bit depth (8 or 10), chapters and
the timecode where the container holds them, the copied non-video streams
(see :mod:`.passthrough`), the container's tags and the input's trailer after
its MP4 boxes (as :mod:`.container_plan` planned them). Two containers bend this: AVI counts frames (no
timestamps: constant rate, the video starts at its first frame, no rotation),
and MPEG-TS cannot start below zero, so FFmpeg shifts all its streams together
by the encoder's B-frame delay (sync kept, absolute times moved by a few frames).
"""

from __future__ import annotations

import errno
import math
import time
from fractions import Fraction
from pathlib import Path

import av

from ..errors import OutputError
from .chapters import Chapter
from .colour import ColourInfo, output_colour, planes_to_frame, rgb_to_frame, tag
from .encode_plan import MUXER_FOR_SUFFIX, EncoderPlan, plan_encoder
from .mp4boxes import copy_range
from .passthrough import Passthrough
from .playable import MP4_LIKE
from .probe import VideoFacts, describe_error

# Errors from the file system, not the encoder: reported as "cannot write <output>: <cause>".
FILESYSTEM_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.ENAMETOOLONG,
                               errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.EIO, errno.EFBIG})


def filesystem_error(exc: BaseException) -> bool:
    """Whether ``exc`` is the file system refusing (permissions, read-only, full, name too long)."""
    return isinstance(exc, OSError) and exc.errno in FILESYSTEM_ERRNOS


def _track_timescale(time_base: Fraction) -> int:
    """MP4 track timescale holding every input timestamp exactly (FFmpeg's rule: den, doubled to >= 10000)."""
    scale = time_base.denominator
    while scale < 10000:
        scale *= 2
    return scale


class VideoSink:
    """An open output file: the encoded video stream plus the copied streams, header already written."""

    def __init__(self, path: Path, plan: EncoderPlan, facts: VideoFacts, passthrough: Passthrough | None, *,
                 chapters: list[Chapter] | tuple[Chapter, ...] = (), timecode: str | None = None,
                 name: Path | None = None) -> None:
        """Create ``path`` and write its header. ``name``: the path to name in messages (the final
        output, where ``path`` is its temporary); ``chapters`` and ``timecode`` are written as given."""
        self.plan = plan
        self.facts = facts
        self.passthrough = passthrough
        self.name = name or path
        self.path = path
        self.chapters, self.timecode = list(chapters), timecode
        self._origin: int | None = None  # AVI: the first frame's timestamp, which becomes 0
        self.colour: ColourInfo = output_colour(facts.colour, facts.is_rgb)
        self.rgb_format = "rgb48le" if facts.bit_depth > 8 else "rgb24"
        self.frames_written = 0
        self.colour_seconds = 0.0  # spent turning what write() was given into the encoder's frames
        self._last_pts: int | None = None
        container_options = {}
        self.time_base = facts.time_base
        rate = facts.average_rate or Fraction(25)
        if plan.muxer == "avi":  # AVI counts frames: its time base must be one frame
            self.time_base = 1 / rate
        if plan.muxer in MP4_LIKE:
            scale = _track_timescale(self.time_base)
            # Edit lists (where a track starts later than another, as audio cut at a packet boundary
            # does) count in the movie timescale: one that every copied track's rate divides keeps them exact.
            movie = math.lcm(scale, *(passthrough.sample_rates() if passthrough is not None else ()))
            container_options = {"movie_timescale": str(movie), "video_track_timescale": str(scale)}
        elif plan.muxer in ("matroska", "webm", "avi"):
            # These store the slightly negative start of AAC/Opus priming as it is (Matroska)
            # or ignore it (AVI); FFmpeg's default would instead shift every stream, video
            # included, off its timestamps. (MPEG-TS cannot: it keeps the default shift.)
            container_options = {"avoid_negative_ts": "disabled"}
        container_options.update(plan.container_options)
        try:
            with open(path, "wb"):  # FFmpeg opens the file only with the header: find out now, and say why
                pass
            self.container = av.open(str(path), "w", format=plan.muxer, container_options=container_options)
        except (OSError, av.error.FFmpegError) as exc:
            raise OutputError(f"cannot write {self.name}: {describe_error(exc)}") from None
        try:
            self._setup(rate)
        except BaseException:
            self.container.close()
            raise

    def _setup(self, rate: Fraction) -> None:
        plan, facts = self.plan, self.facts
        stream = self._add_video_stream(rate)
        if facts.rotation:
            stream.set_display_rotation(facts.rotation)
        stream.metadata.update(facts.video_tags)
        if self.timecode:
            stream.metadata["timecode"] = self.timecode  # MOV/MP4 muxers write a tmcd track from it
        self.container.metadata.update(facts.container_tags)
        if self.chapters:
            self.container.set_chapters([chapter.as_dict(i) for i, chapter in enumerate(self.chapters)])
        self.stream = stream
        if self.passthrough is not None:
            self.passthrough.add_streams(self.container)
        try:
            self.container.start_encoding()  # opens the encoder and writes the header
        except (ValueError, av.error.FFmpegError) as exc:
            if filesystem_error(exc):
                raise OutputError(f"cannot write {self.name}: {describe_error(exc)}") from None
            raise OutputError(f"cannot start the {plan.codec} encoder / {plan.muxer} output "
                              f"({describe_error(exc)}); check --codec, --preset and --crf") from None

    def _add_video_stream(self, rate: Fraction) -> av.video.stream.VideoStream:
        """The encoded video stream (:mod:`.concat` copies already encoded parts instead)."""
        plan, facts = self.plan, self.facts
        stream = self.container.add_stream(plan.codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = facts.width, facts.height, plan.pix_fmt
        stream.time_base = self.time_base
        stream.codec_context.time_base = self.time_base
        stream.options = dict(plan.options)
        if plan.thread_type:
            stream.codec_context.thread_type = plan.thread_type
        if plan.muxer == "avi":
            stream.codec_context.max_b_frames = 0  # AVI has no presentation timestamps to reorder by
        tag(stream.codec_context, self.colour)
        if plan.codec_tag:
            stream.codec_context.codec_tag = plan.codec_tag
        if plan.sample_aspect_ratio is not None:
            stream.codec_context.sample_aspect_ratio = plan.sample_aspect_ratio
        return stream

    def _output_pts(self, pts: int | None, time_base: Fraction | None) -> int:
        """The input frame's timestamp in the output time base, kept strictly increasing."""
        if pts is not None and time_base:
            pts = pts if time_base == self.time_base else round(pts * time_base / self.time_base)
        else:
            pts = None
        if pts is not None and self.plan.muxer == "avi":  # AVI's first frame is shown at 0, whatever its time
            self._origin = pts if self._origin is None else self._origin
            pts -= self._origin
        if pts is None or (self._last_pts is not None and pts <= self._last_pts):
            step = max(1, round((1 / (self.facts.average_rate or 25)) / self.time_base))
            pts = 0 if self._last_pts is None else self._last_pts + step
        self._last_pts = pts
        return pts

    def write(self, picture, pts: int | None, time_base: Fraction | None) -> None:
        """Encode one restored picture at the input frame's timestamp, muxing copied streams up to it.

        ``picture``: an (H, W, 3) RGB array in :attr:`rgb_format` (converted here
        with swscale), or a tuple of the planes of the plan's pixel format in the
        output's colour (as :func:`.colour.frame_planes` gives them; only copied in).
        """
        started = time.perf_counter()
        if isinstance(picture, tuple):
            frame = planes_to_frame(picture, self.plan.pix_fmt, self.colour)
        else:
            frame = rgb_to_frame(picture, self.rgb_format, self.plan.pix_fmt, self.colour)
        self.colour_seconds += time.perf_counter() - started
        frame.pts = self._output_pts(pts, time_base)
        frame.time_base = self.time_base
        self._mux_video(self.stream.encode(frame))
        self.frames_written += 1

    def _mux_video(self, packets) -> None:
        for packet in packets:
            if self.passthrough is not None:
                ts = packet.dts if packet.dts is not None else packet.pts
                if ts is not None:
                    self.passthrough.mux_until(self.container, float(ts * packet.time_base))
            self.container.mux(packet)

    def finish(self) -> None:
        """Flush the encoder, copy the rest of the other streams, write the trailer."""
        self._mux_video(self.stream.encode(None))
        if self.passthrough is not None:
            self.passthrough.mux_until(self.container, None)
        self.close_file()

    def close_file(self) -> None:
        """Write the trailer and close the file, then append the input's bytes after its boxes (Samsung SEF)."""
        self.container.close()
        if self.plan.trailer is not None:
            offset, length = self.plan.trailer
            try:
                with open(self.path, "ab") as target:
                    copy_range(self.facts.path, offset, length, target)
            except OSError as exc:
                raise OutputError(f"cannot write {self.name}: {describe_error(exc)}") from None

    def close(self) -> None:
        """Release the file without finishing it (after an error; the caller deletes it)."""
        try:
            self.container.close()
        except Exception:
            pass


__all__ = ["MUXER_FOR_SUFFIX", "EncoderPlan", "VideoSink", "plan_encoder"]
