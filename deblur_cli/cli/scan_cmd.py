"""``stfan-deblur scan INPUT``: which files, and which seconds of them, are blurred, before any network runs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ..analysis import DEFAULT_THRESHOLD
from .options import env

EPILOG = """\b
INPUT is a video, a folder of videos (recursive, as for run) or a folder of image frames.
The cost column is what run would take on --device for every frame, and with --skip-sharp
(blurred stretches and their warm-up only), from a short measured warm-up of the network.
"""


def _meter(weights: str | None, device: str):
    """A rate meter on ``device`` (None where no weights are on this machine: the estimate is left out)."""
    from ..errors import DeblurError
    from ..inference.build import build_engine
    from ..models.registry import fetching
    from ..pipeline.costs import RateMeter

    # The cost does not depend on the weights' values: any STFAN weights on this machine measure it.
    with fetching(offline=True, notice=lambda _: None):
        for choice in ([weights] if weights else [None, "synth-v0"]):
            try:
                return RateMeter(build_engine(choice, device=device, strength="auto"))
            except DeblurError:
                continue
    return None


@click.command(context_settings={"show_default": True}, epilog=EPILOG)
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option("--json", "json_path", type=click.Path(path_type=Path), default=None,
              help="Write the findings as JSON to this file (atomically); '-' writes them to stdout.")
@click.option("--plot", "plot_path", type=click.Path(path_type=Path), default=None,
              help="Draw each file's timeline: a .png file for one input, else a folder that receives one PNG per "
                   "file. Needs pip install 'stfan-deblur[plot]'.")
@click.option("--threshold", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=DEFAULT_THRESHOLD,
              **env("THRESHOLD", "scan"), help="Blur score (0 sharp .. 1) at and above which a frame is blurred.")
@click.option("--device", default="auto", **env("DEVICE", "scan"),
              help="The device whose run cost is estimated (auto, cpu, cuda, cuda:N).")
@click.option("--weights", default=None, **env("WEIGHTS", "scan"),
              help="Weights to time the network with (a file or an entry name; only weights on this machine: "
                   "the cost is the same for any).")
@click.option("--estimate/--no-estimate", default=True, help="Estimate what run would cost (a short warm-up).")
@click.option("--fps", type=click.FloatRange(0, 1000, min_open=True), default=30.0,
              help="Frame rate given to an image-sequence INPUT (ignored for videos).")
@click.option("-q", "--quiet", is_flag=True, help="No table (with --json/--plot: only the files).")
def scan_command(input_path: Path, json_path: Path | None, plot_path: Path | None, threshold: float, device: str,
                 weights: str | None, estimate: bool, fps: float, quiet: bool) -> None:
    """Find the blurred stretches of INPUT (no network): a table, --json, --plot."""
    from rich.console import Console

    from ..io.atomic import write_atomic
    from ..pipeline.inputs import FOLDER
    from ..pipeline.scan import scan_files, scan_inputs
    from .report import relative

    if plot_path is not None:
        from .scan_plot import check_plotting

        check_plotting()
    kind, paths = scan_inputs(input_path)
    console = Console(stderr=True)
    scans = scan_files(paths, threshold, fps, kind=kind)
    root = input_path.resolve() if kind == FOLDER else None  # the folder's files are listed resolved
    meter = _meter(weights, device) if estimate and not all(s.error for s in scans) else None
    costs = {}
    if meter is not None:
        from ..pipeline.costs import run_seconds

        for s in scans:
            if not s.error and s.times:
                rate = meter.rate(s.width, s.height)
                blurred = sum(s.blurred)
                costs[s.path] = run_seconds(len(s.times), len(s.stretches), blurred, rate)
    report = {"threshold": threshold, "device": device,
              "files": [dict(s.as_dict(root), **({"run_seconds": {"all": round(costs[s.path][0], 1),
                                                                  "skip_sharp": round(costs[s.path][1], 1)}}
                                                   if s.path in costs else {})) for s in scans]}
    if json_path is not None:
        text = json.dumps(report, indent=1) + "\n"
        if str(json_path) == "-":
            sys.stdout.write(text)
            sys.stdout.flush()
        else:
            write_atomic(json_path, text)
    if plot_path is not None:
        from .scan_plot import plot_scans

        plot_scans(scans, plot_path, root)
    if not quiet:
        from .scan_table import print_scans

        print_scans(scans, costs, console, root)
    if any(s.error for s in scans):
        for s in scans:
            if s.error and quiet:
                console.print(f"error: {relative(s.path, root)}: {s.error}", markup=False, highlight=False)
        raise SystemExit(1)
