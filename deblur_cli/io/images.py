"""Image sequences as input and output: a folder of frames instead of a video file.

Reading goes through imageio (PNG, JPEG, BMP, TIFF), except 16-bit PNGs: Pillow,
imageio's PNG reader, silently truncates 16-bit RGB PNGs to 8 bits, so those are
decoded with FFmpeg's PNG decoder (PyAV). Writing is PNG only, also through
PyAV, since Pillow cannot write 16-bit RGB at all; one encoder for both depths
keeps 8- and 16-bit output alike. Every frame is written under a temporary name
and renamed, so a folder never holds a half-written frame.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from ..errors import InputError, OutputError, first_line
from .atomic import same_file, write_atomic

FRAME_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_COMPRESSION_LEVEL = "3"  # zlib level: ~5x faster than FFmpeg's default for ~10 % larger files
DEFAULT_PATTERN = "%06d.png"
_PATTERN_FIELD = re.compile(r"%(0?\d*)d")


def natural_key(path: Path) -> tuple:
    """Sort key in which digit runs compare as numbers: 2.png < 10.png, frame9 < frame10."""
    parts = re.split(r"(\d+)", path.name.lower())
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts)), path.name


def is_frame_name(path: Path) -> bool:
    """An image file this module reads; hidden files (``.DS_Store``, temporaries) are not frames."""
    return path.suffix.lower() in FRAME_SUFFIXES and not path.name.startswith(".")


def list_frames(folder: str | Path) -> list[Path]:
    """The image files directly in ``folder``, in natural order; an InputError when there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"not a folder of frames: {folder}")
    frames = sorted((p for p in folder.iterdir() if is_frame_name(p) and p.is_file()), key=natural_key)
    if not frames:
        raise InputError(f"no image frames ({', '.join(s[1:] for s in FRAME_SUFFIXES)}) found in {folder}")
    return frames


def _png_bit_depth(path: Path) -> int | None:
    """The bit depth from a PNG's header, or None for anything that is not a PNG."""
    with open(path, "rb") as fh:
        head = fh.read(26)
    if len(head) < 26 or not head.startswith(PNG_SIGNATURE) or head[12:16] != b"IHDR":
        return None
    return head[24]


def _read_png16(path: Path) -> np.ndarray:
    import av

    codec = av.CodecContext.create("png", "r")
    frames = codec.decode(av.Packet(path.read_bytes()))
    if not frames:
        raise ValueError("no image decoded")
    return frames[0].to_ndarray(format="rgb48le")  # grey and alpha variants convert too


def _to_rgb(image: np.ndarray, path: Path) -> np.ndarray:
    """Grey -> RGB, drop alpha, bool -> uint8; anything but 8/16-bit samples is refused."""
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    if not image.dtype.isnative:  # e.g. big-endian TIFF samples
        image = image.astype(image.dtype.newbyteorder("="))
    if image.dtype not in (np.uint8, np.uint16):
        raise InputError(f"{path}: unsupported sample type {image.dtype} (use 8- or 16-bit images)")
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[2] not in (1, 2, 3, 4):
        raise InputError(f"{path}: unsupported image layout {image.shape}")
    channels = image.shape[2]
    if channels <= 2:  # grey, grey + alpha
        image = np.repeat(image[..., :1], 3, axis=2)
    return np.ascontiguousarray(image[..., :3])


def read_frame(path: str | Path) -> np.ndarray:
    """One image as an (H, W, 3) RGB array, uint8, or uint16 for 16-bit sources."""
    import imageio.v3 as iio

    path = Path(path)
    try:
        if _png_bit_depth(path) == 16:
            return _read_png16(path)
        image = iio.imread(path, index=0)
        if image.ndim == 3 and image.shape[2] == 4 and iio.immeta(path).get("mode") == "CMYK":
            image = iio.imread(path, index=0, mode="RGB")  # a CMYK JPEG, not RGB + alpha
    except FileNotFoundError:
        raise InputError(f"frame not found: {path}") from None
    except Exception as exc:  # imageio and its plugins raise many unrelated types for a bad file
        raise InputError(f"{path}: not a readable image ({first_line(exc)})") from None
    return _to_rgb(image, path)


def iter_frames(paths: Iterable[Path]) -> Iterator[np.ndarray]:
    """Read frames in order, refusing a sequence whose frames differ in size or bit depth."""
    first: tuple[tuple[int, ...], np.dtype, Path] | None = None
    for path in paths:
        frame = read_frame(path)
        if first is None:
            first = (frame.shape, frame.dtype, path)
        elif frame.shape != first[0] or frame.dtype != first[1]:
            shape, dtype, first_path = first
            raise InputError(
                f"{path.name} is {frame.shape[1]}x{frame.shape[0]} {frame.dtype.itemsize * 8}-bit but "
                f"{first_path.name} is {shape[1]}x{shape[0]} {dtype.itemsize * 8}-bit: "
                "all frames of a sequence must have the same size and bit depth"
            )
        yield frame


