"""Stopping a run from outside, as `timeout`, `docker stop`, systemd, a closed terminal or `kill -9` do.

Real processes get real signals here: SIGTERM and SIGHUP must end a run the way Ctrl-C does (partial
outputs removed, one ``error:`` line, exit status 143 / 129); after a SIGKILL, which nothing can catch,
the next run into that folder must clear the stale temporary and never take it for an input.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deblur_cli.cli.signals import stop_on_signals
from deblur_cli.errors import Interrupted, Stop
from deblur_cli.io.atomic import (
    is_stale,
    is_temporary,
    remove_stale_temporaries,
    temp_name,
    temporary_owner,
)
from tests.clipgen import make_clip
from tests.cliutil import TEMP_MARK, temp_files

REPO = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 120  # importing torch and loading weights on a busy 2-core machine


def start(args: list, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "deblur_cli", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, **kwargs)


def when_writing(process: subprocess.Popen, folder: Path, stem: str = "b") -> Path:
    """Wait until the run writes ``stem``'s output in ``folder`` (so the signal lands mid-file); return the partial."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        partial = [p for p in folder.glob(f".{stem}{TEMP_MARK}*") if temporary_owner(p) == process.pid]
        if partial:
            time.sleep(0.3)  # a few frames into it
            return partial[0]
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)
    process.kill()
    raise AssertionError("the run never started writing")


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


@pytest.fixture
def videos(tmp_path):
    folder = tmp_path / "videos"
    folder.mkdir()
    make_clip(folder / "a.mp4", frames=2, audio=["aac"])
    make_clip(folder / "b.mp4", frames=60, audio=["aac"])  # long enough to be stopped in the middle
    return folder


def test_sigkill_leftovers_are_cleared_and_sigterm_stops_a_folder_run_cleanly(tmp_path, videos, random_weights):
    out = tmp_path / "out"
    run = [videos, "-o", out, "--weights", random_weights, "--device", "cpu", "--json", tmp_path / "r.json"]

    # 1. kill -9: nothing can clean up, the temporary stays
    killed = start(run)
    leftover = when_writing(killed, out)
    killed.kill()
    killed.wait()
    assert leftover.exists() and is_temporary(leftover) and is_stale(leftover)

    # 2. the next run into that folder clears it; SIGTERM then stops this run like Ctrl-C
    stopped = start(run)
    partial = when_writing(stopped, out)
    assert not leftover.exists()
    stopped.send_signal(signal.SIGTERM)
    _, stderr = stopped.communicate(timeout=60)
    assert stopped.returncode == 143
    assert error_lines(stderr) == ["error: interrupted by SIGTERM: 0 of 2 file(s) finished; partial outputs removed"]
    assert not partial.exists() and temp_files(tmp_path) == []
    assert sorted(p.name for p in out.iterdir()) == ["a.mp4"]  # finished by the killed run
    report = json.loads((tmp_path / "r.json").read_text())
    entries = {Path(e["input"]).name: e for e in report["files"]}
    assert entries["a.mp4"]["status"] == "skipped" and entries["b.mp4"]["status"] == "interrupted"
    assert report["totals"]["interrupted"] is True

    # 3. a folder run afterwards works: here over the output folder, where only the finished file is an input
    leftover.write_bytes((videos / "b.mp4").read_bytes())  # as if step 1 had left a complete-looking temporary
    again = start([out, "-o", tmp_path / "again", "--weights", random_weights, "--device", "cpu", "-q",
                   "--json", tmp_path / "again.json"])
    _, stderr = again.communicate(timeout=300)
    assert again.returncode == 0, stderr
    report = json.loads((tmp_path / "again.json").read_text())
    assert [Path(e["input"]).name for e in report["files"]] == ["a.mp4"]  # never our own temporary
    assert temp_files(tmp_path / "again") == []


def test_sighup_stops_a_single_file_cleanly(tmp_path, videos, random_weights):
    out = tmp_path / "out"
    out.mkdir()
    process = start([videos / "b.mp4", "-o", out / "b.mkv", "--weights", random_weights, "--device", "cpu"])
    partial = when_writing(process, out)
    process.send_signal(signal.SIGHUP)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 129
    assert error_lines(stderr) == ["error: interrupted by SIGHUP; partial output removed"]
    assert not partial.exists() and list(out.iterdir()) == []


# --- the pieces, in process ------------------------------------------------------------------------

def test_stop_on_signals_raises_stop_once_and_restores_the_handlers():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Stop) as stop:
        with stop_on_signals():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)  # the handler raises here
    assert isinstance(stop.value, KeyboardInterrupt)  # so every Ctrl-C clean-up runs for it
    assert (stop.value.exit_code, stop.value.name) == (143, "SIGTERM")
    assert signal.getsignal(signal.SIGTERM) is before
    with stop_on_signals():  # a second signal during the clean-up is ignored
        with pytest.raises(Stop):
            os.kill(os.getpid(), signal.SIGHUP)
            time.sleep(1)
        os.kill(os.getpid(), signal.SIGHUP)
        time.sleep(0.1)


def test_interrupted_takes_its_exit_status_from_the_signal_being_handled():
    try:
        raise Stop(signal.SIGHUP, "SIGHUP")
    except KeyboardInterrupt:
        error = Interrupted("stopped")
    assert error.exit_code == 129
    try:
        raise KeyboardInterrupt
    except KeyboardInterrupt:
        assert Interrupted("stopped").exit_code == 130


def test_stale_temporaries_are_told_from_live_ones(tmp_path):
    live = temp_name(tmp_path / "mine.mp4")  # this process: being written
    live.write_bytes(b"x")
    dead_pid = _dead_pid()
    dead = tmp_path / f".theirs.partial-{dead_pid}-0123abcd.mp4"
    dead.write_bytes(b"x")
    old = tmp_path / "sub" / f".old.partial-{os.getppid()}-89abcdef.mkv"  # a live process, but a day untouched
    old.parent.mkdir()
    old.write_bytes(b"x")
    os.utime(old, (time.time() - 2 * 24 * 3600,) * 2)
    user_file = tmp_path / ".notes.partial-1.txt"  # not our pattern
    user_file.write_bytes(b"x")
    assert remove_stale_temporaries(tmp_path) == [dead]
    assert remove_stale_temporaries(tmp_path, recursive=True) == [old]
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == sorted([live.name, user_file.name])


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_process_forked_under_the_handler_still_ends_on_sigterm():
    with stop_on_signals():
        pid = os.fork()
        if pid == 0:  # the child: wait to be stopped; the inherited handler must not turn SIGTERM into an exception
            try:
                time.sleep(30)
            finally:
                os._exit(7)  # reached only if SIGTERM raised instead of ending the process
        time.sleep(0.2)
        os.kill(pid, signal.SIGTERM)
        _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGTERM
