"""What the CLI prints when work is done: one line per file, or a summary table for a folder."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from ..pipeline.batch import FileOutcome, summary_counts

STATUS_STYLE = {"done": "green", "skipped": "yellow", "failed": "red"}


def _cuts(outcome: FileOutcome) -> str:
    n = len(outcome.cuts)
    return f"{n} scene cut{'' if n == 1 else 's'}"


def print_file_result(outcome: FileOutcome, console: Console, *, quiet: bool = False) -> None:
    """Warnings always reach stderr; the result line only without ``--quiet``."""
    for warning in outcome.warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    if not quiet:
        frames = f"; frames in {outcome.frames_out}" if outcome.frames_out else ""
        console.print(
            f"wrote {outcome.output}: {outcome.frames} frames in {outcome.seconds:.1f} s ({outcome.fps:.1f} fps), "
            f"{_cuts(outcome)}{frames}",
            highlight=False,
        )


def print_summary(outcomes: list[FileOutcome], console: Console, *, quiet: bool = False) -> None:
    """A table of every file and its fate; failures are listed even with ``--quiet``."""
    counts = summary_counts(outcomes)
    if quiet:
        for outcome in outcomes:
            if outcome.status == "failed":
                console.print(f"error: {outcome.input}: {outcome.error}", highlight=False)
        return
    table = Table(title="stfan-deblur summary", show_lines=False)
    for column, justify in (("file", "left"), ("status", "left"), ("frames", "right"), ("fps", "right"),
                            ("cuts", "right"), ("note", "left")):
        table.add_column(column, justify=justify, overflow="fold")
    for outcome in outcomes:
        done = outcome.status == "done"
        table.add_row(
            str(outcome.input),
            f"[{STATUS_STYLE[outcome.status]}]{outcome.status}[/]",
            str(outcome.frames) if done else "",
            f"{outcome.fps:.1f}" if done else "",
            str(len(outcome.cuts)) if done else "",
            outcome.error or "; ".join(outcome.warnings),
        )
    console.print(table)
    cuts = sum(len(o.cuts) for o in outcomes)
    console.print(f"{counts['done']} done, {counts['skipped']} skipped, {counts['failed']} failed; "
                  f"{cuts} scene cut{'' if cuts == 1 else 's'}", highlight=False)
