"""Copy the input's non-video streams (audio, subtitles, data, attachments) packet for packet.

The input is opened a second time just for these streams, so they can be read
at their own pace: before each video packet is written, the copy is advanced
up to that packet's time. The muxer then sees all streams in time order and
nothing is buffered beyond one packet here (the whole audio of a long file is
never held in memory). Which streams are copied is decided first, by
:mod:`.copy_plan`.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
from av.stream import Discard

from ..errors import OutputError
from .copy_plan import CopyPlan
from .probe import content_tags, describe_error, open_input


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
# Muxers that store no start times: every stream plays from 0 (AVI counts frames and audio bytes).
STARTS_AT_ZERO = frozenset({"avi"})
SYNC_TOLERANCE_S = 0.010  # an audio/video offset change below this is not perceptible (lip sync needs ~45 ms)


class Passthrough:
    """Reads the copied streams from a second opening of the input and muxes them in time order."""

    def __init__(self, input_path: Path, plan: CopyPlan, window: Window | None = None) -> None:
        self.input_path = input_path
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

    def audio_starts(self) -> dict[int, float]:
        """Where each copied audio stream's first copied packet lies (seconds, in the output's time).

        Read ahead on a separate opening of the input, so the copy itself is untouched.
        """
        audio = [s.index for s in self.inputs if s.type == "audio"]
        if not audio:
            return {}
        ahead = Passthrough(self.input_path, CopyPlan(copy=audio), self.window)
        starts: dict[int, float] = {}
        try:
            while len(starts) < len(audio) and (packet := ahead._next()) is not None:
                t = ahead._time(packet)
                if t is not None:
                    starts.setdefault(packet.stream.index, t)
        finally:
            ahead.close()
        return starts

    def check_sync(self, muxer: str, suffix: str, video_start: float, input_format: str = "") -> None:
        """OutputError when ``muxer`` cannot keep the copied audio in sync with a video that starts at ``video_start``.

        AVI stores no start times: each stream plays from 0. Audio whose first
        packet is not where the first frame is (AAC's priming starts 21 ms
        early; a part starts audio at the next packet boundary) would drift
        from the picture by that much for the whole file. A whole AVI input
        already plays every stream from 0: written again as AVI, nothing moves.
        """
        if muxer not in STARTS_AT_ZERO or (input_format in STARTS_AT_ZERO and self.window == Window()):
            return
        for index, start in self.audio_starts().items():
            offset = start - video_start
            if abs(offset) > SYNC_TOLERANCE_S:
                stream = self.container.streams[index]
                codec = stream.codec_context.name if stream.codec_context is not None else "audio"
                raise OutputError(
                    f"audio stream #{index} ({codec}) would be out of sync by {abs(offset) * 1000:.0f} ms in a "
                    f"{suffix} file: it starts {offset * 1000:+.0f} ms from the first frame (codec priming, or a "
                    f"part cut at packet boundaries), and {suffix} plays every stream from 0; "
                    f"choose .mkv, .mp4 or .mov")

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
