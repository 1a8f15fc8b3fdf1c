"""The recurrent engine: frames in, restored frames out, one at a time.

It holds exactly what STFAN's recurrence needs between frames (previous blurry
frame, previous restored frame, hidden features) and nothing of the video
before that, so memory does not grow with the clip's length. It also hides the
network's constraints from callers: any frame size (replicate-padded to a
multiple of 4 and cropped back), the channel order the weights expect, and the
device and precision they run at.

:class:`Engine` is the contract the pipeline relies on: ``reset()`` and
``restore(frames)``. :class:`RecurrentEngine` and the tiled engines implement
it with the network; :class:`ArrayEngine` turns any per-frame function (a
test double, a recorder) into one. Frames are RGB arrays, or for engines with
``takes_planes`` also :class:`~.frames.YuvFrame` (the device colour path, see
:mod:`.frames`).
"""

from __future__ import annotations

import time
from typing import Iterable, Iterator, Protocol, runtime_checkable

import numpy as np
import torch
import torch.nn.functional as F

from ..models import STFAN, STFANState
from .frames import Frame, YuvFrame
from .graphs import GraphBackend, GraphedModel
from .streaming import restore_array, stream_arrays
from .timing import active

MULTIPLE = 4


@runtime_checkable
class Engine(Protocol):
    """What the pipeline needs of an engine: a stream of (H, W, 3) uint8/uint16 RGB frames in, restored out.

    An engine whose ``takes_planes`` attribute is true also takes
    :class:`~.frames.YuvFrame` items and gives back, for each, a YuvFrame in its
    ``target`` layout (see :mod:`.frames`); the pipeline hands them only to such engines.
    """

    def reset(self) -> None:
        """Forget the recurrence: the next frame starts a new clip (or shot)."""

    def restore(self, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Restored frames, one per input frame, in order, each the caller's own array.

        ``reset()`` may be called between two frames of ``frames`` (at a scene
        cut); it applies to the frames that come after it.
        """


def takes_planes(engine: object) -> bool:
    """Whether ``engine`` accepts :class:`~.frames.YuvFrame` items (see :class:`Engine`)."""
    return bool(getattr(engine, "takes_planes", False))


class ArrayEngine:
    """An :class:`Engine` made of a per-frame ``process_array``; subclasses define it (and ``reset``).

    ``process_array`` always sees RGB: a :class:`~.frames.YuvFrame` is converted
    on the CPU before it and back to the target's planes after it.
    """

    takes_planes = True

    def reset(self) -> None:
        pass

    def process_array(self, frame: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def restore(self, frames: Iterable[Frame]) -> Iterator[Frame]:
        times = active()
        for frame in frames:
            started = time.perf_counter()
            planes = isinstance(frame, YuvFrame)
            rgb = frame.to_rgb() if planes else frame
            converted = time.perf_counter()
            out = self.process_array(rgb)
            restored = time.perf_counter()
            if planes:
                out = frame.restored(out)
            if times is not None:  # the conversions count as upload and download, the call as the model
                times.add("upload", converted - started)
                times.add("model", restored - converted)
                times.add("download", time.perf_counter() - restored)
            yield out


def pad_to_multiple(x: torch.Tensor, multiple: int = MULTIPLE) -> tuple[torch.Tensor, tuple[int, int]]:
    """Replicate-pad the bottom/right edges of (N, C, H, W) so H and W divide by ``multiple``."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    return x, (h, w)


class RecurrentEngine:
    """Runs an STFAN model over a stream of RGB frames.

    ``channel_order`` is the order the *weights* expect ("RGB" or "BGR"); callers
    always pass and receive RGB. Call :meth:`reset` at the start of every clip
    (or shot) so one clip's memory does not leak into the next.
    """

    takes_planes = True

    def __init__(
        self,
        model: STFAN,
        *,
        channel_order: str = "RGB",
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        if channel_order not in ("RGB", "BGR"):
            raise ValueError(f"channel_order must be RGB or BGR, got {channel_order!r}")
        self.device = torch.device(device)
        self.dtype = dtype
        self.channel_order = channel_order
        self.model = model.eval().to(device=self.device, dtype=dtype)
        self.state: STFANState | None = None
        self.frames_done = 0
        self.graphed: GraphedModel | None = None

    def enable_graphs(self, backend: GraphBackend | None = None) -> None:
        """Replay each step from CUDA graphs captured per frame size (:mod:`.graphs`); eager where they don't apply."""
        self.graphed = GraphedModel(self.model, backend)

    def reset(self) -> None:
        """Forget the recurrence: the next frame is treated as a first frame."""
        self.state = None
        self.frames_done = 0

    @torch.inference_mode()
    def step(self, frame: torch.Tensor) -> torch.Tensor:
        """Restore one frame: (3, H, W) or (1, 3, H, W) RGB float in [0, 1] -> same shape, [0, 1].

        The result is on the engine's device in the engine's dtype.
        """
        batched = frame.dim() == 4
        x = frame if batched else frame.unsqueeze(0)
        x = x.to(device=self.device, dtype=self.dtype, non_blocking=True)
        if self.channel_order == "BGR":
            x = x.flip(1)
        x, (h, w) = pad_to_multiple(x)
        x = x.contiguous(memory_format=self.model.memory_format())  # the weights' layout: no mixed-layout adds
        if self.state is not None and self.state.prev_blurry.shape != x.shape:
            self.reset()  # a new frame size starts a new clip
        restored, self.state = (self.graphed or self.model)(x, self.state)
        out = restored[..., :h, :w].clamp_(0.0, 1.0)
        if self.channel_order == "BGR":
            out = out.flip(1)
        self.frames_done += 1
        return out if batched else out[0]

    def process_array(self, frame: np.ndarray) -> np.ndarray:
        """Restore one (H, W, 3) RGB frame of dtype uint8 or uint16; returns the same dtype."""
        return restore_array(self, frame)

    def restore(self, frames: Iterable[Frame]) -> Iterator[Frame]:
        """Restore a stream of frames with one frame queued on the device (see :mod:`.streaming`)."""
        return stream_arrays(self, frames)
