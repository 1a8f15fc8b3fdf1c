"""The box structure of MP4/MOV files, read straight from the bytes: what FFmpeg does not tell.

An ISO-BMFF file (MP4, MOV, 3GP...) is a run of top-level boxes, each a
32-bit big-endian size and a four-letter type (a size of 1 means a 64-bit size
follows; 0 means "to the end of the file"). Two facts the tool needs are not
exposed by FFmpeg/PyAV, so they are read here:

- a **trailer**: bytes after the file's ordinary top-level boxes that FFmpeg
  neither reads nor writes. Samsung phones put their SEF block there (slow
  motion stretches and more; a 'sefd' box, or bare bytes, ending in 'SEFT'
  with an index counted from the end of the file). :func:`find_trailer`
  locates it generically: the boxes are walked by size, and whatever follows
  the last standard box (an unknown box type, or bytes that are not a box at
  all) is the trailer.
- the boxes inside each track's sample description (``stsd``), where Dolby
  Vision's configuration lives ('dvcC', 'dvvC', 'dvwC'): :func:`sample_entry_boxes`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

# Top-level boxes of ISO/IEC 14496-12 and QuickTime that FFmpeg's muxers write or its demuxer reads:
# anything after the last of these is a trailer the muxer would not carry.
STANDARD_TOP_LEVEL = frozenset({
    b"ftyp", b"styp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"meta", b"uuid", b"moof", b"mfra",
    b"sidx", b"ssix", b"prft", b"emsg", b"pdin", b"udta", b"junk",
})
CONTAINER_BOXES = frozenset({b"moov", b"trak", b"mdia", b"minf", b"stbl"})
VISUAL_SAMPLE_ENTRY = 78  # bytes of a VisualSampleEntry's fields before its child boxes (after the box header)
MAX_MOOV = 256 << 20  # a moov larger than this is not read whole (no phone writes one)


@dataclass(frozen=True)
class Box:
    type: bytes
    start: int  # offset of the box header
    header: int  # header size (8, or 16 with a 64-bit size)
    end: int  # offset just after the box

    @property
    def payload(self) -> int:
        return self.start + self.header


def _box_at(data: bytes | memoryview, at: int, end: int) -> Box | None:
    """The box whose header starts at ``at`` in ``data`` (None where the bytes there are not a box)."""
    if end - at < 8:
        return None
    size, kind = struct.unpack_from(">I4s", data, at)
    header = 8
    if size == 1:
        if end - at < 16:
            return None
        size, header = struct.unpack_from(">Q", data, at + 8)[0], 16
    elif size == 0:
        size = end - at
    if not all(32 <= c < 127 for c in kind) or size < header or at + size > end:
        return None
    return Box(bytes(kind), at, header, at + size)


def find_trailer(path: Path) -> tuple[int, int] | None:
    """(offset, length) of the bytes after the last standard top-level box of an MP4/MOV file, or None.

    None too when the file is not a run of boxes from its start (not an MP4/MOV file).
    """
    try:
        boxes, size = _walk(path)
    except OSError:
        return None
    standard = [b for b in boxes if b.type in STANDARD_TOP_LEVEL]
    if not standard or boxes[0].type not in (b"ftyp", b"wide", b"free", b"mdat", b"moov", b"skip"):
        return None
    end = standard[-1].end
    return (end, size - end) if end < size and not _all_zero(path, end, size - end) else None


def _all_zero(path: Path, offset: int, length: int) -> bool:
    """Whether the bytes are padding (zeros, as some cameras end their files with): no trailer to carry."""
    with open(path, "rb") as f:
        f.seek(offset)
        while length > 0:
            chunk = f.read(min(length, 1 << 20))
            if not chunk or chunk.count(0) != len(chunk):
                return not chunk
            length -= len(chunk)
    return True


def _walk(path: Path) -> tuple[list[Box], int]:
    """(the top-level boxes, in order, up to the first bytes that are not a box; the file's size)."""
    size = path.stat().st_size
    boxes: list[Box] = []
    with open(path, "rb") as f:
        at = 0
        while at < size:
            f.seek(at)
            head = f.read(16)
            box = _box_at(head, 0, size - at)  # sizes are checked against the bytes left
            if box is None:
                break
            boxes.append(Box(box.type, at, box.header, at + box.end))
            at += box.end
    return boxes, size


def copy_range(source: Path, offset: int, length: int, target) -> None:
    """Append ``length`` bytes of ``source`` from ``offset`` to the open binary file ``target``."""
    with open(source, "rb") as f:
        f.seek(offset)
        left = length
        while left > 0:
            chunk = f.read(min(left, 1 << 20))
            if not chunk:
                raise OSError(f"{source} changed while it was read")
            target.write(chunk)
            left -= len(chunk)


def sample_entry_boxes(path: Path) -> set[bytes]:
    """The types of every track's sample entries and of the boxes inside them (e.g. b'hvc1', b'dvvC')."""
    found: set[bytes] = set()
    try:
        boxes, _ = _walk(path)
        moov = next((b for b in boxes if b.type == b"moov"), None)
        if moov is None or moov.end - moov.start > MAX_MOOV:
            return found
        with open(path, "rb") as f:
            f.seek(moov.start)
            data = f.read(moov.end - moov.start)
    except OSError:
        return found
    _scan(data, _box_at(data, 0, len(data)), found)
    return found


def _children(data: bytes, start: int, end: int):
    at = start
    while (box := _box_at(data, at, end)) is not None:
        yield box
        at = box.end


def _scan(data: bytes, box: Box | None, found: set[bytes]) -> None:
    if box is None:
        return
    if box.type in CONTAINER_BOXES:
        for child in _children(data, box.payload, box.end):
            _scan(data, child, found)
    elif box.type == b"stsd":
        for entry in _children(data, box.payload + 8, box.end):  # after version/flags and the entry count
            found.add(entry.type)
            found.update(child.type for child in _children(data, entry.payload + VISUAL_SAMPLE_ENTRY, entry.end))
