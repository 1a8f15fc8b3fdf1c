"""How fast training runs: measured FLOPs per step, frames and pixels per second, data wait, peak memory."""

from __future__ import annotations

import copy
import resource
import sys
import time
from dataclasses import dataclass

import torch

from .setup import to_layout


def train_step_flops(model: torch.nn.Module, size: tuple[int, int], device: torch.device) -> float:
    """FLOPs of one training step on one frame (forward + backward), counted by ``FlopCounterMode``.

    Counted on a copy of ``model`` at batch 1, on a *continued* frame (the
    recurrent state of a first frame given), which is what most steps are.
    Convolutions and matrix products are counted; the FAC's per-pixel
    multiply-adds (elementwise or Triton kernels) are not, so this is a floor.
    """
    from torch.utils.flop_counter import FlopCounterMode

    probe = copy.deepcopy(model).train()
    frame = torch.rand((1, 3, *size), generator=torch.Generator().manual_seed(0))  # leaves the global RNG alone
    frame = to_layout(frame.to(device), probe)
    with torch.no_grad():
        _, state = probe(frame, None)
    with FlopCounterMode(display=False) as counter:
        restored, _ = probe(frame, state)
        restored.float().mean().backward()
    return float(counter.get_total_flops())


def peak_memory_mib(device: torch.device) -> float:
    """Peak device memory allocated (CUDA), else the process's peak resident memory."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


@dataclass
class Throughput:
    """Figures over an interval: ``frames`` trained (batch x steps) in ``seconds``, ``wait`` of them spent on data."""

    frames: int
    seconds: float
    wait: float
    pixels_per_frame: int
    flops_per_frame: float

    def figures(self) -> dict[str, float]:
        seconds = max(self.seconds, 1e-9)
        return {
            "frames_per_s": self.frames / seconds,
            "mpixel_per_s": self.frames * self.pixels_per_frame / seconds / 1e6,
            "tflop_per_s": self.frames * self.flops_per_frame / seconds / 1e12,
            "data_wait_share": min(1.0, self.wait / seconds),
        }


class Meter:
    """Frames and host wait since the last :meth:`take`."""

    def __init__(self, pixels_per_frame: int, flops_per_frame: float) -> None:
        self.pixels_per_frame, self.flops_per_frame = pixels_per_frame, flops_per_frame
        self.frames, self.wait, self.start = 0, 0.0, time.perf_counter()

    def add(self, frames: int, wait: float) -> None:
        self.frames += frames
        self.wait += wait

    def take(self) -> dict[str, float]:
        now = time.perf_counter()
        figures = Throughput(self.frames, now - self.start, self.wait, self.pixels_per_frame,
                             self.flops_per_frame).figures()
        self.frames, self.wait, self.start = 0, 0.0, now
        return figures
