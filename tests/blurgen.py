"""Textured test content with known blur: sharp-edged shapes, moved per frame, box-blurred along a path."""

from __future__ import annotations

import numpy as np


def texture(width: int, height: int, seed: int = 0, shapes: int = 60) -> np.ndarray:
    """(H, W) float32 in [0, 255]: discs and rectangles of random grey levels with sharp edges at every angle."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.full((height, width), 128.0, np.float32)
    for _ in range(shapes):
        level = float(rng.uniform(20, 235))
        cx, cy, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(3, max(width, height) / 6)
        if rng.random() < 0.5:
            image[(x - cx) ** 2 + (y - cy) ** 2 < r * r] = level
        else:
            angle = rng.uniform(0, np.pi)
            u = (x - cx) * np.cos(angle) + (y - cy) * np.sin(angle)
            v = -(x - cx) * np.sin(angle) + (y - cy) * np.cos(angle)
            image[(np.abs(u) < r) & (np.abs(v) < r / 2)] = level
    return image


def box_blur(image: np.ndarray, length: int, axis: int = 1) -> np.ndarray:
    """A motion blur of ``length`` px along ``axis`` (1: horizontal), edges replicated."""
    if length <= 1:
        return image
    pad = [(0, 0)] * image.ndim
    pad[axis] = (length // 2, length - 1 - length // 2)
    padded = np.pad(image, pad, mode="edge")
    cumulative = np.cumsum(padded, axis=axis, dtype=np.float64)
    cumulative = np.concatenate([np.zeros_like(np.take(cumulative, [0], axis=axis)), cumulative], axis=axis)
    n = image.shape[axis]
    return ((np.take(cumulative, np.arange(length, length + n), axis=axis)
             - np.take(cumulative, np.arange(0, n), axis=axis)) / length).astype(np.float32)


def shaky_content(blurred: set[int], length: int = 7, seed: int = 0, noise: float = 0.0):
    """A ``make_clip`` content function: a texture panning slowly, frames in ``blurred`` smeared by ``length`` px."""
    cache: dict[tuple[int, int], np.ndarray] = {}

    def content(index: int, width: int, height: int) -> np.ndarray:
        key = (width, height)
        if key not in cache:
            cache[key] = texture(width + 64, height, seed)
        frame = cache[key][:, index % 64: index % 64 + width]
        if index in blurred:
            frame = box_blur(frame, length, axis=1 if index % 2 else 0)
        if noise:
            frame = frame + np.random.default_rng(index).normal(0, noise, frame.shape).astype(np.float32)
        grey = np.clip(frame, 0, 255).round().astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)

    return content
