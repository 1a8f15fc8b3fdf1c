"""Measuring restoration: PSNR/SSIM, scoring clips and datasets, and the built-in demo."""
