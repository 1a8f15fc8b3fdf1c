"""Plans -> linear-light frames on the atlas's device: every sub-frame of a batch in a few large calls.

Each sub-frame is one ``grid_sample`` of the photo atlas through the camera's
pose at that instant; with a rolling shutter every row has its own instant.
Poses are evaluated on the device from the packed trajectories, so the CPU
sends a few hundred numbers per clip and never waits for the device. Moving
objects are composited per sub-frame with an analytic soft-edged mask. A
blurry frame is the mean of its sub-frames, the ground truth the middle one.

Sub-frames of strongly blurred clips are sampled bilinearly (the average of
many of them hides the interpolation), those of nearly sharp clips and every
ground-truth frame bicubically, so a sharp clip's input and truth match.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F

from .atlas import PhotoAtlas
from .camera import poses_at_packed
from .plan import ClipPlan, View

BICUBIC_MAX_SUBFRAMES = 5  # clips sampled this sparsely (nearly sharp) use bicubic sub-frames
CHUNK_PIXELS = {"cuda": 2**25}  # sub-frame pixels per grid_sample call, by device type
DEFAULT_CHUNK_PIXELS = 2**21


@dataclass
class _Packed:
    """A batch's plans as device tensors (float32) and the CPU facts needed to schedule the work."""

    camera: torch.Tensor  # (B, P) packed trajectories
    view: torch.Tensor  # (B, 6): off_x, off_y, mul_x, mul_y, readout, gain
    sprite_path: torch.Tensor  # (B, J, P)
    sprite_view: torch.Tensor  # (B, J, 8): off_x, off_y, mul_x, mul_y, h, w, power, edge
    sprite_count: list[int]


def _view_map(atlas: PhotoAtlas, view: View) -> list[float]:
    """(off_x, off_y, mul_x, mul_y): atlas pixel = off + mul * scene point (output-pixel units)."""
    level = atlas.level_for(view.scale)
    kx, ky = atlas.level_scale(view.photo, level)
    place = atlas.placements[view.photo][level]
    flip = -1.0 if view.flip else 1.0
    return [place.x + (view.centre[0] + 0.5) * kx - 0.5, place.y + (view.centre[1] + 0.5) * ky - 0.5,
            kx * view.scale * flip, ky * view.scale]


def _pack(plans: Sequence[ClipPlan], atlas: PhotoAtlas) -> _Packed:
    device = atlas.device
    slots = max([len(p.sprites) for p in plans] + [1])
    camera = torch.stack([p.camera.params() for p in plans])
    view = torch.tensor([_view_map(atlas, p.view) + [p.readout, p.gain] for p in plans], dtype=torch.float64)
    sprite_path = torch.zeros((len(plans), slots, camera.shape[1]), dtype=torch.float64)
    sprite_view = torch.ones((len(plans), slots, 8), dtype=torch.float64)
    for c, plan in enumerate(plans):
        for j, sprite in enumerate(plan.sprites):
            sprite_path[c, j] = sprite.path.params()
            sprite_view[c, j] = torch.tensor(_view_map(atlas, sprite.view) + [*sprite.hw, sprite.power, sprite.edge_px])
    move = lambda t: t.to(device=device, dtype=torch.float32, non_blocking=True)  # noqa: E731
    return _Packed(move(camera), move(view), move(sprite_path), move(sprite_view), [len(p.sprites) for p in plans])


def _grid(atlas_hw: tuple[int, int], ax: torch.Tensor, bx: torch.Tensor, ay: torch.Tensor, by: torch.Tensor,
          ux: torch.Tensor) -> torch.Tensor:
    """Atlas pixel (ax*ux + bx, ay*ux + by) per (N, H) row -> grid_sample's normalised (N, H, W, 2) grid."""
    ha, wa = atlas_hw
    gx = (2 * ax / wa)[..., None] * ux + ((2 * bx + 1) / wa - 1)[..., None]
    gy = (2 * ay / ha)[..., None] * ux + ((2 * by + 1) / ha - 1)[..., None]
    return torch.stack([gx, gy], dim=-1)


