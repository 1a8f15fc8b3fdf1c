"""Many files: a folder in, a folder out, spread over one or more devices.

Each input keeps its path relative to the input folder under the output folder.
Hidden files and folders (names starting with ``.``: this tool's own
temporaries, macOS ``._`` companions, ``.git``) are never inputs. Outputs that
exist are skipped unless ``overwrite``; a file that fails is recorded and the
rest go on. The caller gets one :class:`FileOutcome` per file. A single input
runs through the same code, so both report alike.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterable, NamedTuple

from ..errors import (
    BatchInterrupted,
    DeblurError,
    Interrupted,
    OutputError,
    exit_code_of,
    first_line,
    stopped_by,
)
from ..inference.engine import Engine
from .options import VideoOptions
from .progress import NULL_REPORTER, Reporter
from .video import deblur_video
from .workers import Worker, wait_all

VIDEO_EXTENSIONS = frozenset(
    ".mp4 .m4v .mkv .mov .webm .avi .mts .m2ts .ts .mpg .mpeg .wmv .flv .3gp".split()
)
STATUSES = ("done", "skipped", "failed", "interrupted")
MAX_NAMES_LISTED = 10  # finished files named in the one-line message after Ctrl-C
POLL_S = 0.2  # how often the waiting main thread looks up (it wakes at once when a worker ends)


class Job(NamedTuple):
    """One input, its output, and the folder for its restored PNG frames (None: no frames)."""

    input: Path
    output: Path
    frames_out: Path | None = None


@dataclass
class FileOutcome:
    input: Path
    output: Path
    status: str  # one of STATUSES
    frames: int = 0  # frames written (for an interrupted file: before the stop; its output is removed)
    seconds: float = 0.0
    fps: float = 0.0
    device: str = ""
    error: str = ""
    warnings: list[str] = field(default_factory=list)
    cuts: list[int] = field(default_factory=list)  # frame indices where a new shot starts
    frames_out: Path | None = None
    exception: DeblurError | None = field(default=None, repr=False, compare=False)  # what a lone input re-raises


def is_video_name(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_EXTENSIONS


def is_hidden(relative: Path) -> bool:
    """Whether a path (relative to a folder being searched) is or lies in a hidden file or folder."""
    return any(part.startswith(".") for part in relative.parts)


def plan_folder(input_dir: Path, output_dir: Path, frames_out: Path | None = None) -> list[Job]:
    """Every video below ``input_dir`` (recursively, by extension) as a :class:`Job`.

    ``frames_out``: each video's restored frames go to a folder of that
    video's relative path (without extension) below it.
    """
    input_dir, output_dir = input_dir.resolve(), output_dir.resolve()
    if output_dir == input_dir:
        raise OutputError("the output folder must differ from the input folder (inputs are never overwritten)")
    jobs = []
    for path in sorted(input_dir.rglob("*")):
        relative = path.relative_to(input_dir)
        if not path.is_file() or not is_video_name(path) or is_hidden(relative):
            continue
        if output_dir in path.resolve().parents:
            continue  # our own outputs when the output folder lies inside the input folder
        frames = None if frames_out is None else frames_out / relative.with_suffix("")
        jobs.append(Job(path, output_dir / relative, frames))
    return jobs


EngineFactory = Callable[[Any], Engine]  # device -> engine


def _interrupted_message(outcomes: list[FileOutcome], planned: int, stop: BaseException | None) -> str:
    how = stopped_by(stop)
    if planned == 1:
        return f"{how}; partial output removed"
    finished = [o.input.name for o in outcomes if o.status == "done"]
    names = ", ".join(finished[:MAX_NAMES_LISTED]) + (f" and {len(finished) - MAX_NAMES_LISTED} more"
                                                      if len(finished) > MAX_NAMES_LISTED else "")
    which = f" ({names})" if finished else ""
    return f"{how}: {len(finished)} of {planned} file(s) finished{which}; partial outputs removed"


def run_files(
    jobs: Iterable[Job | tuple[Path, Path]],
    make_engine: EngineFactory,
    devices: list[Any],
    options: VideoOptions | None = None,
    *,
    skip_existing: bool = True,
    reporter: Reporter = NULL_REPORTER,
) -> list[FileOutcome]:
    """Deblur each job; one worker thread per device pulls from a shared queue.

    ``options`` go to :func:`~deblur_cli.pipeline.video.deblur_video` for every
    file. An output that exists is skipped when ``skip_existing`` (and not
    ``options.overwrite``); otherwise deblur_video refuses it, as a failure.
    Ctrl-C (or a SIGTERM/SIGHUP turned into one) stops all workers (each
    removes its partial output; the file each was on is recorded as
    ``interrupted`` with the frames it had done) and raises
    :class:`BatchInterrupted`, which names the files that finished, carries
    the outcomes so far and the exit status for the signal.
    """
    options = options or VideoOptions()
    jobs = [Job(*job) for job in jobs]
    queued: "queue.Queue[tuple[int, Job]]" = queue.Queue()
    for index, job in enumerate(jobs):
        queued.put((index, job))
    outcomes: list[FileOutcome | None] = [None] * len(jobs)
    cancel = threading.Event()

    def worker(device: Any) -> None:
        engine = None
        while not cancel.is_set():
            try:
                index, (src, dst, frames_out) = queued.get_nowait()
            except queue.Empty:
                return
            if skip_existing and dst.exists() and not options.overwrite:
                outcomes[index] = FileOutcome(src, dst, "skipped", error="output exists (use --overwrite)")
                reporter.skipped(src.name)
                continue
            fail = partial(FileOutcome, src, dst, "failed", device=str(device))
            try:
                if engine is None:
                    engine = make_engine(device)
                    if cancel.is_set():
                        return  # stopped while the engine was being built: this file was never started
                with reporter.file(src.name) as bar:
                    result = deblur_video(src, dst, engine, options, frames_out=frames_out, cancel=cancel,
                                          on_start=bar.on_start, on_frame=bar.on_frame)
                outcomes[index] = FileOutcome(src, dst, "done", result.frames, result.seconds, result.fps,
                                              str(device), warnings=list(result.warnings), cuts=list(result.cuts),
                                              frames_out=result.frames_out)
            except Interrupted as exc:  # run_files cancels only on Ctrl-C or a handled signal
                cancel.set()
                outcomes[index] = FileOutcome(src, dst, "interrupted", exc.frames or 0, device=str(device),
                                              error="interrupted; partial output removed", exception=exc)
                return
            except DeblurError as exc:
                outcomes[index] = fail(error=str(exc), exception=exc)
            except Exception as exc:  # a bug on one file must not lose the rest of the batch
                outcomes[index] = fail(error=f"internal error: {type(exc).__name__}: {first_line(exc)}")

    workers = [Worker(worker, f"deblur-{d}", (d,)) for d in devices]
    stop: KeyboardInterrupt | None = None
    try:
        for each in workers:
            each.start()
    except KeyboardInterrupt as exc:
        stop = exc
        cancel.set()
    # Each worker removes its partial output when cancelled: wait for that, through any Ctrl-C.
    late = wait_all(workers, POLL_S, on_interrupt=cancel.set)
    stop = stop or late
    finished = [o for o in outcomes if o is not None]
    if cancel.is_set():
        raise BatchInterrupted(_interrupted_message(finished, len(jobs), stop), finished,
                               exit_code=exit_code_of(stop))
    return finished


def summary_counts(outcomes: list[FileOutcome]) -> dict[str, int]:
    counts = dict.fromkeys(STATUSES, 0)
    for outcome in outcomes:
        counts[outcome.status] += 1
    return counts
