"""Chapters, the timecode and the tracks that only carry them.

Chapters are container metadata, not a stream: they are read from the input
(``InputContainer.chapters()``) and written again with ``set_chapters``. MP4
and MOV store them twice, as a list and as a text track the muxer makes itself;
the demuxer marks that track "discard all", and it is never copied as a stream
(the muxer writes a new one). A timecode is a tag of the video stream
(``timecode``); MOV and MP4 also carry it as a ``tmcd`` data track, which the
muxer likewise makes anew from the tag and which is never copied either.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction

from av.stream import Discard

# Muxers that store chapters (Matroska and WebM as chapter elements, MP4/MOV as a chapter list and track).
HOLDS_CHAPTERS = frozenset({"matroska", "webm", "mp4", "mov"})
# Muxers that store a timecode: MP4/MOV as a tmcd track, Matroska/WebM as a stream tag.
HOLDS_TIMECODE = frozenset({"matroska", "webm", "mp4", "mov"})
_TIMECODE = re.compile(r"^\d{2}:\d{2}:\d{2}[:;.]\d{2}$")


@dataclass(frozen=True)
class Chapter:
    """One chapter: its start and end as ticks of ``time_base`` and its tags (``title``...)."""

    start: int
    end: int
    time_base: Fraction
    metadata: dict[str, str] = field(default_factory=dict)

    def as_dict(self, index: int) -> dict:
        """The form PyAV's ``set_chapters`` takes (ids count from 1)."""
        return {"id": index + 1, "start": self.start, "end": self.end, "time_base": self.time_base,
                "metadata": dict(self.metadata)}


def read_chapters(container) -> tuple[Chapter, ...]:
    """The chapters of an open input container, in start order."""
    chapters = []
    for ch in container.chapters():
        if ch["time_base"]:
            chapters.append(Chapter(ch["start"], ch["end"], Fraction(ch["time_base"]), dict(ch["metadata"])))
    return tuple(sorted(chapters, key=lambda c: c.start * c.time_base))


def clip_chapters(chapters: tuple[Chapter, ...], start: float | None = None, end: float | None = None,
                  shift: Fraction = Fraction(0)) -> list[Chapter]:
    """The chapters that overlap [``start``, ``end``) seconds, cut to it and moved ``shift`` seconds earlier.

    With no bounds the chapters are returned as they are.
    """
    if start is None and end is None:
        return list(chapters)
    kept = []
    for ch in chapters:
        tb = ch.time_base
        first = ch.start if start is None else max(ch.start, round(Fraction(start) / tb))
        last = ch.end if end is None else min(ch.end, round(Fraction(end) / tb))
        if last > first:
            ticks = round(shift / tb)
            kept.append(Chapter(first - ticks, last - ticks, tb, ch.metadata))
    return kept


def is_chapter_track(stream) -> bool:
    """A text track that MP4/MOV demuxers expose for the chapter list (marked "discard all" by the demuxer)."""
    return stream.type in ("data", "subtitle") and stream.discard == Discard.all


def is_timecode_track(stream) -> bool:
    """A MOV/MP4 ``tmcd`` track: a data stream holding the start timecode of the video."""
    return stream.type == "data" and "timecode" in stream.metadata


def find_timecode(container, video_stream) -> str | None:
    """The start timecode (``HH:MM:SS:FF``, ``;`` before FF when drop-frame), wherever the input keeps it."""
    for metadata in (video_stream.metadata, *(s.metadata for s in container.streams if is_timecode_track(s)),
                     container.metadata):
        for key, value in metadata.items():
            if key.lower() == "timecode" and value.strip():
                return value.strip()
    return None


@dataclass
class Extras:
    """The chapters and timecode an output gets, and warnings for what it cannot hold."""

    chapters: list[Chapter] = field(default_factory=list)
    timecode: str | None = None
    warnings: list[str] = field(default_factory=list)


def plan_extras(chapters: tuple[Chapter, ...], timecode: str | None, muxer: str, suffix: str, *,
                start: float | None = None, end: float | None = None, shift: Fraction = Fraction(0)) -> Extras:
    """What of the input's chapters and timecode the output keeps (a part keeps the chapters it overlaps)."""
    extras = Extras()
    kept = clip_chapters(chapters, start, end, shift)
    if kept and muxer in HOLDS_CHAPTERS:
        extras.chapters = kept
    elif kept:
        extras.warnings.append(f"{len(kept)} chapter(s) dropped: a {suffix} file cannot hold chapters "
                               f"(use .mkv, .mp4 or .mov)")
    if timecode:
        if muxer not in HOLDS_TIMECODE:
            extras.warnings.append(f"timecode {timecode} dropped: a {suffix} file cannot hold it")
        elif not _TIMECODE.match(timecode):
            extras.warnings.append(f"timecode {timecode!r} dropped: not in HH:MM:SS:FF form")
        elif shift:
            extras.warnings.append(f"timecode {timecode} dropped: it names the input's first frame, "
                                   f"not the first frame of this part")
        else:
            extras.timecode = timecode
    return extras
