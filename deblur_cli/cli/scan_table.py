"""What ``scan`` prints: a table on a terminal, one unwrapped line per file elsewhere (stderr, as ``run``)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..errors import shown
from ..pipeline.scan import FileScan
from .report import relative, say


def clock(seconds: float) -> str:
    """``m:ss.s`` (``h:mm:ss.s`` from an hour)."""
    minutes, secs = divmod(max(seconds, 0.0), 60)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}:{minutes:02d}:{secs:04.1f}" if hours else f"{minutes}:{secs:04.1f}"


def span(seconds: float) -> str:
    """A duration as a person reads an estimate: seconds, minutes or hours."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def _row(scan: FileScan, cost: tuple[float, float] | None) -> tuple[str, str, str, str, str]:
    if scan.error:
        return "", "", "", "", ""
    worst = ", ".join(f"{clock(s.start)}-{clock(s.end)}" for s in scan.worst())
    more = len(scan.stretches) - len(scan.worst())
    worst += f" (+{more})" if more > 0 else ""
    estimate = f"{span(cost[1])} (all: {span(cost[0])})" if cost else "-"
    return clock(scan.duration), f"{100 * scan.blurred_fraction:.0f} %", worst or "-", scan.kind or "-", estimate


def print_scans(scans: list[FileScan], costs: dict[Path, tuple[float, float]], console: Console,
                root: Path | None) -> None:
    heads = ("file", "duration", "blurred", "worst stretches", "kind", "run cost")
    if console.is_terminal:
        table = Table(title="stfan-deblur scan", show_lines=False)
        for head in heads:
            table.add_column(head, justify="right" if head in ("duration", "blurred") else "left", overflow="fold")
        for scan in scans:
            cells = _row(scan, costs.get(scan.path))
            note = f"[red]error: {escape(shown(scan.error))}[/]" if scan.error else escape(cells[2])
            table.add_row(escape(relative(scan.path, root)), cells[0], cells[1], note, *cells[3:])
        console.print(table)
    else:
        for scan in scans:
            if scan.error:
                say(console, f"error: {relative(scan.path, root)}: {shown(scan.error)}")
                continue
            duration, share, worst, kind, cost = _row(scan, costs.get(scan.path))
            say(console, f"{relative(scan.path, root)}: {duration}, blurred {share}, worst {worst}, kind {kind}, "
                         f"run cost {cost}")
