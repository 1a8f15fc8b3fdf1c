"""Write every file (or folder) the tool makes all-or-nothing: the one way outputs reach their names.

The content is written under a hidden temporary name in the destination's own
folder (so the final rename stays on one filesystem and is atomic) and renamed
only when it is complete. On any error, Ctrl-C included, the temporary is
removed: a user never sees a half-written video, report, weights file,
checkpoint or synthetic clip, and an existing file is only replaced by a
finished one (and only when the caller allows it).

Temporary names look like ``.<stem>.partial-<pid>-<token><suffix>``: hidden,
recognisable (:func:`is_temporary`), carrying the writing process's id so a
later run can tell a stale one (its process is gone) from one being written,
and always short enough for the filesystem (the stem is shortened, never the
marker or the extension).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..errors import OutputError

TEMP_MARK = ".partial-"
_TEMP_NAME = re.compile(r"^\..*\.partial-(\d+)-[0-9a-f]{8}(\.[^.]*)?$")
DEFAULT_NAME_MAX = 255  # bytes, where the filesystem does not say
STALE_AFTER_S = 24 * 3600  # a temporary untouched this long is stale even if its writer's id is in use again
MAX_KEPT_SUFFIX = 16  # bytes of the extension a temporary keeps (muxers look at it; longer ones are not extensions)


def same_file(a: Path, b: Path) -> bool:
    """True if the two paths name one file (symlinks and hard links included)."""
    try:
        if a.resolve() == b.resolve():
            return True
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_output(input_path: Path, output_path: Path, overwrite: bool) -> None:
    """Refuse outputs that would destroy the input or an existing file (without ``overwrite``), or cannot be named."""
    if same_file(input_path, output_path):
        raise OutputError(f"output would overwrite the input: {output_path}")
    if output_path.is_dir():
        raise OutputError(f"output is a folder, not a file name: {output_path}")
    if output_path.exists() and not overwrite:
        raise OutputError(f"output exists: {output_path} (use --overwrite to replace it)")
    check_name(output_path)


def check_name(path: Path) -> None:
    """OutputError when ``path``'s last part is longer than its file system allows (found out before the work)."""
    size, limit = len(os.fsencode(path.name)), _name_max(_existing_folder(path.parent))
    if size > limit:
        raise OutputError(f"cannot write {path}: File name too long ({size} bytes; this file system allows {limit})")


def _existing_folder(folder: Path) -> Path:
    """``folder``, or the nearest folder above it that exists (for asking the file system about it)."""
    for candidate in (folder, *folder.parents):
        try:
            if candidate.is_dir():
                return candidate
        except OSError:  # e.g. a part of it is itself too long a name
            continue
    return Path(".")


def _name_max(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        return DEFAULT_NAME_MAX


def _shorten(text: str, max_bytes: int) -> str:
    """``text`` cut to at most ``max_bytes`` bytes as a file name, never inside a character."""
    while text and len(os.fsencode(text)) > max_bytes:
        text = text[:-1]
    return text


def temp_name(output_path: Path) -> Path:
    """A hidden name beside the output that keeps its extension (muxers look at it) and fits the filesystem."""
    suffix = output_path.suffix if len(os.fsencode(output_path.suffix)) <= MAX_KEPT_SUFFIX else ""
    stem = output_path.name[: len(output_path.name) - len(suffix)] if suffix else output_path.name
    marker = f"{TEMP_MARK}{os.getpid()}-{secrets.token_hex(4)}{suffix}"
    room = _name_max(_existing_folder(output_path.parent)) - len(os.fsencode("." + marker))
    return output_path.with_name(f".{_shorten(stem, room)}{marker}")


def is_temporary(path: Path) -> bool:
    """Whether ``path`` is a temporary of this tool (never an input, never kept)."""
    return _TEMP_NAME.match(path.name) is not None


def temporary_owner(path: Path) -> int | None:
    """The id of the process that wrote a temporary of this tool, or None for other names."""
    match = _TEMP_NAME.match(path.name)
    return int(match.group(1)) if match else None


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # there, but another user's (or not ours to ask): assume it is alive
    return True


def is_stale(path: Path, now: float | None = None) -> bool:
    """A temporary of this tool that nobody is writing: its process is gone, or it is older than a day."""
    owner = temporary_owner(path)
    if owner is None or owner == os.getpid():
        return False
    try:
        age = (now if now is not None else time.time()) - path.lstat().st_mtime
    except OSError:
        return False
    return not _process_exists(owner) or age > STALE_AFTER_S


def remove_stale_temporaries(folder: Path, *, recursive: bool = False) -> list[Path]:
    """Remove the stale temporaries of this tool in ``folder`` (and below, if ``recursive``); returns them.

    What a killed run (SIGKILL, power cut) left behind: a later run into the
    same folder clears it. Temporaries of runs still going are left alone.
    """
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for root, dirs, files in os.walk(folder):
        for name in [*files, *dirs]:
            path = Path(root) / name
            if TEMP_MARK in name and is_stale(path):
                remove_quietly(path)
                removed.append(path)
        dirs[:] = [d for d in dirs if recursive and (Path(root) / d).exists()]
    return removed


def remove_quietly(path: Path) -> None:
    """Remove a file or folder if it is there; never raises (it runs while another error is on its way)."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink()
    except OSError:
        pass


@contextmanager
def atomic_output(output_path: Path, *, replace: bool = True) -> Iterator[Path]:
    """Yield a temporary path to write (a file, or a folder the caller creates); then rename it to ``output_path``.

    On any exception the temporary is removed and nothing appears at
    ``output_path``. ``replace``: an existing file (or folder) at
    ``output_path`` is replaced once the new one is complete; when False,
    OutputError instead.
    """
    output_path = Path(output_path)
    try:
        output_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the output folder {output_path.parent}: {exc.strerror or exc}") from None
    temp = temp_name(output_path)
    try:
        yield temp
        if output_path.exists() and not replace:
            raise OutputError(f"output exists: {output_path} (use --overwrite to replace it)")
        try:
            if temp.is_dir() and output_path.is_dir():
                remove_quietly(output_path)  # a folder cannot be renamed over a non-empty one
            os.replace(temp, output_path)
        except OSError as exc:
            raise OutputError(f"cannot write {output_path}: {exc.strerror or exc}") from None
    finally:
        remove_quietly(temp)  # no-op after a successful rename


def write_atomic(path: str | Path, data: bytes | str) -> None:
    """Write ``data`` (text is UTF-8) to ``path`` all-or-nothing; OutputError if it cannot be written."""
    path = Path(path)
    try:
        with atomic_output(path) as temp:
            if isinstance(data, str):
                temp.write_text(data, encoding="utf-8")
            else:
                temp.write_bytes(data)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
