"""Switch a built engine onto its fastest settings for its device, without changing its results on the CPU.

On CUDA: the Triton FAC with the fused deblurring filter head, the fused
convolution epilogue and tap-major alignment filters (``fac="auto"``),
channels_last weights (cuDNN's fast layout for these convolutions; the model
turns its input and so every activation into the weights' layout), CUDA graphs
replaying each frame's step (captured once per frame size) and
``cudnn.benchmark`` (picks the fastest algorithm per frame size once; a video
keeps one size). On the CPU (``fac="auto"`` or ``"cpu"``): the tap-by-tap FAC,
tap-major alignment filters, oneDNN's fused convolutions with weights packed
once (:mod:`deblur_cli.ops.conv_cpu`) and channels_last (oneDNN's fast layout:
no reorder of activations around each convolution); ``fac="reference"`` keeps
the reference FAC and NCHW.

Before an engine touches a user's frame, :func:`verify_fast_path` runs a few
small frames through the fast path and through the reference path and compares
them; a fast path that fails or differs (a Triton or driver problem on an
untried GPU, an oneDNN build without the fused operators) is replaced by the
reference path with a one-line warning, so a new kernel can cost speed but
never a wrong or failed video.
"""

from __future__ import annotations

import copy
import math
import sys

import torch

from ..errors import first_line
from ..models.stfan import STFAN
from ..ops.dispatch import select_ops
from ..ops.fac import fac_reference
from .engine import RecurrentEngine

CHECK_SHAPE = (1, 3, 64, 96)  # small, but every layer and both FACs run at their real strides
CHECK_FRAMES = 3  # a first frame and two with recurrent state (the graphs capture both kinds)
CPU_CHECK_SHAPE, CPU_CHECK_FRAMES = (1, 3, 32, 48), 2  # the CPU path pays for its check itself: smaller, no graphs
_CPU_PATHS_VERIFIED: set[tuple] = set()  # CPU paths that passed the check in this process (see verify_fast_path)
# Largest difference from the reference accepted, on outputs in [0, 1]: rounding, not a wrong kernel.
CHECK_TOLERANCE = {torch.float32: 1e-2, torch.float16: 3e-2, torch.bfloat16: 6e-2}


def make_fast(model: STFAN, impl: str = "auto", device: torch.device | str | None = None) -> STFAN:
    """Point ``model``'s FAC, fused deblurring FAC, convolution epilogue and filter order at ``impl``.

    Returns the same module. Only plain attributes change, no parameter or
    buffer, so the state dict keeps its names and ``make_fast(model,
    "reference")`` undoes it. ``device`` defaults to where the model's parameters are.
    """
    if device is None:
        device = next(model.parameters()).device
    for name, value in select_ops(impl, device)._asdict().items():
        setattr(model, "warp_tap_major" if name == "tap_major" else name, value)
    return model


def accelerate(engine: RecurrentEngine, fac: str = "auto", channels_last: bool | None = None,
               graphs: bool | None = None) -> RecurrentEngine:
    """Apply the device's speed settings to ``engine`` in place and return it.

    ``fac``: "reference" | "triton" | "auto"; ``channels_last``: None means
    "on CUDA only"; ``graphs`` (CUDA graphs per frame size, :mod:`.graphs`): None
    means "on CUDA with the Triton path". Weights and their names are untouched.
    """
    on_cuda = engine.device.type == "cuda"
    make_fast(engine.model, fac, engine.device)
    if channels_last if channels_last is not None else on_cuda or engine.model.convs is not None:
        engine.model.to(memory_format=torch.channels_last)
    if graphs if graphs is not None else on_cuda and engine.model.epilogue is not None:
        engine.enable_graphs()
    if on_cuda:
        torch.backends.cudnn.benchmark = True
    verify_fast_path(engine)
    return engine


def fast_path_error(engine: RecurrentEngine) -> str | None:
    """Why ``engine``'s fast path disagrees with the reference FAC on a few small frames, or None when it agrees."""
    reference = make_fast(copy.deepcopy(engine.model), "reference", engine.device)
    plain = RecurrentEngine(reference, channel_order=engine.channel_order, device=engine.device, dtype=engine.dtype)
    cpu_path = engine.model.convs is not None  # the CPU's fast path (oneDNN fused convolutions)
    shape, count = (CPU_CHECK_SHAPE, CPU_CHECK_FRAMES) if cpu_path else (CHECK_SHAPE, CHECK_FRAMES)
    frames = torch.rand(count, *shape, generator=torch.Generator().manual_seed(0))
    worst = 0.0
    try:
        for frame in frames:
            fast, slow = engine.step(frame), plain.step(frame)
            worst = max(worst, float((fast.float() - slow.float()).abs().max()))
    except Exception as exc:  # a kernel that does not compile or launch on this GPU
        return f"{type(exc).__name__}: {first_line(exc)}"
    finally:
        engine.reset()
    tolerance = CHECK_TOLERANCE.get(engine.dtype, 1e-2)
    if not math.isfinite(worst) or worst > tolerance:
        return f"it differs from the reference by {worst:.3g} (tolerance {tolerance:g})"
    return None


def _cpu_path_key(engine: RecurrentEngine) -> tuple | None:
    """What the CPU path's check result depends on (the operators and the dtype, not the weights), or None."""
    model = engine.model
    if engine.device.type != "cpu" or model.convs is None or engine.graphed is not None:
        return None
    return type(model.convs).__call__, model.fac, model.warp_tap_major, engine.dtype


def verify_fast_path(engine: RecurrentEngine) -> bool:
    """Check the fast path once (:func:`fast_path_error`); on a problem fall back to the reference path and say so.

    The CPU path is checked once per process: its operators (oneDNN's, the tap FAC) compute the
    same function whatever the weights, so a second engine (a folder of videos, the tests) skips it.
    """
    if engine.model.fac is fac_reference and engine.model.convs is None and engine.graphed is None:
        return True  # nothing fast to check
    key = _cpu_path_key(engine)
    if key is not None and key in _CPU_PATHS_VERIFIED:
        return True
    problem = fast_path_error(engine)
    if problem is None:
        if key is not None:
            _CPU_PATHS_VERIFIED.add(key)
        return True
    make_fast(engine.model, "reference", engine.device)
    engine.graphed = None
    where = "GPU" if engine.device.type == "cuda" else "CPU"
    print(f"warning: the fast {where} path failed its start-up check ({problem}); using the reference path "
          "(slower, same results); please report this with `stfan-deblur info`", file=sys.stderr, flush=True)
    return False
