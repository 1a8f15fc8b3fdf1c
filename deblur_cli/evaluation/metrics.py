"""Image quality figures for deblurring: PSNR and SSIM, in torch, on any device.

Conventions (so our numbers compare with published ones):
- Images are float in [0, ``data_range``], shape (..., C, H, W); one figure per image.
- PSNR is over all channels and pixels; identical images score ``MAX_PSNR`` (not inf)
  so averages stay finite.
- SSIM is Wang et al.'s (2004): Gaussian window 11x11, sigma 1.5, K1 = 0.01,
  K2 = 0.03, computed *per RGB channel* and averaged over channels and over the
  'valid' window positions (no padding) — the per-channel mean used by common
  Python evaluations of DVD/GoPro, not luminance-only SSIM.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

MAX_PSNR = 100.0
# Averages over frames and clips count each frame's PSNR at most this much: a nearly lossless
# frame (70-100 dB) would otherwise swamp the mean, and a change of one 8-bit level there
# would cost tens of dB that no viewer can see.
PSNR_CEILING = 60.0
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
K1, K2 = 0.01, 0.03


def psnr(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per image: (..., C, H, W) -> (...)."""
    if pred.shape != target.shape:
        raise ValueError(f"shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")
    mse = (pred.float() - target.float()).pow(2).mean(dim=(-3, -2, -1))
    floor = data_range**2 * 10.0 ** (-MAX_PSNR / 10.0)
    return 10.0 * torch.log10(data_range**2 / mse.clamp(min=floor))


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA, device=None) -> torch.Tensor:
    """Normalised 1-D Gaussian taps (the 2-D window is their outer product)."""
    x = torch.arange(size, dtype=torch.float32, device=device) - (size - 1) / 2
    taps = torch.exp(-(x**2) / (2 * sigma**2))
    return taps / taps.sum()


def _blur(x: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
    """Separable 'valid' Gaussian filtering of (N, C, H, W), channel by channel."""
    c = x.shape[1]
    k = taps.numel()
    x = F.conv2d(x, taps.view(1, 1, 1, k).expand(c, 1, 1, k), groups=c)
    return F.conv2d(x, taps.view(1, 1, k, 1).expand(c, 1, k, 1), groups=c)


def ssim(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Structural similarity per image: (..., C, H, W) -> (...); 1 means identical.

    Images smaller than the window use the largest odd window that fits.
    """
    if pred.shape != target.shape:
        raise ValueError(f"shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")
    lead = pred.shape[:-3]
    c, h, w = pred.shape[-3:]
    x = pred.float().reshape(-1, c, h, w)
    y = target.float().reshape(-1, c, h, w)
    size = min(SSIM_WINDOW, h - (h + 1) % 2, w - (w + 1) % 2)
    taps = gaussian_window(size, SSIM_SIGMA * size / SSIM_WINDOW, device=x.device)
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    mu_x, mu_y = _blur(x, taps), _blur(y, taps)
    var_x = _blur(x * x, taps) - mu_x**2
    var_y = _blur(y * y, taps) - mu_y**2
    cov = _blur(x * y, taps) - mu_x * mu_y
    num = (2 * mu_x * mu_y + c1) * (2 * cov + c2)
    den = (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    return (num / den).mean(dim=(-3, -2, -1)).reshape(lead)


def mean_or_nan(values: list[float]) -> float:
    """Average of figures (NaN for none) — the one place that decides how empty sets read."""
    return sum(values) / len(values) if values else math.nan
