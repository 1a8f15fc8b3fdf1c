"""``stfan-deblur run INPUT -o OUTPUT``: options in, one library call out, a summary printed."""

from __future__ import annotations

from pathlib import Path

import click

from ..ops import FAC_IMPLS
from ..pipeline import COMPARE_MODES, DEFAULT_SEGMENT_S
from .options import GroupedCommand, TimeType, env, grouped, strength_option
from .weights_cmd import offline_option, uses_weights, weights_option

io_option, model_option, encoding_option = grouped("Input and output"), grouped("Model"), grouped("Encoding")
performance_option, reporting_option = grouped("Performance"), grouped("Reporting")

EPILOG = """\b
INPUT is a video file, a folder of image frames (PNG/JPEG...: a folder that holds
images and no video files), or a folder of videos (processed recursively).
Environment: every option marked [env var] takes its default from STFAN_DEBLUR_<NAME>.
"""


@click.command(cls=GroupedCommand, context_settings={"show_default": True}, epilog=EPILOG)
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@io_option("-o", "--output", "output_path", required=True, type=click.Path(path_type=Path),
              help="Output video; a folder when INPUT is a folder of videos. For an image-sequence INPUT: a video "
                   "if it has a video extension (.mp4, .mkv...), else a folder that receives PNG frames.")
@weights_option("run", model_option)
@offline_option("run", model_option)
@strength_option(option=model_option)
@performance_option("--device", default="auto", **env("DEVICE"),
              help="auto, cpu, cuda, cuda:N, or a list (cuda:0,cuda:1) or all: a folder's files and a long "
                   "video's segments are spread over them.")
@performance_option("--fp16", is_flag=True, **env("FP16"), help="Half precision (CUDA only).")
@encoding_option("--crf", type=click.IntRange(0, 63), default=None, **env("CRF"),
              help="Encoder quality (lower is better). Default: the codec's default of this tool (18 for x264).")
@encoding_option("--preset", default=None, **env("PRESET"), help="Encoder speed preset, e.g. veryfast, medium, slow.")
@encoding_option("--codec", default=None, **env("CODEC"),
              help="Video encoder, e.g. libx264, libx265, libvpx-vp9, h264_nvenc, nvenc (NVIDIA's, by input). "
                   "Default: libx264 for 8-bit SDR input, libx265 (HEVC Main 10) for 10-bit or HDR input.")
@io_option("--start", type=TimeType(), default=None,
              help="Process from this time on (seconds, or HH:MM:SS[.ms]), counted from the first frame. The output's "
                   "timestamps then begin at 0; audio is copied from the first audio packet at or after the first "
                   "frame kept (no re-encoding).")
@io_option("--duration", type=TimeType(), default=None,
              help="Process this long (seconds, or HH:MM:SS[.ms]); audio is cut to the same span at packet boundaries.")
@io_option("--compare", type=click.Choice(COMPARE_MODES), default=None, **env("COMPARE"),
              help="Make the output a before/after composite: side = input left, restored right (double width); "
                   "split = left half input, right half restored, with a divider line; map = where the "
                   "restoration was written (--strength): the input in grey, orange where restored.")
@io_option("--frames-out", type=click.Path(path_type=Path), default=None,
              help="Also write every restored frame (never the --compare composite) as numbered PNGs into this "
                   "folder; the video OUTPUT is written too. For a folder of videos, one sub-folder per video.")
@reporting_option("--json", "json_path", type=click.Path(path_type=Path), default=None,
              help="Write a machine-readable report (per file and totals) to this file, atomically; "
                   "'-' writes it to stdout (everything else the command prints goes to stderr).")
@io_option("--fps", type=click.FloatRange(0, 1000, min_open=True), default=30.0, **env("FPS"),
              help="Frame rate given to an image-sequence INPUT (ignored for videos).")
@model_option("--scene-cuts/--no-scene-cuts", default=True, **env("SCENE_CUTS"),
              help="Detect hard scene cuts and restart the network's memory at each one.")
@performance_option("--tile", type=click.IntRange(min=0), default=0, **env("TILE"),
              help="Restore frames in tiles of N pixels (a multiple of 4, at least 16) to save GPU memory. "
                   "0: automatic (tiles on CUDA only when a frame would not fit in free memory; never on the CPU).")
