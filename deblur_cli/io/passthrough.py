"""Copy the input's non-video streams (audio, subtitles, data, attachments) packet for packet.

The input is opened a second time just for these streams, so they can be read
at their own pace: before each video packet is written, the copy is advanced
up to that packet's time. The muxer then sees all streams in time order and
nothing is buffered beyond one packet here (the whole audio of a long file is
never held in memory).

Audio is the user's and is never dropped: audio the output container cannot
hold is an :class:`OutputError`. Subtitles, data and attachments the container
cannot hold are dropped with a warning.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
from av.stream import Discard

from ..errors import OutputError
from .source import (
    OtherStream,
    choose_video_stream,
    content_tags,
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


def plan_copy(input_path: Path, others: tuple[OtherStream, ...], muxer: str, suffix: str) -> CopyPlan:
    """Decide, stream by stream, what goes into the output (raises OutputError for audio that cannot)."""
    plan = CopyPlan()
    if not others:
        return plan
    with open_input(input_path) as container:
        main = choose_video_stream(container.streams)
        for info in others:
            stream = container.streams[info.index]
            if stream.type == "video" and not is_attached_picture(stream):
                plan.warnings.append(f"{info.describe()} dropped: only the main video stream "
                                     f"#{main.index} is deblurred and written")
                continue
            if stream.type not in ("audio", "subtitle", "data", "attachment", "video"):
                plan.warnings.append(f"{info.describe()} dropped: unknown stream type")
                continue
            reason = _container_rejects(stream, muxer)
            if reason is None:
                plan.copy.append(info.index)
            elif is_attached_picture(stream) and muxer == "matroska":
                attachment = _cover_as_attachment(container, stream)
                if attachment is not None:
                    plan.attachments.append(attachment)
                else:
                    plan.warnings.append(f"{info.describe()} dropped: a {suffix} file cannot hold it")
            elif stream.type == "audio":
                raise OutputError(
                    f"{info.describe()} cannot be copied into a {suffix} file ({reason}); "
                    f"choose an output extension that can hold it, e.g. .mkv")
            else:
                plan.warnings.append(f"{info.describe()} dropped: a {suffix} file cannot hold it")
    return plan


@dataclass(frozen=True)
class Window:
    """The part of the input that is copied (``--start``/``--duration``), in seconds.

    Packets timed in [``start``, ``end``) are copied whole (never cut: the copy
    stays bit-exact, so audio begins at the first packet boundary at or after
    ``start``) and moved ``shift`` seconds earlier, as the video is. None: no bound.
    """

    start: float | None = None
    end: float | None = None
    shift: Fraction = Fraction(0)


SEEK_MARGIN_S = 2.0  # seek this far before the window: demuxers land on a nearby index point, not exactly
END_MARGIN_S = 5.0  # interleaving never puts a packet this far behind the others: past it, reading stops


class Passthrough:
    """Reads the copied streams from a second opening of the input and muxes them in time order."""

    def __init__(self, input_path: Path, plan: CopyPlan, window: Window | None = None) -> None:
        self.window = window or Window()
        self.container = open_input(input_path)
        self.inputs = [self.container.streams[i] for i in plan.copy]
        self.attachments = list(plan.attachments)
        wanted = set(plan.copy)
        for stream in self.container.streams:
            if stream.index not in wanted:
                stream.discard = Discard.all  # the demuxer skips these (the video above all)
        self.outputs: dict[int, av.stream.Stream] = {}
        self.packets_copied = 0
        self.warning: str | None = None
        self._packets: Iterator[av.Packet] | None = None
        self._pending: av.Packet | None = None
        self._done = not self.inputs

    def sample_rates(self) -> list[int]:
        """The sample rates of the copied audio streams."""
        return [s.codec_context.sample_rate for s in self.inputs
                if s.type == "audio" and s.codec_context is not None and s.codec_context.sample_rate]

    def add_streams(self, output: av.container.OutputContainer) -> None:
        """Create one output stream per copied input stream (before the header is written)."""
        for stream in self.inputs:
            copy = output.add_stream_from_template(stream)
            copy.disposition = stream.disposition  # default/forced/attached_pic flags
            copy.metadata.update(content_tags(stream.metadata))
            self.outputs[stream.index] = copy
        for name, mimetype, data in self.attachments:
            output.add_attachment(name, mimetype, data)

    def _open_packets(self) -> Iterator[av.Packet]:
        if self.window.start is not None:
            try:
                self.container.seek(max(0, round((self.window.start - SEEK_MARGIN_S) * av.time_base)))
            except av.error.FFmpegError:
                pass  # not seekable: read from the beginning and skip
        return iter(self.container.demux(*self.inputs))

    def _in_window(self, packet: av.Packet) -> bool | None:
        """True to copy, False to skip, None when reading can stop (all of the window has been read)."""
        start, end = self.window.start, self.window.end
        t = self._time(packet)
        if t is None:
            return True
        if end is not None and t >= end:
            return None if t >= end + END_MARGIN_S else False
        return start is None or t >= start

    def _shifted(self, packet: av.Packet) -> av.Packet:
        if self.window.shift:
            ticks = round(self.window.shift / packet.time_base)
            if packet.pts is not None:
                packet.pts -= ticks
            if packet.dts is not None:
                packet.dts -= ticks
        return packet

    def _next(self) -> av.Packet | None:
        if self._done:
            return None
        if self._packets is None:
            self._packets = self._open_packets()
        try:
            while True:
                packet = next(self._packets)
                if not packet.size:  # skip the empty flush packet each stream ends with
                    continue
                wanted = self._in_window(packet)
                if wanted is None:
                    break
                if wanted:
                    return self._shifted(packet)
        except StopIteration:
            pass
        except av.error.FFmpegError as exc:
            self.warning = (f"copying audio/subtitles stopped early after {self.packets_copied} "
                            f"packets (input damaged: {describe_error(exc)})")
        self._done = True
        return None

    @staticmethod
    def _time(packet: av.Packet) -> float | None:
        ts = packet.dts if packet.dts is not None else packet.pts
        return None if ts is None else float(ts * packet.time_base)

    def mux_until(self, output: av.container.OutputContainer, seconds: float | None) -> None:
        """Mux every copied packet up to ``seconds`` (all that remain if ``seconds`` is None)."""
        while True:
            packet = self._pending if self._pending is not None else self._next()
            self._pending = None
            if packet is None:
                return
            t = self._time(packet)
            if seconds is not None and t is not None and t > seconds:
                self._pending = packet
                return
            packet.stream = self.outputs[packet.stream.index]
            output.mux(packet)
            self.packets_copied += 1

    def close(self) -> None:
        self._pending = None
        self._packets = None
        self.container.close()
