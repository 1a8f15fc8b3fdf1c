"""What the CLI prints when work is done: one line per file, or a summary for a folder.

On a terminal a folder's summary is a table; elsewhere (a log, a pipe) it is
one line per file that is never wrapped, so scripts can read it. Paths are
shown relative to the input folder, and through :func:`~deblur_cli.errors.shown`,
so a name holding a newline stays on its line. Everything goes to stderr:
stdout is left for ``--json -``.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..errors import shown
from ..inference.timing import THREADS, WAITS, busiest
from ..pipeline.batch import FileOutcome, summary_counts
from ..pipeline.report import total_stages

STATUS_STYLE = {"done": "green", "sharp (copied)": "green", "skipped": "yellow", "failed": "red", "interrupted": "red"}


def say(console: Console, text: str) -> None:
    """One plain line on ``console``: never wrapped, no markup or highlighting read into it."""
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def relative(path: Path, root: Path | None) -> str:
    """``path`` as the user should see it: relative to ``root`` (the input folder) where it lies below it."""
    for base in ((root, root.resolve()) if root is not None else ()):
        try:
            return shown(Path(path).relative_to(base))
        except ValueError:
            continue
    return shown(path)


def _cuts(n: int) -> str:
    return f"{n} scene cut{'' if n == 1 else 's'}"


def _restored(outcome: FileOutcome) -> str:
    """``" (14 restored by the network)"``, where --skip-sharp passed frames by; else nothing."""
    skipped = outcome.status == "done" and outcome.restored < outcome.frames
    return f" ({outcome.restored} restored by the network)" if skipped else ""


def print_file_result(outcome: FileOutcome, console: Console, *, quiet: bool = False) -> None:
    """Warnings always reach stderr; the result line only without ``--quiet``."""
    for warning in outcome.warnings:
        say(console, f"warning: {shown(warning)}")
    if not quiet and outcome.status == "sharp (copied)":
        say(console, f"sharp: copied {shown(outcome.input)} to {shown(outcome.output)} as it is "
                     f"({outcome.frames} frames, no network)")
    elif not quiet:
        frames = f"; frames in {shown(outcome.frames_out)}" if outcome.frames_out else ""
        say(console, f"wrote {shown(outcome.output)}: {outcome.frames} frames{_restored(outcome)} "
                     f"in {outcome.seconds:.1f} s ({outcome.fps:.1f} fps), {_cuts(len(outcome.cuts))}{frames}")


def _details(outcome: FileOutcome) -> str:
    if outcome.status in ("done", "sharp (copied)"):
        text = f"{outcome.frames} frames{_restored(outcome)}, {outcome.fps:.1f} fps, {_cuts(len(outcome.cuts))}"
        return text + "".join(f"; warning: {shown(w)}" for w in outcome.warnings)
    if outcome.status == "interrupted":
        return f"stopped after {outcome.frames} frames; {shown(outcome.error)}"
    return shown(outcome.error)


def print_summary(outcomes: list[FileOutcome], console: Console, *, root: Path | None = None,
                  quiet: bool = False) -> None:
    """Every file and its fate (a table on a terminal, lines elsewhere); failures are listed even with ``--quiet``.

    ``root``: the input folder, which names are shown relative to.
    """
    counts = summary_counts(outcomes)
    if quiet:
        for outcome in outcomes:
            if outcome.status == "failed":
                say(console, f"error: {relative(outcome.input, root)}: {shown(outcome.error)}")
        return
    if console.is_terminal:
        table = Table(title="stfan-deblur summary", show_lines=False)
        for column, justify in (("file", "left"), ("status", "left"), ("frames", "right"), ("fps", "right"),
                                ("cuts", "right"), ("note", "left")):
            table.add_column(column, justify=justify, overflow="fold")
        for outcome in outcomes:
            done = outcome.status in ("done", "sharp (copied)")
            table.add_row(
                escape(relative(outcome.input, root)),
                f"[{STATUS_STYLE[outcome.status]}]{outcome.status}[/]",
                f"{outcome.frames}{_restored(outcome)}" if done or outcome.status == "interrupted" else "",
                f"{outcome.fps:.1f}" if done else "",
                str(len(outcome.cuts)) if done else "",
                escape(shown(outcome.error or "; ".join(outcome.warnings))),
            )
        console.print(table)
    else:
        for outcome in outcomes:
            say(console, f"{outcome.status}: {relative(outcome.input, root)}: {_details(outcome)}")
    cuts = sum(len(o.cuts) for o in outcomes)
    stopped = f", {counts['interrupted']} interrupted" if counts["interrupted"] else ""
    copied = f", {counts['sharp (copied)']} sharp (copied)" if counts["sharp (copied)"] else ""
    written = [o for o in outcomes if o.status in ("done", "sharp (copied)")]
    frames, restored = sum(o.frames for o in written), sum(o.restored for o in written)
    saved = f"; the network restored {restored} of {frames} frames" if restored < frames else ""
    say(console, f"{counts['done']} done{copied}, {counts['skipped']} skipped, {counts['failed']} failed{stopped}; "
                 f"{_cuts(cuts)}{saved}")


def stage_rows(outcomes: list[FileOutcome]) -> tuple[list[tuple[str, str, float, float, float]], str]:
    """(thread, stage, seconds, ms per frame, share of the wall time) per stage, and a one-line verdict."""
    done = [o for o in outcomes if o.stages]
    seconds = total_stages(done)
    wall = sum(o.seconds for o in done)
    frames = sum(o.frames for o in done)
    rows = [(thread, stage, seconds[stage], 1000 * seconds[stage] / frames if frames else 0.0,
             seconds[stage] / wall if wall else 0.0) for thread, stages in THREADS.items() for stage in stages]
    limit = busiest(seconds)
    where = next((t for t, stages in THREADS.items() if limit in stages), "")
    verdict = f"{frames} frames in {wall:.2f} s" + (f"; busiest stage: {limit} ({where} thread)" if limit else "")
    if any(o.device.startswith(("cuda", "ray")) for o in done):
        verdict += "; on CUDA, upload/model/download are the device's own time"
    return rows, verdict


def print_stages(outcomes: list[FileOutcome], console: Console) -> None:
    """``--stats``: where the time went, summed over the files written (a table on a terminal, lines elsewhere).

    Each thread's stages and waits add up to about the wall time; the stage
    with the most seconds, in the thread that waits least, is the one that limits the run.
    """
    rows, verdict = stage_rows(outcomes)
    if not any(o.stages for o in outcomes):
        return
    colours = sorted({o.colour for o in outcomes if o.colour})
    title = f"where the time went (colour conversion: {', '.join(colours) or 'cpu'})"
    if console.is_terminal:
        table = Table(title=title, show_lines=False)
        for column, justify in (("thread", "left"), ("stage", "left"), ("seconds", "right"),
                                ("ms/frame", "right"), ("of wall", "right")):
            table.add_column(column, justify=justify)
        for thread, stage, secs, per_frame, share in rows:
            style = "dim" if stage in WAITS else ""
            table.add_row(thread, f"[{style}]{stage}[/]" if style else stage, f"{secs:.3f}", f"{per_frame:.2f}",
                          f"{100 * share:.1f} %")
        console.print(table)
    else:
        say(console, title)
        for thread, stage, secs, per_frame, share in rows:
            say(console, f"stage {thread} {stage}: {secs:.3f} s, {per_frame:.2f} ms/frame, {100 * share:.1f} % of wall")
    say(console, verdict)
