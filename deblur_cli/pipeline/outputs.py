"""What one run writes: the output video (or frame folder), the restored frames, and what rides along.

Everything that can refuse an output (it exists, cannot be named or created
there, bad extension or codec, audio the container cannot hold or keep in
sync) is decided before anything is written. What the output keeps besides
the picture (copied streams, chapters, timecode, pixel aspect ratio) is
planned here too, with a warning for each thing the chosen container cannot hold.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from ..inference.engine import Engine
from ..inference.frames import Frame, YuvFrame
from ..io.atomic import atomic_output, check_output, remove_stale_temporaries
from ..io.chapters import Extras, plan_extras
from ..io.container_plan import plan_container
from ..io.copy_plan import CopyPlan
from ..io.encode_plan import EncoderPlan
from ..io.images import FrameWriter
from ..io.passthrough import Passthrough, Window
from ..io.probe import VideoFacts
from ..io.sequence import FrameSequence, is_sequence_output
from ..io.sink import VideoSink, plan_encoder
from ..io.source import VideoSource
from .options import VideoOptions
from .stages import Outputs


@dataclass(frozen=True)
class RunSpec:
    """One call's inputs, handed down whole."""

    input: Path
    output: Path
    engine: Engine
    options: VideoOptions
    frames_out: Path | None


def for_sink(frame: Frame):
    """What :meth:`VideoSink.write` takes for a frame: the RGB array, or a YuvFrame's planes."""
    return frame.planes if isinstance(frame, YuvFrame) else frame


def attach_sink(outputs: Outputs, sink: VideoSink) -> Outputs:
    """``outputs`` that write to ``sink``: it may take planes in its pixel format, and times its colour work."""
    outputs.colour_seconds = lambda: sink.colour_seconds
    outputs.planes = (sink.plan.pix_fmt, sink.colour)
    return outputs


def _names(source: VideoSource | FrameSequence) -> Callable[[], str | None]:
    """The name for each next frame written to a folder: the input frame's own name for a sequence, else numbered."""
    if not isinstance(source, FrameSequence):
        return lambda: None
    names: Iterator[str] = iter(source.output_names())
    return lambda: next(names, None)


@dataclass
class VideoOutputPlan:
    """How an output video will be written, decided before anything is (:func:`plan_video_output`)."""

    encoder: EncoderPlan
    copy: CopyPlan
    extras: Extras
    warnings: list[str]


def plan_video_output(input_path: Path, output_path: Path, options: VideoOptions, shown_facts: VideoFacts,
                      window: Window | None) -> VideoOutputPlan:
    """Refuse an output that cannot be (exists, bad extension or codec, audio it cannot hold); else its plan."""
    check_output(input_path, output_path, options.overwrite)
    plan = plan_encoder(output_path, shown_facts, **options.encode)
    suffix = output_path.suffix.lower()
    w = window or Window()
    copy, kept = plan_container(plan, shown_facts, output_path, whole=w == Window())
    extras = plan_extras(shown_facts.chapters, shown_facts.timecode, plan.muxer, suffix,
                         start=w.start, end=w.end, shift=w.shift)
    return VideoOutputPlan(plan, copy, extras, plan.warnings + copy.warnings + kept + extras.warnings)


def open_passthrough(stack: ExitStack, input_path: Path, output_path: Path, plan: VideoOutputPlan,
                     window: Window | None, video_start: float, input_format: str) -> Passthrough | None:
    """The copy of the other streams, entered on ``stack``; OutputError when it could not stay in sync."""
    if plan.copy.empty:
        return None
    passthrough = Passthrough(input_path, plan.copy, window)
    stack.callback(passthrough.close)
    passthrough.check_sync(plan.encoder.muxer, output_path.suffix.lower(), video_start, input_format)
    return passthrough


def open_outputs(stack: ExitStack, source: VideoSource | FrameSequence, run: RunSpec, shown_facts: VideoFacts,
                 window: Window | None, video_start: float,
                 warnings: list[str]) -> tuple[Outputs, str, Passthrough | None]:
    """The outputs of one run, entered on ``stack`` (which removes them again if the run fails).

    ``video_start``: the output time of the first frame (seconds). Returns the
    outputs, the RGB format the frames must come in, and the stream copy
    (whose warning is known only at the end).
    """
    input_path, output_path, frames_out, overwrite = run.input, run.output, run.frames_out, run.options.overwrite
    sequence = isinstance(source, FrameSequence)
    to_folder = sequence and is_sequence_output(output_path)
    passthrough = planned = None
    for folder in (output_path if to_folder else output_path.parent, frames_out):
        if folder is not None:
            remove_stale_temporaries(folder)  # what a killed run left where this one writes
    if not to_folder:
        planned = plan_video_output(input_path, output_path, run.options, shown_facts, window)
        warnings += planned.warnings
        passthrough = open_passthrough(stack, input_path, output_path, planned, window, video_start,
                                       shown_facts.container)

    def frame_writer(folder: Path) -> tuple[FrameWriter, Callable[[], str | None]]:
        input_folder = input_path if sequence else None  # FrameWriter refuses to write into the input
        writer = stack.enter_context(FrameWriter(folder, overwrite=overwrite, input_folder=input_folder))
        return writer, _names(source)

    restored = frame_writer(frames_out) if frames_out else None
    sink = None
    if to_folder:
        main_writer, main_name = frame_writer(output_path)
        write_main, finish_main = (lambda shown, pts, time_base: main_writer.write(shown, main_name())), (lambda: None)
        rgb_format = "rgb48le" if shown_facts.bit_depth > 8 else "rgb24"
    else:
        temp = stack.enter_context(atomic_output(output_path))
        sink = VideoSink(temp, planned.encoder, shown_facts, passthrough, chapters=planned.extras.chapters,
                         timecode=planned.extras.timecode, name=output_path)
        stack.push(lambda kind, exc, tb: sink.close() if kind is not None else None)
        write_main, finish_main, rgb_format = sink.write, sink.finish, sink.rgb_format

    def write(restored_frame, shown, pts, time_base) -> None:
        write_main(for_sink(shown), pts, time_base)  # planes only where the sink takes them (outputs.planes)
        if restored is not None:
            restored[0].write(restored_frame.to_rgb() if isinstance(restored_frame, YuvFrame) else restored_frame,
                              restored[1]())

    outputs = Outputs(write, finish_main, output_path)
    return (attach_sink(outputs, sink) if sink is not None else outputs), rgb_format, passthrough

