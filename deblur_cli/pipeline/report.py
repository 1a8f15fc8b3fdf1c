"""``--json PATH``: what a run did, per file and in total, for scripts and CI.

Written atomically (a reader never sees half a report) after every run: one
that finished, one that failed, and one cut short by Ctrl-C or a signal
(``totals.interrupted``; the file being worked on then has the status
``interrupted`` and the frames it had done). Files a cut-short run never
reached are not listed; ``totals.planned`` counts them. The path ``-`` writes
the report to standard output instead. ``stages`` (per file and summed in the
totals) are the seconds each stage took and each thread waited
(:mod:`deblur_cli.inference.timing`), ``colour_path`` where colour was
converted (``cpu`` or ``device``: :mod:`.reading`). ``restored_frames``: of
``frames``, those written from the network's output (fewer with
``--skip-sharp``: passed and copied frames are not); ``strength`` is the
mean strength over those restored frames alone.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from .. import __version__
from ..inference.timing import STAGES
from ..io.atomic import write_atomic
from .batch import FileOutcome, summary_counts

REPORT_VERSION = 1


def outcome_record(outcome: FileOutcome) -> dict[str, Any]:
    """One file's entry: where from and to, its fate, and what it took."""
    return {
        "input": str(outcome.input),
        "output": str(outcome.output),
        "status": outcome.status,
        "frames": outcome.frames,
        "restored_frames": outcome.restored,
        "fps": round(outcome.fps, 3),
        "seconds": round(outcome.seconds, 3),
        "scene_cuts": len(outcome.cuts),
        "cut_frames": list(outcome.cuts),
        "frames_out": None if outcome.frames_out is None else str(outcome.frames_out),
        "strength": None if outcome.strength is None else round(outcome.strength, 4),
        "device": outcome.device or None,
        "error": outcome.error or None,
        "warnings": list(outcome.warnings),
        "colour_path": outcome.colour or None,
        "stages": _seconds(outcome.stages),
    }


def _seconds(stages: dict[str, float]) -> dict[str, float]:
    """Seconds per stage (see :mod:`deblur_cli.inference.timing`), every stage named, in table order."""
    return {stage: round(stages.get(stage, 0.0), 4) for stage in STAGES}


def build_report(outcomes: list[FileOutcome], *, planned: int, interrupted: bool = False) -> dict[str, Any]:
    counts = summary_counts(outcomes)
    totals = {
        "planned": planned,
        "files": len(outcomes),
        "done": counts["done"],
        "copied": counts["sharp (copied)"],
        "skipped": counts["skipped"],
        "failed": counts["failed"],
        "interrupted_files": counts["interrupted"],
        "frames": sum(o.frames for o in outcomes),
        "restored_frames": sum(o.restored for o in outcomes),
        "seconds": round(sum(o.seconds for o in outcomes), 3),
        "scene_cuts": sum(len(o.cuts) for o in outcomes),
        "interrupted": interrupted,
        "stages": _seconds(total_stages(outcomes)),
    }
    return {"report_version": REPORT_VERSION, "tool": f"stfan-deblur {__version__}",
            "files": [outcome_record(o) for o in outcomes], "totals": totals}


def total_stages(outcomes: list[FileOutcome]) -> dict[str, float]:
    """Seconds per stage summed over the files."""
    return {stage: sum(o.stages.get(stage, 0.0) for o in outcomes) for stage in STAGES}


STDOUT = "-"


def write_report(path: str | Path, outcomes: list[FileOutcome], *, planned: int, interrupted: bool = False) -> None:
    """Write the report to ``path`` all-or-nothing (OutputError if it cannot be written); ``-``: to stdout."""
    text = json.dumps(build_report(outcomes, planned=planned, interrupted=interrupted), indent=2) + "\n"
    if str(path) == STDOUT:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        write_atomic(path, text)
