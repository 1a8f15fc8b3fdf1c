"""Which video encoders this machine can really use.

FFmpeg lists every encoder it was built with, but some cannot work here: the
NVENC encoders are in PyAV's wheels yet need an NVIDIA driver and a GPU that has
NVENC (an A100 has none). So an encoder counts as usable only if a tiny encoder
context opens. Results are cached for the process: probing is cheap (milliseconds)
but its answer does not change while we run.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from typing import Iterator

from ..errors import first_line

# The encoders this tool knows how to drive, in the order ``info`` lists them.
KNOWN_ENCODERS = ("libx264", "libx265", "libvpx-vp9", "libsvtav1", "h264_nvenc", "hevc_nvenc", "prores_ks", "ffv1")
PROBE_SIZE = 256  # large enough for every encoder's minimum frame size (NVENC's is above 128)
# Options that keep an encoder quiet while it is only being opened, where it has one.
QUIET_OPTIONS = {"libx265": {"x265-params": "log-level=none"}}
# What a hardware encoder family needs, for the reason shown when it does not open.
NEEDS = {"nvenc": ": needs an NVIDIA GPU with NVENC and its driver", "qsv": ": needs an Intel GPU with Quick Sync",
         "vaapi": ": needs a VA-API device"}


@dataclass(frozen=True)
class EncoderStatus:
    name: str
    present: bool  # FFmpeg in this PyAV build knows the encoder
    usable: bool  # ...and an encoder context actually opened
    reason: str = ""  # why not, when it is not usable, in a few words
    detail: str = ""  # FFmpeg's own error, for bug reports


@contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Hide banners that native encoder libraries (x265, SVT-AV1) print straight to fd 2."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        yield  # no real stderr (e.g. captured by a test runner): nothing to hide
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), fd)
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)


@cache
def encoder_status(name: str) -> EncoderStatus:
    """Probe one encoder by name (cached): is it built in, and does it open here?"""
    import av

    try:
        codec = av.Codec(name, "w")
    except Exception:  # av.codec.codec.UnknownCodecError, or a decoder-only name
        return EncoderStatus(name, False, False, "not in this PyAV/FFmpeg build")
    if codec.type != "video":
        return EncoderStatus(name, True, False, f"not a video encoder ({codec.type})")
    formats = [f.name for f in (codec.video_formats or [])]
    context = av.CodecContext.create(codec, "w")
    context.width = context.height = PROBE_SIZE
    context.pix_fmt = "yuv420p" if "yuv420p" in formats or not formats else formats[0]
    context.time_base = Fraction(1, 25)
    context.framerate = Fraction(25, 1)
    context.options = dict(QUIET_OPTIONS.get(name, {}))
    error = None
    with _native_stderr_silenced():
        try:
            context.open()
        except Exception as exc:  # av.error.*: PermissionError/OSError for NVENC without a driver, etc.
            error = first_line(exc)
        # Free the native encoder now (NVENC sessions are a limited resource); some
        # libraries print a summary as they close, hence inside the silenced block.
        del context
    if error is not None:
        hint = NEEDS.get(name.rsplit("_", 1)[-1], "")
        return EncoderStatus(name, True, False, f"cannot be opened here{hint}", error)
    return EncoderStatus(name, True, True)


def encoder_usable(name: str) -> bool:
    """Whether ``name`` can encode video on this machine (cached)."""
    return encoder_status(name).usable


def available_encoders() -> dict[str, bool]:
    """Every encoder this tool knows, mapped to whether it is usable here."""
    return {name: encoder_usable(name) for name in KNOWN_ENCODERS}


def first_usable(candidates: list[str] | tuple[str, ...]) -> str | None:
    """The first usable encoder of ``candidates`` (e.g. ``("h264_nvenc", "libx264")``), or None."""
    return next((name for name in candidates if encoder_usable(name)), None)
