"""What happens to light after the lens: sRGB encoding, sensor noise, codec loss, 8-bit levels.

Blur is rendered in *linear light* (averaging sRGB values would darken bright
streaks, which real blur does not); noise (shot + read) is added there too,
then frames are sRGB-encoded, passed through a JPEG-like 8x8 DCT quantisation
(cheap, runs on the GPU, mimics codec blocking and ringing) and rounded to 8
bits like a decoded video frame. All of it is batched: every function takes
(N, 3, H, W) frames and per-frame settings, and never waits for the device.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Sequence

import torch
import torch.nn.functional as F


def srgb_to_linear(x: torch.Tensor) -> torch.Tensor:
    """Decode sRGB values in [0, 1] to linear light (IEC 61966-2-1)."""
    return torch.where(x <= 0.04045, x / 12.92, ((x.clamp(min=0.04045) + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x: torch.Tensor) -> torch.Tensor:
    """Encode linear light in [0, 1] to sRGB values."""
    x = x.clamp(0.0, 1.0)
    return torch.where(x <= 0.0031308, x * 12.92, 1.055 * x.clamp(min=0.0031308) ** (1 / 2.4) - 0.055)


def quantise_8bit(x: torch.Tensor) -> torch.Tensor:
    """Round to the 256 levels of an 8-bit frame (what a decoder hands the network)."""
    return (x.clamp(0.0, 1.0) * 255.0).round() / 255.0


def add_sensor_noise(linear: torch.Tensor, shot: float | torch.Tensor, read: float | torch.Tensor,
                     gen: torch.Generator) -> torch.Tensor:
    """Heteroscedastic Gaussian noise: variance = shot * signal + read^2 (signal in linear light).

    ``gen`` must live on ``linear``'s device (the noise is drawn there); ``shot`` and
    ``read`` are numbers or tensors broadcasting against ``linear``.
    """
    noise = torch.randn(linear.shape, generator=gen, device=linear.device, dtype=linear.dtype)
    return linear + noise * (shot * linear.clamp(min=0.0) + read * read).sqrt()


_LUMA_TABLE = [
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
]
_CHROMA_TABLE = [
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99,
] + [99] * 32


@lru_cache(maxsize=8)
def _dct_matrix(device: torch.device, dtype: torch.dtype, n: int = 8) -> torch.Tensor:
    k = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(n, dtype=torch.float64)[None, :]
    basis = torch.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2.0 / n)
    basis[0] /= math.sqrt(2.0)
    return basis.to(device=device, dtype=dtype)


def quant_table(quality: float, chroma: bool) -> torch.Tensor:
    """The IJG JPEG table for ``quality`` (1..100), (8, 8)."""
    quality = min(max(quality, 1.0), 100.0)
    scale = 5000.0 / quality if quality < 50 else 200.0 - 2.0 * quality
    base = torch.tensor(_CHROMA_TABLE if chroma else _LUMA_TABLE, dtype=torch.float64).view(8, 8)
    return ((base * scale + 50.0) / 100.0).floor().clamp(1.0, 255.0)


def _quantise_blocks(plane: torch.Tensor, tables: torch.Tensor) -> torch.Tensor:
    """DCT-quantise-invert every 8x8 block of (N, 1, H, W) values in 0..255 with per-item tables (N, 8, 8)."""
    n, _, h, w = plane.shape
    ph, pw = (-h) % 8, (-w) % 8
    x = F.pad(plane, (0, pw, 0, ph), mode="replicate") - 128.0
    hb, wb = (h + ph) // 8, (w + pw) // 8
    blocks = x.view(n, hb, 8, wb, 8).permute(0, 1, 3, 2, 4)
    dct = _dct_matrix(plane.device, plane.dtype)
    table = tables.view(n, 1, 1, 8, 8)
    coeffs = dct @ blocks @ dct.T
    coeffs = torch.round(coeffs / table) * table
    blocks = dct.T @ coeffs @ dct
    x = blocks.permute(0, 1, 3, 2, 4).reshape(n, 1, hb * 8, wb * 8) + 128.0
    return x[..., :h, :w]


def _tables(quality: float | Sequence[float], n: int, chroma: bool, like: torch.Tensor) -> torch.Tensor:
    qualities = [float(quality)] * n if isinstance(quality, (int, float)) else [float(q) for q in quality]
    if len(qualities) != n:
        raise ValueError(f"{len(qualities)} qualities for {n} frames")
    tables = torch.stack([quant_table(q, chroma) for q in qualities])
    return tables.to(device=like.device, dtype=like.dtype, non_blocking=True)


def jpeg_like(srgb: torch.Tensor, quality: float | Sequence[float]) -> torch.Tensor:
    """A JPEG round trip without a codec: YCbCr, 4:2:0 chroma, 8x8 DCT quantisation.

    ``srgb`` (N, 3, H, W) in [0, 1]; ``quality`` one number or one per frame.
    """
    n = srgb.shape[0]
    x = srgb.clamp(0.0, 1.0) * 255.0
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = 128.0 - 0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 128.0 + 0.5 * r - 0.418688 * g - 0.081312 * b
    h, w = x.shape[-2:]
    y = _quantise_blocks(y, _tables(quality, n, False, x))
    chroma_tables = _tables(quality, n, True, x)
    chroma = []
    for plane in (cb, cr):
        small = F.avg_pool2d(F.pad(plane, (0, w % 2, 0, h % 2), mode="replicate"), 2)
        small = _quantise_blocks(small, chroma_tables)
        chroma.append(F.interpolate(small, scale_factor=2, mode="bilinear", align_corners=False)[..., :h, :w])
    cb, cr = chroma
    r = y + 1.402 * (cr - 128.0)
    g = y - 0.344136 * (cb - 128.0) - 0.714136 * (cr - 128.0)
    b = y + 1.772 * (cb - 128.0)
    return (torch.cat([r, g, b], dim=1) / 255.0).clamp(0.0, 1.0)
