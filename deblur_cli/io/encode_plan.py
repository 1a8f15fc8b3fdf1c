"""Encoder planning: which muxer, encoder, pixel format and encoder options an output gets.

Everything that can make an output impossible (unknown extension or codec, a
codec the container cannot hold, a quality setting outside the codec's range,
a hardware encoder that will not open) is decided here, before any frame is
processed, so the user hears about it at once. :mod:`.sink` then writes with
the plan.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av

from ..errors import OptionError, OutputError
from .encoders import encoder_status
from .playable import (
    add_params,
    codec_tag,
    default_codec,
    hdr_options,
    playback_warnings,
    target_depth,
)
from .probe import VideoFacts, describe_error

MUXER_FOR_SUFFIX = {
    ".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm",
    ".avi": "avi", ".ts": "mpegts", ".mts": "mpegts", ".m2ts": "mpegts",
}
CODEC_ALIASES = {
    "h264": "libx264", "x264": "libx264", "avc": "libx264",
    "h265": "libx265", "hevc": "libx265", "x265": "libx265",
    "vp9": "libvpx-vp9", "av1": "libsvtav1",
}  # "nvenc" picks h264_nvenc or hevc_nvenc by the input (.playable)
# Hardware encoders are tried by opening them; when that fails the software twin is used.
SOFTWARE_TWIN = {"h264_nvenc": "libx264", "hevc_nvenc": "libx265", "av1_nvenc": "libsvtav1"}
DEFAULT_CRF = {"libx264": 18, "libx265": 18, "libvpx-vp9": 24, "libsvtav1": 28, "nvenc": 19}
# libx264's preset without --preset is "faster", not x264's own "medium": on a GPU run the encoder is one of the
# three threads every frame passes (pipeline.stages) and must keep up with the model (the target is 150 frames/s
# at 720p). Measured with benchmarks/bench_encoder.py (RESULTS.md, "Encoder preset"): faster encoded 1.3 to 2.1
# times as fast as medium (1.7x in the median); at the same CRF its files were 2.5 to 5 % larger (veryfast's 12 %
# smaller to 42 % larger depending on the clip, at a lower PSNR). A CPU run, limited by the model, loses nothing but
# that size; --preset medium gets it back.
DEFAULT_PRESET = {"libx264": "faster", "libx265": "medium", "libsvtav1": "8", "nvenc": "p5"}
# FFmpeg's threading type per encoder. PyAV asks every encoder for slice threads; libx264 then splits each frame
# into slices. Frame threads (x264's own, its automatic count of 1.5 per core) scale to a GPU machine's 16 cores
# better and cost only a few frames of delay, which a file-to-file run does not notice.
THREAD_TYPE = {"libx264": "FRAME"}
# Encoders whose --preset is a number: the option it sets and the values it takes.
NUMERIC_PRESET = {"libvpx-vp9": ("cpu-used", "cpu-used 0-8"), "libsvtav1": ("preset", "0-13")}
# The --crf values each encoder family takes (x264/x265 clamp anything above 51 silently: refused instead).
CRF_RANGE = {"libx264": (0, 51), "libx265": (0, 51), "libvpx-vp9": (0, 63), "libsvtav1": (0, 63), "nvenc": (0, 51)}
# Where the pixel aspect ratio survives: encoders that write it into the bitstream (H.264/HEVC VUI,
# MPEG-4 VOL), and containers that store it beside any codec (MP4/MOV 'pasp').
SAR_IN_BITSTREAM = frozenset({"libx264", "libx265", "h264_nvenc", "hevc_nvenc", "mpeg4"})
SAR_IN_CONTAINER = frozenset({"mp4", "mov"})
# H.264 in AVI: AVI has no presentation timestamps, and FFmpeg's demuxer then assumes one frame of
# reordering delay, showing every frame one frame late (audio out of sync) -- unless the stream says
# when each picture is shown. HRD signalling adds that (picture-timing SEI with dpb_output_delay 0).
# Its VBV bound is one bit per pixel per second (52 Mbit/s at 1080p25): above what CRF encoding needs,
# low enough that x264 declares a level (4.2 at 1080p) decoders accept.
AVI_VBV_KBPS = (8_000, 240_000)  # the bound's floor and ceiling


def _avi_x264_params(facts: VideoFacts) -> str:
    rate = float(facts.average_rate or 25)
    low, high = AVI_VBV_KBPS
    kbps = min(max(round(facts.width * facts.height * rate / 1000), low), high)
    return f"nal-hrd=vbr:vbv-maxrate={kbps}:vbv-bufsize={kbps}"


@dataclass
class EncoderPlan:
    """How the video is written: FFmpeg muxer, encoder, pixel format and encoder options."""

    muxer: str
    codec: str
    pix_fmt: str
    options: dict[str, str]
    warnings: list[str] = field(default_factory=list)
    sample_aspect_ratio: Fraction | None = None  # written to the output (None: square pixels)
    thread_type: str | None = None  # FFmpeg threading the encoder is opened with (THREAD_TYPE; None: PyAV's)
    codec_tag: str | None = None  # the output stream's sample-entry tag ('hvc1'; None: the muxer's default)
    container_options: dict[str, str] = field(default_factory=dict)  # muxer options (movflags...), .container_plan
    trailer: tuple[int, int] | None = None  # (offset, length) of the input's bytes appended after muxing


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
    """4:2:0 at the input's bit depth (:func:`.playable.target_depth`; 4:4:4 when a side is odd)."""
    depth = target_depth(codec.name, facts)
    supported = [f.name for f in (codec.video_formats or ())]
    odd = facts.width % 2 or facts.height % 2
    high = ["yuv420p10le", "p010le"]
    low = ["yuv420p", "nv12"]
    if odd:
        high, low = ["yuv444p10le"] + high, ["yuv444p"] + low
    if not supported:
        return (high if depth > 8 else low)[0], None
    if depth > 8:
        for name in high:
            if name in supported:
                return name, None
    for name in low:
        if name in supported:
            warning = None
            if depth > 8:
                warning = f"{codec.name} cannot encode {depth}-bit video here; the output is 8-bit"
            return name, warning
    return supported[0], None


