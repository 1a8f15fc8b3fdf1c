"""Weights a user can get, through the command line: the first run fetches and verifies the authors' file
(from a loopback imitation of Google Drive), later runs use the cache without a request, offline mode never
asks, experimental weights always say so, and ``weights list|fetch|import|verify`` and ``info`` tell the truth."""

from __future__ import annotations

import io
import json
import time

import pytest
from rich.console import Console

from deblur_cli.models.registry import get_entry
from deblur_cli.models.weights import sha256_of
from tests.clipgen import decode_video, make_clip
from tests.cliutil import assert_clean_error, run_cli, temp_files

AUTHORS = get_entry("authors")
WARNING = "warning: weights 'synth-v0' are experimental"


@pytest.fixture
def clip(tmp_path):
    return make_clip(tmp_path / "in.mp4", size=(64, 48), frames=3)


@pytest.fixture
def legacy_file(tmp_path, authors_checkpoint):
    path = tmp_path / "downloads" / "best-ckpt.pth.tar"
    path.parent.mkdir()
    path.write_bytes(authors_checkpoint)
    return path


def warnings_in(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("warning: weights")]


def test_first_run_fetches_verifies_and_uses_the_authors_weights(drive, weights_cache, clip, tmp_path):
    env = {AUTHORS.url_env: drive.url("confirm")}
    first = run_cli([clip, "-o", tmp_path / "out.mp4", "--device", "cpu"], env=env)
    assert first.exit_code == 0, first.output
    card = json.loads((weights_cache / (AUTHORS.filename + ".json")).read_text())
    assert "Fetching 'authors' weights" in first.stderr and card["sha256"] in first.stderr
    assert "epoch 400" in first.stderr and "Best_Img_PSNR 31.24 dB" in first.stderr
    assert not warnings_in(first.stderr)
    assert len(decode_video(tmp_path / "out.mp4")[0]) == 3
    assert len(drive.requests) == 2  # the page, then the form's target

    second = run_cli([clip, "-o", tmp_path / "again.mp4", "--device", "cpu", "-q"], env=env)
    assert second.exit_code == 0, second.output
    assert len(drive.requests) == 2 and "Fetching" not in second.stderr
    assert (tmp_path / "out.mp4").read_bytes() == (tmp_path / "again.mp4").read_bytes()
    assert not temp_files(weights_cache) and not temp_files(tmp_path)


@pytest.mark.parametrize("how", ["flag", "env"])
def test_offline_without_a_cache_is_one_clear_error_and_no_request(drive, clip, tmp_path, how):
    env = {AUTHORS.url_env: drive.url("direct"), **({"STFAN_DEBLUR_OFFLINE": "1"} if how == "env" else {})}
    args = [clip, "-o", tmp_path / "out.mp4", "--device", "cpu"] + (["--offline"] if how == "flag" else [])
    line = assert_clean_error(run_cli(args, env=env), "offline")
    for words in ("stfan-deblur weights fetch authors", "stfan-deblur weights import FILE", AUTHORS.page):
        assert words in line
    assert drive.requests == [] and not (tmp_path / "out.mp4").exists()


def test_a_bad_input_fails_before_any_download(drive, tmp_path):
    result = run_cli([tmp_path / "missing.mp4", "-o", tmp_path / "out.mp4"], env={AUTHORS.url_env: drive.url("direct")})
    assert_clean_error(result, "not found")
    assert drive.requests == []


def test_a_failed_download_is_one_error_after_the_notice(drive, weights_cache, clip, tmp_path):
    result = run_cli([clip, "-o", tmp_path / "out.mp4"], env={AUTHORS.url_env: drive.url("quota")})
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Zu viele Nutzer" in errors[0] and "weights import" in errors[0]
    assert "Traceback" not in result.output and not (tmp_path / "out.mp4").exists()
    assert [p.name for p in weights_cache.iterdir() if not p.name.endswith(".lock")] == []


