"""Outputs that play where the input came from: the default codec for 10-bit and HDR, tags, HDR metadata.

Phones record 10-bit HDR (HLG, PQ) as HEVC Main 10. H.264 at 10 bits (High 10)
is valid but plays almost nowhere: not in QuickTime, on iPhones, in browsers or
in most hardware decoders. So without ``--codec``:

- 8-bit SDR input stays H.264 (libx264);
- 10-bit or HDR (PQ, HLG) input becomes HEVC Main 10 (libx265; ``--codec nvenc``
  picks hevc_nvenc for it), colour tags kept;
- HEVC in MP4/MOV is tagged 'hvc1' (parameter sets in the sample description),
  the form Apple's players require; FFmpeg's default 'hev1' is refused there.

HDR10 static metadata (mastering display, content light level) goes to the
encoder as parameters; per-frame metadata made for the original pictures
(Dolby Vision RPU, HDR10+) cannot follow a re-encode and gets one warning
naming it (the HDR10/HLG base the pictures are in is kept). An explicit choice
that plays poorly (H.264 at 10 bits) gets one warning too.
"""

from __future__ import annotations

from fractions import Fraction

from .colour import HdrMetadata
from .probe import VideoFacts

TRC_PQ, TRC_HLG = 16, 18  # AVColorTransferCharacteristic: SMPTE ST 2084, ARIB STD-B67
HDR_TRANSFERS = frozenset({TRC_PQ, TRC_HLG})
DEFAULT_CODEC = "libx264"
HDR_CODEC = "libx265"  # HEVC Main 10: what phones record 10-bit and HDR video in
DEFAULT_CODEC_FOR_MUXER = {"webm": "libvpx-vp9"}  # VP9 keeps 10 bits there (profile 2)
HEVC_MUXERS = frozenset({"mp4", "mov", "matroska", "mpegts"})  # where 10-bit/HDR input defaults to HEVC
# --codec nvenc: the NVIDIA encoder that suits the input (H.264 has no 10-bit NVENC on most GPUs).
NVENC_FOR = {False: "h264_nvenc", True: "hevc_nvenc"}
HEVC_ENCODERS = frozenset({"libx265", "hevc_nvenc"})
H264_ENCODERS = frozenset({"libx264", "h264_nvenc"})
MP4_LIKE = ("mp4", "mov")
# Encoders that write HDR10 static metadata as SEI: (their parameter option, mastering-display key, light-level key).
HDR_PARAMS = {"libx264": ("x264-params", "mastering-display", "cll"),
              "libx265": ("x265-params", "master-display", "max-cll")}


def is_high_range(facts: VideoFacts) -> bool:
    """10-bit (or deeper) or HDR (PQ/HLG) input: what H.264 cannot carry playably."""
    return facts.bit_depth > 8 or facts.colour.trc in HDR_TRANSFERS


def default_codec(muxer: str, facts: VideoFacts, requested: str | None) -> str:
    """The encoder for ``muxer`` when ``--codec`` is ``requested`` (None: not given; "nvenc": NVIDIA's, by input)."""
    if requested is not None:
        return NVENC_FOR[is_high_range(facts)] if requested.strip().lower() == "nvenc" else requested
    if muxer in HEVC_MUXERS and is_high_range(facts):
        return HDR_CODEC
    return DEFAULT_CODEC_FOR_MUXER.get(muxer, DEFAULT_CODEC)


def target_depth(codec: str, facts: VideoFacts) -> int:
    """Bits per sample to encode at: the input's, and 10 for 8-bit HDR input going to HEVC."""
    if codec in HEVC_ENCODERS and facts.colour.trc in HDR_TRANSFERS:
        return max(facts.bit_depth, 10)
    return facts.bit_depth


def codec_tag(codec: str, muxer: str) -> str | None:
    """The sample-entry tag the output stream gets ('hvc1' for HEVC in MP4/MOV; None: the muxer's default)."""
    return "hvc1" if codec in HEVC_ENCODERS and muxer in MP4_LIKE else None


def playback_warnings(codec: str, pix_fmt: str, facts: VideoFacts, explicit: bool) -> list[str]:
    """One warning for each thing about this output that will not play, or not as the input did."""
    warnings = []
    if explicit and codec in H264_ENCODERS and "10" in pix_fmt:
        warnings.append(f"{codec} writes 10-bit video as H.264 High 10, which QuickTime, iPhones, browsers and "
                        f"most hardware decoders do not play; leave --codec out (HEVC Main 10) or use libx265")
    if facts.dynamic_hdr:
        names = " and ".join(facts.dynamic_hdr)
        base = "HLG" if facts.colour.trc == TRC_HLG else "HDR10" if facts.colour.trc == TRC_PQ else "base"
        warnings.append(f"the input's {names} (made for the original pictures) cannot be carried through a "
                        f"re-encode and is not in the output; its {base} picture and colour tags are kept")
    return warnings


def hdr_options(codec: str, hdr: HdrMetadata, options: dict[str, str]) -> str | None:
    """Pass the input's HDR10 metadata on through the encoder's parameters (a warning where it has none).

    PyAV cannot attach side data to frames or streams, so x264/x265 parameters are
    the only way to write it; both take chromaticities in 1/50000 and luminance in
    1/10000 cd/m2, green first.
    """
    if codec not in HDR_PARAMS:
        return f"{codec} cannot write the input's HDR mastering-display/light-level metadata; the output lacks it"
    option, mastering_key, light_key = HDR_PARAMS[codec]
    params = []
    if hdr.mastering:
        rx, ry, gx, gy, bx, by, wx, wy, low, high = hdr.mastering

        def xy(x: Fraction, y: Fraction) -> str:
            return f"({round(x * 50000)},{round(y * 50000)})"

        params.append(f"{mastering_key}=G{xy(gx, gy)}B{xy(bx, by)}R{xy(rx, ry)}WP{xy(wx, wy)}"
                      f"L({round(high * 10000)},{round(low * 10000)})")
    if hdr.light_level:
        params.append(f"{light_key}={hdr.light_level[0]},{hdr.light_level[1]}")
    add_params(options, option, ":".join(params))
    return None


def add_params(options: dict[str, str], option: str, params: str) -> None:
    """Append ``key=value:...`` parameters to an encoder's parameter option (x264-params, x265-params)."""
    options[option] = ":".join(p for p in (options.get(option, ""), params) if p)
