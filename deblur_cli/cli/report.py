"""What the CLI prints when work is done: one line per file, or a summary table for a folder."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from ..batch import FileOutcome, summary_counts

STATUS_STYLE = {"done": "green", "skipped": "yellow", "failed": "red"}


def print_file_result(result, console: Console, *, quiet: bool = False) -> None:
    """Warnings always reach stderr; the result line only without ``--quiet``."""
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    if not quiet:
        console.print(
            f"wrote {result.output}: {result.frames} frames in {result.seconds:.1f} s ({result.fps:.1f} fps)",
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
    for column, justify in (("file", "left"), ("status", "left"), ("frames", "right"), ("fps", "right"), ("note", "left")):
        table.add_column(column, justify=justify, overflow="fold")
    for outcome in outcomes:
        note = outcome.error or "; ".join(outcome.warnings)
        table.add_row(
            str(outcome.input),
            f"[{STATUS_STYLE[outcome.status]}]{outcome.status}[/]",
            str(outcome.frames) if outcome.status == "done" else "",
            f"{outcome.fps:.1f}" if outcome.status == "done" else "",
            note,
        )
    console.print(table)
    console.print(f"{counts['done']} done, {counts['skipped']} skipped, {counts['failed']} failed", highlight=False)
