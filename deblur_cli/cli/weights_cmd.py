"""``stfan-deblur weights list|fetch|import|verify``, and the ``--weights`` / ``--offline`` options of every
command that runs the network (with the notices and the download bar they show)."""

from __future__ import annotations

import json
from contextlib import contextmanager
from functools import partial, wraps
from pathlib import Path
from typing import Callable, Iterator

import click

from ..models.registry import DEFAULT_RULE, ENTRIES, STALL_ENV, STALL_SECONDS
from .options import env

WEIGHTS_HELP = (f"Weights: an entry name ({', '.join(ENTRIES)}; see 'stfan-deblur weights list') or a file "
                f"(this project's .safetensors, or the authors' .pth.tar). Default: {DEFAULT_RULE}.")
OFFLINE_HELP = ("Use only weights already on this machine (shipped or cached); never download. "
                "Missing weights are then an error that says how to get them.")


def weights_option(command: str, option: Callable = click.option) -> Callable:
    """``--weights NAME|FILE`` (shared environment default STFAN_DEBLUR_WEIGHTS)."""
    return option("--weights", metavar="NAME|FILE", default=None, **env("WEIGHTS", command), help=WEIGHTS_HELP)


def offline_option(command: str, option: Callable = click.option) -> Callable:
    """``--offline`` (shared environment default STFAN_DEBLUR_OFFLINE)."""
    return option("--offline", is_flag=True, **env("OFFLINE", command), help=OFFLINE_HELP)


def _echo_err(message: str) -> None:
    click.echo(message, err=True)


