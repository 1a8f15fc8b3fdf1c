"""Synthetic camera shots for scene-cut tests and benchmarks: no video files needed.

A *shot* is a virtual camera looking at one still picture (a photo from
``/work/shared/train-images`` or a procedural texture): it pans, shakes or zooms,
each frame is integrated over an exposure along that path (motion blur), and the
frames get brightness flicker and sensor noise. Concatenating shots of different
pictures gives clips whose hard cuts are known exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

TRAIN_IMAGES = Path(__file__).resolve().parents[2] / "shared" / "train-images"
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")
MOTIONS = ("static", "pan", "shake", "zoom", "whip")


def photo_paths() -> list[Path]:
    """The shared training photos, sorted; empty when the folder is absent."""
    if not TRAIN_IMAGES.is_dir():
        return []
    return sorted(p for p in TRAIN_IMAGES.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)


@lru_cache(maxsize=64)
def load_picture(path: Path, long_side: int = 320) -> np.ndarray:
    """A photo as float32 RGB in [0, 1], box-downscaled so its long side is about ``long_side``."""
    import imageio.v3 as iio

    img = iio.imread(path, index=0)
    img = (np.dstack([img] * 3) if img.ndim == 2 else img[..., :3]).astype(np.float32) / 255.0
    factor = max(1, max(img.shape[:2]) // long_side)
    h, w = (img.shape[0] // factor) * factor, (img.shape[1] // factor) * factor
    return img[:h, :w].reshape(h // factor, factor, w // factor, factor, 3).mean(axis=(1, 3))


def procedural_picture(seed: int, size: tuple[int, int] = (240, 320)) -> np.ndarray:
    """A smooth random colour field with edges and stripes: structure at several scales."""
    rng = np.random.default_rng(seed)
    h, w = size
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.zeros((h, w, 3), np.float32)
    for _ in range(6):
        fy, fx = rng.uniform(0.005, 0.08, 2)
        phase = rng.uniform(0, 2 * np.pi)
        colour = rng.uniform(0.2, 1.0, 3)
        img += colour * (0.5 + 0.5 * np.sin(fx * x + fy * y + phase))[..., None]
    for _ in range(4):  # a few hard-edged discs
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(10, 60)
        img[(y - cy) ** 2 + (x - cx) ** 2 < r * r] = rng.uniform(0, 1, 3)
    img -= img.min()
    return img / max(float(img.max()), 1e-6)


def sample(picture: np.ndarray, cx: float, cy: float, scale: float, out_h: int, out_w: int) -> np.ndarray:
    """Bilinear view of ``picture`` centred at (cx, cy), ``scale`` picture pixels per output pixel."""
    ph, pw = picture.shape[:2]
    xs = np.clip(cx + (np.arange(out_w, dtype=np.float32) - out_w / 2) * scale, 0, pw - 1.001)
    ys = np.clip(cy + (np.arange(out_h, dtype=np.float32) - out_h / 2) * scale, 0, ph - 1.001)
    x0, y0 = xs.astype(np.int64), ys.astype(np.int64)
    fx, fy = (xs - x0)[None, :, None], (ys - y0)[:, None, None]
    top = picture[y0][:, x0] * (1 - fx) + picture[y0][:, x0 + 1] * fx
    bottom = picture[y0 + 1][:, x0] * (1 - fx) + picture[y0 + 1][:, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


@dataclass
class ShotSpec:
    """How the virtual camera moves; all motion in output pixels per frame."""

    motion: str = "pan"
    frames: int = 12
    size: tuple[int, int] = (64, 96)  # (H, W) of the output frames
    speed: float = 2.0  # pan speed / shake amplitude / whip speed
    blur: float = 1.0  # exposure as a fraction of the frame interval (0 = sharp)
    flicker: float = 0.08  # relative brightness change per frame (uniform +-)
    noise: float = 1.5 / 255  # Gaussian sensor noise sigma


def render_shot(picture: np.ndarray, spec: ShotSpec, rng: np.random.Generator, dtype=np.uint8) -> list[np.ndarray]:
    """Frames of one shot as (H, W, 3) RGB integer arrays."""
    out_h, out_w = spec.size
    ph, pw = picture.shape[:2]
    angle = rng.uniform(0, 2 * np.pi)
    direction = np.array([np.cos(angle), np.sin(angle)])

    def path(t: float) -> tuple[float, float, float]:
        """Camera offset (output pixels) and zoom factor at time t (in frames)."""
        if spec.motion == "static":
            return 0.0, 0.0, 1.0
        if spec.motion in ("pan", "whip"):
            speed = spec.speed * (4.0 if spec.motion == "whip" else 1.0)
            return direction[0] * speed * t, direction[1] * speed * t, 1.0
        if spec.motion == "shake":
            return (spec.speed * (np.sin(2.3 * t + angle) + 0.5 * np.sin(5.1 * t)),
                    spec.speed * np.cos(1.7 * t + angle), 1.0)
        if spec.motion == "zoom":
            return 0.0, 0.0, (1.0 - 0.01 * spec.speed) ** t
        raise ValueError(f"unknown motion {spec.motion!r}")

    # The camera never leaves the picture: pick the largest scale (up to a random
    # framing) whose whole path fits, then a start point inside the room left.
    times = np.linspace(0, spec.frames - 1 + max(spec.blur, 0.0), 4 * spec.frames)
    offsets = np.array([path(t) for t in times])
    scale0 = min(ph / out_h, pw / out_w) * rng.uniform(0.35, 0.6)
    while True:
        half_w = offsets[:, 2] * scale0 * out_w / 2 + 1
        half_h = offsets[:, 2] * scale0 * out_h / 2 + 1
        xs, ys = offsets[:, 0] * scale0, offsets[:, 1] * scale0
        lo_x, hi_x = float(np.max(half_w - xs)), float(np.min(pw - 1 - half_w - xs))
        lo_y, hi_y = float(np.max(half_h - ys)), float(np.min(ph - 1 - half_h - ys))
        if lo_x <= hi_x and lo_y <= hi_y:
            break
        scale0 *= 0.8
    cx, cy = rng.uniform(lo_x, hi_x), rng.uniform(lo_y, hi_y)

    def pose(t: float) -> tuple[float, float, float]:
        ox, oy, zoom = path(t)
        return cx + ox * scale0, cy + oy * scale0, scale0 * zoom

    peak = np.iinfo(dtype).max
    frames = []
    subsamples = 1 if spec.blur <= 0 else 8
    for t in range(spec.frames):
        acc = np.zeros((out_h, out_w, 3), np.float32)
        for k in range(subsamples):
            x, y, s = pose(t + spec.blur * k / max(subsamples - 1, 1))
            acc += sample(picture, x, y, s, out_h, out_w)
        img = acc / subsamples
        img = img * (1.0 + rng.uniform(-spec.flicker, spec.flicker))
        img = img + rng.normal(0.0, spec.noise, img.shape).astype(np.float32)
        frames.append((np.clip(img, 0, 1) * peak).round().astype(dtype))
    return frames


def random_spec(rng: np.random.Generator, frames: int = 12, size: tuple[int, int] = (64, 96)) -> ShotSpec:
    """A shot with motion, blur and flicker drawn from realistic (and some harsh) ranges."""
    motion = str(rng.choice(MOTIONS, p=[0.1, 0.35, 0.25, 0.15, 0.15]))
    return ShotSpec(
        motion=motion,
        frames=frames,
        size=size,
        speed=float(rng.uniform(0.5, 3.0)),
        blur=float(rng.uniform(0.0, 1.0)),
        flicker=float(rng.uniform(0.0, 0.12)),
        noise=float(rng.uniform(0.5, 3.0)) / 255,
    )


def pictures(count: int, seed: int = 0) -> list[np.ndarray]:
    """``count`` different pictures: the shared photos first, then procedural textures."""
    found = [load_picture(p) for p in photo_paths()[:count]]
    return found + [procedural_picture(seed + i) for i in range(count - len(found))]


def clip_with_cuts(
    shot_pictures: list[np.ndarray], specs: list[ShotSpec], rng: np.random.Generator, dtype=np.uint8
) -> tuple[list[np.ndarray], list[int]]:
    """Shots back to back; returns the frames and the index of each shot's first frame after the first."""
    frames: list[np.ndarray] = []
    cuts: list[int] = []
    for i, (picture, spec) in enumerate(zip(shot_pictures, specs)):
        if i:
            cuts.append(len(frames))
        frames.extend(render_shot(picture, spec, rng, dtype))
    return frames, cuts
