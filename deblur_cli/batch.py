"""Many files: a folder in, a folder out, spread over one or more devices.

Each input keeps its path relative to the input folder under the output folder.
Outputs that exist are skipped unless ``overwrite``; a file that fails is
recorded and the rest go on. The caller gets one :class:`FileOutcome` per file.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from .errors import DeblurError, Interrupted, OutputError
from .pipeline import deblur_video
from .progress import ProgressReporter

VIDEO_EXTENSIONS = frozenset(
    ".mp4 .m4v .mkv .mov .webm .avi .mts .m2ts .ts .mpg .mpeg .wmv .flv .3gp".split()
)


@dataclass
class FileOutcome:
    input: Path
    output: Path
    status: str  # "done", "skipped" or "failed"
    frames: int = 0
    seconds: float = 0.0
    fps: float = 0.0
    device: str = ""
    error: str = ""
    warnings: list[str] = field(default_factory=list)


def is_video_name(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_EXTENSIONS


def plan_folder(input_dir: Path, output_dir: Path) -> list[tuple[Path, Path]]:
    """Every video below ``input_dir`` (recursively, by extension) paired with its output path."""
    input_dir, output_dir = input_dir.resolve(), output_dir.resolve()
    if output_dir == input_dir:
        raise OutputError("the output folder must differ from the input folder (inputs are never overwritten)")
    pairs = []
    for path in sorted(input_dir.rglob("*")):
        if not path.is_file() or not is_video_name(path):
            continue
        if output_dir in path.resolve().parents:
            continue  # our own outputs when the output folder lies inside the input folder
        pairs.append((path, output_dir / path.relative_to(input_dir)))
    return pairs


EngineFactory = Callable[[Any], Any]  # device -> engine


def run_files(
    pairs: Iterable[tuple[Path, Path]],
    make_engine: EngineFactory,
    devices: list[Any],
    *,
    overwrite: bool = False,
    encode: dict | None = None,
    reporter: ProgressReporter | None = None,
    on_outcome: Callable[[FileOutcome], None] | None = None,
) -> list[FileOutcome]:
    """Deblur each (input, output) pair; one worker thread per device pulls from a shared queue.

    Ctrl-C stops all workers (each removes its partial output) and raises
    :class:`Interrupted` after the outcomes so far have been reported.
    """
    encode = encode or {}
    reporter = reporter or ProgressReporter(enabled=False)
    jobs: "queue.Queue[tuple[int, Path, Path]]" = queue.Queue()
    pairs = list(pairs)
    for index, (src, dst) in enumerate(pairs):
        jobs.put((index, src, dst))
    outcomes: list[FileOutcome | None] = [None] * len(pairs)
    cancel = threading.Event()

    def record(index: int, outcome: FileOutcome) -> None:
        outcomes[index] = outcome
        if on_outcome is not None:
            on_outcome(outcome)

    def worker(device: Any) -> None:
        engine = None
        while not cancel.is_set():
            try:
                index, src, dst = jobs.get_nowait()
            except queue.Empty:
                return
            if dst.exists() and not overwrite:
                record(index, FileOutcome(src, dst, "skipped", error="output exists (use --overwrite)"))
                continue
            try:
                if engine is None:
                    engine = make_engine(device)
                engine.reset()
                with reporter.file(src.name) as bar:
                    result = deblur_video(src, dst, engine, overwrite=overwrite, cancel=cancel,
                                          on_start=bar.on_start, on_frame=bar.on_frame, **encode)
                record(index, FileOutcome(src, dst, "done", result.frames, result.seconds, result.fps,
                                          str(device), warnings=list(result.warnings)))
            except Interrupted:
                cancel.set()
                return
            except DeblurError as exc:
                record(index, FileOutcome(src, dst, "failed", device=str(device), error=str(exc)))
            except Exception as exc:  # a bug on one file must not lose the rest of the batch
                record(index, FileOutcome(src, dst, "failed", device=str(device),
                                          error=f"internal error: {type(exc).__name__}: {exc}"))

    threads = [threading.Thread(target=worker, args=(d,), name=f"deblur-{d}", daemon=True) for d in devices]
    for thread in threads:
        thread.start()
    try:
        while any(t.is_alive() for t in threads):
            for thread in threads:
                thread.join(timeout=0.2)
    except KeyboardInterrupt:
        cancel.set()
        for thread in threads:
            thread.join()
    if cancel.is_set():
        done = sum(1 for o in outcomes if o is not None and o.status == "done")
        raise Interrupted(f"interrupted: {done} of {len(pairs)} file(s) finished; partial outputs removed")
    return [o for o in outcomes if o is not None]


def summary_counts(outcomes: list[FileOutcome]) -> dict[str, int]:
    counts = {"done": 0, "skipped": 0, "failed": 0}
    for outcome in outcomes:
        counts[outcome.status] += 1
    return counts
