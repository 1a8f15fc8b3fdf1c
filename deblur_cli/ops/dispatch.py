"""Choose the FAC implementation: which one runs on a device, and its functions.

"reference" is the plain PyTorch FAC (the ground truth, runs anywhere);
"triton" the Triton kernels of :mod:`.fac_triton` with the fused deblurring head,
the fused convolution epilogue (:mod:`.epilogue`) and tap-major alignment filters
(CUDA, or the CPU only under ``TRITON_INTERPRET=1``, which is for tests); "cpu"
the CPU's fast path: the tap-by-tap FAC (:mod:`.fac_cpu`), tap-major alignment
filters and oneDNN's fused convolutions with packed weights (:mod:`.conv_cpu`).
"auto" takes Triton on a CUDA device when Triton imports, "cpu" on the CPU when
PyTorch has oneDNN, else the reference. Triton is imported only when chosen, so
the CPU path never needs it.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Callable, NamedTuple

import torch

from ..errors import DeviceError
from . import FAC_IMPLS
from .conv_cpu import PackedConvs, mkldnn_fusion_available
from .fac import FacOp, FusedFacOp, fac_reference
from .fac_cpu import fac_taps


def triton_available() -> bool:
    return importlib.util.find_spec("triton") is not None


def _interpreter_on() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0").strip().lower() in ("1", "true", "yes", "on")


def resolve_fac_impl(impl: str, device: torch.device | str) -> str:
    """``impl`` ("reference" | "triton" | "auto") -> the implementation that will run on ``device``."""
    if impl not in FAC_IMPLS:
        raise ValueError(f"FAC implementation must be one of {FAC_IMPLS}, got {impl!r}")
    kind = torch.device(device).type
    on_cuda = kind == "cuda"
    if impl == "auto":
        if on_cuda:
            return "triton" if triton_available() else "reference"
        return "cpu" if kind == "cpu" and mkldnn_fusion_available() else "reference"
    if impl == "cpu":
        if kind != "cpu":
            raise DeviceError(f"the 'cpu' FAC runs on the CPU only, not on {kind}")
        if not mkldnn_fusion_available():
            raise DeviceError("the 'cpu' FAC needs a PyTorch built with oneDNN (mkldnn)")
    if impl == "triton":
        if not triton_available():
            raise DeviceError("the Triton FAC needs the 'triton' package (pip install triton)")
        if not on_cuda and not _interpreter_on():
            raise DeviceError("the Triton FAC runs on CUDA devices only (the CPU uses the reference FAC)")
    return impl


class FastOps(NamedTuple):
    """What :meth:`STFAN <deblur_cli.models.stfan.STFAN>`'s speed attributes are set to for one implementation."""

    fac: FacOp
    fused_deblur: FusedFacOp | None  # the deblurring filter head's last layer fused with its FAC
    epilogue: Callable | None  # bias + LeakyReLU + residual after each convolution, in one pass
    tap_major: bool  # alignment filters produced and read tap-major (coalesced for channels_last)
    fused_warp: Callable | None = None  # alignment filters, FAC and kconv4 in one kernel (opt-in: bench_model.py)
    convs: Callable | None = None  # convolutions applying their own bias, LeakyReLU and residual (CPU: oneDNN)


REFERENCE_OPS = FastOps(fac_reference, None, None, False)


def select_ops(impl: str, device: torch.device | str) -> FastOps:
    """The FAC op, fused deblurring op, convolution epilogue and filter order for ``impl`` on ``device``."""
    resolved = resolve_fac_impl(impl, device)
    if resolved == "reference":
        return REFERENCE_OPS
    if resolved == "cpu":
        return FastOps(fac_taps, None, None, True, convs=PackedConvs())
    from .epilogue import bias_act_
    from .fac_triton import fac_triton, fused_filter_fac

    return FastOps(fac_triton, fused_filter_fac, bias_act_, True)
