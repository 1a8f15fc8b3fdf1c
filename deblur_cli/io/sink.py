"""The output side: choose container, encoder and pixel format, then encode and mux.

Everything that can make an output impossible (unknown extension or codec, a
codec the container cannot hold, an encoder that will not open) is decided in
:func:`plan_encoder` and :class:`VideoSink`'s constructor, before any frame is
processed, so the user hears about it at once.

What the output keeps from the input: frame size, each frame's timestamp (the
input's time base is used for the stream and the encoder, so variable frame
rate survives), colour tags, HDR10 mastering/light-level metadata (x264 and
x265 only), rotation, bit depth (8 or 10), and the copied non-video streams
(see :mod:`.passthrough`). Two containers bend this: AVI is constant-rate and
has no rotation, and MPEG-TS cannot start below zero, so
FFmpeg shifts all its streams together by the encoder's B-frame delay (sync
kept, absolute times moved by a few frames).
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av

from ..errors import OutputError
from .colour import ColourInfo, HdrMetadata, output_colour, rgb_to_frame, tag
from .encoders import encoder_status
from .passthrough import Passthrough
from .source import VideoFacts, describe_error

MUXER_FOR_SUFFIX = {
    ".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm",
    ".avi": "avi", ".ts": "mpegts", ".mts": "mpegts", ".m2ts": "mpegts",
}
DEFAULT_CODEC = "libx264"
DEFAULT_CODEC_FOR_MUXER = {"webm": "libvpx-vp9"}
CODEC_ALIASES = {
    "h264": "libx264", "x264": "libx264", "avc": "libx264",
    "h265": "libx265", "hevc": "libx265", "x265": "libx265",
    "vp9": "libvpx-vp9", "av1": "libsvtav1", "nvenc": "h264_nvenc",
}
# Hardware encoders are tried by opening them; when that fails the software twin is used.
SOFTWARE_TWIN = {"h264_nvenc": "libx264", "hevc_nvenc": "libx265", "av1_nvenc": "libsvtav1"}
DEFAULT_CRF = {"libx264": 18, "libx265": 18, "libvpx-vp9": 24, "libsvtav1": 28, "nvenc": 19}
DEFAULT_PRESET = {"libx264": "medium", "libx265": "medium", "libsvtav1": "8", "nvenc": "p5"}
MP4_LIKE = ("mp4", "mov")
# Encoders whose --preset is a number: the option it sets and the values it takes.
NUMERIC_PRESET = {"libvpx-vp9": ("cpu-used", "cpu-used 0-8"), "libsvtav1": ("preset", "0-13")}


@dataclass
class EncoderPlan:
    """How the video is written: FFmpeg muxer, encoder, pixel format and encoder options."""

    muxer: str
    codec: str
    pix_fmt: str
    options: dict[str, str]
    warnings: list[str] = field(default_factory=list)


def muxer_for(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in MUXER_FOR_SUFFIX:
        known = ", ".join(sorted(MUXER_FOR_SUFFIX))
        raise OutputError(f"unsupported output extension '{suffix or path.name}' (use one of: {known})")
    return MUXER_FOR_SUFFIX[suffix]


def _video_encoder(name: str) -> av.codec.Codec:
    try:
        codec = av.codec.Codec(name, "w")
    except (av.codec.codec.UnknownCodecError, ValueError):
        raise OutputError(f"unknown video codec '{name}' (try libx264, libx265, libvpx-vp9, "
                          f"libsvtav1 or h264_nvenc)") from None
    if codec.type != "video":
        raise OutputError(f"'{name}' is a {codec.type} codec, not a video codec")
    return codec


def _check_muxer_holds(muxer: str, codec: str, suffix: str) -> None:
    with av.open(io.BytesIO(), "w", format=muxer) as probe:
        try:
            probe.add_stream(codec)
        except ValueError:
            raise OutputError(f"{codec} video cannot be stored in a {suffix} file "
                              f"(choose another --codec or extension)") from None


def _pick_pix_fmt(codec: av.codec.Codec, facts: VideoFacts) -> tuple[str, str | None]:
    """4:2:0 at the input's bit depth (4:4:4 when a side is odd, which 4:2:0 cannot hold)."""
    supported = [f.name for f in (codec.video_formats or ())]
    odd = facts.width % 2 or facts.height % 2
    high = ["yuv420p10le", "p010le"]
    low = ["yuv420p", "nv12"]
    if odd:
        high, low = ["yuv444p10le"] + high, ["yuv444p"] + low
    if not supported:
        return (high if facts.bit_depth > 8 else low)[0], None
    if facts.bit_depth > 8:
        for name in high:
            if name in supported:
                return name, None
    for name in low:
        if name in supported:
            warning = None
            if facts.bit_depth > 8:
                warning = f"{codec.name} cannot encode {facts.bit_depth}-bit video here; the output is 8-bit"
            return name, warning
    return supported[0], None


