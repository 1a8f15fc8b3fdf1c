"""The read side of a run: decoded frames as RGB arrays, or as their own planes for the device colour path.

Two paths (see :mod:`deblur_cli.inference.frames`):

- **RGB** (CPU colour conversion): each decoded frame is converted to RGB by
  swscale here, and the restored RGB back to the encoder's YUV in the sink.
- **device colour**: each decoded frame's planes are handed on as they are
  (numpy views, no per-pixel work), the engine converts them to RGB on its
  device and its result to the encoder's planes there, and the sink only copies
  them into the encoder's frame. Half the bytes cross the bus, and the CPU
  does no per-pixel colour work.

``VideoOptions.device_colour`` chooses: ``auto`` (the default) takes the
device path when the engine runs on CUDA, ``on`` whenever it can (also on
the CPU, which is how the tests run it), ``off`` never. It can only where the
engine takes planes (``takes_planes``), the output is a video (not a frame
folder), neither ``--compare`` nor ``--frames-out`` is asked for (both need
the RGB frame on the host), and the input's and the encoder's pixel formats
are YUV formats the device conversion knows (:data:`~deblur_cli.inference.colour.PLANE_FORMATS`).
Frames that differ from the first (their size changed mid-stream, and they
are rescaled; another pixel format) go the RGB way, one by one.
"""

from __future__ import annotations

import time
from dataclasses import replace
from fractions import Fraction
from typing import Iterable, Iterator

import av

from ..errors import InputError
from ..inference.colour import PLANE_FORMATS, ColourSpec
from ..inference.engine import takes_planes
from ..inference.frames import PlaneLayout, YuvFrame
from ..inference.timing import StageTimes
from ..io.colour import chroma_siting, frame_planes, frame_to_rgb
from ..io.probe import VideoFacts, describe_error
from ..io.source import VideoSource
from ..io.timespan import EPSILON
from .options import VideoOptions
from .stages import Outputs, TimedFrame

CPU, DEVICE = "cpu", "device"  # the two colour paths, as reports name them


def _part(items: Iterable[tuple], end: float | None, shift: Fraction) -> Iterator[tuple]:
    """(payload, pts, time_base) items before ``end`` seconds, timestamps moved ``shift`` seconds earlier."""
    for payload, pts, time_base in items:
        if pts is not None and time_base:
            if end is not None and pts * time_base >= end - EPSILON:
                return
            if shift:
                pts -= round(shift / time_base)
        yield payload, pts, time_base


def engine_on_cuda(engine: object) -> bool:
    device = getattr(engine, "device", None)
    return str(getattr(device, "type", device or "")).startswith("cuda")


def plane_layouts(options: VideoOptions, engine: object, outputs: Outputs, facts: VideoFacts,
                  frames_out: object = None) -> tuple[PlaneLayout, PlaneLayout] | None:
    """(the decoder's layout, the encoder's) when the run takes the device colour path, else None (RGB)."""
    mode = options.device_colour
    if mode == "off" or outputs.planes is None or options.compare or frames_out is not None or options.skip_sharp:
        return None
    if not takes_planes(engine) or (mode == "auto" and not engine_on_cuda(engine)):
        return None
    pix_fmt, colour = outputs.planes
    if facts.is_rgb or facts.pix_fmt not in PLANE_FORMATS or pix_fmt not in PLANE_FORMATS:
        return None
    return PlaneLayout(facts.pix_fmt, ColourSpec.of(facts.colour)), PlaneLayout(pix_fmt, ColourSpec.of(colour))


def decoded_frames(source: VideoSource, rgb_format: str, warnings: list[str], end: float | None, shift: Fraction,
                   layouts: tuple[PlaneLayout, PlaneLayout] | None = None,
                   times: StageTimes | None = None) -> Iterator[TimedFrame]:
    """The video's frames (from the seek point, up to ``end``): YuvFrames where ``layouts`` allow, else RGB arrays.

    The conversion (or taking the planes) is counted as ``colour_in`` in ``times``. The decoder's chroma
    siting, which swscale honours, is measured on the first frame that goes the device way.
    """
    facts = source.facts
    size = (facts.width, facts.height)
    sited = False
    for frame, pts, time_base in _part(((f, f.pts, f.time_base) for f in source.frames()), end, shift):
        started = time.perf_counter()
        resize = None
        if (frame.width, frame.height) != size:
            resize = size
            note = (f"frame size changes mid-stream ({frame.width}x{frame.height}); "
                    f"such frames were scaled to {size[0]}x{size[1]}")
            if note not in warnings:
                warnings.append(note)
        planes = None
        if layouts is not None and resize is None and frame.format.name == layouts[0].pix_fmt:
            planes = frame_planes(frame)
        if planes is not None:
            if not sited:
                layout = layouts[0]
                layouts = (replace(layout, spec=layout.spec._replace(chroma_siting=chroma_siting(frame))), layouts[1])
                sited = True
            payload = YuvFrame(tuple(planes), *layouts)
        else:
            try:
                payload = frame_to_rgb(frame, facts.colour, rgb_format, resize)
            except av.error.FFmpegError as exc:
                raise InputError(f"cannot convert frame {source.frames_decoded} of {facts.path} "
                                 f"({frame.format.name}) to RGB: {describe_error(exc)}") from None
        if times is not None:
            times.add("colour_in", time.perf_counter() - started)
        yield payload, pts, time_base
