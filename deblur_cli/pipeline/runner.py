"""Everything ``stfan-deblur run`` does, as one library call the CLI (or a script) makes.

Plan the jobs from INPUT/OUTPUT (:mod:`.inputs`), check the weights and
devices before any file is touched, clear what a killed earlier run left in
the output folder (its stale temporaries), run the jobs
(:func:`.batch.run_files`, one engine per device), and write the ``--json``
report whatever the outcome.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import BatchInterrupted, DeblurError
from ..io.atomic import remove_stale_temporaries
from .batch import FileOutcome, run_files
from .inputs import FOLDER, SEQUENCE, plan_jobs
from .options import EngineOptions, VideoOptions, split_settings, with_settings
from .progress import NULL_REPORTER, Reporter


@dataclass
class RunSummary:
    kind: str  # "video", "sequence" or "folder" (see inputs.input_kind)
    outcomes: list[FileOutcome]
    root: Path | None = None  # the input folder (for showing paths relative to it), for a folder run

    @property
    def failed(self) -> bool:
        return any(o.status == "failed" for o in self.outcomes)


def deblur_path(
    input_path: str | Path,
    output_path: str | Path,
    engine_options: EngineOptions | None = None,
    video_options: VideoOptions | None = None,
    *,
    frames_out: str | Path | None = None,
    json_path: str | Path | None = None,
    reporter: Reporter = NULL_REPORTER,
    ray: str | None = None,
    **settings: Any,
) -> RunSummary:
    """Deblur a video, an image sequence or a folder of videos.

    ``settings`` are fields of :class:`~deblur_cli.pipeline.options.EngineOptions`
    (weights, device, fp16, fac, tile, strength) or of
    :class:`~deblur_cli.pipeline.options.VideoOptions` (codec, crf, preset,
    start, duration, compare, scene_cuts, fps, overwrite), applied on top of
    the two records. A single input that fails raises its error (after the
    report is written); a folder records failures in the outcomes and goes on.
    Ctrl-C (or SIGTERM/SIGHUP under :func:`deblur_cli.cli.signals.stop_on_signals`)
    raises :class:`~deblur_cli.errors.BatchInterrupted` with the outcomes so
    far. ``json_path`` ``"-"`` writes the report to standard output. Long
    videos go in resumable segments (``segment``, ``resume``; :mod:`.split`)
    spread over the devices; ``ray``: run the files and segments as Ray tasks
    instead ("local", "auto" or a cluster address; :mod:`.cluster`).
    """
    from ..inference import build
    from ..inference.devices import resolve_devices
    from ..models.choice import load_weights

    engine_settings, video_settings = split_settings(settings)
    engine_options = with_settings(engine_options, EngineOptions, engine_settings)
    video_options = with_settings(video_options, VideoOptions, video_settings)
    input_path, output_path = Path(input_path), Path(output_path)
    kind, jobs = plan_jobs(input_path, output_path, None if frames_out is None else Path(frames_out))
    devices = resolve_devices(engine_options.device) if ray is None else []
    if kind == SEQUENCE:  # a video's segments, and a folder's files, are spread over the devices
        devices = devices[:1]
    loaded = load_weights(engine_options.weights)  # fail on bad weights before any file is touched

    def make_engine(device):
        o = engine_options
        return build.build_engine(loaded, device=str(device), fp16=o.fp16, fac=o.fac, tile=o.tile,
                                  strength=o.strength)

    def report(outcomes: list[FileOutcome], interrupted: bool = False) -> None:
        if json_path is not None:
            from .report import write_report

            write_report(json_path, outcomes, planned=len(jobs), interrupted=interrupted)

    if kind == FOLDER:
        remove_stale_temporaries(output_path, recursive=True)
    try:
        with reporter.session(len(jobs)):
            if ray is not None:
                from .cluster import run_on_ray

                o = replace(engine_options, weights=loaded.path)  # the file itself: the tasks do not look names up
                identity = build.engine_identity(loaded, o.fp16, o.fac, o.tile, o.strength)
                outcomes = run_on_ray(jobs, o, identity, video_options, ray, skip_existing=kind == FOLDER,
                                      reporter=reporter)
            else:
                outcomes = run_files(jobs, make_engine, devices, video_options, skip_existing=kind == FOLDER,
                                     reporter=reporter)
    except BatchInterrupted as exc:
        report(exc.outcomes, interrupted=True)
        raise
    report(outcomes)
    if kind != FOLDER and outcomes[0].status == "failed":
        raise outcomes[0].exception or DeblurError(outcomes[0].error)
    return RunSummary(kind, outcomes, input_path if kind == FOLDER else None)
