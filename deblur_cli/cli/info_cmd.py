"""``stfan-deblur info``: versions, weights card, devices and encoders, for humans or as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from .options import env


def _section(console: Console, title: str, rows: list[tuple[str, Any]]) -> None:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for key, value in rows:
        table.add_row(key, value if isinstance(value, str) else json.dumps(value))
    console.print(f"[bold underline]{title}[/]")
    console.print(table)
    console.print()


def _yes_no(flag: bool) -> str:
    return "[green]yes[/]" if flag else "[red]no[/]"


def print_report(info: dict[str, Any], console: Console) -> None:
    _section(console, "Versions", list(info["versions"].items()))

    weights = info["weights"]
    where = f"{weights['path']}" + (" (default)" if weights["default"] else "")
    if weights["loaded"]:
        rows = [("file", where)] + [
            (key.replace("_", " "), weights[key] if weights[key] not in ({}, []) else "-")
            for key in ("name", "source", "channel_order", "value_range", "recipe", "metrics", "sha256")
        ]
    else:
        rows = [("file", where), ("status", f"[yellow]{weights['error']}[/]")]
        if "--weights" not in weights["error"]:
            rows.append(("how", weights["hint"]))
    _section(console, "Weights", rows)

    devices = info["devices"]
    cpu = devices["cpu"]
    rows = [("cpu", f"{cpu['model']} ({cpu['logical_cores']} logical cores, torch uses {cpu['torch_threads']})")]
    rows += [(gpu["device"], f"{gpu['name']}, {gpu['memory_gib']} GiB, compute {gpu['compute_capability']}")
             for gpu in devices["cuda"]] or [("cuda", "no CUDA device found")]
    rows.append(("default", devices["default_device"]))
    _section(console, "Devices", rows)

    rows = [(name, _yes_no(status["usable"]) + (f"  [dim]{status['reason']}[/]" if status["reason"] else ""))
            for name, status in info["encoders"].items()]
    _section(console, "Encoders", rows)

    triton = info["triton"]
    installed = f"{_yes_no(True)} {triton['version'] or ''}".rstrip() if triton["installed"] else _yes_no(False)
    fac = triton["fac_auto"] + ("" if triton["fac_auto"] == "triton" else "  [dim](Triton kernels need a CUDA GPU)[/]")
    _section(console, "Triton", [("installed", installed), ("FAC used", fac)])


@click.command(context_settings={"show_default": True})
@click.option("--weights", type=click.Path(path_type=Path), **env("WEIGHTS"),
              help="Weights file to describe. Default: the weights shipped with the package.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def info_command(weights: Path | None, as_json: bool) -> None:
    """Show versions, weights, devices and encoders of this installation."""
    from .sysinfo import system_info

    info = system_info(weights)
    if as_json:
        click.echo(json.dumps(info, indent=2))
    else:
        print_report(info, Console(highlight=False))
    if weights is not None and not info["weights"]["loaded"]:
        raise SystemExit(1)  # a weights file the user named is broken: say so to scripts too