def _check_crf(family: str, codec: str, crf: int | None) -> None:
    if crf is not None and family in CRF_RANGE:
        low, high = CRF_RANGE[family]
        if not low <= crf <= high:
            raise OptionError(f"--crf {crf} is outside the range of {codec} ({low}-{high}; lower is better)")


def _options(codec: str, crf: int | None, preset: str | None) -> tuple[dict[str, str], list[str]]:
    family = "nvenc" if codec.endswith("_nvenc") else codec
    _check_crf(family, codec, crf)
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
    name = default_codec(muxer, facts, codec).strip()
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
        hdr_warning = hdr_options(encoder.name, facts.hdr, options)
        if hdr_warning:
            warnings.append(hdr_warning)
    if muxer == "avi" and encoder.name == "libx264":
        add_params(options, "x264-params", _avi_x264_params(facts))
    sar = facts.sample_aspect_ratio
    if sar is not None and encoder.name not in SAR_IN_BITSTREAM and muxer not in SAR_IN_CONTAINER:
        if sar != 1:  # (a stated 1:1 is what the output shows anyway)
            warnings.append(f"the input's pixel aspect ratio {sar.numerator}:{sar.denominator} cannot be stored "
                            f"with {encoder.name} in a {suffix} file; the output shows square pixels "
                            f"(use .mp4/.mov, or --codec libx264)")
        sar = None
    warnings += playback_warnings(encoder.name, pix_fmt, facts, explicit=codec is not None)
    return EncoderPlan(muxer, encoder.name, pix_fmt, options, warnings, sar, THREAD_TYPE.get(encoder.name),
                       codec_tag(encoder.name, muxer))
