"""Everything worth knowing about this installation, as one plain dict.

``stfan-deblur info`` prints it and bug reports paste it: versions, the weights
that would be used and what they say about themselves, the devices found, the
encoders that really open here and whether Triton is installed. Nothing in it
fails: a missing piece is reported as missing, with what to do about it.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

GIB = 1024**3


def plain(value: Any) -> Any:
    """Weights metadata may hold tensors or tuples; JSON wants numbers, lists and dicts."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # torch / numpy scalars
        try:
            return value.item()
        except (ValueError, RuntimeError):
            return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def versions() -> dict[str, str]:
    import av
    import numpy
    import torch

    from .. import __version__

    avcodec = ".".join(str(n) for n in av.library_versions.get("libavcodec", ()))
    return {
        "stfan-deblur": __version__,
        "python": f"{platform.python_version()} ({platform.python_implementation()})",
        "platform": platform.platform(),
        "torch": torch.__version__ + (f" (CUDA {torch.version.cuda})" if torch.version.cuda else " (CPU build)"),
        "PyAV": f"{av.__version__} (FFmpeg {av.ffmpeg_version_info}, libavcodec {avcodec})",
        "numpy": numpy.__version__,
    }


def weights_info(path: str | Path | None) -> dict[str, Any]:
    """The weights card, or why there are none and how to pass some."""
    from ..errors import WeightsError
    from ..models.weights import default_weights_path, load_weights

    try:
        loaded = load_weights(path)
    except WeightsError as exc:
        return {
            "loaded": False,
            "path": str(path if path is not None else default_weights_path()),
            "default": path is None,
            "error": str(exc),
            "hint": "pass a weights file with --weights PATH (or set STFAN_DEBLUR_WEIGHTS)",
        }
    return {"loaded": True, "path": str(loaded.path), "default": path is None, **plain(loaded.meta.to_dict())}


def devices_info() -> dict[str, Any]:
    import torch

    from ..inference.devices import cpu_model

    cuda: list[dict[str, Any]] = []
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(index)
            cuda.append({
                "device": f"cuda:{index}",
                "name": props.name,
                "memory_gib": round(props.total_memory / GIB, 1),
                "compute_capability": f"{props.major}.{props.minor}",
            })
    return {
        "cpu": {"model": cpu_model(), "logical_cores": os.cpu_count(), "torch_threads": torch.get_num_threads()},
        "cuda": cuda,
        "default_device": "cuda:0" if cuda else "cpu",
    }


def encoders_info() -> dict[str, dict[str, Any]]:
    from ..io.encoders import KNOWN_ENCODERS, encoder_status

    out = {}
    for name in KNOWN_ENCODERS:
        status = encoder_status(name)
        out[name] = {"usable": status.usable, "present": status.present, "reason": status.reason,
                     "detail": status.detail}
    return out


def triton_info(default_device: str) -> dict[str, Any]:
    """Whether Triton is installed, and which FAC implementation ``auto`` picks on the default device."""
    from importlib.metadata import PackageNotFoundError, version

    from ..ops.dispatch import resolve_fac_impl, triton_available

    installed = triton_available()
    try:
        found = version("triton") if installed else None  # metadata only: importing Triton is slow
    except PackageNotFoundError:
        found = None
    return {"installed": installed, "version": found, "fac_auto": resolve_fac_impl("auto", default_device)}


def system_info(weights: str | Path | None = None) -> dict[str, Any]:
    """The whole report as JSON-ready data."""
    devices = devices_info()
    return {
        "versions": versions(),
        "weights": weights_info(weights),
        "devices": devices,
        "encoders": encoders_info(),
        "triton": triton_info(devices["default_device"]),
    }
