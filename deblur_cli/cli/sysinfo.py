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


def weights_info(spec: str | Path | None, choice: str = "default") -> dict[str, Any]:
    """Which weights would be used and what they say about themselves; never downloads anything.

    ``choice``: where ``spec`` came from ("default", "--weights", "STFAN_DEBLUR_WEIGHTS").
    """
    from ..errors import WeightsError
    from ..models import registry
    from ..models.cache import cache_dir, damage, repair_advice
    from ..models.choice import default_choice, load_weights, local_file

    info: dict[str, Any] = {"choice": choice if spec is not None else "default", "default": spec is None,
                            "rule": registry.DEFAULT_RULE, "cache": str(cache_dir())}
    entry, path = None, None
    if spec is None:
        entry, path, info["resolved"] = default_choice()
    elif Path(spec).is_file() or str(spec) not in registry.ENTRIES:
        path, info["resolved"] = Path(spec), f"the file {spec}"
    else:
        entry = registry.ENTRIES[str(spec)]
        path = local_file(entry)
        info["resolved"] = f"'{entry.name}'" + (" (not on this machine yet)" if path is None else "")
    if entry is not None:
        info["entry"] = plain(entry.to_dict())
    if path is None:
        why = None if entry.shipped else damage(entry)
        info.update(loaded=False, path=None,
                    status=f"the cached file is damaged ({why}): {repair_advice(entry)}" if why else
                    f"not on this machine: the first run fetches it ({entry.size_label}) from "
                    f"{entry.origin}; or 'stfan-deblur weights fetch {entry.name}', or download it in a "
                    f"browser and 'stfan-deblur weights import FILE'")
        return info
    try:
        with registry.fetching(offline=True, notice=lambda message: None):
            loaded = load_weights(entry.name if entry is not None else path)
    except WeightsError as exc:
        info.update(loaded=False, path=str(path), error=str(exc))
        return info
    known = entry or registry.entry_for_sha(loaded.meta.sha256)
    experimental = bool(known and known.experimental)
    return {**info, "loaded": True, "path": str(loaded.path), "experimental": experimental,
            **plain(loaded.meta.to_dict())}


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


def system_info(weights: str | Path | None = None, choice: str = "--weights") -> dict[str, Any]:
    """The whole report as JSON-ready data (``choice``: where ``weights`` came from)."""
    devices = devices_info()
    return {
        "versions": versions(),
        "weights": weights_info(weights, choice),
        "devices": devices,
        "encoders": encoders_info(),
        "triton": triton_info(devices["default_device"]),
    }
