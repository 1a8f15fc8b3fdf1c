"""Integer frames to and from the device, and a stream of them through an engine with the GPU kept busy.

The one integer<->float conversion of the tool lives here: an (H, W, 3) uint8 or
uint16 RGB frame crosses to the device as integers (uint16 as int16 bits: int16
is a full torch type on every device, uint16 is not), becomes (3, H, W) float in
[0, 1] there, and comes back rounded to the same integer type.
:meth:`RecurrentEngine.process_array <deblur_cli.inference.engine.RecurrentEngine.process_array>`
(one frame, waits for it) and :func:`stream_arrays` (many) both use it.

Why stream: waiting for each frame's result before uploading the next leaves the
GPU idle while the CPU decodes and encodes. :func:`stream_arrays` queues frame t
(upload, network, conversion back to integers, download) before it waits for
frame t-1, so the GPU works on frame t while the caller encodes frame t-1. On
CUDA, uploads and downloads go through pinned host buffers with ``non_blocking``
copies and the only wait per frame is on an event recorded after the previous
frame's download. The same code runs on the CPU without pinning or events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator, Protocol

import numpy as np
import torch

_UINT16_MASK = 0xFFFF


class StepEngine(Protocol):
    """An engine that restores one (3, H, W) float frame on its device."""

    device: torch.device

    def step(self, frame: torch.Tensor) -> torch.Tensor: ...


@dataclass
class _Pending:
    """A frame whose result is being copied back to the host."""

    host: torch.Tensor  # (H, W, 3) uint8 or int16 (uint16 bits)
    ready: torch.cuda.Event | None
    dtype: np.dtype

    def result(self) -> np.ndarray:
        if self.ready is not None:
            self.ready.synchronize()
        out = self.host.numpy().copy()  # the host buffer is reused two frames later
        return out.view(np.uint16) if self.dtype == np.uint16 else out


class _PinnedRing:
    """Two pinned host buffers per (shape, dtype), used alternately (CUDA only)."""

    def __init__(self) -> None:
        self._buffers: dict[tuple, list[torch.Tensor]] = {}
        self._turn: dict[tuple, int] = {}

    def next(self, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        key = (shape, dtype)
        if key not in self._buffers:
            self._buffers[key] = [torch.empty(shape, dtype=dtype, pin_memory=True) for _ in range(2)]
            self._turn[key] = 0
        turn = self._turn[key]
        self._turn[key] = 1 - turn
        return self._buffers[key][turn]


def check_frame(frame: np.ndarray) -> None:
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"expected an (H, W, 3) uint8 or uint16 RGB frame, got {frame.dtype} {frame.shape}")


def from_uint16_bits(t: torch.Tensor) -> torch.Tensor:
    """int16 tensor holding uint16 samples (their bits) -> int32 values 0..65535; other integer types unchanged."""
    return t.to(torch.int32).bitwise_and_(_UINT16_MASK) if t.dtype == torch.int16 else t


def to_uint16_bits(t: torch.Tensor) -> torch.Tensor:
    """Integer-valued tensor (0..65535) -> int16 holding the uint16 bits (for numpy's ``.view(np.uint16)``)."""
    return t.to(torch.int32).to(torch.int16)


def to_float(frame: np.ndarray, device: torch.device, uploads: _PinnedRing | None = None) -> torch.Tensor:
    """(H, W, 3) uint8/uint16 -> (3, H, W) float32 in [0, 1] on ``device`` (integers cross the bus)."""
    check_frame(frame)
    peak = float(np.iinfo(frame.dtype).max)
    bits = torch.from_numpy(np.ascontiguousarray(frame.view(np.int16) if frame.dtype == np.uint16 else frame))
    if uploads is not None:
        bits = uploads.next(tuple(bits.shape), bits.dtype).copy_(bits)
    x = from_uint16_bits(bits.to(device, non_blocking=True))
    return x.permute(2, 0, 1).to(torch.float32) / peak


def to_integer(y: torch.Tensor, dtype: np.dtype) -> torch.Tensor:
    """(3, H, W) float in [0, 1] -> (H, W, 3) rounded uint8, or uint16 as int16 bits, on y's device."""
    peak = float(np.iinfo(dtype).max)
    q = (y.float() * peak).round_()
    q = q.to(torch.uint8) if dtype == np.uint8 else to_uint16_bits(q)
    return q.permute(1, 2, 0)


def _submit(engine: StepEngine, frame: np.ndarray, uploads: _PinnedRing | None,
            downloads: _PinnedRing | None) -> _Pending:
    q = to_integer(engine.step(to_float(frame, engine.device, uploads)), frame.dtype)
    if downloads is None:
        return _Pending(q.cpu().contiguous(), None, frame.dtype)
    host = downloads.next(tuple(q.shape), q.dtype)
    host.copy_(q, non_blocking=True)
    ready = torch.cuda.Event()
    ready.record()
    return _Pending(host, ready, frame.dtype)


def restore_array(engine: StepEngine, frame: np.ndarray) -> np.ndarray:
    """One (H, W, 3) uint8/uint16 frame through ``engine``, waiting for the result."""
    return _submit(engine, frame, None, None).result()


def stream_arrays(engine: StepEngine, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
    """Restore (H, W, 3) uint8/uint16 RGB frames in order, keeping one frame queued on the device.

    Each yielded array is the caller's own (not a reused buffer).
    """
    pinned = engine.device.type == "cuda"
    uploads, downloads = (_PinnedRing(), _PinnedRing()) if pinned else (None, None)
    pending: _Pending | None = None
    for frame in frames:
        current = _submit(engine, frame, uploads, downloads)
        if pending is not None:
            yield pending.result()
        pending = current
    if pending is not None:
        yield pending.result()
