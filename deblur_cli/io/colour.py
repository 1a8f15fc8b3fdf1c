"""YUV <-> RGB conversion that honours the input's matrix and range.

The engine works on RGB; the files hold YUV. Converting with the wrong matrix
(BT.601 vs BT.709) or range (limited vs full) shifts every colour, so the
decoder side and the encoder side both go through :class:`ColourInfo`, which
names the input's tags once and is used for both directions. Values are
FFmpeg's AVCOL_* numbers, so they can be copied onto output frames and
streams unchanged.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from fractions import Fraction

import av
from av.sidedata.sidedata import Type as SideDataType
from av.video.reformatter import Interpolation

# AVColorRange
RANGE_UNSPECIFIED, RANGE_LIMITED, RANGE_FULL = 0, 1, 2
# AVColorSpace values used below
MATRIX_RGB, MATRIX_BT709 = 0, 1
UNSPECIFIED = 2  # AVCOL_PRI_UNSPECIFIED == AVCOL_TRC_UNSPECIFIED == AVCOL_SPC_UNSPECIFIED

# swscale's coefficient table numbers (SWS_CS_*) for each AVCOL_SPC matrix.
# Unlisted matrices (unspecified, reserved) fall back to BT.601, swscale's default.
_SWS_MATRIX = {1: 1, 4: 4, 5: 5, 6: 5, 7: 7, 9: 9, 10: 9}
SWS_BT601 = 5

# Accurate rounding and full-resolution chroma: the round trip YUV -> RGB -> YUV of
# an unchanged frame then returns the input codes (within one step).
INTERPOLATION = (Interpolation.BICUBIC | Interpolation.ACCURATE_RND
                 | Interpolation.FULL_CHR_H_INT | Interpolation.FULL_CHR_H_INP)


@dataclass(frozen=True)
class ColourInfo:
    """The input's colour tags (AVCOL_* numbers) as written in the file."""

    primaries: int = UNSPECIFIED
    trc: int = UNSPECIFIED
    matrix: int = UNSPECIFIED
    range: int = RANGE_UNSPECIFIED

    @property
    def sws_matrix(self) -> int:
        return _SWS_MATRIX.get(self.matrix, SWS_BT601)

    @property
    def yuv_range(self) -> int:
        """The range the samples are in: untagged YUV is limited range by convention."""
        return self.range if self.range in (RANGE_LIMITED, RANGE_FULL) else RANGE_LIMITED


def colour_of(frame: av.VideoFrame, stream: av.video.stream.VideoStream) -> ColourInfo:
    """Tags of the first decoded frame, falling back to the stream's where the frame has none."""
    cc = stream.codec_context

    def pick(frame_value: int, stream_value: int, unspecified: int) -> int:
        return frame_value if frame_value != unspecified else stream_value

    colour = ColourInfo(
        primaries=pick(frame.color_primaries, cc.color_primaries, UNSPECIFIED),
        trc=pick(frame.color_trc, cc.color_trc, UNSPECIFIED),
        matrix=pick(frame.colorspace, cc.colorspace, UNSPECIFIED),
        range=pick(frame.color_range, cc.color_range, RANGE_UNSPECIFIED),
    )
    if frame.format.name.startswith("yuvj") and colour.range == RANGE_UNSPECIFIED:
        colour = ColourInfo(colour.primaries, colour.trc, colour.matrix, RANGE_FULL)
    return colour


# AVMasteringDisplayMetadata: 10 AVRationals (R, G, B primaries x/y, white point x/y, min and max
# luminance), then has_primaries, has_luminance. AVContentLightMetadata: MaxCLL, MaxFALL.
_MASTERING = struct.Struct("<20i2i")
_LIGHT_LEVEL = struct.Struct("<2I")


@dataclass(frozen=True)
class HdrMetadata:
    """HDR10 static metadata of the input (SMPTE ST 2086 mastering display, CTA-861.3 light level).

    Unlike the colour tags it is not a codec-context field that PyAV can copy: it
    travels as frame side data, which PyAV cannot attach to new frames, so the
    sink hands it to the encoder as parameters instead.
    """

    mastering: tuple[Fraction, ...] | None = None  # Rx, Ry, Gx, Gy, Bx, By, white x, white y, min, max (cd/m2)
    light_level: tuple[int, int] | None = None  # MaxCLL, MaxFALL (cd/m2)


def hdr_of(frame: av.VideoFrame) -> HdrMetadata | None:
    """The frame's mastering-display and light-level side data (decoders attach them to every frame)."""
    mastering = light = None
    side_data = frame.side_data
    if SideDataType.MASTERING_DISPLAY_METADATA in side_data:
        data = bytes(side_data[SideDataType.MASTERING_DISPLAY_METADATA])
        if len(data) >= _MASTERING.size:
            *numbers, has_primaries, has_luminance = _MASTERING.unpack_from(data)
            dens = numbers[1::2]
            if has_primaries and has_luminance and all(dens):
                mastering = tuple(Fraction(n, d) for n, d in zip(numbers[::2], dens))
    if SideDataType.CONTENT_LIGHT_LEVEL in side_data:
        data = bytes(side_data[SideDataType.CONTENT_LIGHT_LEVEL])
        if len(data) >= _LIGHT_LEVEL.size:
            light = _LIGHT_LEVEL.unpack_from(data)
    return HdrMetadata(mastering, light) if mastering or light else None


def output_colour(colour: ColourInfo, input_is_rgb: bool) -> ColourInfo:
    """Tags for the YUV output. RGB input (PNG, FFV1 RGB...) has no YUV matrix: use BT.709 limited."""
    if input_is_rgb or colour.matrix == MATRIX_RGB:
        return ColourInfo(colour.primaries, colour.trc, MATRIX_BT709, RANGE_LIMITED)
    return colour


def frame_to_rgb(frame: av.VideoFrame, colour: ColourInfo, rgb_format: str, size: tuple[int, int] | None = None):
    """Decoded frame -> (H, W, 3) RGB array (uint8 for rgb24, uint16 for rgb48le).

    Matrix and range are passed explicitly: PyAV would otherwise treat the RGB
    result as carrying the input's (limited) range and shift the colours.
    ``size`` (width, height) rescales frames whose size changed mid-stream.
    """
    width, height = size if size is not None else (None, None)
    return frame.to_ndarray(
        format=rgb_format, width=width, height=height,
        src_colorspace=colour.sws_matrix, dst_colorspace=colour.sws_matrix,
        src_color_range=colour.yuv_range, dst_color_range=RANGE_FULL,
        interpolation=INTERPOLATION,
    )


def rgb_to_frame(array, rgb_format: str, pix_fmt: str, colour: ColourInfo) -> av.VideoFrame:
    """(H, W, 3) RGB array -> YUV frame in ``pix_fmt``, converted with and tagged as ``colour``."""
    rgb = av.VideoFrame.from_ndarray(array, format=rgb_format)
    frame = rgb.reformat(
        format=pix_fmt,
        src_colorspace=colour.sws_matrix, dst_colorspace=colour.sws_matrix,
        src_color_range=RANGE_FULL, dst_color_range=colour.yuv_range,
        interpolation=INTERPOLATION,
    )
    tag(frame, colour)
    return frame


def tag(target, colour: ColourInfo) -> None:
    """Write the tags onto a frame or codec context (both use the same attribute names)."""
    target.color_primaries = colour.primaries
    target.color_trc = colour.trc
    target.colorspace = colour.matrix
    target.color_range = colour.range
