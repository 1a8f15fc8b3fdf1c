"""``stfan-deblur info``: versions, weights card, devices and encoders, for humans or as JSON."""

from __future__ import annotations

import json
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from .weights_cmd import weights_option


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
    choice = "default rule" if weights["default"] else weights["choice"]
    rows = [("choice", f"{choice}: {weights['resolved']}")]
    if weights["default"]:
        rows.append(("rule", weights["rule"]))
    if weights["loaded"]:
        rows.append(("file", weights["path"]))
        if weights["experimental"]:
            rows.append(("status", "[yellow]experimental[/]: not for real deblurring"))
        rows += [(key.replace("_", " "), weights[key] if weights[key] not in ({}, []) else "-")
                 for key in ("name", "source", "channel_order", "value_range", "recipe", "metrics", "sha256")]
    elif "error" in weights:
        rows += [("file", weights["path"]), ("status", f"[red]{weights['error']}[/]")]
    else:
        entry = weights["entry"]
        rows += [("status", f"[yellow]{weights['status']}[/]")]
        rows += [(key.replace("_", " "), entry[key]) for key in ("title", "channel_order", "trained_on", "figures",
                                                                 "licence")]
    rows.append(("cache", weights["cache"]))
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
    note = "  [dim](Triton kernels need a CUDA GPU)[/]" if triton["fac_auto"] == "reference" else ""
    fac = triton["fac_auto"] + note
    _section(console, "Triton", [("installed", installed), ("FAC used", fac)])


@click.command(context_settings={"show_default": True})
@weights_option("info")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def info_command(ctx: click.Context, weights: str | None, as_json: bool) -> None:
    """Show versions, weights (which would be used, and why; nothing is downloaded), devices and encoders."""
    from .sysinfo import system_info

    from_env = ctx.get_parameter_source("weights") == click.core.ParameterSource.ENVIRONMENT
    info = system_info(weights, "STFAN_DEBLUR_WEIGHTS" if from_env else "--weights")
    if as_json:
        click.echo(json.dumps(info, indent=2))
    else:
        print_report(info, Console(highlight=False))
    if "error" in info["weights"]:
        raise SystemExit(1)  # weights the user named are missing or broken: say so to scripts too
