"""Named recipes for synthetic clips: what training sees and what validation measures.

Training mixes everything (blur from a pixel to ~40 px along straight and
curved paths, exposures sampled by few or many sub-frames, rolling shutter,
nearly sharp and clean clips, moving objects, phone-like noise and
compression) so the network learns both to deblur and to leave sharp frames
alone. The two validation profiles are the quality bar's two halves:
``shake`` (moderate-to-strong camera shake) and ``sharp`` (the same scenes
filmed with a very short exposure, where the network must do no harm).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from ..errors import InputError
from .camera import MotionRange


@dataclass(frozen=True)
class BlurProfile:
    """Ranges every clip draws its own parameters from (uniform unless noted)."""

    motion: MotionRange = field(default_factory=MotionRange)
    exposure: tuple[float, float] = (0.2, 1.0)  # shutter-open fraction of the frame interval
    blur_px: tuple[float, float] | None = None  # if set: the clip's longest blur path, log-uniform (motion rescaled)
    linear_prob: float = 0.0  # chance the camera moves in a straight line at constant speed (no shake)
    sharp_prob: float = 0.15  # chance a clip is shot with a very short exposure instead
    sharp_exposure: tuple[float, float] = (0.002, 0.02)
    clean_sharp_prob: float = 0.0  # chance a nearly sharp clip has no noise and no compression at all
    rolling_prob: float = 0.0  # chance of a rolling shutter (rows exposed one after another)
    readout: tuple[float, float] = (0.2, 0.9)  # rolling shutter: top-to-bottom readout, fraction of a frame
    object_prob: float = 0.3  # chance a clip has independently moving objects
    max_objects: int = 2
    object_speed: tuple[float, float] = (2.0, 16.0)  # px per frame
    object_size: tuple[float, float] = (0.2, 0.5)  # fraction of the shorter frame side
    noise_prob: float = 0.7
    shot_noise: tuple[float, float] = (1e-4, 3e-3)  # variance per unit of linear signal, log-uniform
    read_noise: tuple[float, float] = (3e-4, 6e-3)  # standard deviation in linear light, log-uniform
    jpeg_prob: float = 0.6
    jpeg_quality: tuple[float, float] = (45.0, 95.0)
    scale: tuple[float, float] = (1.0, 3.0)  # source pixels per output pixel, log-uniform (zoomed-out scenes)
    gain: tuple[float, float] = (1.0, 1.0)  # brightness factor in linear light (values > 1 clip highlights)
    flips: bool = False  # random mirror images of the source photo
    crop_tries: int = 3  # keep the most textured of this many random crops of the photo
    max_subframes: int = 63  # sub-frames per exposure at most (more blur -> sparser sampling)
    subframe_step: tuple[float, float] = (0.5, 0.5)  # travel in px between sub-frames, log-uniform per clip

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Blur from about a pixel to 40 px (a third of the clips curved shake, the rest split between
# straight pans and shake), exposures sampled densely (ghost-free) to sparsely (the ghosting of
# datasets averaged from a few high-speed frames), a rolling shutter in a third of the clips,
# a fifth nearly sharp (half of those clean: the network must leave them alone), and noise and
# compression from clean to a dim phone video.
TRAIN = BlurProfile(
    motion=MotionRange(pan_speed=(0.0, 16.0), shake_speed=(0.0, 24.0)),
    blur_px=(1.0, 40.0),
    linear_prob=0.3,
    sharp_prob=0.2,
    clean_sharp_prob=0.5,
    rolling_prob=0.3,
    subframe_step=(0.4, 2.5),
    noise_prob=0.7,
    shot_noise=(1e-4, 6e-3),
    read_noise=(3e-4, 1e-2),
    jpeg_prob=0.7,
    jpeg_quality=(30.0, 95.0),
    gain=(0.6, 1.2),
    flips=True,
)

# Moderate-to-strong camera shake at 320x192: blur paths of 4-15 px in 80% of frames
# (median 8 px, 1% above 20 px). Training's range (median 5 px, up to ~20) covers it.
SHAKE = BlurProfile(
    motion=MotionRange(pan_speed=(3.0, 12.0), shake_speed=(8.0, 20.0)),
    exposure=(0.5, 1.0),
    sharp_prob=0.0,
    noise_prob=0.5,
    jpeg_prob=0.5,
    jpeg_quality=(60.0, 95.0),
    scale=(1.0, 2.0),
)

# The same kind of scenes and motion, but a very short exposure: blur well under a pixel.
SHARP = replace(SHAKE, sharp_prob=1.0)

PROFILES: dict[str, BlurProfile] = {"train": TRAIN, "shake": SHAKE, "sharp": SHARP}


def get_profile(name: str | BlurProfile) -> BlurProfile:
    if isinstance(name, BlurProfile):
        return name
    try:
        return PROFILES[name]
    except KeyError:
        raise InputError(f"unknown blur profile '{name}': choose one of {', '.join(PROFILES)}") from None
