"""Image formation for synthetic blurry clips: warp, expose, add noise, compress.

A blurry frame is what the sensor integrates while the shutter is open, so it
is rendered as the mean of many sharp sub-frames along the camera (and object)
motion, averaged in *linear light* (averaging sRGB values would darken bright
streaks, which real blur does not). The ground truth is the sub-frame at the
middle of the exposure. Sensor noise (shot + read) is added in linear light,
then the frame is sRGB-encoded, passed through a JPEG-like 8x8 DCT
quantisation (cheap, runs on the GPU, mimics codec blocking and ringing) and
rounded to 8 bits like a decoded video frame.

Everything here is plain torch and runs on whatever device the tensors are on;
all randomness comes from the ``torch.Generator`` passed in (on the CPU), so a
clip is a pure function of its seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
import torch.nn.functional as F

from .camera import (
    Trajectory,
    corner_points,
    path_length,
    point_paths,
    pose_to_affine,
    sample_object_path,
    sample_trajectory,
)
from .profiles import BlurProfile

# ----------------------------------------------------------------------------- colour


def srgb_to_linear(x: torch.Tensor) -> torch.Tensor:
    """Decode sRGB values in [0, 1] to linear light (IEC 61966-2-1)."""
    return torch.where(x <= 0.04045, x / 12.92, ((x.clamp(min=0.04045) + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x: torch.Tensor) -> torch.Tensor:
    """Encode linear light in [0, 1] to sRGB values."""
    x = x.clamp(0.0, 1.0)
    return torch.where(x <= 0.0031308, x * 12.92, 1.055 * x.clamp(min=0.0031308) ** (1 / 2.4) - 0.055)


def quantise_8bit(x: torch.Tensor) -> torch.Tensor:
    """Round to the 256 levels of an 8-bit frame (what a decoder hands the network)."""
    return (x.clamp(0.0, 1.0) * 255.0).round() / 255.0


# ----------------------------------------------------------------------------- geometry


def affine_theta(a: torch.Tensor, b: torch.Tensor, out_hw: tuple[int, int], src_hw: tuple[int, int]) -> torch.Tensor:
    """Pixel-space map ``src = a @ u + b`` (centred coordinates) -> ``affine_grid`` theta.

    With ``align_corners=False`` a centred pixel coordinate u is ``u_norm * size / 2``,
    so theta = D_src a D_out^-1 and its offset D_src b, D = diag(2/W, 2/H).
    """
    (h, w), (hs, ws) = out_hw, src_hw
    d_out_inv = torch.tensor([w / 2, h / 2], dtype=a.dtype, device=a.device)
    d_src = torch.tensor([2 / ws, 2 / hs], dtype=a.dtype, device=a.device)
    lin = d_src[:, None] * a * d_out_inv[None, :]
    return torch.cat([lin, (d_src * b)[..., None]], dim=-1)


def invert_affine(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    a_inv = torch.linalg.inv(a)
    return a_inv, -(a_inv @ b[..., None])[..., 0]


def warp(src: torch.Tensor, a: torch.Tensor, b: torch.Tensor, out_hw: tuple[int, int], *,
         mode: str = "bicubic", padding: str = "border") -> torch.Tensor:
    """Sample (C, Hs, Ws) at ``a @ u + b`` for every output pixel u, once per pose -> (N, C, H, W)."""
    n = a.shape[0]
    theta = affine_theta(a, b, out_hw, tuple(src.shape[-2:])).to(device=src.device, dtype=src.dtype)
    grid = F.affine_grid(theta, [n, src.shape[0], *out_hw], align_corners=False)
    return F.grid_sample(src.unsqueeze(0).expand(n, -1, -1, -1), grid, mode=mode, padding_mode=padding,
                         align_corners=False)


# ----------------------------------------------------------------------------- scene content


def _texture(region: torch.Tensor, stride: int) -> float:
    """Mean absolute gradient of a uint8 region, on a strided subsample (cheap)."""
    x = region[:, ::stride, ::stride].to(torch.float32)
    return float((x[:, 1:, :] - x[:, :-1, :]).abs().mean() + (x[:, :, 1:] - x[:, :, :-1]).abs().mean())


def crop_canvas(image: torch.Tensor, canvas_hw: tuple[int, int], scale: float, gen: torch.Generator,
                *, flip: bool = False, tries: int = 1) -> torch.Tensor:
    """A random region of a uint8 (3, H, W) photo, resized to ``canvas_hw``, in linear light.

    ``scale`` is source pixels per canvas pixel (> 1 zooms out); it shrinks when
    the photo is too small to hold the region. With ``tries`` > 1 the most
    textured of that many random regions is kept: wallpapers have large flat
    skies that teach a deblurring network nothing.
    """
    _, h0, w0 = image.shape
    hc, wc = canvas_hw
    scale = min(scale, h0 / hc, w0 / wc)
    rh, rw = max(1, min(h0, round(hc * scale))), max(1, min(w0, round(wc * scale)))
    stride = max(1, round(scale * max(hc, wc) / 64))
    best, best_score = (0, 0), -1.0
    for _ in range(max(1, tries)):
        y0 = int(torch.randint(0, h0 - rh + 1, (1,), generator=gen))
        x0 = int(torch.randint(0, w0 - rw + 1, (1,), generator=gen))
        score = _texture(image[:, y0:y0 + rh, x0:x0 + rw], stride) if tries > 1 else 0.0
        if score > best_score:
            best, best_score = (y0, x0), score
    y0, x0 = best
    region = image[:, y0:y0 + rh, x0:x0 + rw].to(torch.float32) / 255.0
    if flip:
        region = region.flip(-1)
    region = srgb_to_linear(region)
    if (rh, rw) != (hc, wc):
        region = F.interpolate(region[None], size=(hc, wc), mode="bilinear", antialias=rh > hc or rw > wc,
                               align_corners=False)[0]
    return region.clamp_(min=0.0)


def sprite_alpha(hw: tuple[int, int], gen: torch.Generator, device: torch.device) -> torch.Tensor:
    """A soft-edged blob mask (ellipse to rounded rectangle), (1, h, w) in [0, 1]."""
    h, w = hw
    power = float(2.0 + 4.0 * torch.rand((), generator=gen))  # 2 = ellipse, 6 = rounded box
    ys = (torch.arange(h, device=device, dtype=torch.float32) - (h - 1) / 2) / (h / 2)
    xs = (torch.arange(w, device=device, dtype=torch.float32) - (w - 1) / 2) / (w / 2)
    r = (ys[:, None].abs() ** power + xs[None, :].abs() ** power) ** (1 / power)
    edge_px = 1.0 + 2.0 * float(torch.rand((), generator=gen))
    return ((1.0 - r) * min(h, w) / 2 / edge_px).clamp(0.0, 1.0)[None]


@dataclass
class Sprite:
    """An independently moving object: premultiplied linear RGB + alpha, and its screen path."""

    rgba: torch.Tensor  # (4, h, w): rgb * alpha, alpha
    path: Trajectory  # sprite-centre pose in output pixels (centred coordinates)

    def corners(self) -> torch.Tensor:
        return corner_points(tuple(self.rgba.shape[-2:]))


def composite_sprites(scene: torch.Tensor, sprites: Sequence[Sprite], times: torch.Tensor,
                      out_hw: tuple[int, int]) -> torch.Tensor:
    """Draw each sprite (later ones on top) over scene sub-frames (N, 3, H, W) at ``times`` (N,)."""
    for sprite in sprites:
        a, b = invert_affine(*pose_to_affine(sprite.path.pose(times)))
        layer = warp(sprite.rgba, a, b, out_hw, mode="bilinear", padding="zeros")
        scene = scene * (1.0 - layer[:, 3:]) + layer[:, :3]
    return scene


# ----------------------------------------------------------------------------- exposure


def subframe_times(frame_time: float, exposure: float, count: int) -> torch.Tensor:
    """``count`` instants evenly spread over the exposure centred on ``frame_time`` (count odd)."""
    if count == 1:
        return torch.tensor([frame_time], dtype=torch.float64)
    return frame_time + exposure * (torch.linspace(0.0, 1.0, count, dtype=torch.float64) - 0.5)


def expose(canvas: torch.Tensor, camera: Trajectory, sprites: Sequence[Sprite], frame_time: float,
           exposure: float, subframes: int, out_hw: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """One frame in linear light: (mean over the exposure, the mid-exposure sub-frame), each (3, H, W).

    Values may leave [0, 1] here (bright scenes, bicubic overshoot); the caller clips, as the sensor does.
    """
    times = subframe_times(frame_time, exposure, subframes)
    a, b = pose_to_affine(camera.pose(times))
    frames = warp(canvas, a, b, out_hw)  # bicubic lobes may dip below 0; they cancel in the mean
    frames = composite_sprites(frames, sprites, times, out_hw)
    return frames.mean(dim=0), frames[subframes // 2]


# ----------------------------------------------------------------------------- sensor and codec


def add_sensor_noise(linear: torch.Tensor, shot: float, read: float, gen: torch.Generator) -> torch.Tensor:
    """Heteroscedastic Gaussian noise: variance = shot * signal + read^2 (signal in linear light)."""
    noise = torch.randn(linear.shape, generator=gen, dtype=torch.float32).to(linear.device)
    return linear + noise * (shot * linear.clamp(min=0.0) + read * read).sqrt()


_LUMA_TABLE = [
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
]
_CHROMA_TABLE = [
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99,
] + [99] * 32


def _dct_matrix(n: int = 8) -> torch.Tensor:
    k = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(n, dtype=torch.float64)[None, :]
    basis = torch.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2.0 / n)
    basis[0] /= math.sqrt(2.0)
    return basis


def quant_table(quality: float, chroma: bool) -> torch.Tensor:
    """The IJG JPEG table for ``quality`` (1..100), (8, 8)."""
    quality = min(max(quality, 1.0), 100.0)
    scale = 5000.0 / quality if quality < 50 else 200.0 - 2.0 * quality
    base = torch.tensor(_CHROMA_TABLE if chroma else _LUMA_TABLE, dtype=torch.float64).view(8, 8)
    return ((base * scale + 50.0) / 100.0).floor().clamp(1.0, 255.0)


def _quantise_blocks(plane: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """DCT-quantise-invert every 8x8 block of (N, 1, H, W) values in 0..255."""
    n, _, h, w = plane.shape
    ph, pw = (-h) % 8, (-w) % 8
    x = F.pad(plane, (0, pw, 0, ph), mode="replicate") - 128.0
    hb, wb = (h + ph) // 8, (w + pw) // 8
    blocks = x.view(n, hb, 8, wb, 8).permute(0, 1, 3, 2, 4)
    dct = _dct_matrix().to(plane)
    table = table.to(plane)
    coeffs = dct @ blocks @ dct.T
    coeffs = torch.round(coeffs / table) * table
    blocks = dct.T @ coeffs @ dct
    x = blocks.permute(0, 1, 3, 2, 4).reshape(n, 1, hb * 8, wb * 8) + 128.0
    return x[..., :h, :w]


def jpeg_like(srgb: torch.Tensor, quality: float) -> torch.Tensor:
    """A JPEG round trip without a codec: YCbCr, 4:2:0 chroma, 8x8 DCT quantisation. (N, 3, H, W) in [0, 1]."""
    x = srgb.clamp(0.0, 1.0) * 255.0
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = 128.0 - 0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 128.0 + 0.5 * r - 0.418688 * g - 0.081312 * b
    h, w = x.shape[-2:]
    y = _quantise_blocks(y, quant_table(quality, chroma=False))
    chroma = []
    for plane in (cb, cr):
        small = F.avg_pool2d(F.pad(plane, (0, w % 2, 0, h % 2), mode="replicate"), 2)
        small = _quantise_blocks(small, quant_table(quality, chroma=True))
        chroma.append(F.interpolate(small, scale_factor=2, mode="bilinear", align_corners=False)[..., :h, :w])
    cb, cr = chroma
    r = y + 1.402 * (cr - 128.0)
    g = y - 0.344136 * (cb - 128.0) - 0.714136 * (cr - 128.0)
    b = y + 1.772 * (cb - 128.0)
    return (torch.cat([r, g, b], dim=1) / 255.0).clamp(0.0, 1.0)


# ----------------------------------------------------------------------------- whole clips


@dataclass
class SyntheticSequence:
    """One generated clip: frames in sRGB [0, 1] on 8-bit levels, and how it was made."""

    blurry: torch.Tensor  # (T, 3, H, W)
    sharp: torch.Tensor  # (T, 3, H, W)
    info: dict[str, Any] = field(default_factory=dict)


def _uniform(gen: torch.Generator, lo: float, hi: float) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=gen, dtype=torch.float64))


def _log_uniform(gen: torch.Generator, lo: float, hi: float) -> float:
    return math.exp(_uniform(gen, math.log(lo), math.log(hi)))


def _chance(gen: torch.Generator, p: float) -> bool:
    return float(torch.rand((), generator=gen, dtype=torch.float64)) < p


def _make_sprites(images: Sequence[torch.Tensor], profile: BlurProfile, out_hw: tuple[int, int],
                  gen: torch.Generator, gain: float) -> list[Sprite]:
    if not images or not _chance(gen, profile.object_prob):
        return []
    count = int(torch.randint(1, profile.max_objects + 1, (1,), generator=gen))
    sprites = []
    for _ in range(count):
        image = images[int(torch.randint(0, len(images), (1,), generator=gen))]
        side = min(out_hw) * _uniform(gen, *profile.object_size)
        aspect = _log_uniform(gen, 0.6, 1.6)
        hw = (max(4, round(side / math.sqrt(aspect))), max(4, round(side * math.sqrt(aspect))))
        rgb = crop_canvas(image, hw, _log_uniform(gen, *profile.scale), gen) * gain
        alpha = sprite_alpha(hw, gen, rgb.device)
        sprites.append(Sprite(torch.cat([rgb * alpha, alpha]), sample_object_path(gen, out_hw, profile.object_speed)))
    return sprites


def _subframe_count(camera: Trajectory, sprites: Sequence[Sprite], frame_times: Sequence[float],
                    exposure: float, out_hw: tuple[int, int], profile: BlurProfile) -> tuple[int, list[float]]:
    """Enough sub-frames that nothing travels more than ``subframe_step`` px between two; odd."""
    blur = []
    for t in frame_times:
        probe = subframe_times(t, exposure, 17)
        length = path_length(camera.pose(probe), corner_points(out_hw))
        for sprite in sprites:
            length = torch.maximum(length, path_length(sprite.path.pose(probe), sprite.corners()))
        blur.append(float(length))
    count = math.ceil(max(blur) / profile.subframe_step) + 1
    count = min(max(count, 1), profile.max_subframes)
    return count + (count % 2 == 0), blur


def _canvas_size(camera: Trajectory, frame_times: Sequence[float], exposure: float, subframes: int,
                 out_hw: tuple[int, int]) -> tuple[int, int]:
    """Big enough that every sub-frame's view (plus the bicubic support) stays on the canvas, at most 4x."""
    times = torch.cat([subframe_times(t, exposure, subframes) for t in frame_times])
    reach = point_paths(camera.pose(times), corner_points(out_hw)).abs().amax(dim=(0, 1))  # (x, y)
    h, w = out_hw
    wc = min(math.ceil(2 * float(reach[0]) + 6), 4 * w)
    hc = min(math.ceil(2 * float(reach[1]) + 6), 4 * h)
    return max(hc, h), max(wc, w)


