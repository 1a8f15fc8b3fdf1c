"""One batch of clips, one optimiser step per frame, without a single wait for the device.

The recurrence is trained as in the paper: every frame of a clip is one
optimiser step, and the hidden state (previous blurry and restored frames,
features) is carried to the next frame *detached*, so memory does not grow with
the clip and no gradient flows backwards in time.

Nothing here reads a number back from the device: losses are summed into
device tensors that the trainer reads at log intervals, and a step whose loss
or gradients are not finite is skipped *on the device* (the fused AdamW takes
a ``found_inf`` flag, as with a GradScaler), so the host queues step after step
while the GPU works.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Callable

import torch

from .losses import DeblurLoss
from .setup import to_layout

TOTALS = ("loss", "input_loss", "charbonnier", "gradient", "frequency", "count", "skipped", "streak", "max_streak")


def make_optimizer(model: torch.nn.Module, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """Fused AdamW (CUDA and CPU): one kernel per step, and a device-side skip of non-finite steps."""
    return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay, fused=True)


def zero_totals(device: torch.device) -> dict[str, torch.Tensor]:
    return {name: torch.zeros((), device=device) for name in TOTALS}


class StepRunner:
    """Owns the per-step work; the trainer owns the step counter, the schedule and the clock."""

    def __init__(self, model: torch.nn.Module, forward: Callable, optimizer: torch.optim.Optimizer,
                 scaler: torch.amp.GradScaler, criterion: DeblurLoss, device: torch.device,
                 amp_dtype: torch.dtype | None, grad_clip: float, channel_order: str = "RGB") -> None:
        self.model, self.forward, self.optimizer, self.scaler = model, forward, optimizer, scaler
        self.criterion, self.device, self.amp_dtype, self.grad_clip = criterion, device, amp_dtype, grad_clip
        self.flip_channels = channel_order == "BGR"  # frames arrive RGB; weights trained BGR (the authors') see BGR
        self.params = [p for p in model.parameters() if p.requires_grad]

    def _autocast(self):
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def _update(self, loss: torch.Tensor) -> torch.Tensor:
        """Backward and optimiser step; returns a device bool: was the step taken (loss and gradients finite)?"""
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler.is_enabled():  # fp16: the scaler unscales, detects inf/NaN and skips on the device
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)
            norm = torch.nn.utils.clip_grad_norm_(self.params, self.grad_clip, foreach=True)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            return torch.isfinite(norm) & torch.isfinite(loss)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(self.params, self.grad_clip, foreach=True)
        ok = torch.isfinite(norm) & torch.isfinite(loss)
        self.optimizer.grad_scale, self.optimizer.found_inf = None, (~ok).float()
        try:
            self.optimizer.step()
        finally:
            del self.optimizer.grad_scale, self.optimizer.found_inf
        return ok

    def run(self, blurry: torch.Tensor, sharp: torch.Tensor, steps: int, rates: list[float],
            totals: dict[str, torch.Tensor]) -> None:
        """Train on the first ``steps`` frames of (B, T, 3, H, W) clips, frame t at rate ``rates[t]``."""
        if self.flip_channels:
            blurry, sharp = blurry.flip(-3), sharp.flip(-3)
        state = None
        for t in range(steps):
            for group in self.optimizer.param_groups:
                group["lr"] = rates[t]
            frame = to_layout(blurry[:, t], self.model)
            target = sharp[:, t]
            with self._autocast():
                restored, state = self.forward(frame, state)
            loss, terms = self.criterion(restored, target)
            state = state.detach()
            ok = self._update(loss)
            with torch.no_grad():  # the same loss for the blurry input itself: what "no change" scores
                input_loss = self.criterion(frame, target)[0]
                zero = torch.zeros((), device=self.device)
                totals["loss"] += torch.where(ok, loss.detach(), zero)
                totals["input_loss"] += torch.where(ok, input_loss, zero)
                for name, value in terms.items():
                    totals[name] += torch.where(ok, value, zero)
                totals["count"] += ok
                totals["skipped"] += ~ok
                totals["streak"] = torch.where(ok, zero, totals["streak"] + 1)
                totals["max_streak"] = torch.maximum(totals["max_streak"], totals["streak"])
