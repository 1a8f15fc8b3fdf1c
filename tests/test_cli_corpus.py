"""A corpus of ordinary, odd and broken files through the CLI, one by one and as a folder.

Every file must end either as a complete output (every decodable frame, its size and timestamps,
every audio packet bit-exact, A/V sync to the tick, pixel aspect ratio, chapters, cover art,
attachments and timecode) or as one clean ``error:`` line with a non-zero exit, and in both cases
nothing else may be left in the output folder. Then the shapes that change container: each keeps
what the new container can hold and says plainly what it cannot.
"""

from __future__ import annotations

from fractions import Fraction

import av
import pytest

from tests.clipgen import (
    _write_tone,
    decode_video,
    extras,
    first_times,
    make_clip,
    truncate,
)
from tests.cliutil import (
    assert_clean_error,
    assert_faithful,
    read_report,
    run_cli,
    temp_files,
)

CHAPTERS = [(0.0, 0.2, "Opening"), (0.2, 0.4, "Ending")]

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
    # Shapes that must come out whole, with nothing to warn about:
    "chapters.mkv": ("done", ""),
    "chapters.mp4": ("done", ""),  # MP4 keeps chapters as a list and a text track, rewritten not copied
    "anamorphic_sar_4x3.mkv": ("done", ""),
    "cover_jpeg.mp4": ("done", ""),
    "cover_png.mkv": ("done", ""),  # a file attachment
    "timecode_tmcd.mov": ("done", ""),  # a tmcd track beside the video
    "video_starts_at_10s.mkv": ("done", ""),  # sound first, the picture from 10 s on: not "ended early"
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
    make_clip(folder / "chapters.mkv", frames=10, audio=["aac"], chapters=CHAPTERS)
    make_clip(folder / "chapters.mp4", frames=10, audio=["aac"], chapters=CHAPTERS)
    make_clip(folder / "anamorphic_sar_4x3.mkv", frames=4, audio=["aac"], sar=Fraction(4, 3))
    make_clip(folder / "cover_jpeg.mp4", frames=4, audio=["aac"], cover_art="mjpeg")
    make_clip(folder / "cover_png.mkv", frames=4, audio=["aac"], cover_art="png")
    make_clip(folder / "timecode_tmcd.mov", frames=4, audio=["aac"], timecode="01:00:00:00")
    make_clip(folder / "video_starts_at_10s.mkv", frames=10, audio=["aac"], audio_seconds=2.0, video_start=10.0)
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
        assert_faithful(src, out / name)
        assert entry["frames"] == len(decode_video(out / name)[0]) >= 1
        assert words in result.stderr and "Traceback" not in result.output
        if not words:
            assert "warning" not in result.stderr and entry["warnings"] == []
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
    assert_faithful(corpus / "two_audio_tracks.mkv", out / "two_audio_tracks.mkv")
    assert temp_files(tmp_path) == []


# --- shapes that change container: kept where the new container can hold them, dropped with a plain warning -------

def _run(src, dst, *args) -> tuple[list[str], str]:
    """Deblur through the CLI (with the stand-in engine below); returns (the report's warnings, stderr)."""
    result = run_cli([src, "-o", dst, "--json", dst.with_suffix(".json"), *args])
    assert result.exit_code == 0, result.output
    return read_report(dst.with_suffix(".json"))["files"][0]["warnings"], result.stderr


@pytest.fixture(autouse=True)
def _stand_in_engine(monkeypatch, request):
    """The container tests below check files, not pixels: an identity engine keeps them fast."""
    if request.function.__name__.startswith("test_container_change"):
        from tests.test_pipeline import IdentityEngine

        monkeypatch.setattr("deblur_cli.inference.build.build_engine", lambda *a, **k: IdentityEngine())
        monkeypatch.setattr("deblur_cli.models.choice.load_weights", lambda *a, **k: None)


def _second_pass_finds_the_film(path, frames, size=(64, 48)):
    """Our own output read again: the film is the main video, never the cover picture."""
    pts, _, _, first = decode_video(path)
    assert len(pts) == frames and (first.width, first.height) == size
    from deblur_cli.io.source import VideoSource

    with VideoSource(path) as source:
        assert (source.facts.codec, source.facts.width, source.facts.height) == ("h264", *size)


def test_container_change_keeps_cover_art_an_attached_picture(tmp_path):
    src = make_clip(tmp_path / "cover.mp4", frames=4, audio=["aac"], cover_art="mjpeg")
    warnings, _ = _run(src, tmp_path / "cover.mkv")
    assert warnings == []
    assert extras(tmp_path / "cover.mkv")["covers"] == extras(src)["covers"] != []  # same picture, still cover art
    _second_pass_finds_the_film(tmp_path / "cover.mkv", 4)
    _run(tmp_path / "cover.mkv", tmp_path / "again.mp4")  # and back: a cover stream in MP4 again
    assert extras(tmp_path / "again.mp4")["covers"] == extras(src)["covers"]

    silent = make_clip(tmp_path / "silent_cover.mp4", frames=4, cover_art="mjpeg")
    for suffix, muxer in ((".avi", "avi"), (".mov", "mov"), (".ts", "mpegts")):  # dropped, and said so truly
        warnings, _ = _run(silent, tmp_path / f"out{suffix}")  # (never as a one-frame video track)
        assert warnings == [f"cover art stream #1 (mjpeg) dropped: FFmpeg's {muxer} writer cannot store cover art "
                            f"in a {suffix} file (an .mp4 or .mkv output keeps it)"]
        with av.open(str(tmp_path / f"out{suffix}")) as c:
            assert [s.type for s in c.streams] == ["video"]
        _second_pass_finds_the_film(tmp_path / f"out{suffix}", 4)