@performance_option("--fac", type=click.Choice(FAC_IMPLS), default="auto", **env("FAC"),
              help="Advanced: filter-adaptive convolution kernels. auto = Triton on CUDA when installed, the CPU "
                   "fast path (cpu: tap-by-tap FAC, oneDNN fused convolutions) on the CPU, else the PyTorch reference.")
@performance_option("--segment", type=click.FloatRange(min=0), default=DEFAULT_SEGMENT_S, metavar="SECONDS",
              **env("SEGMENT"),
              help="Restore a long video in segments of about this many seconds, cut at keyframes, each one kept "
                   "on disk when done: after a crash or Ctrl-C the same command resumes. Several devices (or --ray) "
                   "share one video's segments. 0: in one pass.")
@performance_option("--resume/--no-resume", default=True, **env("RESUME"),
              help="Keep the finished segments of an earlier run of the same command (--no-resume: start over).")
@performance_option("--ray", default=None, is_flag=False, flag_value="local", metavar="[ADDRESS]", **env("RAY"),
              help="Run files and segments as Ray tasks (one GPU each, or one CPU on a cluster without GPUs): "
                   "auto = the running cluster (ray start --head), ADDRESS = that cluster, no value = the running "
                   "one or a new local one. Needs pip install 'stfan-deblur[ray]'; files on storage all nodes see.")
@model_option("--skip-sharp", is_flag=True, **env("SKIP_SHARP"),
              help="Scan each file first (as 'stfan-deblur scan'): only blurred stretches go through the network "
                   "(each after 8 warm-up frames); sharp stretches are written as they are, and a folder's sharp "
                   "files are copied stream for stream.")
@io_option("--overwrite", is_flag=True, help="Replace outputs that already exist (never read from the environment).")
@reporting_option("-q", "--quiet", is_flag=True, **env("QUIET"), help="No progress bars and no summary.")
@reporting_option("--stats", is_flag=True, **env("STATS"),
              help="At the end, print where the time went: seconds per stage (decode, colour, upload, model, "
                   "download, encode) and each thread's waits, as --json reports them.")
@uses_weights
def run_command(input_path: Path, output_path: Path, weights: str | None, offline: bool, strength: float | str,
                device: str, fp16: bool, crf: int | None, preset: str | None, codec: str | None,
                start: float | None, duration: float | None, compare: str | None, frames_out: Path | None,
                json_path: Path | None, fps: float, scene_cuts: bool, tile: int, fac: str, segment: float,
                resume: bool, ray: str | None, skip_sharp: bool, overwrite: bool, quiet: bool, stats: bool) -> None:
    """Deblur INPUT (a video, an image sequence, or a folder of videos) into OUTPUT."""
    from ..errors import BatchInterrupted
    from ..pipeline.runner import deblur_path
    from .progress import ProgressReporter
    from .report import print_file_result, print_stages, print_summary

    reporter = ProgressReporter(enabled=not quiet)
    try:
        summary = deblur_path(
            input_path, output_path, weights=weights, device=device, fp16=fp16, fac=fac, tile=tile or None,
            strength=strength,
            frames_out=frames_out, json_path=json_path, overwrite=overwrite, reporter=reporter,
            codec=codec, crf=crf, preset=preset, start=start, duration=duration, compare=compare,
            scene_cuts=scene_cuts, fps=fps, segment=segment, resume=resume, ray=ray, skip_sharp=skip_sharp)
    except BatchInterrupted as exc:
        if any(o.status == "done" for o in exc.outcomes):  # only a batch can have finished files
            print_summary(exc.outcomes, reporter.console, root=input_path, quiet=quiet)
            if stats:
                print_stages(exc.outcomes, reporter.console)
        raise
    if summary.kind != "folder":
        print_file_result(summary.outcomes[0], reporter.console, quiet=quiet)
    else:
        print_summary(summary.outcomes, reporter.console, root=summary.root, quiet=quiet)
    if stats:
        print_stages(summary.outcomes, reporter.console)
    if summary.failed:
        raise SystemExit(1)
