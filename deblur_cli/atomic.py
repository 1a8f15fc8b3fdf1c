"""Write an output file all-or-nothing.

The file is written under a hidden temporary name in the output's own folder
(so the final rename stays on one filesystem and is atomic) and renamed only
when it is complete. On any error, Ctrl-C included, the temporary file is
removed: the user never sees a half-written video, and an existing file is
only replaced by a finished one (and only with ``overwrite``).
"""

from __future__ import annotations

import os
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .errors import OutputError


def same_file(a: Path, b: Path) -> bool:
    """True if the two paths name one file (symlinks and hard links included)."""
    try:
        if a.resolve() == b.resolve():
            return True
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_output(input_path: Path, output_path: Path, overwrite: bool) -> None:
    """Refuse outputs that would destroy the input or an existing file (without ``overwrite``)."""
    if same_file(input_path, output_path):
        raise OutputError(f"output would overwrite the input: {output_path}")
    if output_path.is_dir():
        raise OutputError(f"output is a folder, not a file name: {output_path}")
    if output_path.exists() and not overwrite:
        raise OutputError(f"output exists: {output_path} (use --overwrite to replace it)")


def temp_name(output_path: Path) -> Path:
    """A hidden name beside the output that keeps its extension (muxers may look at it)."""
    token = secrets.token_hex(4)
    return output_path.with_name(f".{output_path.stem}.partial-{token}{output_path.suffix}")


def remove_quietly(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError:
        pass  # nothing more can be done; never mask the error that got us here


@contextmanager
def atomic_output(output_path: Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success rename it to ``output_path``, else delete it."""
    try:
        output_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the output folder {output_path.parent}: {exc.strerror or exc}") from None
    temp = temp_name(output_path)
    try:
        yield temp
        try:
            os.replace(temp, output_path)
        except OSError as exc:
            raise OutputError(f"cannot write {output_path}: {exc.strerror or exc}") from None
    finally:
        remove_quietly(temp)  # no-op after a successful rename
