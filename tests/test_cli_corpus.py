"""A corpus of ordinary, odd and broken files through the CLI, one by one and as a folder.

Every file must end either as a complete output (every decodable frame, its size and timestamps,
every audio packet bit-exact) or as one clean ``error:`` line with a non-zero exit, and in both cases
nothing else may be left in the output folder.
"""

from __future__ import annotations

import av
import pytest

from tests.clipgen import _write_tone, decode_video, make_clip, truncate
from tests.cliutil import (
    assert_clean_error,
    assert_complete_copy,
    read_report,
    run_cli,
    temp_files,
)

# name -> (expected fate, words in the warning or error)
EXPECTED = {
    "plain.mp4": ("done", ""),
    "two_audio_tracks.mkv": ("done", ""),
    "even_not_mod4_54x30.mp4": ("done", ""),  # like 854x480: even sides that 4 does not divide
    "odd_33x25.mkv": ("done", ""),
    "one_frame.mp4": ("done", ""),
    "truncated.mkv": ("done", "ended early"),
    "truncated.mp4": ("failed", "not a readable video file"),  # the index (moov) is at the end: cut off
    "empty.mp4": ("failed", "empty (0 bytes)"),
    "text_renamed.mp4": ("failed", "not a readable video file"),
    "audio_only.mp4": ("failed", "no video stream"),
}


def _audio_only(path):
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=48000)
        stream.layout = "stereo"
        _write_tone(out, stream, 0.3, 440.0)
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    make_clip(folder / "plain.mp4", frames=5, audio=["aac"])
    make_clip(folder / "two_audio_tracks.mkv", frames=4, audio=["aac", "libopus"])
    make_clip(folder / "even_not_mod4_54x30.mp4", size=(54, 30), frames=3, audio=["aac"])
    make_clip(folder / "odd_33x25.mkv", size=(33, 25), frames=3, pix_fmt="yuv444p", audio=["aac"])
    make_clip(folder / "one_frame.mp4", frames=1, audio=["aac"])
    truncate(make_clip(folder / "truncated.mkv", frames=20, audio=["aac"]), 0.5)
    truncate(make_clip(folder / "truncated.mp4", frames=20, audio=["aac"]), 0.6)
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "text_renamed.mp4").write_text("this is a shopping list, not a video\n" * 20)
    _audio_only(folder / "audio_only.mp4")
    assert sorted(p.name for p in folder.iterdir()) == sorted(EXPECTED)
    return folder


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_file_is_complete_or_one_clean_error(corpus, tmp_path, name, random_weights):
    src, out = corpus / name, tmp_path / "out"
    out.mkdir()
    fate, words = EXPECTED[name]
    result = run_cli([src, "-o", out / name, "--json", tmp_path / "report.json",
                      "--weights", random_weights, "--device", "cpu", "-q"])
    entry = read_report(tmp_path / "report.json")["files"][0]
    assert entry["status"] == fate
    if fate == "done":
        assert result.exit_code == 0, result.output
        assert_complete_copy(src, out / name)
        assert entry["frames"] == len(decode_video(out / name)[0]) >= 1
        assert words in result.stderr and "Traceback" not in result.output
        assert [p.name for p in out.iterdir()] == [name]
    else:
        assert_clean_error(result, words)
        assert words in entry["error"]
        assert list(out.iterdir()) == []
    assert temp_files(tmp_path) == []


def test_the_corpus_as_a_folder(corpus, tmp_path, random_weights):
    out = tmp_path / "out"
    result = run_cli([corpus, "-o", out, "--json", tmp_path / "report.json",
                      "--weights", random_weights, "--device", "cpu", "-q"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    report = read_report(tmp_path / "report.json")
    fates = {entry["input"].rsplit("/", 1)[-1]: entry["status"] for entry in report["files"]}
    assert fates == {name: fate for name, (fate, _) in EXPECTED.items()}
    failed = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(failed) == sum(fate == "failed" for fate, _ in EXPECTED.values())
    assert sorted(p.name for p in out.iterdir()) == sorted(n for n, (fate, _) in EXPECTED.items() if fate == "done")
    assert_complete_copy(corpus / "two_audio_tracks.mkv", out / "two_audio_tracks.mkv")
    assert temp_files(tmp_path) == []
