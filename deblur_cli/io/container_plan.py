"""What the output container keeps of the input's container: its writer, its metadata keys, its trailer.

Decided once per output, after the encoder (:mod:`.encode_plan`) and before anything is written:

- **Writer**: a .mp4 output is written by FFmpeg's MP4 writer, except when
  the input is itself an MP4/MOV file that the QuickTime writer reproduces
  better: a QuickTime file under a .mp4 name (major brand 'qt  ', as iPhones
  write), or one whose streams (timed-metadata tracks such as Apple's 'mebx'
  or Android's 'mett') the QuickTime writer keeps and the MP4 writer cannot.
  The output then is what the input was: a QuickTime file named .mp4. So is
  a .mp4 output of a QuickTime input whose audio only QuickTime holds (PCM).
- **Metadata**: every container tag of the input is written (except those that
  describe the old encoding: :data:`.probe._STALE_TAGS`). MP4/MOV keep keys
  beyond the classic iTunes/QuickTime ones (``com.apple.quicktime.*`` with GPS,
  make, model, creation date; ``com.android.*``; GoPro's ``firmware``) only as
  QuickTime metadata keys ('mdta', the muxer's ``use_metadata_tags``): used
  whenever the plain writer would lose a key, found by writing the tags into a
  tiny file in memory and reading them back.
- **Trailer**: bytes after the input's MP4 boxes (Samsung's SEF block) are
  appended to .mp4/.mov outputs of the whole video (see :mod:`.mp4boxes`).
"""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

import av

from ..errors import OutputError
from .copy_plan import CopyPlan, plan_copy
from .encode_plan import EncoderPlan
from .playable import MP4_LIKE
from .probe import VideoFacts

QUICKTIME_BRAND = "qt  "
KEYS_FLAG = ("movflags", "use_metadata_tags")


def _writer_holds(muxer: str, codec: str) -> bool:
    with av.open(io.BytesIO(), "w", format=muxer) as probe:
        try:
            probe.add_stream(codec)
        except ValueError:
            return False
    return True


def _kept(copy: CopyPlan) -> set:
    return set(copy.copy) | {name for name, _, _ in copy.attachments}


def choose_writer(plan: EncoderPlan, facts: VideoFacts, suffix: str) -> CopyPlan:
    """Set ``plan.muxer`` to the writer that keeps most of the input (see the module doc); the copy plan for it.

    Audio that neither writer can hold is the MP4 writer's OutputError, as before.
    """
    if plan.muxer != "mp4" or not facts.is_mp4_family or not _writer_holds("mov", plan.codec):
        return plan_copy(facts.path, facts.other_streams, plan.muxer, suffix)
    try:
        as_quicktime = plan_copy(facts.path, facts.other_streams, "mov", suffix)
    except OutputError:  # audio QuickTime cannot hold (Opus): the MP4 writer it is
        return plan_copy(facts.path, facts.other_streams, plan.muxer, suffix)
    try:
        copy = plan_copy(facts.path, facts.other_streams, plan.muxer, suffix)
    except OutputError:  # audio only QuickTime holds (PCM from a camera's .mov)
        copy = None
    quicktime_input = facts.major_brand == QUICKTIME_BRAND
    if copy is None or _kept(as_quicktime) > _kept(copy) or (quicktime_input and _kept(as_quicktime) >= _kept(copy)):
        plan.muxer = "mov"
        return as_quicktime
    return copy


@lru_cache(maxsize=64)
def _plain_writer_keeps(muxer: str, tags: tuple[tuple[str, str], ...]) -> frozenset[str]:
    """The keys of ``tags`` that ``muxer`` writes without metadata keys: written into memory and read back."""
    buffer = io.BytesIO()
    try:
        with av.open(buffer, "w", format=muxer) as probe:
            probe.metadata.update(dict(tags))
            stream = probe.add_stream("mjpeg")
            stream.width = stream.height = 16
            stream.pix_fmt = "yuvj420p"
            probe.start_encoding()
        buffer.seek(0)
        with av.open(buffer) as back:
            return frozenset(back.metadata)
    except (av.error.FFmpegError, ValueError):
        return frozenset()


def plan_metadata(plan: EncoderPlan, facts: VideoFacts, copy: CopyPlan, suffix: str) -> list[str]:
    """Write every container tag of the input where the output can hold it (MP4/MOV: as metadata keys if needed)."""
    tags = facts.container_tags
    if plan.muxer not in MP4_LIKE or not tags:
        return []
    written = {key.lower() for key in _plain_writer_keeps(plan.muxer, tuple(sorted(tags.items())))}
    lost = sorted(key for key in tags if key.lower() not in written)  # FFmpeg matches tag names in any case
    if not lost:
        return []
    cover = [o for o in facts.other_streams if o.attached_pic and o.index in copy.copy]
    if cover:  # FFmpeg's MP4 writer puts cover art in the iTunes list that metadata keys replace
        return [f"metadata {', '.join(lost)} dropped: a {suffix} file as FFmpeg writes it holds either cover art "
                f"or these keys, and the cover art is kept"]
    key, value = KEYS_FLAG
    flags = plan.container_options.get(key)
    plan.container_options[key] = f"{flags}+{value}" if flags else value
    return []


def plan_trailer(plan: EncoderPlan, facts: VideoFacts, suffix: str, whole: bool) -> list[str]:
    """Append the input's trailer (Samsung SEF) to .mp4/.mov outputs of the whole video; else say it is dropped."""
    if facts.trailer is None:
        return []
    length = facts.trailer[1]
    what = f"the input's {length}-byte trailer after its MP4 boxes (e.g. Samsung's slow-motion marks)"
    if plan.muxer not in MP4_LIKE:
        return [f"{what} dropped: a {suffix} file cannot hold it (an .mp4 or .mov output keeps it)"]
    if not whole:
        return [f"{what} dropped: it describes the whole video, and this output holds a part of it"]
    plan.trailer = facts.trailer
    return []


def plan_container(plan: EncoderPlan, facts: VideoFacts, output: Path, whole: bool) -> tuple[CopyPlan, list[str]]:
    """Writer, copied streams, metadata and trailer of ``output`` (``plan`` is updated); the warnings."""
    suffix = output.suffix.lower()
    copy = choose_writer(plan, facts, suffix)
    warnings = plan_metadata(plan, facts, copy, suffix) + plan_trailer(plan, facts, suffix, whole)
    return copy, warnings
