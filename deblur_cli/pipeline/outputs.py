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
from ..io.atomic import atomic_output, check_output, remove_stale_temporaries
from ..io.chapters import plan_extras
from ..io.copy_plan import plan_copy
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


def _names(source: VideoSource | FrameSequence) -> Callable[[], str | None]:
    """The name for each next frame written to a folder: the input frame's own name for a sequence, else numbered."""
    if not isinstance(source, FrameSequence):
        return lambda: None
    names: Iterator[str] = iter(source.output_names())
    return lambda: next(names, None)


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
    passthrough = plan = extras = None
    for folder in (output_path if to_folder else output_path.parent, frames_out):
        if folder is not None:
            remove_stale_temporaries(folder)  # what a killed run left where this one writes
    if not to_folder:
        check_output(input_path, output_path, overwrite)
        plan = plan_encoder(output_path, shown_facts, **run.options.encode)
        suffix = output_path.suffix.lower()
        copy = plan_copy(input_path, shown_facts.other_streams, plan.muxer, suffix)
        w = window or Window()
        extras = plan_extras(shown_facts.chapters, shown_facts.timecode, plan.muxer, suffix,
                             start=w.start, end=w.end, shift=w.shift)
        warnings += plan.warnings + copy.warnings + extras.warnings
        if not copy.empty:
            passthrough = Passthrough(input_path, copy, window)
            stack.callback(passthrough.close)
            passthrough.check_sync(plan.muxer, suffix, video_start, shown_facts.container)

    def frame_writer(folder: Path) -> tuple[FrameWriter, Callable[[], str | None]]:
        input_folder = input_path if sequence else None  # FrameWriter refuses to write into the input
        writer = stack.enter_context(FrameWriter(folder, overwrite=overwrite, input_folder=input_folder))
        return writer, _names(source)

    restored = frame_writer(frames_out) if frames_out else None
    if to_folder:
        main_writer, main_name = frame_writer(output_path)
        write_main, finish_main = (lambda shown, pts, time_base: main_writer.write(shown, main_name())), (lambda: None)
        rgb_format = "rgb48le" if shown_facts.bit_depth > 8 else "rgb24"
    else:
        temp = stack.enter_context(atomic_output(output_path))
        sink = VideoSink(temp, plan, shown_facts, passthrough, chapters=extras.chapters, timecode=extras.timecode,
                         name=output_path)
        stack.push(lambda kind, exc, tb: sink.close() if kind is not None else None)
        write_main, finish_main, rgb_format = sink.write, sink.finish, sink.rgb_format

    def write(restored_frame, shown, pts, time_base) -> None:
        write_main(shown, pts, time_base)
        if restored is not None:
            restored[0].write(restored_frame, restored[1]())

    return Outputs(write, finish_main, output_path), rgb_format, passthrough

