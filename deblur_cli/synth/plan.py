"""Everything random about one clip, decided on the CPU from its own generator, before any pixel exists.

A :class:`ClipPlan` says which photo is filmed from where and how far away,
how the camera (and up to a few objects) move, how long the shutter is open,
how densely the exposure is sampled, whether the sensor reads out row by row,
and what noise and compression follow. The renderer turns a batch of plans
into pixels on the training device; because a plan depends only on the
clip's generator, a clip is the same whichever batch it is rendered in.

Geometry: an output pixel ``u`` (centred coordinates, x right, y down) sees the
scene point ``p = camera_pose(t) u``; the scene point ``p`` is level-0 photo
pixel ``centre + scale * (flip * p.x, p.y)``. The plan checks that every point
the exposure sweeps stays inside the photo (shrinking the zoom if it must).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch

from .atlas import PhotoAtlas, texture_score
from .camera import (
    Trajectory,
    corner_points,
    point_paths,
    sample_object_path,
    sample_trajectory,
)
from .profiles import BlurProfile

PROBES = 17  # instants per exposure used to measure blur lengths
MAX_RESCALE = 50.0  # blur_px never speeds a clip's motion up by more than this


@dataclass
class View:
    """Where a camera or an object's texture comes from: photo, level-0 centre, zoom (level-0 px per px), flip."""

    photo: int
    centre: tuple[float, float]  # (x, y) in level-0 photo pixels
    scale: float
    flip: bool = False


@dataclass
class SpritePlan:
    """An independently moving object: a soft-edged blob textured from another photo."""

    view: View
    hw: tuple[int, int]  # (h, w) in output pixels
    power: float  # superellipse exponent: 2 = ellipse, 4 = rounded box
    edge_px: float  # width of the soft edge
    path: Trajectory  # sprite-centre pose in output pixels (centred coordinates)


@dataclass
class ClipPlan:
    view: View
    camera: Trajectory
    frame_times: list[float]
    exposure: float
    subframes: int  # odd; the middle one is the ground truth
    readout: float  # rolling shutter: seconds (in frames) from the top row to the bottom row; 0 = global
    gain: float
    shot: float
    read: float
    quality: float | None  # JPEG-like quality, or None for no compression
    noise_seed: int
    sprites: list[SpritePlan] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    def subframe_times(self, frame: int) -> torch.Tensor:
        return subframe_times(self.frame_times[frame], self.exposure, self.subframes)


def subframe_times(frame_time: float, exposure: float, count: int) -> torch.Tensor:
    """``count`` instants evenly spread over the exposure centred on ``frame_time`` (count odd)."""
    if count == 1:
        return torch.tensor([frame_time], dtype=torch.float64)
    return frame_time + exposure * (torch.linspace(0.0, 1.0, count, dtype=torch.float64) - 0.5)


def _uniform(gen: torch.Generator, lo: float, hi: float) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=gen, dtype=torch.float64))


def _log_uniform(gen: torch.Generator, lo: float, hi: float) -> float:
    return math.exp(_uniform(gen, math.log(lo), math.log(hi)))


def _chance(gen: torch.Generator, p: float) -> bool:
    return float(torch.rand((), generator=gen, dtype=torch.float64)) < p


def _pick(gen: torch.Generator, n: int) -> int:
    return int(torch.randint(0, n, (1,), generator=gen))


def _blur_lengths(path: Trajectory, points: torch.Tensor, frame_times: Sequence[float], exposure: float) -> list[float]:
    """Longest distance any of ``points`` travels during each frame's exposure, px (all frames in one go)."""
    times = torch.cat([subframe_times(t, exposure, PROBES) for t in frame_times])
    paths = point_paths(path.pose(times), points).view(len(frame_times), PROBES, -1, 2)
    return (paths[:, 1:] - paths[:, :-1]).norm(dim=-1).sum(dim=1).amax(dim=1).tolist()


def _reach(camera: Trajectory, frame_times: Sequence[float], exposure: float, readout: float,
           out_hw: tuple[int, int]) -> tuple[float, float]:
    """Largest |x| and |y| of a scene point any output corner sees during the clip (rolling rows included)."""
    span = exposure + readout
    times = torch.cat([subframe_times(t, span, PROBES) for t in frame_times])
    reach = point_paths(camera.pose(times), corner_points(out_hw)).abs().amax(dim=(0, 1))
    return float(reach[0]), float(reach[1])


def _place(gen: torch.Generator, atlas: PhotoAtlas, photo: int, scale: float, reach: tuple[float, float],
           view_half: tuple[float, float], tries: int, flip: bool) -> View:
    """A view of ``photo`` whose swept region (``reach`` output px each side) fits: zoom shrunk if needed.

    With ``tries`` > 1 the most textured of that many random centres is kept:
    wallpapers have large flat skies that teach a deblurring network nothing.
    """
    h, w = atlas.sizes[photo]
    margin = 2.0
    fit = min((w - 1 - 2 * margin) / (2 * reach[0] + 1e-9), (h - 1 - 2 * margin) / (2 * reach[1] + 1e-9))
    scale = max(min(scale, fit), 1e-3)
    lo_x, hi_x = margin + scale * reach[0], w - 1 - margin - scale * reach[0]
    lo_y, hi_y = margin + scale * reach[1], h - 1 - margin - scale * reach[1]
    best, best_score = ((lo_x + hi_x) / 2, (lo_y + hi_y) / 2), -1.0
    for _ in range(max(1, tries)):
        cx = _uniform(gen, lo_x, max(lo_x, hi_x))
        cy = _uniform(gen, lo_y, max(lo_y, hi_y))
        score = texture_score(atlas.textures[photo], (h, w), cx, cy, scale * view_half[0], scale * view_half[1]) \
            if tries > 1 else 0.0
        if score > best_score:
            best, best_score = (cx, cy), score
    return View(photo, best, scale, flip)


