"""What INPUT names, and the jobs it makes: a video file, an image sequence, or a folder of videos.

The rule for folders: a folder that directly holds image frames (PNG, JPEG,
BMP, TIFF) and has no video file anywhere below it is an image sequence, such
as the DVD/GoPro layout's ``<seq>/input``; any other folder is a folder of
videos, processed recursively. So a sequence folder that also holds a preview
``.mp4`` is taken as a folder of videos: move the video out, or point INPUT at it.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError, OutputError
from ..io.atomic import check_name
from ..io.images import is_frame_name
from .batch import Job, is_hidden, is_video_name, plan_folder

VIDEO, SEQUENCE, FOLDER = "video", "sequence", "folder"


def input_kind(path: Path) -> str:
    """``"video"`` (a file), ``"sequence"`` (a folder of frames) or ``"folder"`` (a folder of videos)."""
    try:
        found = path.exists()
    except OSError as exc:  # a name too long for the file system, a loop of links...
        raise InputError(f"input not found: {path} ({exc.strerror or exc})") from None
    if not found:
        raise InputError(f"input not found: {path}")
    if not path.is_dir():
        return VIDEO
    try:
        has_frames = any(is_frame_name(p) and p.is_file() for p in path.iterdir())
        has_videos = has_frames and any(is_video_name(p) and p.is_file() and not is_hidden(p.relative_to(path))
                                        for p in path.rglob("*"))
    except OSError as exc:
        raise InputError(f"cannot read the folder {path}: {exc.strerror or exc}") from None
    return SEQUENCE if has_frames and not has_videos else FOLDER


def plan_jobs(input_path: Path, output_path: Path, frames_out: Path | None = None) -> tuple[str, list[Job]]:
    """The kind of ``input_path`` and its jobs; errors for a folder that holds nothing to do.

    A video file's OUTPUT may be a folder (the output keeps the input's name
    there). A sequence's OUTPUT is a video when it has a video extension, else a
    frame folder. A folder's OUTPUT is a folder that mirrors it.
    """
    kind = input_kind(input_path)
    check_name(output_path)
    if kind == VIDEO:
        if output_path.is_dir():
            output_path = output_path / input_path.name
        return kind, [Job(input_path, output_path, frames_out)]
    if kind == SEQUENCE:
        return kind, [Job(input_path, output_path, frames_out)]
    if output_path.exists() and not output_path.is_dir():
        raise OutputError(f"output must be a folder when the input is a folder: {output_path}")
    jobs = plan_folder(input_path, output_path, frames_out)
    if not jobs:
        raise InputError(f"no video files or image frames found in {input_path}")
    return kind, jobs
