"""What the command line says: errors that name the path and the real cause, on one line whatever the file
names hold; summaries a script can read; the report on stdout; signs of life in a log; and which reading
of a first word that is both a subcommand and a path."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from deblur_cli.cli.progress import Tally
from deblur_cli.errors import OptionError, shown
from deblur_cli.io.encode_plan import plan_encoder
from deblur_cli.io.source import VideoSource
from tests.clipgen import decode_video, make_clip
from tests.cliutil import assert_clean_error, run_cli, temp_files

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def args(random_weights):
    return ["--weights", random_weights, "--device", "cpu"]


@pytest.fixture
def clip(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    return make_clip(folder / "clip.mp4", frames=3, audio=["aac"])


# --- file-system errors name the path and the cause ---------------------------------------------------

def _cause(folder: Path) -> str | None:
    """What the OS says when a file is created in ``folder`` (None: it can be)."""
    try:
        (folder / "probe.tmp").open("wb").close()
    except OSError as exc:
        return exc.strerror
    (folder / "probe.tmp").unlink()
    return None


def test_an_unwritable_folder_is_named_with_the_real_cause(clip, args):
    target = Path("/sys/restored.mp4")  # not writable, even for root
    cause = _cause(target.parent)
    if cause is None:
        pytest.skip("/sys is writable here")
    line = assert_clean_error(run_cli([clip, "-o", target, *args, "-q"]))
    assert line == f"error: cannot write {target}: {cause}"
    assert "encoder" not in line and "--codec" not in line


def test_a_read_only_folder_is_named_with_the_real_cause(tmp_path, clip, args):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        cause = _cause(locked)
        if cause is None:
            pytest.skip("running as root: a read-only mode does not stop writes")
        line = assert_clean_error(run_cli([clip, "-o", locked / "out.mp4", *args, "-q"]))
        assert line == f"error: cannot write {locked / 'out.mp4'}: {cause}"
    finally:
        locked.chmod(0o755)


def test_output_names_up_to_the_limit_work_and_longer_ones_fail_before_any_work(tmp_path, clip, args):
    longest = tmp_path / ("n" * 251 + ".mp4")  # 255 bytes: legal; its temporary name must fit too
    result = run_cli([clip, "-o", longest, *args, "-q"])
    assert result.exit_code == 0, result.output
    assert len(decode_video(longest)[0]) == 3 and temp_files(tmp_path) == []
    too_long = tmp_path / ("n" * 252 + ".mp4")
    line = assert_clean_error(run_cli([clip, "-o", too_long, *args, "-q"]))
    assert line == f"error: cannot write {too_long}: File name too long (256 bytes; this file system allows 255)"


# --- one line, whatever the names hold ------------------------------------------------------------------

def test_a_newline_in_a_name_is_escaped_in_every_message(tmp_path, args):
    folder = tmp_path / "odd"
    folder.mkdir()
    bad = folder / "bad\nname.mp4"
    bad.write_text("not a video\n")
    line = assert_clean_error(run_cli([bad, "-o", tmp_path / "o.mp4", *args, "-q"]), "bad\\nname.mp4")
    assert line.startswith("error: not a readable video file: ")
    good = make_clip(folder / "good\tclip\x1b.mp4", frames=2)
    (tmp_path / "out").mkdir()
    result = run_cli([good, "-o", tmp_path / "out", *args])  # the output keeps the name; the message escapes it
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if line]
    assert len(lines) == 1 and lines[0].startswith(f"wrote {shown(tmp_path / 'out' / good.name)}: 2 frames in ")
    assert "good\\tclip\\x1b.mp4" in result.stderr
    assert shown("a\nb\r\x00\u2028é") == "a\\nb\\r\\x00\\u2028é" and shown(shown("a\nb")) == "a\\nb"
    assert shown(os.fsdecode(b"caf\xe9.mp4")) == "caf\\xe9.mp4"  # a name that is not UTF-8


def test_folder_summaries_are_relative_unwrapped_lines_outside_a_terminal(tmp_path, args):
    videos = tmp_path / "videos"
    (videos / "deep" / "er").mkdir(parents=True)
    long_name = "a_rather_long_file_name_that_would_never_fit_in_an_eighty_column_table_cell_at_all.mp4"
    make_clip(videos / "deep" / "er" / long_name, frames=2)
    (videos / "broken\nname.mp4").write_text("not a video\n")
    result = run_cli([videos, "-o", tmp_path / "out", *args], env={"COLUMNS": "80"})
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 3, result.stderr  # one per file, and the totals
    assert lines[0].startswith("failed: broken\\nname.mp4: not a readable video file: ")
    assert lines[1].startswith(f"done: deep/er/{long_name}: 2 frames, ")
    assert lines[2] == "1 done, 0 skipped, 1 failed; 0 scene cuts"
    assert str(tmp_path) not in lines[1]
    quiet = run_cli([videos, "-o", tmp_path / "out2", *args, "-q"])
    assert [line for line in quiet.stderr.splitlines() if line] == [lines[0].replace("failed: ", "error: ", 1)]


# --- options checked against the codec, the report on stdout --------------------------------------------

def test_crf_is_checked_against_the_chosen_codec(clip, tmp_path, args):
    line = assert_clean_error(run_cli([clip, "-o", tmp_path / "o.mp4", "--crf", "60", *args, "-q"]))
    assert line == "error: --crf 60 is outside the range of libx264 (0-51; lower is better)"
    assert_clean_error(run_cli([clip, "-o", tmp_path / "o.mkv", "--crf", "52", "--codec", "x265", *args]), "libx265")
    assert not (tmp_path / "o.mp4").exists()
    with VideoSource(clip) as source:
        assert plan_encoder(Path("o.webm"), source.facts, crf=60).options["crf"] == "60"  # VP9 goes to 63
        with pytest.raises(OptionError, match="0-51"):
            plan_encoder(Path("o.mp4"), source.facts, codec="h264_nvenc", crf=55)  # checked before any fallback


def test_json_dash_writes_the_report_to_stdout_and_nothing_else(clip, tmp_path, args):
    result = run_cli([clip, "-o", tmp_path / "o.mp4", "--json", "-", *args])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)  # stdout is the report alone
    assert report["files"][0]["status"] == "done" and report["files"][0]["frames"] == 3
    assert "wrote " in result.stderr and not (Path.cwd() / "-").exists()
    failed = run_cli([tmp_path / "missing.mp4", "-o", tmp_path / "x.mp4", "--json", "-", *args])
    assert failed.exit_code == 1 and "error: input not found" in failed.stderr
    assert failed.stdout == ""  # planning failed before any file: no report to give


# --- progress outside a terminal ------------------------------------------------------------------------

def test_progress_lines_outside_a_terminal_and_silence_with_quiet(tmp_path, clip, args, monkeypatch):
    monkeypatch.setattr("deblur_cli.cli.progress.LOG_INTERVAL_S", 0.0)  # every frame, instead of every 5 s
    result = run_cli([clip, "-o", tmp_path / "o.mp4", *args])
    progress = [line for line in result.stderr.splitlines() if line.startswith("progress: ")]
    assert progress[-1].startswith("progress: clip.mp4: 3/3 frames (100%), ") and " fps" in progress[-1]
    assert any("ETA " in line for line in progress[:-1])
    quiet = run_cli([clip, "-o", tmp_path / "q.mp4", *args, "-q"])
    assert quiet.stderr == ""
    videos = clip.parent
    make_clip(videos / "second.mp4", frames=6)
    result = run_cli([videos, "-o", tmp_path / "all", *args])
    progress = [line for line in result.stderr.splitlines() if line.startswith("progress: ")]
    assert progress and all(line.startswith("progress: ") and " files, " in line for line in progress)
    assert progress[-1].startswith("progress: 1/2 files, 9/9 frames (100%)")


def test_the_folder_wide_rate_and_eta_count_frames_not_files():
    tally = Tally(total_files=4)
    tally.begin(0, "short.mp4")
    tally.set_total(0, 10)
    tally.update(0, 10)
    tally.finish(0)
    tally.begin(1, "long.mp4")
    tally.set_total(1, 90)
    tally.update(1, 30)
    assert tally.frames_done == 40
    assert tally.frames_expected() == 10 + 90 + 2 * 50  # the two files not started: the average length, 50
    assert tally.line(None).startswith("progress: 1/4 files, 40/200 frames (20%), ")
    tally.skip()  # one of those two needs no work (its output exists): no frames to wait for
    assert tally.frames_expected() == 10 + 90 + 50
    assert tally.line(None).startswith("progress: 2/4 files, 40/150 frames (27%), ")


# --- a subcommand's name that is also a path here --------------------------------------------------------

def test_an_existing_input_wins_over_a_subcommand_of_the_same_name(tmp_path, args, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("demo").mkdir()
    make_clip(Path("demo") / "holiday.mp4", frames=2)
    result = run_cli(["demo", "-o", "restored", *args, "-q"])  # the folder, not the built-in demo
    assert result.exit_code == 0, result.output
    assert [p.name for p in Path("restored").iterdir()] == ["holiday.mp4"]
    forced = run_cli(["--subcommand", "demo", "-o", "restored", "--help"])
    assert forced.exit_code == 0 and "Usage: stfan-deblur demo" in forced.stdout
    assert assert_clean_error(run_cli(["--subcommand", "holiday"]), "--subcommand needs a subcommand: ")
    Path("info").mkdir()
    make_clip(Path("info") / "clip.mp4", frames=2)
    info = run_cli(["info"])  # no -o: `run` cannot be meant
    assert info.exit_code == 0 and "Traceback" not in info.output and "stfan-deblur" in info.stdout
    assert "--subcommand" in run_cli(["--help"]).stdout and "./NAME" in run_cli(["--help"]).stdout


def test_a_subcommand_beside_a_folder_it_cannot_deblur_stays_the_subcommand(monkeypatch, tmp_path):
    """The checkout's own weights/ folder (weights and a README, no videos) beside the `weights` subcommand."""
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("STFAN_DEBLUR_CACHE", str(tmp_path / "cache"))
    assert (REPO / "weights").is_dir()
    listed = run_cli(["weights", "list"])
    assert listed.exit_code == 0, listed.output
    assert "synth-v0" in listed.stdout
    refused = run_cli(["weights", "list", "-o", "x"])  # -o given, but weights/ is nothing `run` could take
    assert assert_clean_error(refused, "-o").endswith("(see 'stfan-deblur weights list --help')")


def test_the_overall_bar_on_a_terminal_counts_frames():
    import io

    from rich.console import Console

    from deblur_cli.cli.progress import ProgressReporter

    reporter = ProgressReporter(enabled=True, console=Console(file=io.StringIO(), force_terminal=True, width=120))
    with reporter.session(3):
        overall = reporter.progress.tasks[0]
        with reporter.file("a.mp4") as bar:
            bar.on_start(10)
            bar.on_frame(10)
        assert (overall.completed, overall.total) == (10, 30)  # two files to go, guessed at 10 frames each
        reporter.skipped("b.mp4")
        with reporter.file("c.mp4") as bar:
            bar.on_start(40)
            bar.on_frame(20)
            assert (overall.completed, overall.total) == (30, 50)
        assert overall.description == "all files (3/3)"
