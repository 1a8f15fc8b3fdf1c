"""Frames to and from the device, and a stream of them through an engine with the GPU kept busy.

A frame is an RGB array or a :class:`~.frames.YuvFrame` (see :mod:`.frames`,
which also holds the integer <-> float conversion). Either crosses to the
device as integers and becomes (3, H, W) float RGB in [0, 1] there; the
engine's result comes back as the same kind: a rounded RGB array of the same
integer type, or the encoder's planes.
:meth:`RecurrentEngine.process_array <deblur_cli.inference.engine.RecurrentEngine.process_array>`
(one frame, waits for it) and :func:`stream_arrays` (many) both use it.

Why stream: waiting for each frame's result before uploading the next leaves the
GPU idle while the CPU decodes and encodes. :func:`stream_arrays` queues frame t
(upload, network, conversion back to integers, download) before it waits for
frame t-1, so the GPU works on frame t while the caller encodes frame t-1. On
CUDA, uploads and downloads go through pinned host buffers, reused (two per
plane and shape, taken in turn), with ``non_blocking`` copies, and the only
wait per frame is on an event recorded after the previous frame's download.
The same code runs on the CPU without pinning or events.

Where a run collects stage times (:func:`.timing.active`), each frame adds
its upload, model and download seconds: host time on the CPU; on CUDA, the
device's time between events recorded in the stream, read once the frame's
result has been waited for anyway.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterable, Iterator, Protocol

import numpy as np
import torch

from .colour import planes_to_rgb, rgb_to_planes
from .frames import Frame, PlaneLayout, YuvFrame, as_bits, bits_dtype, check_frame, to_float, to_integer
from .timing import StageTimes, active

__all__ = ["StepEngine", "check_frame", "restore_array", "stream_arrays", "to_float", "to_integer"]


class StepEngine(Protocol):
    """An engine that restores one (3, H, W) float frame on its device."""

    device: torch.device

    def step(self, frame: torch.Tensor) -> torch.Tensor: ...


class _PinnedRing:
    """Two pinned host buffers per (slot, shape, dtype), used alternately (CUDA only).

    ``slot``: which plane of a frame (0 for an RGB frame), so that two planes of
    one frame with the same shape (U and V) never share a buffer.
    """

    def __init__(self) -> None:
        self._buffers: dict[tuple, list[torch.Tensor]] = {}
        self._turn: dict[tuple, int] = {}

    def next(self, shape: tuple[int, ...], dtype: torch.dtype, slot: int = 0) -> torch.Tensor:
        key = (slot, shape, dtype)
        if key not in self._buffers:
            self._buffers[key] = [torch.empty(shape, dtype=dtype, pin_memory=True) for _ in range(2)]
            self._turn[key] = 0
        turn = self._turn[key]
        self._turn[key] = 1 - turn
        return self._buffers[key][turn]


class _Clock:
    """Stage marks of one frame: perf_counter stamps on the CPU, CUDA events (timing on) in the stream."""

    def __init__(self, cuda: bool) -> None:
        self.cuda = cuda
        self.marks: list = []

    def mark(self) -> None:
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            self.marks.append(event)
        else:
            self.marks.append(time.perf_counter())

    def seconds(self) -> list[float]:
        """Seconds between consecutive marks (on CUDA: call once the last event has completed)."""
        pairs = zip(self.marks, self.marks[1:])
        if self.cuda:
            return [a.elapsed_time(b) / 1000.0 for a, b in pairs]
        return [b - a for a, b in pairs]


@dataclass
class _Pending:
    """A frame whose result is being copied back to the host."""

    host: list[torch.Tensor]  # (H, W, 3) RGB, or the target's planes; uint8 or int16 (uint16 bits)
    ready: torch.cuda.Event | None
    kind: np.dtype | PlaneLayout  # what the result is: an RGB array of this type, or planes in this layout
    clock: _Clock | None = None
    times: StageTimes | None = None

    def result(self) -> Frame:
        started = time.perf_counter()
        if self.ready is not None:
            self.ready.synchronize()
        arrays = [h.numpy().copy() for h in self.host]  # the host buffers are reused two frames later
        if isinstance(self.kind, PlaneLayout):
            out: Frame = YuvFrame(tuple(a.view(self.kind.dtype) for a in arrays), self.kind, self.kind)
        else:
            out = arrays[0].view(self.kind)
        if self.times is not None and self.clock is not None:
            upload, model, download = self.clock.seconds()
            if not self.clock.cuda:  # on the CPU, copying the result out is part of the download
                download += time.perf_counter() - started
            for stage, seconds in (("upload", upload), ("model", model), ("download", download)):
                self.times.add(stage, seconds)
        return out


def _upload(frame: Frame, device: torch.device, uploads: _PinnedRing | None) -> torch.Tensor:
    """The frame as (3, H, W) float32 RGB in [0, 1] on ``device``."""
    if not isinstance(frame, YuvFrame):
        check_frame(frame)
        staging = None if uploads is None else uploads.next(frame.shape, bits_dtype(frame.dtype))
        return to_float(frame, device, staging)
    planes = []
    for slot, plane in enumerate(frame.planes):
        bits = as_bits(plane)  # a strided view of the decoder's memory is fine: copy_ takes strides
        if uploads is not None:
            bits = uploads.next(tuple(bits.shape), bits.dtype, slot).copy_(bits)
        planes.append(bits.to(device, non_blocking=True))
    return planes_to_rgb(planes, frame.layout.pix_fmt, frame.layout.spec)


def _integers(y: torch.Tensor, like: Frame) -> list[torch.Tensor]:
    """The engine's float RGB as the integers that go back: RGB of the input's type, or the target's planes."""
    if isinstance(like, YuvFrame):
        return rgb_to_planes(y, like.target.pix_fmt, like.target.spec)
    return [to_integer(y, like.dtype)]