def _options(codec: str, crf: int | None, preset: str | None) -> tuple[dict[str, str], list[str]]:
    family = "nvenc" if codec.endswith("_nvenc") else codec
    warnings: list[str] = []
    quality = crf if crf is not None else DEFAULT_CRF.get(family)
    speed = preset if preset is not None else DEFAULT_PRESET.get(family)
    if family in ("libx264", "libx265"):
        options = {"crf": str(quality), "preset": speed}
        if family == "libx265":
            options["x265-params"] = "log-level=error"
    elif family in NUMERIC_PRESET:
        option, allowed = NUMERIC_PRESET[family]
        if family == "libvpx-vp9":
            options = {"crf": str(quality), "b": "0", "row-mt": "1", "deadline": "good", "cpu-used": "4"}
        else:
            options = {"crf": str(quality), "preset": DEFAULT_PRESET["libsvtav1"]}
        if preset is not None:
            if preset.isdigit():
                options[option] = preset
            else:
                warnings.append(f"--preset {preset} ignored: {family} takes a number ({allowed})")
    elif family == "nvenc":
        options = {"preset": speed, "rc": "vbr", "cq": str(quality), "b": "0"}
    else:
        options = {}
        if crf is not None or preset is not None:
            warnings.append(f"--crf/--preset are not used with {codec} (encoder defaults apply)")
    return options, warnings


# Encoders that write HDR10 static metadata as SEI: (their parameter option, mastering-display key, light-level key).
HDR_PARAMS = {"libx264": ("x264-params", "mastering-display", "cll"),
              "libx265": ("x265-params", "master-display", "max-cll")}


def _hdr_options(codec: str, hdr: HdrMetadata, options: dict[str, str]) -> str | None:
    """Pass the input's HDR10 metadata on through the encoder's parameters (a warning where it has none).

    PyAV cannot attach side data to frames or streams, so x264/x265 parameters are
    the only way to write it; both take chromaticities in 1/50000 and luminance in
    1/10000 cd/m2, green first.
    """
    if codec not in HDR_PARAMS:
        return f"{codec} cannot write the input's HDR mastering-display/light-level metadata; the output lacks it"
    option, mastering_key, light_key = HDR_PARAMS[codec]
    params = [options[option]] if option in options else []
    if hdr.mastering:
        rx, ry, gx, gy, bx, by, wx, wy, low, high = hdr.mastering

        def xy(x: Fraction, y: Fraction) -> str:
            return f"({round(x * 50000)},{round(y * 50000)})"

        params.append(f"{mastering_key}=G{xy(gx, gy)}B{xy(bx, by)}R{xy(rx, ry)}WP{xy(wx, wy)}"
                      f"L({round(high * 10000)},{round(low * 10000)})")
    if hdr.light_level:
        params.append(f"{light_key}={hdr.light_level[0]},{hdr.light_level[1]}")
    options[option] = ":".join(params)
    return None


def _hardware_unusable(codec: str, pix_fmt: str, options: dict[str, str], facts: VideoFacts) -> str | None:
    """Why a hardware encoder cannot write this video here (None if it can).

    First the machine-wide probe of :mod:`deblur_cli.encoders` (driver, GPU), then
    one open at this video's size and pixel format, which NVENC can still refuse
    (frames below its minimum size, 10-bit on older GPUs).
    """
    status = encoder_status(codec)
    if not status.usable:
        return f"{status.reason}" + (f" ({status.detail})" if status.detail else "")
    try:
        ctx = av.CodecContext.create(codec, "w")
        ctx.width, ctx.height, ctx.pix_fmt = facts.width, facts.height, pix_fmt
        ctx.time_base = facts.time_base
        ctx.framerate = facts.average_rate or Fraction(25)
        ctx.options = dict(options)
        ctx.open()
    except Exception as exc:  # any failure to open means "not for this video"
        return f"cannot encode {facts.width}x{facts.height} {pix_fmt} here ({describe_error(exc)})"
    return None


