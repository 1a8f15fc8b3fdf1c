"""How much sharper does a set of weights make known blurry clips? PSNR/SSIM against ground truth.

Frames go through the same :class:`~deblur_cli.engine.RecurrentEngine` the
product uses (so the weights' channel order, padding and clamping are
honoured), one clip at a time with the recurrence reset in between. Every
restored frame is rounded to the input's bit depth, as a saved video frame
would be, before it is scored. Each frame's PSNR counts at most
``PSNR_CEILING`` (60 dB), so nearly lossless inputs cannot swamp a mean. The
blurry input's own figures are reported beside the restored ones: the gain is
what matters.

Sources: a DVD-layout folder (``<seq>/input`` + ``<seq>/GT``), the GoPro layout
(``<seq>/blur`` + ``<seq>/sharp``), or synthetic clips from the validation
split of a photo folder (the same clips the trainer validates on).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
import torch

from ..errors import InputError
from ..io import images
from ..io.images import FRAME_SUFFIXES, is_frame_name, natural_key
from .metrics import PSNR_CEILING, mean_or_nan, psnr, ssim

LAYOUTS = (("input", "GT"), ("blur", "sharp"))  # DVD, GoPro
VALIDATION_SEED = 20190  # fixed so every run and every `eval` sees the same synthetic clips

FramePair = tuple[torch.Tensor, torch.Tensor]  # blurry, sharp: (3, H, W) float in [0, 1]


@dataclass(frozen=True)
class SequenceScore:
    """Mean figures over one clip's frames, restored and (``input_*``) as given."""

    name: str
    frames: int
    psnr: float
    ssim: float
    input_psnr: float
    input_ssim: float

    @property
    def gain_db(self) -> float:
        return self.psnr - self.input_psnr


@dataclass
class EvalReport:
    sequences: list[SequenceScore]

    def overall(self) -> dict[str, float]:
        """Frame-weighted means over all clips (every frame counts once, as in the DVD protocol)."""
        total = sum(s.frames for s in self.sequences)

        def avg(key: str) -> float:
            return sum(getattr(s, key) * s.frames for s in self.sequences) / total if total else float("nan")

        figures = {key: avg(key) for key in ("psnr", "ssim", "input_psnr", "input_ssim")}
        figures["gain_db"] = figures["psnr"] - figures["input_psnr"]
        figures["frames"] = total
        figures["sequences"] = len(self.sequences)
        return figures

    def to_dict(self) -> dict:
        return {
            "overall": self.overall(),
            "sequences": [{**asdict(s), "gain_db": s.gain_db} for s in self.sequences],
        }

    def format_table(self) -> str:
        rows = [f"{'sequence':<24} {'frames':>6} {'PSNR':>7} {'input':>7} {'gain':>6} {'SSIM':>6} {'input':>6}"]
        for s in self.sequences:
            rows.append(f"{s.name[:24]:<24} {s.frames:>6} {s.psnr:7.2f} {s.input_psnr:7.2f} {s.gain_db:+6.2f} "
                        f"{s.ssim:6.4f} {s.input_ssim:6.4f}")
        o = self.overall()
        rows.append(f"{'overall':<24} {o['frames']:>6} {o['psnr']:7.2f} {o['input_psnr']:7.2f} {o['gain_db']:+6.2f} "
                    f"{o['ssim']:6.4f} {o['input_ssim']:6.4f}")
        return "\n".join(rows)


def score_clip(engine, name: str, pairs: Iterable[FramePair], *, levels: float = 255.0) -> SequenceScore:
    """Run the engine over one clip from its first frame and score each restored frame."""
    engine.reset()
    scores: dict[str, list[float]] = {"psnr": [], "ssim": [], "input_psnr": [], "input_ssim": []}
    for blurry, sharp in pairs:
        restored = engine.step(blurry).float()
        restored = (restored * levels).round() / levels
        blurry = blurry.to(restored.device, torch.float32)
        sharp = sharp.to(restored.device, torch.float32)
        both = torch.stack([restored, blurry])
        truth = sharp.expand_as(both)
        p, s = psnr(both, truth).clamp(max=PSNR_CEILING).tolist(), ssim(both, truth).tolist()
        scores["psnr"].append(p[0])
        scores["input_psnr"].append(p[1])
        scores["ssim"].append(s[0])
        scores["input_ssim"].append(s[1])
    if not scores["psnr"]:
        raise InputError(f"sequence {name} has no frames")
    return SequenceScore(name, len(scores["psnr"]), **{key: mean_or_nan(v) for key, v in scores.items()})