def render_sequence(scene: torch.Tensor, object_images: Sequence[torch.Tensor], profile: BlurProfile,
                    seq_len: int, out_hw: tuple[int, int], gen: torch.Generator) -> SyntheticSequence:
    """Synthesize one clip from a uint8 (3, H, W) photo; ``gen`` (a CPU generator) decides everything.

    The result lives on ``scene``'s device.
    """
    sharp_clip = _chance(gen, profile.sharp_prob)
    exposure = _uniform(gen, *(profile.sharp_exposure if sharp_clip else profile.exposure))
    camera = sample_trajectory(gen, profile.motion)
    gain = _uniform(gen, *profile.gain)
    flip = profile.flips and _chance(gen, 0.5)
    scale = _log_uniform(gen, *profile.scale)
    sprites = _make_sprites(object_images, profile, out_hw, gen, gain)

    frame_times = [i - (seq_len - 1) / 2 for i in range(seq_len)]
    subframes, blur = _subframe_count(camera, sprites, frame_times, exposure, out_hw, profile)
    canvas_hw = _canvas_size(camera, frame_times, exposure, subframes, out_hw)
    canvas = crop_canvas(scene, canvas_hw, scale, gen, flip=flip, tries=profile.crop_tries) * gain

    noisy = _chance(gen, profile.noise_prob)
    shot = _log_uniform(gen, *profile.shot_noise) if noisy else 0.0
    read = _log_uniform(gen, *profile.read_noise) if noisy else 0.0
    quality = _uniform(gen, *profile.jpeg_quality) if _chance(gen, profile.jpeg_prob) else None

    blurry, sharp = [], []
    for t in frame_times:
        mean, mid = expose(canvas, camera, sprites, t, exposure, subframes, out_hw)
        blurry.append(mean.clamp(0.0, 1.0))
        sharp.append(mid.clamp(0.0, 1.0))
    blurry_lin, sharp_lin = torch.stack(blurry), torch.stack(sharp)
    if noisy:
        blurry_lin = add_sensor_noise(blurry_lin, shot, read, gen)
    blurry_srgb = linear_to_srgb(blurry_lin)
    if quality is not None:
        blurry_srgb = jpeg_like(blurry_srgb, quality)
    info = {
        "exposure": exposure,
        "nearly_sharp": sharp_clip,
        "subframes": subframes,
        "blur_px": blur,
        "objects": len(sprites),
        "scale": scale,
        "gain": gain,
        "shot_noise": shot,
        "read_noise": read,
        "jpeg_quality": quality,
    }
    return SyntheticSequence(quantise_8bit(blurry_srgb), quantise_8bit(linear_to_srgb(sharp_lin)), info)
