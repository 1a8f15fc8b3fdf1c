"""Whole clips: plans -> linear light (:mod:`.raster`) -> noise, sRGB, compression, 8 bits (:mod:`.sensor`).

A blurry frame is what the sensor integrates while the shutter is open: the
mean of many sharp sub-frames along the camera (and object) motion, in linear
light. The ground truth is the sub-frame at the middle of the exposure. Sensor
noise (shot + read) is added in linear light, then the frame is sRGB-encoded,
JPEG-like compressed and rounded to 8 bits like a decoded video frame; the
ground truth is only encoded and rounded.

Everything runs batched on the atlas's device (plain torch: the GPU in
training) and never waits for it. Randomness: the plan (CPU generator per
clip) and one device generator per clip seeded from the plan, so a clip is a
pure function of its seed on a given device.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import torch

from .atlas import PhotoAtlas
from .plan import ClipPlan
from .raster import render_linear
from .sensor import add_sensor_noise, jpeg_like, linear_to_srgb, quantise_8bit


@dataclass
class SyntheticSequence:
    """One generated clip: frames in sRGB [0, 1] on 8-bit levels, and how it was made."""

    blurry: torch.Tensor  # (T, 3, H, W)
    sharp: torch.Tensor  # (T, 3, H, W)
    info: dict[str, Any] = field(default_factory=dict)


def render_clips(plans: Sequence[ClipPlan], atlas: PhotoAtlas,
                 out_hw: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """(blurry, sharp), each (B, T, 3, H, W) sRGB on 8-bit levels, on the atlas's device."""
    blurry, sharp = render_linear(plans, atlas, out_hw)
    for c, plan in enumerate(plans):
        if plan.shot > 0 or plan.read > 0:
            gen = torch.Generator(device=atlas.device).manual_seed(plan.noise_seed)
            blurry[c] = add_sensor_noise(blurry[c], plan.shot, plan.read, gen)
    blurry = linear_to_srgb(blurry)
    coded = [c for c, plan in enumerate(plans) if plan.quality is not None]
    if coded:
        seq_len = blurry.shape[1]
        index = torch.tensor(coded).to(atlas.device, non_blocking=True)
        frames = blurry.index_select(0, index).flatten(0, 1)
        qualities = [plans[c].quality for c in coded for _ in range(seq_len)]
        blurry = blurry.index_copy(0, index, jpeg_like(frames, qualities).view(len(coded), seq_len, *frames.shape[1:]))
    return quantise_8bit(blurry), quantise_8bit(linear_to_srgb(sharp))