def evaluate_clips(engine, clips: Iterable[tuple[str, torch.Tensor, torch.Tensor]],
                   on_sequence: Callable[[SequenceScore], None] | None = None) -> EvalReport:
    """Score in-memory clips: (name, blurry (T, 3, H, W), sharp (T, 3, H, W))."""
    results = []
    for name, blurry, sharp in clips:
        results.append(score_clip(engine, name, zip(blurry, sharp)))
        if on_sequence:
            on_sequence(results[-1])
    return EvalReport(results)


# ----------------------------------------------------------------------------- folders on disk


@dataclass(frozen=True)
class FolderSequence:
    name: str
    inputs: list[Path]
    truths: list[Path]


def _frames_in(folder: Path) -> dict[str, Path]:
    return {p.stem: p for p in folder.iterdir() if p.is_file() and is_frame_name(p)}


def _sequence_at(folder: Path, name: str) -> FolderSequence | None:
    for blur_dir, sharp_dir in LAYOUTS:
        if (folder / blur_dir).is_dir() and (folder / sharp_dir).is_dir():
            inputs, truths = _frames_in(folder / blur_dir), _frames_in(folder / sharp_dir)
            missing = sorted(set(inputs) - set(truths))
            if missing:
                raise InputError(f"{folder / blur_dir / missing[0]}: "
                                 f"no ground-truth frame of that name in {sharp_dir}/")
            keys = sorted(inputs, key=lambda k: natural_key(inputs[k]))
            if not keys:
                raise InputError(f"{folder / blur_dir}: no frames ({', '.join(FRAME_SUFFIXES)})")
            return FolderSequence(name, [inputs[k] for k in keys], [truths[k] for k in keys])
    return None


def find_sequences(root: str | Path) -> list[FolderSequence]:
    """Clips under ``root``: ``root/<seq>/{input,GT}`` (or ``{blur,sharp}``), or ``root`` itself as one clip."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"dataset folder not found: {root}")
    single = _sequence_at(root, root.name)
    if single:
        return [single]
    found = [seq for sub in sorted(p for p in root.iterdir() if p.is_dir()) if (seq := _sequence_at(sub, sub.name))]
    if not found:
        raise InputError(f"{root}: no sequences found (expected <seq>/input + <seq>/GT, or <seq>/blur + <seq>/sharp)")
    return found


def read_frame(path: Path) -> tuple[torch.Tensor, float]:
    """An image file as (3, H, W) float RGB in [0, 1], and its number of levels (255 or 65535)."""
    array = images.read_frame(path)
    levels = float(np.iinfo(array.dtype).max)
    return torch.from_numpy(array.astype(np.float32) / levels).permute(2, 0, 1), levels


def _folder_pairs(seq: FolderSequence, max_frames: int | None) -> Iterator[FramePair]:
    for blurry_path, sharp_path in list(zip(seq.inputs, seq.truths))[:max_frames]:
        blurry, _ = read_frame(blurry_path)
        sharp, _ = read_frame(sharp_path)
        if blurry.shape != sharp.shape:
            raise InputError(f"{blurry_path}: size {tuple(blurry.shape[1:])} differs from its ground truth "
                             f"{tuple(sharp.shape[1:])}")
        yield blurry, sharp


def evaluate_folder(engine, root: str | Path, *, max_frames: int | None = None,
                    on_sequence: Callable[[SequenceScore], None] | None = None) -> EvalReport:
    """Score every clip of a DVD/GoPro-layout folder, streaming frames from disk."""
    results = []
    for seq in find_sequences(root):
        _, levels = read_frame(seq.inputs[0])  # restored frames are rounded to the input's bit depth
        results.append(score_clip(engine, seq.name, _folder_pairs(seq, max_frames), levels=levels))
        if on_sequence:
            on_sequence(results[-1])
    return EvalReport(results)


# ----------------------------------------------------------------------------- synthetic validation clips


def synthetic_clips(images: Sequence[torch.Tensor], profile: str, *, count: int, seq_len: int,
                    size: tuple[int, int], seed: int = VALIDATION_SEED) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """``count`` reproducible clips of one blur profile, named ``<profile>_<i>``."""
    from ..synth import SequenceGenerator

    generator = SequenceGenerator(images, seq_len, size, seed=seed, profile=profile)
    clips = []
    for i in range(count):
        clip = generator.sequence(i)
        clips.append((f"{profile}_{i:03d}", clip.blurry, clip.sharp))
    return clips


def validation_images(folder: str | Path, device: str | torch.device = "cpu") -> list[torch.Tensor]:
    """The validation split of a photo folder (never trained on), loaded to ``device``."""
    from ..synth import list_images, load_images, split_images

    _, val = split_images(list_images(folder))
    if not val:
        raise InputError(f"{folder}: too few images for a validation split (need at least 2)")
    return load_images(val, device)