def _sample(atlas: PhotoAtlas, grid: torch.Tensor, mode: str) -> torch.Tensor:
    """(N, H, W, 2) grid -> (N, 3, H, W): all sub-frames in one call, stacked along the atlas sampler's rows."""
    n, h, w, _ = grid.shape
    out = F.grid_sample(atlas.texture, grid.reshape(1, n * h, w, 2).to(atlas.texture.dtype), mode=mode,
                        padding_mode="border", align_corners=False)
    return out.view(3, n, h, w).transpose(0, 1).float()


def _affine_rows(pose: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """(..., 4) poses (tx, ty, angle, log_zoom) -> the rotation-zoom entries and translation."""
    tx, ty, angle, zoom = pose.unbind(-1)
    scale = torch.exp(zoom)
    return tx, ty, torch.cos(angle) * scale, torch.sin(angle) * scale


def _composite_sprite(atlas: PhotoAtlas, frames: torch.Tensor, packed: _Packed, clips: torch.Tensor,
                      row_times: torch.Tensor, slot: int, ux: torch.Tensor, uy: torch.Tensor,
                      mode: str) -> torch.Tensor:
    """Draw sprite ``slot`` of each frame's clip over ``frames`` (M, 3, H, W) at ``row_times`` (M, H)."""
    path = packed.sprite_path[clips, slot]
    sv = packed.sprite_view[clips, slot]
    tx, ty, cos, sin = _affine_rows(poses_at_packed(path[:, None], row_times))
    inv = 1.0 / (cos * cos + sin * sin)  # the inverse of zoom*R(angle) is R(-angle)/zoom
    dy = uy - ty
    lxa, lxb = cos * inv, (-cos * tx + sin * dy) * inv
    lya, lyb = -sin * inv, (sin * tx + cos * dy) * inv
    lx = lxa[..., None] * ux + lxb[..., None]
    ly = lya[..., None] * ux + lyb[..., None]
    h, w, power, edge = (sv[:, i].view(-1, 1, 1) for i in range(4, 8))
    qx, qy = (2 * lx / w).square(), (2 * ly / h).square()
    boxy = power > 3.0  # superellipse exponent 4 (rounded box) or 2 (ellipse): powers by multiplication only
    radius = torch.where(boxy, (qx.square() + qy.square()).sqrt().sqrt(), (qx + qy).sqrt())
    alpha = ((1.0 - radius) * torch.minimum(h, w) / 2 / edge).clamp(0.0, 1.0)[:, None]
    off_x, off_y, mul_x, mul_y = (sv[:, i].view(-1, 1) for i in range(4))
    grid = _grid(atlas.hw, mul_x * lxa, off_x + mul_x * lxb, mul_y * lya, off_y + mul_y * lyb, ux)
    colour = _sample(atlas, grid, mode)
    return torch.lerp(frames, colour, alpha)


def _render(atlas: PhotoAtlas, packed: _Packed, clips_cpu: list[int], times_cpu: list[float],
            out_hw: tuple[int, int], mode: str) -> torch.Tensor:
    """Sub-frames of clips ``clips_cpu`` at ``times_cpu`` -> (N, 3, H, W) linear light (gain applied, unclipped)."""
    device = atlas.device
    h, w = out_hw
    clips = torch.tensor(clips_cpu, dtype=torch.long).to(device, non_blocking=True)
    times = torch.tensor(times_cpu, dtype=torch.float32).to(device, non_blocking=True)
    ys = torch.arange(h, device=device, dtype=torch.float32)
    ux = torch.arange(w, device=device, dtype=torch.float32) - (w - 1) / 2
    uy = ys - (h - 1) / 2
    row_times = times[:, None] + packed.view[clips, 4:5] * ((ys + 0.5) / h - 0.5)
    tx, ty, cos, sin = _affine_rows(poses_at_packed(packed.camera[clips][:, None], row_times))
    off_x, off_y, mul_x, mul_y = (packed.view[clips, i:i + 1] for i in range(4))
    # scene point p = (cos*ux - sin*uy + tx, sin*ux + cos*uy + ty); atlas pixel = off + mul * p
    grid = _grid(atlas.hw, mul_x * cos, off_x + mul_x * (tx - sin * uy),
                 mul_y * sin, off_y + mul_y * (cos * uy + ty), ux)
    frames = _sample(atlas, grid, mode)
    for slot in range(max(packed.sprite_count)):
        chosen = [i for i, c in enumerate(clips_cpu) if packed.sprite_count[c] > slot]
        if not chosen:
            continue
        index = torch.tensor(chosen, dtype=torch.long).to(device, non_blocking=True)
        drawn = _composite_sprite(atlas, frames[index], packed, clips[index], row_times[index], slot, ux, uy, mode)
        frames.index_copy_(0, index, drawn)
    return frames * packed.view[clips, 5].view(-1, 1, 1, 1)  # the clip's exposure gain


def _chunks(groups: list[tuple[int, int, list[float]]], per_chunk: int):
    """Runs of whole (clip, frame, times) groups holding at most ``per_chunk`` sub-frames (one group at least)."""
    run: list[tuple[int, int, list[float]]] = []
    size = 0
    for group in groups:
        if run and size + len(group[2]) > per_chunk:
            yield run
            run, size = [], 0
        run.append(group)
        size += len(group[2])
    if run:
        yield run


def render_linear(plans: Sequence[ClipPlan], atlas: PhotoAtlas,
                  out_hw: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """(blurry, sharp) linear-light frames (B, T, 3, H, W) in [0, 1] for a batch of plans."""
    packed = _pack(plans, atlas)
    h, w = out_hw
    seq_len = len(plans[0].frame_times)
    blurry = torch.empty((len(plans), seq_len, 3, h, w), device=atlas.device)
    sharp = torch.empty_like(blurry)
    per_chunk = max(1, CHUNK_PIXELS.get(atlas.device.type, DEFAULT_CHUNK_PIXELS) // (h * w))
    flat_blurry, flat_sharp = blurry.view(-1, 3, h, w), sharp.view(-1, 3, h, w)
    for mode, chosen in (("bicubic", lambda p: p.subframes <= BICUBIC_MAX_SUBFRAMES),
                         ("bilinear", lambda p: p.subframes > BICUBIC_MAX_SUBFRAMES)):
        groups = [(c, t, plan.subframe_times(t).tolist()) for c, plan in enumerate(plans) if chosen(plan)
                  for t in range(seq_len)]
        for run in _chunks(groups, per_chunk):
            frames = _render(atlas, packed, [c for c, _, times in run for _ in times],
                             [x for _, _, times in run for x in times], out_hw, mode)
            means, start = [], 0
            for c in dict.fromkeys(c for c, _, _ in run):  # a clip's frames are consecutive, each K sub-frames
                frames_of_clip = [times for cc, _, times in run if cc == c]
                k = len(frames_of_clip[0])
                block = frames[start:start + k * len(frames_of_clip)]
                means.append(block.view(len(frames_of_clip), k, 3, h, w).mean(dim=1))
                start += block.shape[0]
            index = torch.tensor([c * seq_len + t for c, t, _ in run]).to(atlas.device, non_blocking=True)
            flat_blurry.index_copy_(0, index, torch.cat(means).clamp_(0.0, 1.0))
    mids = [(c, t, [plan.frame_times[t]]) for c, plan in enumerate(plans) for t in range(seq_len)]
    for run in _chunks(mids, per_chunk):
        frames = _render(atlas, packed, [c for c, _, _ in run], [times[0] for _, _, times in run], out_hw, "bicubic")
        index = torch.tensor([c * seq_len + t for c, t, _ in run]).to(atlas.device, non_blocking=True)
        flat_sharp.index_copy_(0, index, frames.clamp_(0.0, 1.0))
    return blurry, sharp