def encode_png(frame: np.ndarray) -> bytes:
    """An (H, W, 3) uint8/uint16 RGB frame as PNG file bytes (8- or 16-bit to match)."""
    import av

    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"expected an (H, W, 3) uint8/uint16 RGB frame, got {frame.shape} {frame.dtype}")
    deep = frame.dtype == np.uint16
    codec = av.CodecContext.create("png", "w")
    codec.width, codec.height = frame.shape[1], frame.shape[0]
    codec.pix_fmt = "rgb48be" if deep else "rgb24"
    codec.options = {"compression_level": PNG_COMPRESSION_LEVEL}
    video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb48le" if deep else "rgb24")
    if deep:
        video_frame = video_frame.reformat(format="rgb48be")
    return b"".join(bytes(packet) for packet in [*codec.encode(video_frame), *codec.encode(None)])


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """Names a ``%06d``-style pattern produces, to recognise frames an earlier run wrote."""
    field = _PATTERN_FIELD.search(pattern)
    assert field is not None, "check_pattern first"
    before, after = (part.replace("%%", "%") for part in (pattern[: field.start()], pattern[field.end():]))
    return re.compile(re.escape(before) + r"\d+" + re.escape(after) + "$")


def check_pattern(pattern: str) -> None:
    """A file-name pattern with one integer field, ending in .png, naming no sub-folder."""
    fields = _PATTERN_FIELD.findall(pattern)
    if len(fields) != 1 or pattern.replace("%%", "").count("%") != 1:
        raise OutputError(f"frame name pattern {pattern!r} needs exactly one integer field such as %06d")
    if not pattern.lower().endswith(".png"):
        raise OutputError(f"frame name pattern {pattern!r} must end in .png (frames are written as PNG)")
    if "/" in pattern or os.sep in pattern or pattern.startswith("."):
        raise OutputError(f"frame name pattern {pattern!r} must be a plain, visible file name")


class FrameWriter:
    """Writes numbered PNG frames into a folder, each one atomically.

    The folder is created if needed. A folder that already holds files (other
    than hidden ones) is refused unless ``overwrite``; with ``overwrite``, frames
    of an earlier run that match ``pattern`` but are not rewritten are removed
    on :meth:`close`, so the folder holds one consistent sequence, and other
    files are left alone. Leaving a ``with`` block by an exception removes the
    frames written so far (like a video output, a failed sequence is not kept).
    """

    def __init__(self, folder: str | Path, pattern: str = DEFAULT_PATTERN, *, overwrite: bool = False,
                 start: int = 0, input_folder: str | Path | None = None) -> None:
        check_pattern(pattern)
        self.folder = Path(folder)
        if input_folder is not None and same_file(self.folder, Path(input_folder)):
            raise OutputError(f"output folder is the input folder: {self.folder} (choose another folder)")
        self.pattern = pattern
        self.overwrite = overwrite
        self.next_index = start
        self.written: list[Path] = []
        if self.folder.exists() and not self.folder.is_dir():
            raise OutputError(f"output for frames must be a folder, but a file is there: {self.folder}")
        if self.folder.is_dir() and not overwrite:
            if any(not entry.name.startswith(".") for entry in self.folder.iterdir()):
                raise OutputError(f"output folder is not empty: {self.folder} (pass --overwrite to replace its frames)")
        self._created_folder = not self.folder.exists()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create output folder {self.folder}: {exc.strerror or exc}") from None

    def write(self, frame: np.ndarray, name: str | None = None) -> Path:
        """Write the next frame ((H, W, 3) uint8/uint16 RGB) as ``name``, or numbered; returns its path."""
        data = encode_png(frame)
        path = self.folder / (name if name is not None else self.pattern % self.next_index)
        write_atomic(path, data)
        self.written.append(path)
        self.next_index += 1
        return path

    def close(self) -> None:
        """Finish the sequence: with ``overwrite``, drop stale frames of an earlier run."""
        if not self.overwrite:
            return
        mine = set(self.written)
        names = pattern_regex(self.pattern)
        for entry in self.folder.iterdir():
            if entry not in mine and entry.is_file() and names.match(entry.name):
                entry.unlink()

    def abort(self) -> None:
        """Remove what this writer wrote (and the folder, if it made it and it is now empty)."""
        for path in self.written:
            path.unlink(missing_ok=True)
        self.written.clear()
        if self._created_folder:
            try:
                self.folder.rmdir()
            except OSError:
                pass  # not empty: something else is in there now

    def __enter__(self) -> "FrameWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
