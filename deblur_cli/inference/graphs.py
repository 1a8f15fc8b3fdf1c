"""Replay one STFAN step from CUDA graphs captured for the video's frame size.

Why: a step launches about 150 kernels (convolutions, epilogues, FAC,
concatenations); at 720p several of them take only microseconds, so the gaps
between launches and the CPU's launch overhead are a measurable part of a
frame. A video keeps one frame size, so the whole step can be captured once
and replayed: one launch per frame.

:class:`GraphedModel` has the model's contract, ``(x, state) -> (restored,
state)``. Per input (shape, dtype, memory layout, device) it warms the model up
eagerly (cuDNN's algorithm search and Triton's autotuner must not run during
capture), then captures two graphs sharing one memory pool: the first frame of
a clip (``state=None``) and a later frame. The graphs read the frame and the
state from fixed buffers and write the next state back into the state buffers,
so the state returned is those buffers themselves: valid until the next call,
which is how an engine uses it. Passing back the returned state costs nothing;
any other state is copied in. The restored frame is returned as a fresh tensor.

It falls back to calling the model (same results) when the input is not on a
CUDA device, when autograd is recording, or when capture fails (then it stays
eager for that input and says why once, in :attr:`GraphedModel.eager_reason`).
A new input shape releases the old graphs and captures new ones.

The capture backend is pluggable so that the buffer handling can be tested on
the CPU with a stand-in that re-runs the captured function on replay.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

import torch

from ..models import STFAN, STFANState


class GraphBackend(Protocol):
    """Captures a function into something replayable; CUDA graphs on the GPU."""

    def usable(self, x: torch.Tensor) -> bool: ...

    def warm_up(self, fn: Callable[[], object]) -> None:
        """Call ``fn`` once, in whatever context capture needs after it (a side stream on CUDA)."""

    def capture(self, fn: Callable[[], torch.Tensor], pool: object | None) -> tuple[object, torch.Tensor, object]:
        """(graph with a ``replay()`` method, the output tensor, the memory pool to share)."""


class CudaGraphs:
    """The real backend: ``torch.cuda.CUDAGraph`` captured on a side stream, warm-up on a side stream too."""

    def usable(self, x: torch.Tensor) -> bool:
        return x.is_cuda

    def warm_up(self, fn: Callable[[], object]) -> None:
        side = torch.cuda.Stream(device=torch.cuda.current_device())
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            fn()
        torch.cuda.current_stream().wait_stream(side)

    def capture(self, fn: Callable[[], torch.Tensor], pool: object | None) -> tuple[object, torch.Tensor, object]:
        graph = torch.cuda.CUDAGraph()
        # thread_local: the pipeline's other threads may use CUDA (copies) while this one captures.
        with torch.cuda.graph(graph, pool=pool, capture_error_mode="thread_local"):
            out = fn()
        return graph, out, graph.pool()


@dataclass
class _Captured:
    key: tuple
    x: torch.Tensor
    state: STFANState
    first: object
    first_out: torch.Tensor
    step: object
    step_out: torch.Tensor


def _input_key(x: torch.Tensor) -> tuple:
    return tuple(x.shape), x.stride(), x.dtype, x.device


class GraphedModel:
    """``model(x, state)`` replayed from CUDA graphs captured per input shape; eager where graphs do not apply."""

    def __init__(self, model: STFAN, backend: GraphBackend | None = None) -> None:
        self.model = model
        self.backend = backend or CudaGraphs()
        self._captured: _Captured | None = None
        self._eager_keys: set[tuple] = set()
        self.eager_reason: str | None = None
        self.captures = 0  # how many inputs were captured (tests, benchmarks)

    def release(self) -> None:
        """Drop the graphs and their memory (the next call captures again)."""
        self._captured = None

    def __call__(self, x: torch.Tensor, state: STFANState | None = None) -> tuple[torch.Tensor, STFANState]:
        key = _input_key(x)
        if torch.is_grad_enabled() or not self.backend.usable(x) or key in self._eager_keys:
            return self.model(x, state)
        captured = self._captured
        if captured is None or captured.key != key:
            self.release()
            try:
                captured = self._capture(x, key)
            except Exception as exc:  # a capture that fails must not stop the video: run eagerly instead
                self._eager_keys.add(key)
                self.eager_reason = f"CUDA graph capture failed for input {key[0]}: {exc}"
                return self.model(x, state)
        captured.x.copy_(x)
        if state is None:
            captured.first.replay()
            out = captured.first_out
        else:
            if state is not captured.state:
                _copy_state(captured.state, state)
            captured.step.replay()
            out = captured.step_out
        return out.clone(), captured.state

    def _capture(self, x: torch.Tensor, key: tuple) -> _Captured:
        static_x = x.clone()
        holder: dict[str, STFANState] = {}

        def warm() -> None:  # a first frame and a later one: every kernel and shape the graphs will hold
            _, state = self.model(static_x, None)
            _, holder["state"] = self.model(static_x, state)

        self.backend.warm_up(warm)
        template = holder.pop("state")
        buffers = STFANState(*(torch.empty_like(t) for t in (template.prev_blurry, template.prev_restored,
                                                         template.features)))
        del template

        def step(first: bool) -> torch.Tensor:
            restored, nxt = self.model(static_x, None if first else buffers)
            _copy_state(buffers, nxt)  # stream-ordered after every read of the old state
            return restored

        first_graph, first_out, pool = self.backend.capture(lambda: step(True), None)
        step_graph, step_out, _ = self.backend.capture(lambda: step(False), pool)
        self.captures += 1
        self._captured = _Captured(key, static_x, buffers, first_graph, first_out, step_graph, step_out)
        return self._captured


def _copy_state(target: STFANState, source: STFANState) -> None:
    target.prev_blurry.copy_(source.prev_blurry)
    target.prev_restored.copy_(source.prev_restored)
    target.features.copy_(source.features)
