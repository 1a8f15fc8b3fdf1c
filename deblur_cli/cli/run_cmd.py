"""``stfan-deblur run INPUT -o OUTPUT``: options in, API calls out, a summary printed."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import InputError, OutputError

ENV = "STFAN_DEBLUR_"


@click.command(context_settings={"show_default": True})
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option("-o", "--output", "output_path", required=True, type=click.Path(path_type=Path),
              help="Output video, or output folder when INPUT is a folder.")
@click.option("--weights", type=click.Path(path_type=Path), envvar=ENV + "WEIGHTS", show_envvar=True,
              help="Weights file: this project's .safetensors or the authors' best-ckpt.pth.tar. "
                   "Default: the weights shipped with the package.")
@click.option("--device", default="auto", envvar=ENV + "DEVICE", show_envvar=True,
              help="auto, cpu, cuda, cuda:N; for folders also a list (cuda:0,cuda:1) or all.")
@click.option("--fp16", is_flag=True, envvar=ENV + "FP16", show_envvar=True,
              help="Half precision (CUDA only).")
@click.option("--crf", type=click.IntRange(0, 63), default=None, envvar=ENV + "CRF", show_envvar=True,
              help="Encoder quality (lower is better). Default: the codec's default of this tool (18 for x264).")
@click.option("--preset", default=None, envvar=ENV + "PRESET", show_envvar=True,
              help="Encoder speed preset, e.g. veryfast, medium, slow.")
@click.option("--codec", default=None, envvar=ENV + "CODEC", show_envvar=True,
              help="Video encoder, e.g. libx264 (default), libx265, libvpx-vp9, h264_nvenc.")
@click.option("--overwrite", is_flag=True, help="Replace outputs that already exist.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars and no summary.")
def run_command(input_path: Path, output_path: Path, weights: Path | None, device: str, fp16: bool,
                crf: int | None, preset: str | None, codec: str | None, overwrite: bool, quiet: bool) -> None:
    """Deblur INPUT (a video, or a folder of videos) into OUTPUT."""
    from ..batch import plan_folder, run_files
    from ..devices import resolve_devices
    from ..pipeline import deblur_video
    from ..progress import ProgressReporter
    from ..weights import build_engine, load_weights
    from .report import print_file_result, print_summary

    if not input_path.exists():
        raise InputError(f"input not found: {input_path}")
    folder = input_path.is_dir()
    if folder:
        if output_path.exists() and not output_path.is_dir():
            raise OutputError(f"output must be a folder when the input is a folder: {output_path}")
        pairs = plan_folder(input_path, output_path)
        if not pairs:
            raise InputError(f"no video files found under {input_path}")
    else:
        if output_path.is_dir():
            output_path = output_path / input_path.name
        pairs = [(input_path, output_path)]

    devices = resolve_devices(device)
    load_weights(weights)  # fail on bad weights before any file is touched
    encode = {"codec": codec, "crf": crf, "preset": preset}
    reporter = ProgressReporter(enabled=not quiet)

    if not folder:
        engine = build_engine(weights, device=str(devices[0]), fp16=fp16)
        with reporter.session(1), reporter.file(input_path.name) as bar:
            result = deblur_video(input_path, output_path, engine, overwrite=overwrite,
                                  on_start=bar.on_start, on_frame=bar.on_frame, **encode)
        print_file_result(result, reporter.console, quiet=quiet)
        return

    def make_engine(dev):
        return build_engine(weights, device=str(dev), fp16=fp16)

    with reporter.session(len(pairs)):
        outcomes = run_files(pairs, make_engine, devices, overwrite=overwrite, encode=encode, reporter=reporter)
    print_summary(outcomes, reporter.console, quiet=quiet)
    if any(o.status == "failed" for o in outcomes):
        raise SystemExit(1)
