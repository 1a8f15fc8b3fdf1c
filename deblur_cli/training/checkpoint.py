"""A run's checkpoint: everything needed to continue exactly where it stopped, written all-or-nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..errors import InputError
from ..io.atomic import atomic_output

CHECKPOINT = "checkpoint.pt"


def save_atomic(obj: Any, path: Path) -> None:
    """torch.save all-or-nothing: a crash never leaves a torn checkpoint."""
    with atomic_output(path) as temp:
        torch.save(obj, temp)


def rng_state(device: torch.device) -> dict[str, Any]:
    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None}


def restore_rng(saved: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(saved["torch"])
    if device.type == "cuda" and saved.get("cuda") is not None:
        torch.cuda.set_rng_state(saved["cuda"], device)


def load_checkpoint(run_dir: Path) -> dict[str, Any]:
    path = run_dir / CHECKPOINT
    if not path.is_file():
        raise InputError(f"nothing to resume: no {CHECKPOINT} in {run_dir}")
    return torch.load(path, map_location="cpu", weights_only=True)
