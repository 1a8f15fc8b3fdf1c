"""YUV planes <-> RGB on the device, with the matrix, range and filters the CPU path (swscale) uses.

Why: today the decoder's YUV frames are converted to RGB on the CPU (swscale,
through PyAV; :mod:`deblur_cli.io.colour`), uploaded as 3 bytes a pixel, and the
restored RGB comes back the same way before swscale converts it to the encoder's
YUV. Uploading the decoder's planes as they are (1.5 bytes a pixel for 4:2:0)
and converting on the GPU halves the bus traffic and removes the per-pixel CPU
work. These functions do that conversion in PyTorch, on any device:

- :func:`planes_to_rgb`: integer planes (``yuv420p``, ``nv12``, ``yuv420p10le``,
  ``p010le``, 4:4:4 ...) -> (3, H, W) float RGB in [0, 1];
- :func:`rgb_to_planes`: the way back, rounded to the encoder's integer planes.

They follow swscale as :mod:`deblur_cli.io.colour` configures it: the matrix is
swscale's for the input's tags (``ColourInfo.sws_matrix``: BT.601, BT.709, FCC,
SMPTE 240M, BT.2020), the range is the input's (``ColourInfo.yuv_range``:
limited, or full), chroma sits where the frame says (``ColourSpec.chroma_siting``:
decoded H.264/HEVC frames are left-sited, frames made from RGB centred, as
swscale treats them) and is resampled with swscale's bicubic filter (B=0, C=0.6), upsampled to
full resolution before the matrix (FULL_CHR_H_INT) and computed at full
resolution before downsampling (FULL_CHR_H_INP). Results match PyAV's within
the colour tests' tolerances (tests/test_device_colour.py), not bit for bit.

This module sits in :mod:`deblur_cli.inference` and must not import
:mod:`deblur_cli.io`: callers pass ``ColourInfo.sws_matrix`` and
``ColourInfo.yuv_range == RANGE_FULL`` (:func:`ColourSpec.of` reads them from any
object with those attributes).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import NamedTuple, Sequence

import torch

_UINT16_MASK = 0xFFFF

# swscale's luma weights (Kr, Kb) per SWS_CS_* number: ITU709, FCC, ITU601 (= BT.470BG = SMPTE 170M),
# SMPTE240M, BT2020. swscale's ff_yuv2rgb_coeffs are these, scaled to 16.16 fixed point.
SWS_LUMA_WEIGHTS = {1: (0.2126, 0.0722), 4: (0.30, 0.11), 5: (0.299, 0.114), 7: (0.212, 0.087), 9: (0.2627, 0.0593)}
SWS_DEFAULT = 5
_BICUBIC_A = -0.6  # swscale's SWS_BICUBIC with default parameters (B = 0, C = 0.6)


@dataclass(frozen=True)
class PlaneFormat:
    """How a pixel format stores its samples: chroma subsampling, depth and packing."""

    chroma_x: int  # log2 of the horizontal chroma subsampling (1 for 4:2:0, 0 for 4:4:4)
    chroma_y: int
    bits: int
    interleaved: bool = False  # nv12 / p010: one plane of (U, V) pairs
    msb_aligned: bool = False  # p010: 10-bit samples in the high bits of 16

    @property
    def integer_dtype(self) -> torch.dtype:
        return torch.uint8 if self.bits == 8 and not self.msb_aligned else torch.int16


PLANE_FORMATS = {
    "yuv420p": PlaneFormat(1, 1, 8), "yuvj420p": PlaneFormat(1, 1, 8), "nv12": PlaneFormat(1, 1, 8, True),
    "yuv422p": PlaneFormat(1, 0, 8), "yuv444p": PlaneFormat(0, 0, 8), "yuvj444p": PlaneFormat(0, 0, 8),
    "yuv420p10le": PlaneFormat(1, 1, 10), "yuv422p10le": PlaneFormat(1, 0, 10), "yuv444p10le": PlaneFormat(0, 0, 10),
    "p010le": PlaneFormat(1, 1, 10, True, True),
}


CENTRED = (0.5, 0.5)  # chroma between luma samples: swscale's default where a frame does not say


class ColourSpec(NamedTuple):
    """What the conversion needs: swscale's matrix number, whether samples are full range, and the chroma siting.

    ``chroma_siting``: where chroma sample (0, 0) lies, in luma pixels from luma
    sample (0, 0): centred (0.5, 0.5), left (0, 0.5: what H.264, HEVC and MPEG-2
    decoders report unless the stream says otherwise), top-left (0, 0).
    swscale honours the siting a decoded frame carries (``io.colour.chroma_siting``
    measures it); frames made from RGB carry none and are centred.
    """

    sws_matrix: int = SWS_DEFAULT
    full_range: bool = False
    chroma_siting: tuple[float, float] = CENTRED

    @classmethod
    def of(cls, colour, chroma_siting: tuple[float, float] = CENTRED) -> "ColourSpec":
        """From an ``io.colour.ColourInfo`` (duck-typed: ``sws_matrix`` and ``yuv_range``, 2 meaning full)."""
        return cls(colour.sws_matrix, colour.yuv_range == 2, tuple(chroma_siting))


UNTAGGED = ColourSpec()  # untagged YUV: swscale's default matrix (BT.601), limited range


def from_uint16_bits(t: torch.Tensor) -> torch.Tensor:
    """int16 tensor holding uint16 samples (their bits) -> int32 values 0..65535; other integer types unchanged.

    uint16 samples cross to the device as int16 bits: int16 is a full torch type on every device, uint16 is not.
    """
    return t.to(torch.int32).bitwise_and_(_UINT16_MASK) if t.dtype == torch.int16 else t


def to_uint16_bits(t: torch.Tensor) -> torch.Tensor:
    """Integer-valued tensor (0..65535) -> int16 holding the uint16 bits (for numpy's ``.view(np.uint16)``)."""
    return t.to(torch.int32).to(torch.int16)


def plane_format(pix_fmt: str) -> PlaneFormat:
    if pix_fmt not in PLANE_FORMATS:
        raise ValueError(f"no device colour conversion for {pix_fmt!r}: one of {', '.join(PLANE_FORMATS)}")
    return PLANE_FORMATS[pix_fmt]


def _levels(fmt: PlaneFormat, full_range: bool) -> tuple[float, float, float, float]:
    """(luma offset, luma scale, chroma centre, chroma scale) in code values of ``fmt``'s depth."""
    step = 1 << (fmt.bits - 8)
    peak = (1 << fmt.bits) - 1
    if full_range:
        return 0.0, float(peak), 128.0 * step, float(peak)
    return 16.0 * step, 219.0 * step, 128.0 * step, 224.0 * step


def _keys(d: torch.Tensor) -> torch.Tensor:
    """The bicubic (Keys) kernel with swscale's parameter, at distances ``d``."""
    a, d = _BICUBIC_A, d.abs()
    near = ((a + 2) * d - (a + 3)) * d * d + 1
    far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return torch.where(d <= 1, near, torch.where(d < 2, far, torch.zeros_like(d)))


@functools.lru_cache(maxsize=16)
def _taps(src_len: int, dst_len: int, shift: float, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Source indices and weights (dst_len, K) of swscale's bicubic resampling from ``src_len`` to ``dst_len``.

    Sample centres are aligned (destination i sits at source (i + 0.5) * src/dst - 0.5,
    which is centred chroma for 2:1), then moved ``shift`` source samples (another
    chroma siting); the kernel is stretched when shrinking, the weights are
    normalised and indices beyond the edge are clamped (replicate).
    """
    scale = src_len / dst_len
    stretch = max(scale, 1.0)
    support = 2.0 * stretch
    centres = (torch.arange(dst_len, dtype=torch.float64) + 0.5) * scale - 0.5 + shift
    count = int(math.ceil(2 * support))
    index = torch.floor(centres - support)[:, None].long() + 1 + torch.arange(count)[None, :]
    weight = _keys((index - centres[:, None]) / stretch)
    weight = weight / weight.sum(dim=1, keepdim=True)
    return index.clamp(0, src_len - 1).to(device), weight.float().to(device)


def _resample(x: torch.Tensor, axis: int, size: int, siting: tuple[float, float] = CENTRED) -> torch.Tensor:
    """Resample (C, H, W) along ``axis`` (1 or 2) to ``size`` samples with swscale's bicubic filter.

    Chroma to luma size (up) or back (down), the chroma samples where ``siting`` puts them.
    """
    length = x.shape[axis]
    if length == size:
        return x
    offset = siting[0] if axis == 2 else siting[1]
    shift = (0.5 - offset) * length / size if size > length else offset - 0.5
    index, weight = _taps(length, size, float(shift), x.device)
    moved = x.movedim(axis, -1)
    out = moved[..., index[:, 0]] * weight[:, 0]
    for k in range(1, index.shape[1]):  # one gather per tap: memory stays at one plane's size
        out += moved[..., index[:, k]] * weight[:, k]
    return out.movedim(-1, axis)


def _as_codes(plane: torch.Tensor) -> torch.Tensor:
    """Integer samples as float32 (int16 planes hold uint16 bits, as in :mod:`.streaming`)."""
    return from_uint16_bits(plane).to(torch.float32)


def _chroma_planes(planes: Sequence[torch.Tensor], fmt: PlaneFormat) -> tuple[torch.Tensor, torch.Tensor]:
    if fmt.interleaved:
        uv = _as_codes(planes[1])
        return uv[..., 0], uv[..., 1]
    return _as_codes(planes[1]), _as_codes(planes[2])


def _rgb_matrix(spec: ColourSpec) -> tuple[float, float, float]:
    kr, kb = SWS_LUMA_WEIGHTS.get(spec.sws_matrix, SWS_LUMA_WEIGHTS[SWS_DEFAULT])
    return kr, 1.0 - kr - kb, kb


def planes_to_rgb(planes: Sequence[torch.Tensor], pix_fmt: str, spec: ColourSpec = UNTAGGED) -> torch.Tensor:
    """Decoder planes (Y (H, W), then U and V, or one interleaved (h, w, 2) plane) -> (3, H, W) float32 RGB in [0, 1].

    Planes are integer tensors on any device (uint8; uint16 samples as int16 bits or int32).
    """
    fmt = plane_format(pix_fmt)
    y = _as_codes(planes[0])
    u, v = _chroma_planes(planes, fmt)
    siting = spec.chroma_siting
    chroma = _resample(_resample(torch.stack([u, v]), 1, y.shape[0], siting), 2, y.shape[1], siting)
    return codes_to_rgb(y, chroma[0], chroma[1], pix_fmt, spec)


def codes_to_rgb(y: torch.Tensor, u: torch.Tensor, v: torch.Tensor, pix_fmt: str,
                 spec: ColourSpec = UNTAGGED) -> torch.Tensor:
    """Co-sited Y, U, V codes of ``pix_fmt`` (float, any equal shape S) -> (3, *S) float32 RGB in [0, 1]."""
    return torch.stack(codes_to_channels(y, u, v, pix_fmt, spec)).clamp_(0.0, 1.0)


def codes_to_channels(y, u, v, pix_fmt: str, spec: ColourSpec = UNTAGGED) -> tuple:
    """R, G, B (not clamped) of co-sited float Y, U, V codes: arithmetic only, for tensors or numpy arrays alike."""
    fmt = plane_format(pix_fmt)
    if fmt.msb_aligned:
        y, u, v = (p / 64 for p in (y, u, v))
    y_off, y_scale, c_mid, c_scale = _levels(fmt, spec.full_range)
    luma = (y - y_off) / y_scale
    cb, cr = (u - c_mid) / c_scale, (v - c_mid) / c_scale
    kr, kg, kb = _rgb_matrix(spec)
    r = luma + 2 * (1 - kr) * cr
    b = luma + 2 * (1 - kb) * cb
    g = (luma - kr * r - kb * b) / kg
    return r, g, b


def rgb_to_planes(rgb: torch.Tensor, pix_fmt: str, spec: ColourSpec = UNTAGGED) -> list[torch.Tensor]:
    """(3, H, W) float RGB in [0, 1] -> the encoder's integer planes (uint8, or int16 holding uint16 bits)."""
    fmt = plane_format(pix_fmt)
    rgb = rgb.to(torch.float32)
    kr, kg, kb = _rgb_matrix(spec)
    luma = kr * rgb[0] + kg * rgb[1] + kb * rgb[2]
    chroma = torch.stack([(rgb[2] - luma) / (2 * (1 - kb)), (rgb[0] - luma) / (2 * (1 - kr))])
    height, width = luma.shape
    chroma = _resample(chroma, 2, -(-width >> fmt.chroma_x), spec.chroma_siting)
    chroma = _resample(chroma, 1, -(-height >> fmt.chroma_y), spec.chroma_siting)
    y_off, y_scale, c_mid, c_scale = _levels(fmt, spec.full_range)
    peak = (1 << fmt.bits) - 1
    y_codes = (luma * y_scale + y_off).round_().clamp_(0, peak)
    c_codes = (chroma * c_scale + c_mid).round_().clamp_(0, peak)
    if fmt.msb_aligned:
        y_codes, c_codes = y_codes * 64, c_codes * 64

    def cast(t: torch.Tensor) -> torch.Tensor:
        return t.to(torch.uint8) if fmt.integer_dtype == torch.uint8 else to_uint16_bits(t)

    if fmt.interleaved:
        return [cast(y_codes), cast(c_codes.permute(1, 2, 0).contiguous())]
    return [cast(y_codes), cast(c_codes[0]), cast(c_codes[1])]
