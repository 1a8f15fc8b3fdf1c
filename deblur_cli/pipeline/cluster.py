"""``--ray``: the files of a run and the segments of its long videos as Ray tasks, on a cluster or a local Ray.

The driver (this process) plans each file as a local run does: a short video
becomes one task that restores it whole; a long one is split
(:class:`.split.SplitVideo`) and each missing segment becomes a task that
writes its part into the work folder. The driver records parts as they arrive
and joins each file when its parts are done. Every task asks for one GPU, or
one CPU on a cluster without GPUs, and keeps its engine for the next task the
same worker process gets. A task whose worker or node dies is run again
(``max_retries``); a driver that dies leaves the journal, and the same command
resumes. Inputs, outputs and weights must be on storage every node sees.

Ray is imported only here, only when ``--ray`` is given (``pip install
"stfan-deblur[ray]"``).
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import BatchInterrupted, DeblurError, Interrupted, OptionError, exit_code_of, first_line
from .batch import FileOutcome, Job, _interrupted_message
from .options import EngineOptions, VideoOptions
from .parts import PartJob, PartResult, make_part
from .progress import NULL_REPORTER, Reporter
from .skipping import copy_if_sharp
from .split import SplitVideo

MAX_RETRIES = 3  # runs of a task whose worker process or node was lost
POLL_S = 0.5
CANCEL_WAIT_S = 10.0  # how long cancelled tasks get to remove their half-written parts
CRASH_ENV = "STFAN_DEBLUR_TEST_RAY_CRASH"  # tests only: see _crash_once

_engines: dict[tuple, Any] = {}  # per worker process: (engine options, device) -> engine


def _ray():
    try:
        import ray
    except ImportError:
        raise OptionError('--ray needs Ray: pip install "stfan-deblur[ray]"') from None
    return ray


def connect(ray, address: str | None) -> bool:
    """Join (or start) the Ray cluster; True when this call started it (and must shut it down)."""
    if ray.is_initialized():
        return False
    address = (address or "local").strip()
    try:
        ray.init(address=None if address == "local" else address, logging_level="error", log_to_driver=False)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise OptionError(f"cannot connect to the Ray cluster at {address!r}: {first_line(exc)} "
                          f"(start one with 'ray start --head', or give --ray without an address)") from None
    return True


def _crash_once(name: str) -> None:
    """Test hook (CRASH_ENV names a folder): a file ``name`` there makes the task's next attempt die as on a lost node.

    The file is removed first, so the retry that Ray makes runs normally.
    """
    folder = os.environ.get(CRASH_ENV)
    if not folder:
        return
    try:
        os.unlink(os.path.join(folder, name))
    except OSError:
        return
    os._exit(1)


def task_name(path: Path) -> str:
    """How :func:`_crash_once` names the task that writes ``path`` (a part, or a whole output)."""
    return f"{path.parent.name}-{path.name}"


def _engine(engine_options: EngineOptions):
    import ray

    from ..inference import build

    device = "cuda" if ray.get_gpu_ids() else "cpu"
    key = (engine_options, device)
    if key not in _engines:
        o = engine_options
        _engines[key] = build.build_engine(o.weights, device=device, fp16=o.fp16, fac=o.fac, tile=o.tile,
                                           strength=o.strength)
    return _engines[key], device


def _file_task(job: Job, engine_options: EngineOptions, options: VideoOptions):
    from .video import deblur_video

    _crash_once(task_name(job.output))
    engine, device = _engine(engine_options)
    return deblur_video(job.input, job.output, engine, replace(options, segment=0), frames_out=job.frames_out), device


def _part_task(job: PartJob, engine_options: EngineOptions) -> tuple[PartResult, str]:
    _crash_once(task_name(job.part))
    engine, device = _engine(engine_options)
    return make_part(job, engine), device


def run_on_ray(jobs: list[Job], engine_options: EngineOptions, identity: dict, options: VideoOptions,
               address: str | None, *, skip_existing: bool = True,
               reporter: Reporter = NULL_REPORTER) -> list[FileOutcome]:
    """Deblur ``jobs`` on Ray (see the module doc); outcomes as :func:`.batch.run_files` gives them."""
    ray = _ray()
    started = connect(ray, address)
    try:
        return _Driver(ray, jobs, engine_options, identity, options, skip_existing, reporter).run()
    finally:
        if started:
            ray.shutdown()


class _Driver:
    def __init__(self, ray, jobs, engine_options, identity, options, skip_existing, reporter) -> None:
        self.ray, self.jobs, self.engine_options = ray, jobs, engine_options
        self.identity, self.options, self.skip_existing, self.reporter = identity, options, skip_existing, reporter
        gpus = ray.cluster_resources().get("GPU", 0)
        resources = {"num_gpus": 1} if gpus else {"num_cpus": 1}
        self.file_task = ray.remote(max_retries=MAX_RETRIES, **resources)(_file_task)
        self.part_task = ray.remote(max_retries=MAX_RETRIES, **resources)(_part_task)
        self.outcomes: list[FileOutcome | None] = [None] * len(jobs)
        self.waiting: dict[Any, tuple[int, PartJob | None]] = {}  # task -> (file, its part; None: whole file)
        self.splits: dict[int, SplitVideo] = {}
        self.devices: dict[int, set[str]] = {}

    def run(self) -> list[FileOutcome]:
        try:
            for index, job in enumerate(self.jobs):
                self._submit(index, job)
            while self.waiting:
                ready, _ = self.ray.wait(list(self.waiting), num_returns=1, timeout=POLL_S)
                for ref in ready:
                    self._collect(ref)
        except KeyboardInterrupt as stop:
            self._cancel(stop)
            finished = [o for o in self.outcomes if o is not None]
            raise BatchInterrupted(_interrupted_message(finished, len(self.jobs), stop), finished,
                                   exit_code=exit_code_of(stop)) from None
        return [o for o in self.outcomes if o is not None]

    def _submit(self, index: int, job: Job) -> None:
        if self.skip_existing and job.output.exists() and not self.options.overwrite:
            self.outcomes[index] = FileOutcome(job.input, job.output, "skipped",
                                               error="output exists (use --overwrite)")
            self.reporter.skipped(job.input.name)
            return
        try:  # --skip-sharp: planned here once; a sharp file is copied here, no task (nor engine) needed
            options, copied = copy_if_sharp(job.input, job.output, self.options, job.frames_out)
            if copied is not None:
                self._done(index, copied, "driver")
                return
            split = None if job.frames_out is not None else \
                SplitVideo.prepare(job.input, job.output, options, self.identity)
        except DeblurError as exc:
            self._failed(index, exc)
            return
        if split is None:
            self.waiting[self.file_task.remote(job, self.engine_options, options)] = (index, None)
            return
        self.splits[index], self.devices[index] = split, set()
        for part in split.pending:
            self.waiting[self.part_task.remote(part, self.engine_options)] = (index, part)
        if not split.pending:
            self._join(index)

    def _collect(self, ref) -> None:
        index, part = self.waiting.pop(ref)
        if self.outcomes[index] is not None:
            return  # the file already failed
        try:
            result, device = self.ray.get(ref)
        except Exception as exc:
            self._failed(index, getattr(exc, "cause", None) or exc)
            return
        if part is None:
            self._done(index, result, device)
            return
        self.devices[index].add(device)
        if self.splits[index].record(result) == 0:
            self._join(index)

    def _join(self, index: int) -> None:
        split = self.splits[index]
        try:
            result = split.join()
        except DeblurError as exc:
            self._failed(index, exc)
            return
        finally:
            split.release()
        self._done(index, result, ",".join(sorted(self.devices[index])) or "ray")

    def _done(self, index: int, result, device: str) -> None:
        job = self.jobs[index]
        with self.reporter.file(job.input.name) as bar:
            bar.on_start(result.frames)
            bar.on_frame(result.frames)
        self.outcomes[index] = FileOutcome.finished(job.input, job.output, result, f"ray:{device}")

    def _failed(self, index: int, exc: BaseException) -> None:
        job = self.jobs[index]
        if index in self.splits:
            self.splits[index].release()
        error = str(exc) if isinstance(exc, DeblurError) else f"internal error: {type(exc).__name__}: {first_line(exc)}"
        status, frames = ("interrupted", exc.frames or 0) if isinstance(exc, Interrupted) else ("failed", 0)
        self.outcomes[index] = FileOutcome(job.input, job.output, status, frames, device="ray", error=error,
                                           exception=exc if isinstance(exc, DeblurError) else None)

    def _cancel(self, stop: KeyboardInterrupt) -> None:
        """Stop every task (each removes its half-written part or output); finished parts stay for a resume."""
        for ref in self.waiting:
            self.ray.cancel(ref)
        try:
            if self.waiting:
                self.ray.wait(list(self.waiting), num_returns=len(self.waiting), timeout=CANCEL_WAIT_S)
        except KeyboardInterrupt:
            pass
        for index in {index for index, _ in self.waiting.values()}:
            if self.outcomes[index] is None:
                split = self.splits.get(index)
                self._failed(index, split.interrupted(stop) if split else
                             Interrupted("interrupted; partial output removed", exit_code=exit_code_of(stop)))