def test_container_change_keeps_chapters_or_says_it_cannot(tmp_path):
    for suffix_in, suffix_out in ((".mkv", ".mp4"), (".mp4", ".mkv"), (".mp4", ".mov")):
        src = make_clip(tmp_path / f"in{suffix_in}", frames=10, audio=["aac"], chapters=CHAPTERS)
        warnings, _ = _run(src, tmp_path / f"from_{suffix_in[1:]}{suffix_out}")
        assert warnings == []  # not "data stream dropped": the chapter track is rewritten, not copied
        kept = extras(tmp_path / f"from_{suffix_in[1:]}{suffix_out}")["chapters"]
        exact = [(Fraction(a).limit_denominator(1000), Fraction(b).limit_denominator(1000), t) for a, b, t in CHAPTERS]
        assert kept == extras(src)["chapters"] == exact
    video_only = make_clip(tmp_path / "v.mkv", frames=10, chapters=CHAPTERS)
    for suffix in (".avi", ".ts"):
        warnings, _ = _run(video_only, tmp_path / f"v{suffix}")
        assert warnings == [f"2 chapter(s) dropped: a {suffix} file cannot hold chapters (use .mkv, .mp4 or .mov)"]
    # a part keeps the chapters it overlaps, cut to it and moved to its start
    _run(video_only, tmp_path / "part.mkv", "--start", "0.12", "--duration", "0.2")
    assert extras(tmp_path / "part.mkv")["chapters"] == [(0, Fraction(8, 100), "Opening"),
                                                         (Fraction(8, 100), Fraction(2, 10), "Ending")]


def test_container_change_keeps_the_pixel_aspect_ratio(tmp_path):
    src = make_clip(tmp_path / "anamorphic.mkv", frames=3, audio=["aac"], sar=Fraction(4, 3))
    for suffix in (".mp4", ".mov", ".mkv", ".ts"):
        assert _run(src, tmp_path / f"out{suffix}")[0] == []
        assert extras(tmp_path / f"out{suffix}")["sar"] == Fraction(4, 3)
    webm_src = make_clip(tmp_path / "anamorphic_opus.mkv", frames=3, audio=["libopus"], sar=Fraction(4, 3))
    warnings, _ = _run(webm_src, tmp_path / "out.webm")  # VP9 in WebM: nowhere to store it here, and said so
    assert len(warnings) == 1 and "pixel aspect ratio 4:3 cannot be stored with libvpx-vp9" in warnings[0]


def test_container_change_carries_the_timecode_or_says_it_cannot(tmp_path):
    src = make_clip(tmp_path / "tc.mov", frames=4, audio=["aac"], timecode="01:00:00:00")
    for suffix in (".mov", ".mp4", ".mkv"):
        assert _run(src, tmp_path / f"out{suffix}")[0] == []  # a .mov with a tmcd track back to .mov included
        assert extras(tmp_path / f"out{suffix}")["timecode"] == "01:00:00:00"
        assert_faithful_times(src, tmp_path / f"out{suffix}")
    video_only = make_clip(tmp_path / "tc_v.mov", frames=4, timecode="01:00:00:00")
    assert _run(video_only, tmp_path / "out.avi")[0] == ["timecode 01:00:00:00 dropped: a .avi file cannot hold it"]
    warnings, _ = _run(src, tmp_path / "part.mov", "--start", "0.08")
    assert warnings == ["timecode 01:00:00:00 dropped: it names the input's first frame, "
                        "not the first frame of this part"]


def test_container_change_of_a_video_that_starts_late_keeps_it_in_sync(tmp_path):
    src = make_clip(tmp_path / "late.mkv", frames=10, audio=["aac"], audio_seconds=2.0, video_start=10.0)
    for suffix in (".mkv", ".mp4", ".mov"):
        warnings, _ = _run(src, tmp_path / f"out{suffix}")
        assert warnings == []  # no "ended early/corrupt"
        assert_faithful_times(src, tmp_path / f"out{suffix}")


def assert_faithful_times(src, dst, tolerance=Fraction(1, 1000)):
    """Frame times and the audio's offset from the first frame, as in the input (within Matroska's 1 ms)."""
    (v_in, a_in), (v_out, a_out) = first_times(src), first_times(dst)
    offsets = zip([a - v_out for a in a_out], [a - v_in for a in a_in], strict=True)
    assert all(abs(out - want) <= tolerance for out, want in offsets)
    pts_in, tb_in, _, _ = decode_video(src)
    pts_out, tb_out, _, _ = decode_video(dst)
    times = zip([p * tb_out for p in pts_out], [p * tb_in for p in pts_in], strict=True)
    assert all(abs(out - want) <= tolerance for out, want in times)