@contextmanager
def _download_bar(console, description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(description, total=total)
        yield lambda done: progress.update(task, completed=done)


@contextmanager
def using_weights(offline: bool = False, *, quiet: bool = False, stall: float | None = None) -> Iterator[None]:
    """Weights resolved inside the block may be fetched (unless ``offline``) with a notice on stderr and,
    on a terminal and without ``quiet``, a download bar; experimental weights print their warning."""
    from rich.console import Console

    from ..models.registry import fetching

    console = Console(stderr=True)
    progress = partial(_download_bar, console) if console.is_terminal and not quiet else None
    with fetching(offline=offline or None, notice=_echo_err, progress=progress, stall=stall):
        yield


def uses_weights(command: Callable) -> Callable:
    """Run a click command (with ``offline`` and maybe ``quiet`` parameters) inside :func:`using_weights`."""

    @wraps(command)
    def wrapper(*args, **kwargs):
        with using_weights(kwargs["offline"], quiet=kwargs.get("quiet", False)):
            return command(*args, **kwargs)

    return wrapper


def demo_weights(weights: str | None) -> str | Path:
    """The demo's weights: the user's choice, else the default (fetched like ``run`` does), else -- offline or
    when the download is impossible -- the shipped 'synth-v0' (whose warning then follows)."""
    from ..errors import WeightsUnavailable
    from ..models.choice import resolve

    if weights is not None:
        return weights
    try:
        return resolve(None).path
    except WeightsUnavailable as exc:
        _echo_err(f"note: the demo falls back to the shipped 'synth-v0' weights: {exc}")
        return "synth-v0"


# ----------------------------------------------------------------------------- weights list|fetch|import|verify


def _status(entry) -> tuple[str, str]:
    """(where the entry is on this machine, its sha256 or '-')."""
    from ..models.cache import damage, read_card
    from ..models.choice import local_file

    path = local_file(entry)
    if entry.shipped:
        return ("shipped" if path else "missing (reinstall)"), entry.sha256 or "-"
    card = read_card(entry) or {}
    status = "cached" if path else (f"damaged: 'weights fetch {entry.name} --force'" if damage(entry) else "not cached")
    return status, entry.sha256 or card.get("sha256") or "-"


@click.group()
def weights_group() -> None:
    """Named weights: list them, fetch them into the cache, import a browser download, verify a file."""


@weights_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the entries as JSON.")
def list_command(as_json: bool) -> None:
    """Every weights entry, whether it is on this machine, its size and sha256, and the current default."""
    from ..models.cache import cache_dir
    from ..models.choice import default_choice

    default, _, why = default_choice()
    rows = [(entry, *_status(entry)) for entry in ENTRIES.values()]
    if as_json:
        click.echo(json.dumps({"default": default.name, "default_because": why, "rule": DEFAULT_RULE,
                               "cache": str(cache_dir()), "entries": [
                                   {**e.to_dict(), "status": status, "sha256": sha if sha != "-" else None}
                                   for e, status, sha in rows]}, indent=2))
        return
    for entry, status, sha in rows:
        flags = "  [default now]" if entry is default else ""
        flags += "  EXPERIMENTAL" if entry.experimental else ""
        click.echo(f"{entry.name}  ({status}){flags}\n  {entry.title}")
        for key, value in (("size", entry.size_label), ("channels", f"{entry.channel_order}, values in "
                           f"[{entry.value_range[0]:g}, {entry.value_range[1]:g}]"), ("sha256", sha),
                           ("trained on", entry.trained_on), ("figures", entry.figures),
                           ("auto map", f"{entry.strength_map} (--strength auto; see README, Strength)"),
                           ("from", entry.origin), ("licence", entry.licence)):
            click.echo(f"  {key + ':':12}{value}")
        click.echo()
    click.echo(f"default now: {why}\nrule: {DEFAULT_RULE}\n"
               f"cache: {cache_dir()} (STFAN_DEBLUR_CACHE moves it; else it follows TORCH_HOME)")


def _entry_arg(name: str):
    from ..models.registry import get_entry

    return get_entry(name)


@weights_group.command("fetch")
@click.argument("name", default="authors")
@click.option("--force", is_flag=True, help="Download again even if the entry is cached.")
@click.option("-q", "--quiet", is_flag=True, help="No download bar.")
@click.option("--stall-timeout", "stall", type=click.FloatRange(min=0, min_open=True), default=None,
              metavar="SECONDS", envvar=STALL_ENV, show_envvar=True,
              help=f"Give the download up once this long passes without a byte (default {STALL_SECONDS:g}).")
def fetch_command(name: str, force: bool, quiet: bool, stall: float | None) -> None:
    """Download entry NAME (default: authors) into the cache, verify it and record its sha256."""
    from ..models.cache import fetch

    with using_weights(quiet=quiet, stall=stall):
        cached = fetch(_entry_arg(name), force=force)
    if not cached.fresh:
        click.echo(f"'{name}' is already cached and verified: {cached.path}\n  {cached.verified.summary()}")
    else:
        click.echo(f"{cached.path}")


@weights_group.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--as", "name", default="authors", show_default=True, help="The entry the file is stored as.")
def import_command(file: Path, name: str) -> None:
    """Verify FILE (e.g. the authors' checkpoint downloaded in a browser) and store it in the cache."""
    from ..models.cache import import_file

    cached = import_file(file, _entry_arg(name))
    click.echo(f"imported {file} as '{name}': {cached.path}\n  {cached.verified.summary()}")


@weights_group.command("verify")
@click.argument("target", metavar="NAME|FILE")
def verify_command(target: str) -> None:
    """Check that an entry (shipped or cached) or a file is complete, safe, STFAN weights."""
    from ..errors import WeightsError
    from ..models.cache import damage, read_card, repair_advice, verify_file
    from ..models.choice import local_file

    entry = ENTRIES.get(target) if not Path(target).is_file() else None
    if entry is not None:
        path = local_file(entry)
        if path is None and not entry.shipped and (why := damage(entry)) is not None:
            raise WeightsError(f"the cached '{target}' file is damaged ({why}): {repair_advice(entry)}")
        if path is None:
            raise WeightsError(f"'{target}' is not on this machine: run 'stfan-deblur weights fetch {target}'")
    else:
        path = Path(target)
        if not path.is_file():
            raise WeightsError(f"weights file not found: {target} (entries: {', '.join(ENTRIES)})")
    verified = verify_file(path, entry)
    recorded = (read_card(entry) or {}).get("sha256") if entry is not None and not entry.shipped else None
    if recorded and recorded != verified.sha256:
        raise WeightsError(f"{path} changed since it was cached (sha256 {verified.sha256}, card {recorded}): "
                           f"run 'stfan-deblur weights fetch {target} --force'")
    click.echo(f"ok: {path}\n  {verified.summary()}")

