"""PSNR and SSIM against closed forms and an independent direct implementation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from deblur_cli.evaluation.metrics import MAX_PSNR, gaussian_window, psnr, ssim


def test_psnr_known_values_and_shapes():
    a = torch.zeros(2, 3, 8, 8)
    b = a.clone()
    b[0] += 0.1  # mse 0.01 -> 20 dB
    b[1] += 0.01  # mse 1e-4 -> 40 dB
    assert psnr(b, a).tolist() == pytest.approx([20.0, 40.0], abs=1e-4)
    assert float(psnr(a[0], a[0])) == MAX_PSNR
    assert float(psnr(b[0] * 255, a[0] * 255, data_range=255.0)) == pytest.approx(20.0, abs=1e-4)
    with pytest.raises(ValueError):
        psnr(a, a[:, :2])


def test_ssim_of_identical_images_is_one_and_it_is_symmetric():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 24, 24, generator=g)
    y = (x + 0.1 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    assert ssim(x, x).tolist() == pytest.approx([1.0, 1.0], abs=1e-5)
    assert ssim(x, y).tolist() == pytest.approx(ssim(y, x).tolist(), abs=1e-6)
    z = (x + 0.3 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    assert (ssim(x, z) < ssim(x, y)).all() and (ssim(x, y) < 0.99).all()


def test_ssim_of_flat_images_is_the_luminance_term():
    a, b = 0.3, 0.7
    c1 = 0.01**2
    expected = (2 * a * b + c1) / (a * a + b * b + c1)
    got = float(ssim(torch.full((3, 16, 16), a), torch.full((3, 16, 16), b)))
    assert got == pytest.approx(expected, abs=1e-5)


def _direct_ssim(x: np.ndarray, y: np.ndarray) -> float:
    """Wang et al.'s SSIM with an 11x11 Gaussian (sigma 1.5), valid windows, per channel, by loops."""
    taps = gaussian_window().double().numpy()
    w = np.outer(taps, taps)
    c1, c2 = 0.01**2, 0.03**2
    values = []
    for ch in range(x.shape[0]):
        for i in range(x.shape[1] - 10):
            for j in range(x.shape[2] - 10):
                px, py = x[ch, i:i + 11, j:j + 11], y[ch, i:i + 11, j:j + 11]
                mx, my = (w * px).sum(), (w * py).sum()
                vx, vy = (w * (px - mx) ** 2).sum(), (w * (py - my) ** 2).sum()
                cov = (w * (px - mx) * (py - my)).sum()
                values.append((2 * mx * my + c1) * (2 * cov + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2)))
    return float(np.mean(values))


def test_ssim_matches_a_direct_implementation():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(3, 16, 18, generator=g, dtype=torch.float64)
    y = (0.7 * x + 0.3 * torch.rand(3, 16, 18, generator=g, dtype=torch.float64)).clamp(0, 1)
    assert float(ssim(x, y)) == pytest.approx(_direct_ssim(x.numpy(), y.numpy()), abs=1e-4)


def test_ssim_small_images_use_a_smaller_window():
    x = torch.rand(3, 6, 9)
    value = float(ssim(x, (x * 0.9).clamp(0, 1)))
    assert not math.isnan(value) and 0.5 < value < 1.0
