"""Shared fixtures: the reference data beside the repository and small weights files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
GOLDEN = SHARED / "reference" / "stfan_golden.npz"
MANIFEST = SHARED / "reference" / "stfan_checkpoint_manifest.json"

torch.set_num_threads(min(2, torch.get_num_threads()))


def pytest_configure(config: pytest.Config) -> None:
    """Decide Triton's mode once, for the whole session and before any test module imports triton.

    Triton reads TRITON_INTERPRET when a kernel is defined, so a module that set it
    on import (and one that cleared it) made results depend on test order. Without a
    GPU every Triton kernel runs in the interpreter; tests that need the variable
    absent remove it with monkeypatch for their own duration.
    """
    if not torch.cuda.is_available():
        os.environ.setdefault("TRITON_INTERPRET", "1")


@pytest.fixture(scope="session")
def golden() -> dict[str, np.ndarray]:
    if not GOLDEN.is_file():
        pytest.skip(f"reference vectors not found at {GOLDEN}")
    with np.load(GOLDEN) as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="session")
def golden_state_dict(golden) -> dict[str, torch.Tensor]:
    """The golden weights as the authors' checkpoint names them (with ``module.``)."""
    return {key[len("param/"):]: torch.from_numpy(value) for key, value in golden.items() if key.startswith("param/")}


@pytest.fixture(scope="session")
def random_weights(tmp_path_factory) -> Path:
    """A seeded random-weights file in this project's format: enough to exercise the whole pipeline."""
    from deblur_cli.models import STFAN
    from deblur_cli.models.weights import save_weights

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "random.safetensors"
    save_weights(STFAN().state_dict(), path, {"name": "random-test", "channel_order": "RGB"}, half=False)
    return path
