"""A fast path that fails or computes something else is caught before a user's first frame, and replaced."""

from __future__ import annotations

import torch

from deblur_cli.inference import accelerate
from deblur_cli.inference.engine import RecurrentEngine
from deblur_cli.models import STFAN
from deblur_cli.ops.fac import fac_reference


def small_engine(monkeypatch) -> RecurrentEngine:
    monkeypatch.setattr(accelerate, "CHECK_SHAPE", (1, 3, 8, 8))  # the interpreter is slow; the logic is the same
    monkeypatch.setattr(accelerate, "CHECK_FRAMES", 2)
    torch.manual_seed(0)
    engine = RecurrentEngine(STFAN())
    accelerate.make_fast(engine.model, "triton", "cpu")  # Triton kernels in the interpreter (tests/conftest.py)
    return engine


def test_a_correct_fast_path_passes_and_is_kept(monkeypatch, capsys):
    engine = small_engine(monkeypatch)
    assert accelerate.fast_path_error(engine) is None
    assert accelerate.verify_fast_path(engine) and engine.model.fac is not fac_reference
    assert engine.state is None and capsys.readouterr().err == ""  # the check leaves no recurrent state behind


def test_a_wrong_or_failing_fast_path_falls_back_with_one_warning(monkeypatch, capsys):
    engine = small_engine(monkeypatch)
    real = engine.model.fac
    engine.model.fac = lambda *args, **kwargs: real(*args, **kwargs) + 0.5  # computes something else
    assert not accelerate.verify_fast_path(engine)
    assert engine.model.fac is fac_reference and engine.model.epilogue is None and engine.graphed is None
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "differs from the reference" in err[0]

    engine = small_engine(monkeypatch)

    def broken(*args, **kwargs):
        raise RuntimeError("PTX .version 9.9 does not support .target sm_999\nmore detail")

    engine.model.epilogue = broken
    assert "RuntimeError: PTX .version 9.9" in accelerate.fast_path_error(engine)
