"""Running ``stfan-deblur`` in tests, and the checks every CLI test makes on what it leaves behind."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

from click.testing import CliRunner, Result

from deblur_cli.cli import cli
from tests.clipgen import decode_video, extras, first_times, packet_bytes

TEMP_MARK = ".partial-"  # deblur_cli.io.atomic.temp_name puts this in every temporary file's name


def run_cli(args: list, env: dict | None = None) -> Result:
    """The CLI in-process, as a user's shell would call it (stdout and stderr kept apart)."""
    runner = CliRunner(env={"COLUMNS": "200", **(env or {})})
    return runner.invoke(cli, [str(a) for a in args], prog_name="stfan-deblur")


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


def assert_clean_error(result: Result, words: str = "") -> str:
    """A failure the user can read: non-zero exit, one ``error:`` line on stderr, no traceback."""
    assert result.exit_code != 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    assert words in lines[0], lines[0]
    return lines[0]


def temp_files(folder: Path) -> list[Path]:
    """Temporary files left anywhere below ``folder`` (there must never be any)."""
    return [p for p in folder.rglob("*") if TEMP_MARK in p.name or p.name.endswith(".tmp")]


def read_report(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def seconds(pts: list[int], time_base: Fraction) -> list[Fraction]:
    return [p * time_base for p in pts]


def assert_complete_copy(src: Path, dst: Path, *, frames: int | None = None) -> None:
    """``dst`` has every frame ``src`` decodes to, at the same size and times, and its audio bit-exact."""
    pts_in, tb_in, _, first_in = decode_video(src)
    pts_out, tb_out, _, first_out = decode_video(dst)
    assert len(pts_out) == (len(pts_in) if frames is None else frames)
    assert (first_out.width, first_out.height) == (first_in.width, first_in.height)
    assert seconds(pts_out, tb_out) == seconds(pts_in, tb_in)[: len(pts_out)]
    assert packet_bytes(dst) == packet_bytes(src)


def assert_faithful(src: Path, dst: Path, *, frames: int | None = None) -> None:
    """:func:`assert_complete_copy`, and the rest kept too: A/V sync, pixel aspect ratio, chapters,
    cover art, attachments, timecode."""
    assert_complete_copy(src, dst, frames=frames)
    video_in, audio_in = first_times(src)
    video_out, audio_out = first_times(dst)
    assert [a - video_out for a in audio_out] == [a - video_in for a in audio_in]  # the offsets, to the tick
    assert extras(dst) == extras(src)
