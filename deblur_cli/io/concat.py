"""Join separately encoded parts of one video into the output by remuxing: no frame is encoded twice.

Each part is a complete file holding only the video stream, encoded on its own
(so it starts with a keyframe and refers to nothing outside itself), with the
input's own timestamps. :class:`JoinSink` is a :class:`~.sink.VideoSink`
whose video stream is copied from the first part instead of encoded: the
container, its options, time base, tags, rotation and the copied
audio/subtitle/data streams (:mod:`.passthrough`) are set up by the very same
code as a one-pass run, so the output differs from one only in how the video
was cut into GOPs.

Parts go in the output's own container, whose timestamp rounding the output
then repeats exactly; MPEG-TS parts would come back shifted by its mux delay,
so those parts are MP4 (which keeps every timestamp of the input's time base).

Decode timestamps: an encoder with B-frames starts each part's DTS a few
frames before the part's first picture, which overlaps the end of the part
before. Those leading packets get the previous part's last presentation
times as DTS (what a continuous encoder gives them), so DTS rise strictly.
"""

from __future__ import annotations

import bisect
from contextlib import ExitStack
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av

from ..errors import OutputError
from .colour import tag
from .encode_plan import EncoderPlan
from .passthrough import Passthrough
from .playable import codec_tag
from .probe import VideoFacts, describe_error, open_input
from .sink import VideoSink

PART_MUXER = {"mpegts": "mp4"}  # see the module doc (AVI outputs are not made in parts: it has no timestamps)
PART_SUFFIX = {"mp4": ".mp4", "mov": ".mov", "matroska": ".mkv", "webm": ".webm"}
TAIL = 64  # presentation times remembered from the part before (far more than any encoder's reorder delay)


def part_plan(plan: EncoderPlan) -> EncoderPlan:
    """The encoder plan for a part of an output planned as ``plan``: same encoder, maybe another container."""
    muxer = PART_MUXER.get(plan.muxer, plan.muxer)
    return replace(plan, muxer=muxer, warnings=[], trailer=None, container_options={},
                   codec_tag=codec_tag(plan.codec, muxer))


def part_suffix(plan: EncoderPlan) -> str:
    return PART_SUFFIX[part_plan(plan).muxer]


class JoinSink(VideoSink):
    """An output whose video stream copies the packets of encoded parts (see the module doc)."""

    def __init__(self, path: Path, plan: EncoderPlan, facts: VideoFacts, passthrough: Passthrough | None,
                 template: av.video.stream.VideoStream, **extras) -> None:
        self._template = template
        super().__init__(path, plan, facts, passthrough, **extras)

    def _add_video_stream(self, rate: Fraction) -> av.video.stream.VideoStream:
        try:
            stream = self.container.add_stream_from_template(self._template)
        except ValueError:  # no encoder of the decoder's name (AV1 decodes with libdav1d): the part's parameters
            stream = self.container.add_stream_from_template(self._template, opaque=True)
            stream.time_base = self.time_base
            return stream
        stream.time_base = self.time_base
        stream.codec_context.time_base = self.time_base
        stream.codec_context.framerate = rate
        tag(stream.codec_context, self.colour)
        if self.plan.codec_tag:
            stream.codec_context.codec_tag = self.plan.codec_tag  # the output's own ('hvc1')
        return stream

    def write_packet(self, packet: av.Packet) -> None:
        packet.stream = self.stream
        self._mux_video([packet])
        self.frames_written += 1

    def finish(self) -> None:
        if self.passthrough is not None:
            self.passthrough.mux_until(self.container, None)
        self.close_file()


class _Dts:
    """Strictly rising decode timestamps across parts (see the module doc), in the parts' time base."""

    def __init__(self) -> None:
        self.last: int | None = None
        self.tail: list[int] = []  # the highest presentation times so far, sorted

    def part(self, packets: Iterator[av.Packet]) -> Iterator[av.Packet]:
        leading: list[av.Packet] = []
        start: int | None = None
        for packet in packets:
            if start is None:
                start = packet.pts
            if self._needs_dts(packet, start) and len(leading) < TAIL:
                leading.append(packet)
                continue
            if leading:
                yield from self._assign(leading, packet.dts)
                leading = []
            yield self._seen(packet)
        if leading:
            yield from self._assign(leading, start)

    def _needs_dts(self, packet: av.Packet, start: int | None) -> bool:
        """No DTS, or one that a part after the first starts below its first picture or below the last DTS."""
        if packet.dts is None:
            return True
        return self.last is not None and ((start is not None and packet.dts < start) or packet.dts <= self.last)

    def _assign(self, packets: list[av.Packet], upper: int | None) -> Iterator[av.Packet]:
        """Give ``packets`` rising DTS above the last one written and below ``upper``."""
        if upper is None:
            upper = min(p.pts for p in packets if p.pts is not None)
        low = self.last if self.last is not None else None
        free = [t for t in self.tail if (low is None or t > low) and t < upper]
        values = free[-len(packets):] if len(free) >= len(packets) else \
            [upper - (len(packets) - i) for i in range(len(packets))]
        if low is not None and values[0] <= low:
            raise OutputError("cannot join the encoded parts: their decode timestamps overlap "
                              "(run again with --segment 0)")
        for packet, dts in zip(packets, values):
            packet.dts = dts
            yield self._seen(packet)

    def _seen(self, packet: av.Packet) -> av.Packet:
        if packet.dts is not None:
            self.last = packet.dts
        if packet.pts is not None:
            bisect.insort(self.tail, packet.pts)
            del self.tail[:-TAIL]
        return packet


def _video_packets(container) -> Iterator[av.Packet]:
    stream = container.streams.video[0]
    for packet in container.demux(stream):
        if packet.size:
            yield packet


def _same_setup(first, other) -> bool:
    a, b = first.codec_context, other.codec_context
    return (a.name, a.width, a.height, a.pix_fmt, bytes(a.extradata or b""), first.time_base) == \
        (b.name, b.width, b.height, b.pix_fmt, bytes(b.extradata or b""), other.time_base)


def join_parts(parts: list[Path], output: Path, plan: EncoderPlan, facts: VideoFacts,
               passthrough: Passthrough | None, **extras) -> int:
    """Write ``output`` from the parts' video packets, in order, and the copied streams; returns the packets written.

    ``plan``, ``facts`` and ``extras`` (chapters, timecode, name: see
    :class:`~.sink.VideoSink`) are those a one-pass run would use for this output.
    """
    if not parts:
        raise OutputError("nothing to join: no encoded parts")
    with ExitStack() as stack:
        first = stack.enter_context(open_input(parts[0]))
        template = first.streams.video[0]
        sink = JoinSink(output, plan, facts, passthrough, template, **extras)
        stack.push(lambda kind, exc, tb: sink.close() if kind is not None else None)
        dts = _Dts()
        try:
            for number, path in enumerate(parts):
                container = first if number == 0 else stack.enter_context(open_input(path))
                if not _same_setup(template, container.streams.video[0]):
                    raise OutputError(f"cannot join the encoded parts: {path.name} was encoded with other "
                                      f"settings than {parts[0].name} (run again with --no-resume)")
                for packet in dts.part(_video_packets(container)):
                    sink.write_packet(packet)
                if number:
                    container.close()
            sink.finish()
        except av.error.FFmpegError as exc:
            raise OutputError(f"joining the encoded parts into {output.name} failed: {describe_error(exc)}") from None
        return sink.frames_written
