"""The settings of a run, as two small frozen records passed down instead of long argument lists.

:class:`EngineOptions` say how to build the engine (weights, device, precision,
FAC, tiles, strength); :class:`VideoOptions` say what to do with each file (encoder, part,
composite, scene cuts, frame rate of image sequences, overwriting). Both check
their values when made, so a bad setting fails before any file is touched.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, TypeVar

from ..errors import OptionError
from ..io.sequence import DEFAULT_FPS, frame_rate
from ..io.timespan import Span
from . import DEFAULT_SEGMENT_S
from .compare import MODES
from .segments import DEFAULT_WARMUP

T = TypeVar("T")


@dataclass(frozen=True)
class EngineOptions:
    """How to build an engine (see :func:`~deblur_cli.inference.build.build_engine`)."""

    weights: str | Path | None = None
    device: str = "auto"
    fp16: bool = False
    fac: str = "auto"
    tile: int | None = None
    strength: float | str = "auto"  # "auto" or 0..1: how much of the restoration is written (inference.strength)

    def __post_init__(self) -> None:
        from ..inference.build import check_engine_options
        from ..inference.strength import parse_strength

        check_engine_options(self.fac, self.tile)
        object.__setattr__(self, "strength", parse_strength(self.strength))  # "0.5" -> 0.5


@dataclass(frozen=True)
class VideoOptions:
    """What to do with each file (see :func:`~deblur_cli.pipeline.video.deblur_video`)."""

    codec: str | None = None
    crf: int | None = None
    preset: str | None = None
    start: float | str | None = None
    duration: float | str | None = None
    compare: str | None = None
    scene_cuts: bool = True
    fps: float | str = DEFAULT_FPS
    overwrite: bool = False
    # Long videos (see pipeline.segments): restored in segments of this many seconds (0: in one pass),
    # each after ``warmup`` frames that rebuild the recurrence; a later run keeps finished segments if ``resume``.
    segment: float = DEFAULT_SEGMENT_S
    warmup: int = DEFAULT_WARMUP
    resume: bool = True
    # Where YUV <-> RGB happens: "auto" on the engine's device when it is CUDA, "on" there whatever the device
    # (where the run allows it), "off" on the CPU with swscale (see pipeline.reading).
    device_colour: str = "auto"
    # --skip-sharp (pipeline.skipping): only blurred stretches (after a warm-up) go through the network; a sharp
    # file is copied. ``skip_plan``: the file's plan once made (a SkipPlan), so parts and resumed runs share it.
    skip_sharp: bool = False
    skip_plan: Any = None

    def __post_init__(self) -> None:
        if self.compare is not None and self.compare not in MODES:
            raise OptionError(f"unknown comparison mode {self.compare!r}: use one of {', '.join(MODES)}")
        if not (isinstance(self.segment, (int, float)) and 0 <= self.segment < float("inf")):
            raise OptionError(f"--segment must be a number of seconds, 0 or more (0: no segments), "
                              f"got {self.segment!r}")
        if self.device_colour not in ("auto", "on", "off"):
            raise OptionError(f"device colour must be auto, on or off, got {self.device_colour!r}")
        if not isinstance(self.warmup, int) or self.warmup < 0:
            raise OptionError(f"warm-up must be a whole number of frames, 0 or more, got {self.warmup!r}")
        self.span  # noqa: B018 -- parses --start/--duration now
        frame_rate(self.fps)

    @property
    def span(self) -> Span:
        return Span.of(self.start, self.duration)

    @property
    def encode(self) -> dict[str, Any]:
        return {"codec": self.codec, "crf": self.crf, "preset": self.preset}


def with_settings(options: T | None, cls: type[T], settings: dict[str, Any]) -> T:
    """``options`` (or the defaults of ``cls``) with ``settings`` applied; unknown names are a TypeError."""
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(settings) - names)
    if unknown:
        raise TypeError(f"unknown {cls.__name__} setting(s): {', '.join(unknown)}")
    return replace(options if options is not None else cls(), **settings)


def split_settings(settings: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Keyword settings sorted into (engine settings, video settings); unknown names are a TypeError."""
    engine_names = {f.name for f in fields(EngineOptions)}
    video_names = {f.name for f in fields(VideoOptions)}
    unknown = sorted(set(settings) - engine_names - video_names)
    if unknown:
        raise TypeError(f"unknown setting(s): {', '.join(unknown)}")
    return ({k: v for k, v in settings.items() if k in engine_names},
            {k: v for k, v in settings.items() if k in video_names})