def _submit(engine: StepEngine, frame: Frame, uploads: _PinnedRing | None,
            downloads: _PinnedRing | None, times: StageTimes | None = None) -> _Pending:
    cuda = downloads is not None
    kind = frame.target if isinstance(frame, YuvFrame) else frame.dtype
    clock = _Clock(cuda) if times is not None else None
    if clock:
        clock.mark()
    x = _upload(frame, engine.device, uploads)
    if clock:
        clock.mark()
    y = engine.step(x)
    if clock:
        clock.mark()
    device_out = _integers(y, frame)
    if not cuda:
        host = [q.cpu().contiguous() for q in device_out]
        if clock:
            clock.mark()
        return _Pending(host, None, kind, clock, times)
    host = []
    for slot, q in enumerate(device_out):
        buffer = downloads.next(tuple(q.shape), q.dtype, slot)
        buffer.copy_(q, non_blocking=True)
        host.append(buffer)
    if clock:
        clock.mark()  # the last mark doubles as the wait: it follows the downloads in the stream
        return _Pending(host, clock.marks[-1], kind, clock, times)
    ready = torch.cuda.Event()
    ready.record()
    return _Pending(host, ready, kind)


def _is_cuda(device: torch.device) -> bool:
    """Whether frames to ``device`` go through pinned buffers and events (the CUDA way)."""
    return device.type == "cuda"


def restore_array(engine: StepEngine, frame: Frame) -> Frame:
    """One frame (an RGB array or a YuvFrame) through ``engine``, waiting for the result."""
    return _submit(engine, frame, None, None).result()


def stream_arrays(engine: StepEngine, frames: Iterable[Frame]) -> Iterator[Frame]:
    """Restore frames in order (RGB arrays, or YuvFrames; see :mod:`.frames`), one frame queued on the device.

    Each yielded frame is the caller's own (not a reused buffer), of the kind
    its input was: an RGB array of the same type, or a YuvFrame in the input's
    target layout. Adds stage times to the calling thread's active clock, if any.
    """
    times = active()
    pinned = _is_cuda(engine.device)
    uploads, downloads = (_PinnedRing(), _PinnedRing()) if pinned else (None, None)
    pending: _Pending | None = None
    for frame in frames:
        current = _submit(engine, frame, uploads, downloads, times)
        if pending is not None:
            yield pending.result()
        pending = current
    if pending is not None:
        yield pending.result()