def test_experimental_weights_warn_on_run_eval_and_demo(clip, tmp_path):
    run = run_cli([clip, "-o", tmp_path / "out.mp4", "--weights", "synth-v0", "--device", "cpu", "-q"])
    assert run.exit_code == 0, run.output
    assert len(warnings_in(run.stderr)) == 1 and warnings_in(run.stderr)[0].startswith(WARNING)
    evaluation = run_cli(["eval", tmp_path / "no-dataset", "--weights", "synth-v0", "--device", "cpu"])
    assert evaluation.exit_code != 0 and len(warnings_in(evaluation.stderr)) == 1


def test_demo_offline_falls_back_to_synth_v0(drive, tmp_path, monkeypatch):
    from deblur_cli.evaluation import demo

    full_size = demo.demo_clip
    monkeypatch.setattr(demo, "demo_clip", lambda frames: full_size(frames, size=(48, 64)))  # a quick demo
    args = ["demo", "-o", tmp_path / "demo", "--frames", "2", "--device", "cpu", "-q"]
    result = run_cli(args, env={AUTHORS.url_env: drive.url("direct"), "STFAN_DEBLUR_OFFLINE": "1"})
    assert result.exit_code == 0, result.output
    assert "falls back to the shipped 'synth-v0'" in result.stderr and "offline" in result.stderr
    assert len(warnings_in(result.stderr)) == 1 and "PSNR" in result.stdout
    assert "strength auto (mean " in result.stdout  # written as run writes it
    assert drive.requests == []


def test_demo_weights_fall_back_when_the_network_fails_but_not_when_named(monkeypatch, capsys):
    from deblur_cli.cli.weights_cmd import demo_weights, using_weights

    monkeypatch.setenv(AUTHORS.url_env, "https://drive.invalid/uc?id=x")  # no such host (and no network in tests)
    with using_weights():
        assert demo_weights(None) == "synth-v0"
        assert demo_weights("authors") == "authors"  # the user's choice is kept (and fails later, clearly)
    assert "cannot reach drive.invalid" in capsys.readouterr().err


def test_list_import_verify_and_info(weights_cache, legacy_file, tmp_path):
    listed = run_cli(["weights", "list", "--json"])
    entries = {e["name"]: e for e in json.loads(listed.stdout)["entries"]}
    assert entries["authors"]["status"] == "not cached" and entries["synth-v0"]["status"] == "shipped"
    assert entries["synth-v0"]["experimental"] and entries["authors"]["channel_order"] == "BGR"
    info = json.loads(run_cli(["info", "--json"]).stdout)["weights"]
    assert info["default"] and not info["loaded"] and "fetched on first use" in info["resolved"]

    imported = run_cli(["weights", "import", legacy_file])
    assert imported.exit_code == 0, imported.output
    sha = sha256_of(legacy_file)
    assert sha in imported.stdout and "5,372,547 parameters" in imported.stdout
    text = run_cli(["weights", "list"]).stdout
    assert "authors  (cached)  [default now]" in text and sha in text
    assert run_cli(["weights", "verify", "authors"]).exit_code == 0
    assert run_cli(["weights", "verify", legacy_file]).exit_code == 0
    info = json.loads(run_cli(["info", "--json"]).stdout)["weights"]
    assert info["loaded"] and info["channel_order"] == "BGR" and info["sha256"] == sha
    assert info["resolved"] == "'authors' from the cache" and info["path"] == str(weights_cache / AUTHORS.filename)
    from_env = json.loads(run_cli(["info", "--json"], env={"STFAN_DEBLUR_WEIGHTS": "synth-v0"}).stdout)["weights"]
    assert from_env["choice"] == "STFAN_DEBLUR_WEIGHTS" and from_env["experimental"]