def plan_encoder(output: Path, facts: VideoFacts, codec: str | None = None,
                 crf: int | None = None, preset: str | None = None) -> EncoderPlan:
    """Resolve the user's encode choices against the output extension and the input."""
    muxer = muxer_for(output)
    suffix = output.suffix.lower()
    name = (codec or DEFAULT_CODEC_FOR_MUXER.get(muxer, DEFAULT_CODEC)).strip()
    name = CODEC_ALIASES.get(name.lower(), name)
    encoder = _video_encoder(name)
    _check_muxer_holds(muxer, encoder.name, suffix)
    pix_fmt, depth_warning = _pick_pix_fmt(encoder, facts)
    options, warnings = _options(encoder.name, crf, preset)
    if depth_warning:
        warnings.append(depth_warning)
    if encoder.name in SOFTWARE_TWIN:
        reason = _hardware_unusable(encoder.name, pix_fmt, options, facts)
        if reason is not None:
            twin = SOFTWARE_TWIN[encoder.name]
            nvenc_only_preset = preset is not None and re.fullmatch(r"p[1-7]", preset)
            fallback = plan_encoder(output, facts, twin, crf, None if nvenc_only_preset else preset)
            fallback.warnings.insert(0, f"{encoder.name} {reason}; encoded with {twin} instead")
            return fallback
    if facts.hdr is not None:
        hdr_warning = _hdr_options(encoder.name, facts.hdr, options)
        if hdr_warning:
            warnings.append(hdr_warning)
    return EncoderPlan(muxer, encoder.name, pix_fmt, options, warnings)


def _track_timescale(time_base: Fraction) -> int:
    """MP4 track timescale holding every input timestamp exactly (FFmpeg's rule: den, doubled to >= 10000)."""
    scale = time_base.denominator
    while scale < 10000:
        scale *= 2
    return scale


class VideoSink:
    """An open output file: the encoded video stream plus the copied streams, header already written."""

    def __init__(self, path: Path, plan: EncoderPlan, facts: VideoFacts, passthrough: Passthrough | None) -> None:
        self.plan = plan
        self.facts = facts
        self.passthrough = passthrough
        self.colour: ColourInfo = output_colour(facts.colour, facts.is_rgb)
        self.rgb_format = "rgb48le" if facts.bit_depth > 8 else "rgb24"
        self.frames_written = 0
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
        try:
            self.container = av.open(str(path), "w", format=plan.muxer, container_options=container_options)
        except (OSError, av.error.FFmpegError) as exc:
            raise OutputError(f"cannot create output {path}: {describe_error(exc)}") from None
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
        self.container.metadata.update(facts.container_tags)
        self.stream = stream
        if self.passthrough is not None:
            self.passthrough.add_streams(self.container)
        try:
            self.container.start_encoding()  # opens the encoder and writes the header
        except (ValueError, av.error.FFmpegError) as exc:
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
        if plan.muxer == "avi":
            stream.codec_context.max_b_frames = 0  # AVI has no presentation timestamps to reorder by
        tag(stream.codec_context, self.colour)
        return stream

    def _output_pts(self, pts: int | None, time_base: Fraction | None) -> int:
        """The input frame's timestamp in the output time base, kept strictly increasing."""
        if pts is not None and time_base:
            pts = pts if time_base == self.time_base else round(pts * time_base / self.time_base)
        else:
            pts = None
        if pts is None or (self._last_pts is not None and pts <= self._last_pts):
            step = max(1, round((1 / (self.facts.average_rate or 25)) / self.time_base))
            pts = 0 if self._last_pts is None else self._last_pts + step
        self._last_pts = pts
        return pts

    def write(self, rgb, pts: int | None, time_base: Fraction | None) -> None:
        """Encode one restored RGB array at the input frame's timestamp, muxing copied streams up to it."""
        frame = rgb_to_frame(rgb, self.rgb_format, self.plan.pix_fmt, self.colour)
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
        self.container.close()

    def close(self) -> None:
        """Release the file without finishing it (after an error; the caller deletes it)."""
        try:
            self.container.close()
        except Exception:
            pass