def _plan_sprites(gen: torch.Generator, atlas: PhotoAtlas, others: Sequence[int], profile: BlurProfile,
                  out_hw: tuple[int, int]) -> list[SpritePlan]:
    if not others or not _chance(gen, profile.object_prob):
        return []
    sprites = []
    for _ in range(_pick(gen, profile.max_objects) + 1):
        photo = others[_pick(gen, len(others))]
        side = min(out_hw) * _uniform(gen, *profile.object_size)
        aspect = _log_uniform(gen, 0.6, 1.6)
        hw = (max(4, round(side / math.sqrt(aspect))), max(4, round(side * math.sqrt(aspect))))
        half = ((hw[1] - 1) / 2, (hw[0] - 1) / 2)
        view = _place(gen, atlas, photo, _log_uniform(gen, *profile.scale), half, half, 1, False)
        power = 4.0 if _chance(gen, 0.5) else 2.0
        edge = _uniform(gen, 1.0, 3.0)
        sprites.append(SpritePlan(view, hw, power, edge, sample_object_path(gen, out_hw, profile.object_speed)))
    return sprites


def plan_clip(gen: torch.Generator, atlas: PhotoAtlas, profile: BlurProfile, seq_len: int,
              out_hw: tuple[int, int], photo: int | None = None) -> ClipPlan:
    """Draw one clip's plan; ``gen`` (a CPU generator) decides everything."""
    if photo is None:
        photo = _pick(gen, len(atlas))
    others = [i for i in range(len(atlas)) if i != photo] or [photo]
    sharp_clip = _chance(gen, profile.sharp_prob)
    clean = sharp_clip and _chance(gen, profile.clean_sharp_prob)
    exposure = _uniform(gen, *(profile.sharp_exposure if sharp_clip else profile.exposure))
    camera = sample_trajectory(gen, profile.motion)
    linear = _chance(gen, profile.linear_prob)
    if linear:
        camera = camera.linear()
        if float(camera.drift[:2].norm()) < 0.5:  # a straight path needs a direction
            angle = _uniform(gen, 0.0, 2 * math.pi)
            camera.drift[0], camera.drift[1] = math.cos(angle), math.sin(angle)
    frame_times = [i - (seq_len - 1) / 2 for i in range(seq_len)]
    corners = corner_points(out_hw)
    if profile.blur_px is not None and not sharp_clip:
        target = _log_uniform(gen, *profile.blur_px)
        longest = max(_blur_lengths(camera, corners, frame_times, exposure))
        if longest > 1e-6:
            camera = camera.scaled(min(target / longest, MAX_RESCALE))
    readout = _uniform(gen, *profile.readout) if _chance(gen, profile.rolling_prob) else 0.0
    gain = _uniform(gen, *profile.gain)
    flip = profile.flips and _chance(gen, 0.5)
    scale = _log_uniform(gen, *profile.scale)
    reach = _reach(camera, frame_times, exposure, readout, out_hw)
    view_half = ((out_hw[1] - 1) / 2, (out_hw[0] - 1) / 2)
    view = _place(gen, atlas, photo, scale, reach, view_half, profile.crop_tries, flip)
    sprites = _plan_sprites(gen, atlas, others, profile, out_hw)

    blur = _blur_lengths(camera, corners, frame_times, exposure)
    for sprite in sprites:
        sprite_blur = _blur_lengths(sprite.path, corner_points(sprite.hw), frame_times, exposure)
        blur = [max(a, b) for a, b in zip(blur, sprite_blur)]
    step = _log_uniform(gen, *profile.subframe_step)
    count = min(max(math.ceil(max(blur) / step) + 1, 1), profile.max_subframes)
    count += count % 2 == 0

    noisy = not clean and _chance(gen, profile.noise_prob)
    shot = _log_uniform(gen, *profile.shot_noise) if noisy else 0.0
    read = _log_uniform(gen, *profile.read_noise) if noisy else 0.0
    quality = _uniform(gen, *profile.jpeg_quality) if not clean and _chance(gen, profile.jpeg_prob) else None
    noise_seed = int(torch.randint(0, 2**62, (1,), generator=gen))
    info = {
        "image": photo, "exposure": exposure, "nearly_sharp": sharp_clip, "clean": clean, "linear": linear,
        "subframes": count, "blur_px": blur, "rolling_readout": readout, "objects": len(sprites),
        "scale": view.scale, "gain": gain, "shot_noise": shot, "read_noise": read, "jpeg_quality": quality,
    }
    return ClipPlan(view, camera, frame_times, exposure, count, readout, gain, shot, read, quality, noise_seed,
                    sprites, info)
