"""What an engine is handed: an RGB array, or a YUV frame's own planes; and the one integer <-> float conversion.

Two representations of one picture travel from the read side through the
engine to the write side:

- an (H, W, 3) uint8 or uint16 RGB array, converted from the decoder's YUV on
  the CPU (swscale, :mod:`deblur_cli.io.colour`): what every engine takes;
- a :class:`YuvFrame`: the decoder's planes as they are (numpy arrays, no
  per-pixel work on the CPU), what they mean (:class:`PlaneLayout`: pixel
  format and :class:`~.colour.ColourSpec`), and the layout the encoder wants
  back. Engines with ``takes_planes`` accept these (the device colour path): the
  planes cross to the device (1.5 bytes a pixel for 4:2:0 instead of 3),
  become RGB there (:func:`~.colour.planes_to_rgb`), and the result comes back
  as the encoder's planes (:func:`~.colour.rgb_to_planes`), a YuvFrame in the
  target layout. :class:`~.engine.ArrayEngine` converts them on the CPU
  instead, so per-frame functions keep seeing RGB.

The integer <-> float conversion of RGB frames lives here too: an RGB frame
crosses to the device as integers (uint16 as int16 bits), becomes (3, H, W)
float in [0, 1] there (:func:`to_float`), and comes back rounded to the same
integer type (:func:`to_integer`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import numpy as np
import torch

from .colour import (
    UNTAGGED,
    ColourSpec,
    PlaneFormat,
    codes_to_channels,
    from_uint16_bits,
    plane_format,
    planes_to_rgb,
    rgb_to_planes,
    to_uint16_bits,
)


def check_frame(frame: np.ndarray) -> None:
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"expected an (H, W, 3) uint8 or uint16 RGB frame, got {frame.dtype} {frame.shape}")


def bits_dtype(dtype: np.dtype) -> torch.dtype:
    """The torch type uint8/uint16 samples cross the bus as (uint16 as int16 bits)."""
    return torch.int16 if dtype == np.uint16 else torch.uint8


def as_bits(array: np.ndarray) -> torch.Tensor:
    """A uint8/uint16 array as a CPU tensor sharing its memory (uint16 as int16 bits)."""
    return torch.from_numpy(array.view(np.int16) if array.dtype == np.uint16 else array)


def to_float(frame: np.ndarray, device: torch.device, staging: torch.Tensor | None = None) -> torch.Tensor:
    """(H, W, 3) uint8/uint16 -> (3, H, W) float32 in [0, 1] on ``device`` (integers cross the bus).

    ``staging``: a pinned host buffer of the frame's shape and integer type to copy through (CUDA).
    """
    check_frame(frame)
    peak = float(np.iinfo(frame.dtype).max)
    bits = as_bits(np.ascontiguousarray(frame))
    if staging is not None:
        bits = staging.copy_(bits)
    x = from_uint16_bits(bits.to(device, non_blocking=True))
    return x.permute(2, 0, 1).to(torch.float32) / peak


def to_integer(y: torch.Tensor, dtype: np.dtype) -> torch.Tensor:
    """(3, H, W) float in [0, 1] -> (H, W, 3) rounded uint8, or uint16 as int16 bits, on y's device."""
    peak = float(np.iinfo(dtype).max)
    q = (y.float() * peak).round_()
    q = q.to(torch.uint8) if dtype == np.uint8 else to_uint16_bits(q)
    return q.permute(1, 2, 0)


@dataclass(frozen=True)
class PlaneLayout:
    """What a set of planes holds: the pixel format and the matrix and range of its samples."""

    pix_fmt: str
    spec: ColourSpec = UNTAGGED

    def __post_init__(self) -> None:
        plane_format(self.pix_fmt)  # ValueError for a format the device conversion does not know

    @property
    def format(self) -> PlaneFormat:
        return plane_format(self.pix_fmt)

    @property
    def dtype(self) -> np.dtype:
        """The numpy type of its samples: uint8, or uint16 above 8 bits (and for p010's 16-bit words)."""
        return np.dtype(np.uint8 if self.format.integer_dtype == torch.uint8 else np.uint16)


