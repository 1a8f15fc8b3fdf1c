"""Everything ``stfan-deblur run`` does, as one library call the CLI (or a script) makes.

Plan the jobs from INPUT/OUTPUT (:mod:`.inputs`), check the weights and
devices before any file is touched, run the jobs (:func:`.batch.run_files`,
one engine per device), and write the ``--json`` report whatever the outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .batch import FileOutcome, run_files
from .errors import BatchInterrupted, DeblurError
from .inputs import FOLDER, plan_jobs
from .progress import ProgressReporter


@dataclass
class RunSummary:
    kind: str  # "video", "sequence" or "folder" (see inputs.input_kind)
    outcomes: list[FileOutcome]

    @property
    def failed(self) -> bool:
        return any(o.status == "failed" for o in self.outcomes)


def deblur_path(
    input_path: str | Path,
    output_path: str | Path,
    *,
    weights: str | Path | None = None,
    device: str = "auto",
    fp16: bool = False,
    fac: str = "auto",
    tile: int | None = None,
    frames_out: str | Path | None = None,
    json_path: str | Path | None = None,
    overwrite: bool = False,
    reporter: ProgressReporter | None = None,
    **options: Any,
) -> RunSummary:
    """Deblur a video, an image sequence or a folder of videos.

    ``options`` are :func:`~deblur_cli.pipeline.deblur_video`'s (codec, crf,
    preset, start, duration, compare, scene_cuts, fps). A single input that
    fails raises its error (after the report is written); a folder records
    failures in the outcomes and goes on. Ctrl-C raises
    :class:`~deblur_cli.errors.BatchInterrupted` with the outcomes so far.
    """
    from .devices import resolve_devices
    from .weights import build_engine, load_weights

    input_path, output_path = Path(input_path), Path(output_path)
    frames_out = None if frames_out is None else Path(frames_out)
    kind, jobs = plan_jobs(input_path, output_path, frames_out)
    devices = resolve_devices(device)
    if kind != FOLDER:
        devices = devices[:1]
    load_weights(weights)  # fail on bad weights before any file is touched

    def make_engine(dev):
        return build_engine(weights, device=str(dev), fp16=fp16, fac=fac, tile=tile)

    reporter = reporter or ProgressReporter(enabled=False)

    def report(outcomes: list[FileOutcome], interrupted: bool = False) -> None:
        if json_path is not None:
            from .jsonreport import write_report

            write_report(json_path, outcomes, planned=len(jobs), interrupted=interrupted)

    try:
        with reporter.session(len(jobs)):
            outcomes = run_files(jobs, make_engine, devices, overwrite=overwrite, skip_existing=kind == FOLDER,
                                 options=options, reporter=reporter)
    except BatchInterrupted as exc:
        report(exc.outcomes, interrupted=True)
        raise
    report(outcomes)
    if kind != FOLDER and outcomes[0].status == "failed":
        raise outcomes[0].exception or DeblurError(outcomes[0].error)
    return RunSummary(kind, outcomes)
