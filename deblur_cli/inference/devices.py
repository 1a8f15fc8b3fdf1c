"""Turn the user's ``--device`` / ``--fp16`` into a torch device and dtype, or a clear error."""

from __future__ import annotations

import platform
import re

import torch

from ..errors import DeviceError

_DEVICE_RE = re.compile(r"^(auto|cpu|cuda|cuda:\d+)$")


def resolve_device(spec: str = "auto") -> torch.device:
    """``auto`` picks the first GPU when there is one, else the CPU."""
    spec = (spec or "auto").strip().lower()
    if not _DEVICE_RE.match(spec):
        raise DeviceError(f"unknown device '{spec}': use auto, cpu, cuda or cuda:N")
    if spec == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise DeviceError(f"device '{spec}' asked for, but CUDA is not available on this machine (use --device cpu)")
    device = torch.device(spec if ":" in spec else "cuda:0")
    if device.index >= torch.cuda.device_count():
        count = torch.cuda.device_count()
        raise DeviceError(f"device '{spec}' does not exist: this machine has {count} CUDA device(s)")
    return device


def resolve_dtype(device: torch.device, fp16: bool) -> torch.dtype:
    """Half precision is a GPU feature; on the CPU it is refused rather than silently slow."""
    if not fp16:
        return torch.float32
    if device.type != "cuda":
        raise DeviceError("--fp16 needs a CUDA device; on the CPU run without --fp16 (float32)")
    return torch.float16


def resolve_devices(spec: str = "auto") -> list[torch.device]:
    """A comma-separated list (``cuda:0,cuda:1``) or ``all`` (every GPU) for spreading a folder's files."""
    spec = (spec or "auto").strip().lower()
    if spec == "all":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        return [torch.device(f"cuda:{i}") for i in range(count)] or [torch.device("cpu")]
    devices = [resolve_device(part) for part in spec.split(",") if part.strip()]
    if not devices:
        raise DeviceError(f"no device in '{spec}'")
    return devices


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"
