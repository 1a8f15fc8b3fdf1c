"""Where a run's clips come from: the photo split, the training stream and the fixed validation clips.

By default clips are rendered on the training device, a batch at a time, in
the training process (the renderer is plain torch and never waits for the
device, so rendering the next batch overlaps the GPU's work on this one). With
``workers`` they are rendered on the CPU by DataLoader processes, also a batch
at a time; either way clip ``i`` depends only on (seed, i), so the stream, and a
resumed run, see the same clips.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Iterator

import torch

from ..errors import InputError
from ..evaluation.evaluate import VALIDATION_SEED, synthetic_clips
from ..synth import SequenceGenerator, list_images, load_images, split_images
from .config import TrainConfig

VALIDATION_PROFILES = ("shake", "sharp")


@dataclass
class TrainingData:
    train: SequenceGenerator
    train_names: list[str]
    val_names: list[str]
    val_sets: dict[str, list] = field(default_factory=dict)


def load_training_data(cfg: TrainConfig, device: torch.device) -> TrainingData:
    """Split the photos by name, build the clip stream and render the validation clips once."""
    train_paths, val_paths = split_images(list_images(cfg.images))
    if not train_paths:
        raise InputError(f"{cfg.images}: no images left for training after the validation split")
    render_on = torch.device("cpu") if cfg.workers else device
    train = SequenceGenerator(load_images(train_paths, "cpu", cfg.max_side), cfg.seq_len, cfg.size, seed=cfg.seed,
                              device=render_on, profile=cfg.profile)
    data = TrainingData(train, [p.name for p in train_paths], [p.name for p in val_paths])
    if val_paths and cfg.val_clips > 0:
        val_images = load_images(val_paths, device)  # the photo scale of `eval --synthetic`
        for profile in VALIDATION_PROFILES:
            data.val_sets[profile] = synthetic_clips(val_images, profile, count=cfg.val_clips, seq_len=cfg.val_len,
                                                     size=cfg.val_size, seed=VALIDATION_SEED)
    return data


def _one_thread(_worker_id: int) -> None:
    """Rendering workers use one thread each: many processes, not many threads per process."""
    torch.set_num_threads(1)


def _as_batch(batch):
    return batch  # SequenceGenerator.__getitems__ already returns the stacked (blurry, sharp) batch


class ClipStream:
    """(blurry, sharp) batches of clips first, first + batch, ... on ``device``; counts the host's wait for them."""

    def __init__(self, clips: SequenceGenerator, batch: int, first: int, device: torch.device, workers: int = 0):
        self.clips, self.batch, self.next_clip, self.device, self.workers = clips, batch, first, device, workers
        self.wait_seconds = 0.0  # host time spent obtaining batches (planning and queueing them, or waiting)
        self._iter: Iterator | None = None

    def _source(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if not self.workers:
            start = self.next_clip
            while True:
                yield self.clips.batch(start, self.batch)
                start += self.batch
        from torch.utils.data import DataLoader

        starts = range(self.next_clip, 2**62, self.batch)
        loader = DataLoader(self.clips, batch_sampler=(list(range(s, s + self.batch)) for s in starts),
                            num_workers=self.workers, collate_fn=_as_batch, pin_memory=self.device.type == "cuda",
                            worker_init_fn=_one_thread, prefetch_factor=4, persistent_workers=False)
        for blurry, sharp in loader:
            yield blurry.to(self.device, non_blocking=True), sharp.to(self.device, non_blocking=True)

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._iter is None:
            self._iter = self._source()
        start = time.perf_counter()
        batch = next(self._iter)
        self.wait_seconds += time.perf_counter() - start
        self.next_clip += self.batch
        return batch

    def close(self) -> None:
        """End the worker processes (if any)."""
        if self._iter is not None:
            self._iter.close()
            self._iter = None