@dataclass(frozen=True, eq=False)
class YuvFrame:
    """One picture as a YUV pixel format's planes, with their layout and the layout wanted back.

    ``planes``: Y (H, W), then U and V (h, w) or one interleaved UV plane (h, w, 2)
    (nv12, p010le), uint8 or uint16 numpy arrays (views of the decoder's memory
    are fine: they are copied when they cross to the device). ``target``: the
    layout of the restored frame (the encoder's pixel format and the output's colour).
    """

    planes: tuple[np.ndarray, ...]
    layout: PlaneLayout
    target: PlaneLayout

    @property
    def height(self) -> int:
        return int(self.planes[0].shape[0])

    @property
    def width(self) -> int:
        return int(self.planes[0].shape[1])

    @property
    def shape(self) -> tuple[int, int, int]:
        """The shape of the RGB array this frame stands for."""
        return self.height, self.width, 3

    @property
    def rgb_dtype(self) -> np.dtype:
        """The RGB type that keeps its depth: uint16 when the planes or the target have more than 8 bits."""
        deep = max(self.layout.format.bits, self.target.format.bits) > 8
        return np.dtype(np.uint16 if deep else np.uint8)

    def tensors(self) -> list[torch.Tensor]:
        """The planes as CPU tensors sharing their memory (uint16 as int16 bits)."""
        return [as_bits(plane) for plane in self.planes]

    def to_rgb(self) -> np.ndarray:
        """The (H, W, 3) RGB array, converted on the CPU (for engines that take RGB only)."""
        rgb = planes_to_rgb(self.tensors(), self.layout.pix_fmt, self.layout.spec)
        out = to_integer(rgb, self.rgb_dtype).contiguous().numpy()
        return out.view(np.uint16) if self.rgb_dtype == np.uint16 else out

    def restored(self, rgb: np.ndarray) -> "YuvFrame":
        """A restored (H, W, 3) RGB array of this frame as the target's planes, converted on the CPU."""
        check_frame(rgb)
        x = as_bits(np.ascontiguousarray(rgb))
        x = from_uint16_bits(x).permute(2, 0, 1).to(torch.float32) / float(np.iinfo(rgb.dtype).max)
        return self.with_planes(rgb_to_planes(x, self.target.pix_fmt, self.target.spec))

    def with_planes(self, planes: list[torch.Tensor]) -> "YuvFrame":
        """The frame made of ``planes`` (integer CPU tensors in the target layout, as rgb_to_planes gives)."""
        dtype = self.target.dtype
        arrays = tuple(np.ascontiguousarray(p.numpy()).view(dtype) for p in planes)
        return YuvFrame(arrays, self.target, self.target)

    def strided_rgb(self, step: int) -> np.ndarray:
        """RGB float32 in [0, 1] of every ``step``-th pixel in each direction (``frame[::step, ::step]``).

        Each sample takes the chroma sample that covers it (no filtering): cheap,
        for measures that look at a frame's overall structure and colours. In
        numpy: a few thousand samples are not worth PyTorch's thread pool.
        """
        fmt = self.layout.format
        rows = np.arange(0, self.height, step)
        cols = np.arange(0, self.width, step)
        y = self.planes[0][::step, ::step]
        chroma_rows, chroma_cols = rows >> fmt.chroma_y, cols >> fmt.chroma_x
        if fmt.interleaved:
            uv = self.planes[1][chroma_rows[:, None], chroma_cols[None, :]]
            u, v = uv[..., 0], uv[..., 1]
        else:
            u, v = (p[chroma_rows[:, None], chroma_cols[None, :]] for p in self.planes[1:3])
        codes = [c.astype(np.float32) for c in (y, u, v)]
        rgb = np.stack(codes_to_channels(*codes, self.layout.pix_fmt, self.layout.spec), axis=-1)
        return np.clip(rgb, 0.0, 1.0, out=rgb).astype(np.float32, copy=False)


Frame = Union[np.ndarray, YuvFrame]  # what an engine's restore takes and gives (see the module doc)
