"""Many files: a folder in, a folder out, spread over one or more devices.

Each input keeps its path relative to the input folder under the output folder.
Hidden files and folders (names starting with ``.``: this tool's own
temporaries, macOS ``._`` companions, ``.git``) are never inputs. Outputs that
exist are skipped unless ``overwrite``; a file that fails is recorded and the
rest go on. The caller gets one :class:`FileOutcome` per file. A single input
runs through the same code, so both report alike.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
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
from .distribute import Board, PartItem, SplitFile, device_names, fail, join, make_item_part
from .options import VideoOptions
from .progress import NULL_REPORTER, Reporter
from .skipping import copy_if_sharp
from .split import SplitVideo, engine_identity
from .video import VideoResult, deblur_video
from .workers import Worker, wait_all

VIDEO_EXTENSIONS = frozenset(
    ".mp4 .m4v .mkv .mov .webm .avi .mts .m2ts .ts .mpg .mpeg .wmv .flv .3gp".split()
)
COPIED = "sharp (copied)"  # --skip-sharp found the file sharp and copied its streams (pipeline.skipping)
STATUSES = ("done", COPIED, "skipped", "failed", "interrupted")
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
    stages: dict[str, float] = field(default_factory=dict)  # seconds per stage (VideoResult.stages)
    colour: str = ""  # the colour path: "cpu" or "device" (VideoResult.colour)
    strength: float | None = None  # mean weight over the restored frames (see VideoResult.strength)
    restored: int = 0  # frames written from the network's output (VideoResult.restored)
    exception: DeblurError | None = field(default=None, repr=False, compare=False)  # what a lone input re-raises

    @classmethod
    def finished(cls, input: Path, output: Path, result: VideoResult, device: str) -> "FileOutcome":
        """The outcome of a file that was written."""
        status = COPIED if result.copied else "done"
        return cls(input, output, status, result.frames, result.seconds, result.fps, device,
                   warnings=list(result.warnings), cuts=list(result.cuts), frames_out=result.frames_out,
                   stages=dict(result.stages), colour=result.colour, strength=result.strength,
                   restored=result.restored)


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
    if planned == 1:  # what became of the file: partial output removed, or (a long video) its segments kept
        detail = outcomes[0].error.partition("; ")[2] if outcomes and outcomes[0].error else ""
        return f"{how}; {detail or 'partial output removed'}"
    finished = [o.input.name for o in outcomes if o.status in ("done", COPIED)]
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
    board = Board(enumerate(jobs))  # files, and the segments of long videos (pipeline.distribute)
    outcomes: list[FileOutcome | None] = [None] * len(jobs)
    cancel = threading.Event()

    def done(index: int, result: VideoResult, device: str) -> None:
        src, dst, _ = jobs[index]
        outcomes[index] = FileOutcome.finished(src, dst, result, device)

    def failed(index: int, exc: BaseException, device: str, split: bool = False) -> bool:
        """Record a file that failed or was interrupted; True when the worker must stop (after a stop only)."""
        src, dst, _ = jobs[index]
        if isinstance(exc, Interrupted):  # run_files cancels only on Ctrl-C or a handled signal
            cancel.set()
            error = str(exc) if split else "interrupted; partial output removed"  # a long video keeps its parts
            outcomes[index] = FileOutcome(src, dst, "interrupted", exc.frames or 0, device=device, error=error,
                                          exception=exc)
            return True
        fail = partial(FileOutcome, src, dst, "failed", device=device)
        if isinstance(exc, DeblurError):
            outcomes[index] = fail(error=str(exc), exception=exc)
        else:  # a bug on one file must not lose the rest of the batch
            outcomes[index] = fail(error=f"internal error: {type(exc).__name__}: {first_line(exc)}")
        return False

    def part(item: PartItem, engine: Engine | None, device: Any) -> tuple[Engine | None, bool]:
        """Make one segment of a split file (and join the file after its last); (engine, whether to stop)."""
        file = item.file
        try:
            engine = engine or make_engine(device)
            if not file.failed and make_item_part(item, engine, str(device), cancel):
                done(file.index, join(file), device_names(file))
        except Exception as exc:
            error = fail(file, exc)
            return engine, error is not None and failed(file.index, error, device_names(file) or str(device), True)
        return engine, False

    def worker(device: Any) -> None:
        engine = None
        while (item := board.take(cancel)) is not None:
            if isinstance(item, PartItem):
                board.settle()
                engine, halt = part(item, engine, device)
                if halt:
                    return
                continue
            index, (src, dst, frames_out) = item
            if skip_existing and dst.exists() and not options.overwrite:
                board.settle()
                outcomes[index] = FileOutcome(src, dst, "skipped", error="output exists (use --overwrite)")
                reporter.skipped(src.name)
                continue
            try:
                planning = time.perf_counter()
                file_options, copied = copy_if_sharp(src, dst, options, frames_out)  # a sharp file needs no engine
                planning = time.perf_counter() - planning
                if copied is not None:
                    board.settle()
                    done(index, copied, str(device))
                    continue
                if engine is None:
                    engine = make_engine(device)
                    if cancel.is_set():
                        board.settle()
                        return  # stopped while the engine was being built: this file was never started
                split = None if frames_out is not None else \
                    SplitVideo.prepare(src, dst, file_options, engine_identity(engine))
            except Exception as exc:
                board.settle()
                if failed(index, exc, str(device)):
                    return
                continue
            if split is not None:  # a long video: every device helps with its segments
                file = SplitFile.start(index, split, reporter, src.name)
                board.settle(file.items())
                if not split.pending and part(PartItem(file, None), engine, device)[1]:  # all kept from before
                    return
                continue
            board.settle()
            try:
                with reporter.file(src.name) as bar:
                    result = deblur_video(src, dst, engine, replace(file_options, segment=0), frames_out=frames_out,
                                          cancel=cancel, on_start=bar.on_start, on_frame=bar.on_frame)
                done(index, result.after(planning), str(device))
            except Exception as exc:
                if failed(index, exc, str(device)):
                    return

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
