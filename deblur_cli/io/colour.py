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
import numpy as np
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


# What a re-encode cannot carry: dynamic HDR metadata, made per frame for the original pictures.
# Frame side data the decoders attach, and the MP4/MOV sample-description boxes and entry types of Dolby Vision.
DOLBY_VISION = "Dolby Vision RPU"
DYNAMIC_HDR_SIDE_DATA = {SideDataType.DOVI_RPU_BUFFER: DOLBY_VISION, SideDataType.DOVI_METADATA: DOLBY_VISION,
                         SideDataType.DYNAMIC_HDR_PLUS: "HDR10+ dynamic metadata",
                         SideDataType.DYNAMIC_HDR_VIVID: "HDR Vivid dynamic metadata"}
DOLBY_VISION_BOXES = frozenset({b"dvcC", b"dvvC", b"dvwC", b"dvh1", b"dvhe", b"dva1", b"dvav"})


def dynamic_hdr_of(frame: av.VideoFrame, entry_boxes: set[bytes] = frozenset()) -> tuple[str, ...]:
    """The dynamic HDR metadata the input carries ("Dolby Vision RPU", "HDR10+ dynamic metadata"...), sorted.

    ``entry_boxes``: the types found in the file's MP4/MOV sample descriptions
    (:func:`.mp4boxes.sample_entry_boxes`), where Dolby Vision announces itself
    even before a decoder meets its per-frame RPU.
    """
    names = {name for kind, name in DYNAMIC_HDR_SIDE_DATA.items() if kind in frame.side_data}
    if DOLBY_VISION_BOXES & set(entry_boxes):
        names.add(DOLBY_VISION)
    return tuple(sorted(names))


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


def _plane_layout(frame: av.VideoFrame) -> tuple[np.dtype, list[int]]:
    """Sample type of the frame's planes and how many components each plane interleaves."""
    components = frame.format.components
    dtype = np.dtype(np.uint16 if max(c.bits for c in components) > 8 else np.uint8)
    counts = [0] * len(frame.planes)
    for component in components:
        counts[component.plane] += 1
    return dtype, counts


def frame_planes(frame: av.VideoFrame) -> list[np.ndarray] | None:
    """The frame's planes as numpy views of its memory, line padding cut off (nothing is converted or copied).

    Y (H, W), then U and V (h, w), or one (h, w, 2) plane where the format
    interleaves them (nv12, p010le); uint16 above 8 bits. None where the memory
    cannot be viewed so (a hardware frame, bottom-up lines).
    """
    if frame.format.name.startswith("pal") or any(p.line_size <= 0 for p in frame.planes):
        return None
    dtype, counts = _plane_layout(frame)
    planes = []
    for plane, count in zip(frame.planes, counts):
        try:
            rows = np.frombuffer(plane, dtype).reshape(plane.height, plane.line_size // dtype.itemsize)
        except (TypeError, ValueError):  # hardware frames have no buffer to view
            return None
        rows = rows[:, : plane.width * count]
        planes.append(rows.reshape(plane.height, plane.width, count) if count > 1 else rows)
    return planes


def planes_to_frame(planes, pix_fmt: str, colour: ColourInfo) -> av.VideoFrame:
    """A ``pix_fmt`` frame holding ``planes`` (as :func:`frame_planes` gives them), tagged as ``colour``."""
    frame = av.VideoFrame(planes[0].shape[1], planes[0].shape[0], pix_fmt)
    dtype, _ = _plane_layout(frame)
    for plane, array in zip(frame.planes, planes):
        rows = np.frombuffer(plane, dtype).reshape(plane.height, plane.line_size // dtype.itemsize)
        flat = array.reshape(array.shape[0], -1)
        rows[:, : flat.shape[1]] = flat
    tag(frame, colour)
    return frame


_PROBE_SIZE, _PROBE_AT, _PROBE_SWING = 24, 5, 40  # frame side, chroma sample of the impulse, its height (8-bit codes)


def chroma_siting(frame: av.VideoFrame) -> tuple[float, float]:
    """Where swscale puts ``frame``'s chroma samples: (x, y) of chroma sample (0, 0), in luma pixels.

    (0.5, 0.5) is centred (swscale's default), (0, 0.5) left-sited (what H.264,
    HEVC and MPEG-2 decoders report unless the stream says otherwise), (0, 0)
    top-left. PyAV does not expose ``AVFrame.chroma_location``, so it is measured:
    ``reformat`` to a small size makes a frame of our own with the same
    properties; one chroma impulse in it is converted by swscale (as
    :func:`frame_to_rgb` converts), and the centre of the response is where that
    chroma sample sits. A format without subsampling answers (0, 0).
    """
    fmt = frame.format
    planes = frame_planes(frame)
    if planes is None or planes[1].shape[:2] == planes[0].shape:
        return 0.0, 0.0
    probe = frame.reformat(width=_PROBE_SIZE, height=_PROBE_SIZE)
    luma, *chroma = frame_planes(probe)
    bits = max(c.bits for c in fmt.components)
    lift = (luma.dtype.itemsize * 8 - bits) if fmt.name.startswith("p0") else 0  # p010: samples in the high bits
    mid = (1 << (bits - 1)) << lift
    luma[:] = mid
    for plane in chroma:
        plane[:] = mid
    at = (_PROBE_AT, _PROBE_AT) + ((0,) if chroma[0].ndim == 3 else ())  # U of an interleaved plane
    chroma[0][at] += (_PROBE_SWING << (bits - 8)) << lift
    rgb = frame_to_rgb(probe, ColourInfo(matrix=MATRIX_BT709, range=RANGE_LIMITED), "rgb48le")
    response = rgb[..., 2].astype(np.float64) - float(rgb[0, 0, 2])  # blue follows U
    steps = (luma.shape[1] / chroma[0].shape[1], luma.shape[0] / chroma[0].shape[0])
    x = (response.sum(axis=0) * np.arange(_PROBE_SIZE)).sum() / response.sum()
    y = (response.sum(axis=1) * np.arange(_PROBE_SIZE)).sum() / response.sum()
    return tuple(round((centre - _PROBE_AT * step) * 4) / 4 for centre, step in zip((x, y), steps))


LUMA_PLANE_FORMATS = ("yuv", "nv", "p01", "gray")  # pixel formats whose first plane is the picture's luma


def frame_luma(frame: av.VideoFrame) -> tuple[np.ndarray, int]:
    """The frame's luma as a numpy plane and its bit depth: the decoder's Y plane as it is (a view, no
    conversion) for YUV and grey formats; RGB and palette formats are converted to 8-bit grey by swscale."""
    name = frame.format.name
    if name.startswith(LUMA_PLANE_FORMATS):
        planes = frame_planes(frame)
        if planes is not None:
            return planes[0], frame.format.components[0].bits
    return frame.to_ndarray(format="gray"), 8
