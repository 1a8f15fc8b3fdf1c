"""Training loss: Charbonnier on pixels, on image gradients and on the spectrum.

The paper adds a VGG perceptual term, which needs downloaded ImageNet weights;
this project trains with no downloads, so sharpness is encouraged instead by
terms that look at edges directly: the Charbonnier distance (a smooth L1,
robust and sharper than L2) of the finite-difference gradients, and of the
2-D Fourier transform (blur is a loss of high frequencies, which a pixel loss
under-weights).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

EPS = 1e-3


def charbonnier(diff: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """mean(sqrt(diff^2 + eps^2)): L1-like for large errors, smooth at 0."""
    return torch.sqrt(diff * diff + eps * eps).mean()


def gradient_charbonnier(pred: torch.Tensor, target: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """Charbonnier distance of horizontal and vertical finite differences of (N, C, H, W)."""
    diff = pred - target
    dx = diff[..., :, 1:] - diff[..., :, :-1]
    dy = diff[..., 1:, :] - diff[..., :-1, :]
    return 0.5 * (charbonnier(dx, eps) + charbonnier(dy, eps))


def frequency_charbonnier(pred: torch.Tensor, target: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """Charbonnier distance of the orthonormal 2-D spectra (float32 even under autocast)."""
    spec = torch.fft.rfft2((pred - target).float(), norm="ortho")
    return torch.sqrt(spec.real.square() + spec.imag.square() + eps * eps).mean()


@dataclass(frozen=True)
class LossWeights:
    charbonnier: float = 1.0
    gradient: float = 0.5
    frequency: float = 0.05


class DeblurLoss(nn.Module):
    """Weighted sum of the three terms; also returns each term (detached) for the log."""

    def __init__(self, weights: LossWeights = LossWeights()) -> None:
        super().__init__()
        self.weights = weights

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        pred, target = pred.float(), target.float()
        terms = {
            "charbonnier": charbonnier(pred - target),
            "gradient": gradient_charbonnier(pred, target),
            "frequency": frequency_charbonnier(pred, target),
        }
        total = sum(getattr(self.weights, name) * value for name, value in terms.items())
        return total, {name: value.detach() for name, value in terms.items()}