def test_weights_command_errors_are_one_line(tmp_path, legacy_file):
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"hello")
    assert_clean_error(run_cli(["weights", "verify", garbage]), "not a readable weights file")
    assert_clean_error(run_cli(["weights", "verify", "authors"]), "weights fetch authors")
    assert_clean_error(run_cli(["weights", "verify", tmp_path / "nope.pth"]), "not found")
    assert_clean_error(run_cli(["weights", "fetch", "synth-v0"]), "nothing to fetch")
    assert_clean_error(run_cli(["weights", "fetch", "nope"]), "authors, synth-v0")
    assert_clean_error(run_cli(["weights", "import", garbage]), "not a readable weights file")
    assert_clean_error(run_cli(["weights", "import", legacy_file, "--as", "synth-v0"]), "shipped")
    assert_clean_error(run_cli(["weights", "fetch"], env={"STFAN_DEBLUR_OFFLINE": "1"}), "offline")


def test_weights_fetch_command(drive, weights_cache):
    env = {AUTHORS.url_env: drive.url("flaky")}
    fetched = run_cli(["weights", "fetch", "authors"], env=env)
    assert fetched.exit_code == 0, fetched.output
    assert str(weights_cache / AUTHORS.filename) in fetched.stdout and "Verified and cached" in fetched.stderr
    again = run_cli(["weights", "fetch"], env=env)
    assert "already cached" in again.stdout and len(drive.requests) == 2


def test_weights_fetch_gives_a_stalled_download_up_and_says_how_to_retry(drive, weights_cache):
    env = {AUTHORS.url_env: drive.url("hang")}
    for args, extra in ((["--stall-timeout", "1"], {}), ([], {"STFAN_DEBLUR_DOWNLOAD_STALL": "1"})):
        started = time.monotonic()
        result = run_cli(["weights", "fetch", "authors", *args], env={**env, **extra})
        assert time.monotonic() - started < 2.5 and result.exit_code == 1 and "Traceback" not in result.output
        (line,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]  # after the notice
        assert "stalled: no data for 1 s" in line
        assert "retry with 'stfan-deblur weights fetch authors'" in line and "--stall-timeout" in line
        assert "weights import" in line and AUTHORS.page in line
    assert_clean_error(run_cli(["weights", "fetch", "--stall-timeout", "0"], env=env), "--stall-timeout")


def test_a_damaged_cached_file_is_named_with_the_command_that_mends_it(drive, weights_cache, legacy_file):
    assert run_cli(["weights", "import", legacy_file]).exit_code == 0
    path = weights_cache / AUTHORS.filename
    path.write_bytes(path.read_bytes()[:1000])  # cut short (a full disk, a copy stopped half-way)
    line = assert_clean_error(run_cli(["weights", "verify", "authors"]), "the cached 'authors' file is damaged")
    assert "1,000 bytes where" in line and "stfan-deblur weights fetch authors --force" in line
    assert "not on this machine" not in line and "weights import" in line
    listed = {e["name"]: e for e in json.loads(run_cli(["weights", "list", "--json"]).stdout)["entries"]}
    assert listed["authors"]["status"] == "damaged: 'weights fetch authors --force'"
    info = json.loads(run_cli(["info", "--json"]).stdout)["weights"]
    assert info["status"].startswith("the cached file is damaged") and "fetch authors --force" in info["status"]
    offline = run_cli(["weights", "fetch"], env={"STFAN_DEBLUR_OFFLINE": "1"})
    assert "damaged" in assert_clean_error(offline, "offline mode allows no download")
    mended = run_cli(["weights", "fetch", "authors", "--force"], env={AUTHORS.url_env: drive.url("direct")})
    assert mended.exit_code == 0, mended.output
    assert run_cli(["weights", "verify", "authors"]).exit_code == 0


def test_download_bar_draws_on_a_terminal():
    from deblur_cli.cli.weights_cmd import _download_bar

    out = io.StringIO()
    with _download_bar(Console(file=out, force_terminal=True, width=100), "downloading 'authors'", 2048) as advance:
        advance(1024)
        advance(2048)
    assert "downloading 'authors'" in out.getvalue() and "2.0" in out.getvalue()
