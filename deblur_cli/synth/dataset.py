"""Sharp photos in, endless reproducible blurry/sharp clips out (and DVD-layout folders on disk).

The train/validation split is decided per file by a hash of its *name*, so it
does not depend on which other files are present or on their order: a
validation photo is never trained on, on any machine. Clip ``i`` of a
:class:`SequenceGenerator` depends only on (seed, i), which makes training
resumable and validation sets identical from run to run.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..errors import InputError, OutputError
from ..io.atomic import atomic_output
from ..io.images import FRAME_SUFFIXES, encode_png, is_frame_name
from .atlas import PhotoAtlas
from .plan import ClipPlan, plan_clip
from .profiles import BlurProfile, get_profile
from .render import SyntheticSequence, render_clips

DEFAULT_VAL_FRACTION = 0.2
# Photos are shrunk to this long side before clips are cut from them, for training and
# validation alike: a 320x192 view then shows a third to two thirds of the photo, the
# framing of a video, instead of a flat patch of a 5K wallpaper.
SYNTH_MAX_SIDE = 960


def list_images(folder: str | Path) -> list[Path]:
    """The photos directly inside ``folder``, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"image folder not found: {folder}")
    paths = sorted(p for p in folder.iterdir() if p.is_file() and is_frame_name(p))
    if not paths:
        raise InputError(f"no images ({', '.join(FRAME_SUFFIXES)}) in {folder}")
    return paths


def name_fraction(name: str) -> float:
    """A stable pseudo-random number in [0, 1) from a file name."""
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big") / 2.0**64


def split_images(paths: Sequence[Path], val_fraction: float = DEFAULT_VAL_FRACTION) -> tuple[list[Path], list[Path]]:
    """(train, validation) by name hash; with two or more photos neither side is left empty."""
    ranked = sorted(paths, key=lambda p: name_fraction(p.name))
    val = [p for p in ranked if name_fraction(p.name) < val_fraction]
    if len(ranked) >= 2:
        if not val:
            val = ranked[:1]
        elif len(val) == len(ranked):
            val = ranked[:-1]
    train = [p for p in paths if p not in val]
    return train, sorted(val)


def load_image(path: str | Path, max_side: int | None = None) -> torch.Tensor:
    """A photo as a uint8 (3, H, W) RGB tensor, optionally shrunk so its long side is <= ``max_side``."""
    from ..io.images import read_frame

    array = read_frame(path)
    if array.dtype == np.uint16:
        array = (array.astype(np.uint32) * 255 + 32767) // 65535
    image = torch.from_numpy(array.astype(np.uint8)).permute(2, 0, 1).contiguous()
    if max_side and max(image.shape[1:]) > max_side:
        factor = max_side / max(image.shape[1:])
        size = (max(1, round(image.shape[1] * factor)), max(1, round(image.shape[2] * factor)))
        small = torch.nn.functional.interpolate(image[None].float(), size=size, mode="bilinear", antialias=True)
        image = small[0].round().clamp(0, 255).to(torch.uint8)
    return image


def load_images(paths: Sequence[Path], device: str | torch.device = "cpu",
                max_side: int | None = SYNTH_MAX_SIDE) -> list[torch.Tensor]:
    return [load_image(p, max_side).to(device) for p in paths]


def clip_seed(seed: int, index: int) -> int:
    """Independent, well-mixed generator seeds for every (seed, clip index)."""
    digest = hashlib.sha256(f"stfan-synth:{seed}:{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & ((1 << 63) - 1)


class SequenceGenerator:
    """Clips of ``seq_len`` frames at ``size`` (H, W) from uint8 (3, H, W) photos.

    ``generator.sequence(i)`` is the same clip every time for the same seed (on
    one device); ``generator.batch(start, count)`` renders clips start ..
    start+count-1 together, the fast way. Iterating yields ``(blurry, sharp)``
    pairs of (T, 3, H, W) float tensors in [0, 1] for i = 0, 1, 2, ... Work
    happens on ``device`` (default: the photos' device), where the photos are
    kept as one :class:`~.atlas.PhotoAtlas`.
    """

    def __init__(self, images: Sequence[torch.Tensor], seq_len: int, size: tuple[int, int] = (192, 320),
                 seed: int = 0, device: str | torch.device | None = None,
                 profile: str | BlurProfile = "train") -> None:
        if not images:
            raise InputError("no images to synthesize clips from")
        if seq_len < 1:
            raise InputError(f"sequence length must be at least 1, got {seq_len}")
        if size[0] < 8 or size[1] < 8:
            raise InputError(f"frame size must be at least 8x8, got {size[1]}x{size[0]}")
        self.device = torch.device(device) if device is not None else images[0].device
        self.atlas = PhotoAtlas(images, self.device)
        self.seq_len = seq_len
        self.size = (int(size[0]), int(size[1]))
        self.seed = seed
        self.profile = get_profile(profile)

    def plan(self, index: int) -> ClipPlan:
        """Clip ``index``'s plan: a pure function of (seed, index)."""
        gen = torch.Generator().manual_seed(clip_seed(self.seed, index))
        plan = plan_clip(gen, self.atlas, self.profile, self.seq_len, self.size)
        plan.info["index"] = index
        return plan

    def batch(self, start: int, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Clips ``start .. start+count-1`` stacked: (B, T, 3, H, W) blurry and sharp."""
        return render_clips([self.plan(i) for i in range(start, start + count)], self.atlas, self.size)

    def sequence(self, index: int) -> SyntheticSequence:
        plan = self.plan(index)
        blurry, sharp = render_clips([plan], self.atlas, self.size)
        return SyntheticSequence(blurry[0], sharp[0], plan.info)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Clip ``index`` as (blurry, sharp), each (T, 3, H, W): a map-style dataset for DataLoader workers."""
        clip = self.sequence(index)
        return clip.blurry, clip.sharp

    def __getitems__(self, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """A DataLoader batch rendered as one batch (exactly what :meth:`batch` renders for consecutive indices)."""
        return render_clips([self.plan(i) for i in indices], self.atlas, self.size)


def _to_uint8(frame: torch.Tensor) -> np.ndarray:
    return (frame.clamp(0, 1) * 255.0).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def write_sequences(out_dir: str | Path, generator: SequenceGenerator, count: int, *, start: int = 0,
                    overwrite: bool = False, prefix: str = "seq") -> list[Path]:
    """Write clips in the DVD/GoPro layout: ``<seq>/input/00000.png`` and ``<seq>/GT/00000.png``.

    Each clip is written to a hidden temporary folder and renamed into place, so
    an interrupted run never leaves a half-written sequence behind.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"not a folder: {out_dir}")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for index in range(start, start + count):
        final = out_dir / f"{prefix}_{index:05d}"
        if final.exists() and not overwrite:
            raise OutputError(f"{final} exists (use --overwrite to replace it)")
        clip = generator.sequence(index)
        with atomic_output(final) as temp:
            for sub, frames in (("input", clip.blurry), ("GT", clip.sharp)):
                (temp / sub).mkdir(parents=True)
                for t, frame in enumerate(frames):
                    (temp / sub / f"{t:05d}.png").write_bytes(encode_png(_to_uint8(frame)))
        written.append(final)
    return written
