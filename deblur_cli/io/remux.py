"""A file copied stream for stream into a new container of the same kind: every packet as it was.

What ``--skip-sharp`` does with a file that needs no restoring: every stream
(video, audio, subtitles, data, the timecode track, chapter text tracks are
left to the chapters) is added from its input template and each demuxed packet is
muxed unchanged, so every stream's payload is bit-identical; the chapters and
the container's tags go along. Written atomically like every output.
"""

from __future__ import annotations

from pathlib import Path

import av

from ..errors import OutputError
from .atomic import atomic_output
from .chapters import is_chapter_track, read_chapters
from .encode_plan import MUXER_FOR_SUFFIX
from .probe import describe_error, open_input

COPIED_KINDS = ("video", "audio", "subtitle", "data")


def can_remux(input_path: Path, output_path: Path) -> bool:
    """Whether ``output_path`` is a container of the input's own kind (its suffix, or one muxer for both)."""
    a, b = input_path.suffix.lower(), output_path.suffix.lower()
    return a == b or (a in MUXER_FOR_SUFFIX and MUXER_FOR_SUFFIX.get(a) == MUXER_FOR_SUFFIX.get(b))


def remux(input_path: Path, output_path: Path) -> int:
    """Copy every stream of ``input_path`` into ``output_path`` packet for packet; returns the video packets.

    OutputError when the container will not take a stream (the caller then restores the file instead).
    """
    muxer = MUXER_FOR_SUFFIX.get(output_path.suffix.lower())
    with open_input(input_path) as source:
        streams = [s for s in source.streams if s.type in COPIED_KINDS and not is_chapter_track(s)]
        chapters = read_chapters(source)
        with atomic_output(output_path) as temp:
            try:
                with av.open(str(temp), "w", format=muxer) as out:
                    out.metadata.update(source.metadata)
                    mapped = {}
                    for stream in streams:
                        copy = out.add_stream_from_template(stream)
                        copy.metadata.update(stream.metadata)
                        mapped[stream.index] = copy
                    if chapters:
                        out.set_chapters([chapter.as_dict(i) for i, chapter in enumerate(chapters)])
                    video = 0
                    for packet in source.demux(streams):
                        if not packet.size:
                            continue  # the demuxer's flush packets
                        video += packet.stream.type == "video"
                        packet.stream = mapped[packet.stream.index]
                        out.mux(packet)
            except (av.error.FFmpegError, ValueError, TypeError) as exc:
                raise OutputError(f"cannot copy the streams of {input_path} into {output_path}: "
                                  f"{describe_error(exc) if isinstance(exc, av.error.FFmpegError) else exc}") from None
    return video
