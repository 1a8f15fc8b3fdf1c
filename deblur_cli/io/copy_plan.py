"""Which of the input's other streams an output gets: decided stream by stream, before anything is written.

Audio is the user's and is never dropped: audio the output container cannot
hold is an :class:`OutputError`. Subtitles, data and attachments the container
cannot hold are dropped with a warning. Cover art stays cover art: an attached
picture in MP4, a file attachment in Matroska, and dropped with a warning
elsewhere (AVI or MPEG-TS would turn it into a one-frame video track). The
tracks that only carry chapters or a timecode are not copied: the muxer writes
them anew from the chapters and the timecode (see :mod:`.chapters`).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import av

from ..errors import OutputError
from .probe import (
    OtherStream,
    choose_video_stream,
    describe_error,
    is_attached_picture,
    open_input,
)


@dataclass
class CopyPlan:
    """Which input streams (by index) are copied, and the warnings for those that are not."""

    copy: list[int] = field(default_factory=list)
    # Cover art Matroska cannot hold as a stream, stored as a file attachment: (name, mimetype, bytes).
    attachments: list[tuple[str, str, bytes]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.copy and not self.attachments


def _container_rejects(stream, muxer: str) -> str | None:
    """Why ``muxer`` cannot hold a copy of ``stream`` (None if it can): try writing a header in memory."""
    try:
        with av.open(io.BytesIO(), "w", format=muxer) as probe:
            copy = probe.add_stream_from_template(stream)
            copy.disposition = stream.disposition
            probe.start_encoding()
    except (ValueError, av.error.FFmpegError, NotImplementedError) as exc:
        return describe_error(exc)
    return None


_MIMETYPE_FOR_CODEC = {"png": "image/png", "mjpeg": "image/jpeg", "bmp": "image/bmp", "webp": "image/webp"}


def _cover_as_attachment(container, stream) -> tuple[str, str, bytes] | None:
    """The still image of a cover-art stream as a Matroska attachment (None if it has no image)."""
    codec = stream.codec_context.name if stream.codec_context is not None else ""
    mimetype = stream.metadata.get("mimetype") or _MIMETYPE_FOR_CODEC.get(codec)
    if mimetype is None:
        return None
    name = stream.metadata.get("filename") or f"cover.{mimetype.split('/')[-1]}"
    for packet in container.demux(stream):  # attached pictures come first in the demux order
        if packet.size:
            return name, mimetype, bytes(packet)
        break
    return None


# How each muxer keeps cover art: as an attached-picture stream (MP4's 'covr') or a file attachment.
COVER_ART_AS = {"mp4": "stream", "matroska": "attachment"}


def _plan_cover(plan: CopyPlan, container, stream, info: OtherStream, muxer: str, suffix: str) -> None:
    how = COVER_ART_AS.get(muxer)
    attachment = _cover_as_attachment(container, stream) if how == "attachment" else None
    if how == "stream" and _container_rejects(stream, muxer) is None:
        plan.copy.append(info.index)
    elif attachment is not None:
        plan.attachments.append(attachment)
    else:
        plan.warnings.append(f"{info.describe()} dropped: FFmpeg's {muxer} writer cannot store cover art in a "
                             f"{suffix} file (an .mp4 or .mkv output keeps it)")


# Where a stream the output's writer refuses would be kept: (writer, the output that gets it).
KEPT_ELSEWHERE = {"mp4": ("mov", ".mov"), "webm": ("matroska", ".mkv"), "avi": ("matroska", ".mkv"),
                  "mpegts": ("matroska", ".mkv")}


def _dropped(info: OtherStream, stream, muxer: str, suffix: str, reason: str) -> str:
    """Why ``stream`` is not in the output, truthfully: this writer refuses it, and where it is kept."""
    text = f"{info.describe()} dropped: FFmpeg's {muxer} writer cannot store it in a {suffix} file ({reason})"
    other, other_suffix = KEPT_ELSEWHERE.get(muxer, (None, None))
    if other is not None and _container_rejects(stream, other) is None:
        text += f"; a {other_suffix} output keeps it"
    return text


def plan_copy(input_path: Path, others: tuple[OtherStream, ...], muxer: str, suffix: str) -> CopyPlan:
    """Decide, stream by stream, what goes into the output (raises OutputError for audio that cannot)."""
    plan = CopyPlan()
    others = tuple(o for o in others if not (o.chapter_track or o.timecode_track))  # rewritten, not copied
    if not others:
        return plan
    with open_input(input_path) as container:
        main = choose_video_stream(container.streams)
        for info in others:
            stream = container.streams[info.index]
            if is_attached_picture(stream):
                _plan_cover(plan, container, stream, info, muxer, suffix)
                continue
            if stream.type == "video":
                plan.warnings.append(f"{info.describe()} dropped: only the main video stream "
                                     f"#{main.index} is deblurred and written")
                continue
            if stream.type not in ("audio", "subtitle", "data", "attachment"):
                plan.warnings.append(f"{info.describe()} dropped: unknown stream type")
                continue
            reason = _container_rejects(stream, muxer)
            if reason is None:
                plan.copy.append(info.index)
            elif stream.type == "audio":
                raise OutputError(
                    f"{info.describe()} cannot be copied into a {suffix} file ({reason}); "
                    f"choose an output extension that can hold it, e.g. .mkv")
            else:
                plan.warnings.append(_dropped(info, stream, muxer, suffix, reason))
    return plan
