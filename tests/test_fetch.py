"""Fetching weights the way Google Drive serves them, against a loopback imitation (tests/driveserver.py).

Every case ends either with a verified entry in the cache (file + card) or with
one clear error and nothing left in the cache.
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import time

import pytest
import torch

from deblur_cli.errors import WeightsError, WeightsUnavailable
from deblur_cli.models import cache, choice, registry
from deblur_cli.models.choice import load_weights
from deblur_cli.models.registry import fetching, get_entry
from deblur_cli.models.weights import sha256_of

AUTHORS = get_entry("authors")


def point_at(monkeypatch, url: str) -> None:
    monkeypatch.setenv(AUTHORS.url_env, url)


def cache_listing(folder) -> list[str]:
    """What the cache holds, lock files aside (a lock is not a half-written file)."""
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".lock"))


def assert_verified_entry(folder, data: bytes) -> dict:
    assert cache_listing(folder) == [AUTHORS.filename, AUTHORS.filename + ".json"]
    path = folder / AUTHORS.filename
    assert path.read_bytes() == data
    card = json.loads((folder / (AUTHORS.filename + ".json")).read_text())
    assert card["sha256"] == sha256_of(path) and card["size"] == len(data)
    assert (card["epoch"], card["best_epoch"], card["psnr"]) == (400, 400, pytest.approx(31.24))
    assert (card["tensors"], card["parameters"], card["channel_order"]) == (110, 5_372_547, "BGR")
    return card


@pytest.mark.parametrize("route", ["direct", "confirm", "flaky"])
def test_the_file_arrives_verified(drive, weights_cache, monkeypatch, route, authors_checkpoint):
    point_at(monkeypatch, drive.url(route))
    notices = []
    with fetching(notice=notices.append):
        cached = cache.fetch(AUTHORS)
    card = assert_verified_entry(weights_cache, authors_checkpoint)
    assert cached.fresh and cached.verified.psnr == pytest.approx(31.24)
    assert card["source"].startswith(drive.base)
    assert len(notices) == 2 and "Fetching 'authors'" in notices[0]
    assert card["sha256"] in notices[1] and "epoch 400" in notices[1] and "31.24 dB" in notices[1]
    expected = {"direct": 1, "confirm": 2, "flaky": 2}[route]  # the form is one more hop; the 500 one more try
    assert len(drive.requests) == expected
    if route == "confirm":
        assert drive.requests[1].startswith("/download?") and "uuid=0b7e-uuid" in drive.requests[1]


@pytest.mark.parametrize("route, words", [
    ("quota", "Zu viele Nutzer"),  # Google's own words, in the page's language
    ("forbidden", "Zugriffsberechtigung"),  # no permission (HTTP 403)
    ("noform", "web page, not the file"),
    ("html-as-file", "web page, not the file"),
    ("short", "stopped at"),
    ("missing", "HTTP 404"),
])
def test_refusals_are_one_clear_error_and_leave_nothing(drive, weights_cache, monkeypatch, route, words):
    point_at(monkeypatch, drive.url(route))
    with pytest.raises(WeightsUnavailable) as info:
        cache.fetch(AUTHORS)
    message = str(info.value)
    assert words in message and "\n" not in message
    assert "weights import" in message and AUTHORS.page in message
    # Drive's own refusals also offer the authors' second published place, a OneDrive folder
    assert (registry.AUTHORS_ONEDRIVE in message) == (route in ("quota", "forbidden"))
    assert cache_listing(weights_cache) == []
    tries = {"short": 4}.get(route, 1)  # a body cut short is retried; a quota page or a 404 never
    assert len(drive.requests) == tries


class RunsCode:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


@pytest.mark.parametrize("route, words", [("garbage", "not a"), ("evil", "would run code")])
def test_a_file_that_is_not_a_checkpoint_is_refused(drive, weights_cache, monkeypatch, tmp_path, route, words):
    monkeypatch.chdir(tmp_path)
    buffer = io.BytesIO()
    torch.save({"deblurnet_state_dict": RunsCode(), "epoch_idx": 1}, buffer, _use_new_zipfile_serialization=False)
    drive.files["evil"] = buffer.getvalue()
    point_at(monkeypatch, drive.url(route))
    with pytest.raises(WeightsUnavailable, match=words) as info:
        cache.fetch(AUTHORS)
    message = str(info.value)
    assert "partial" not in message and drive.base in message
    assert "weights import" in message and AUTHORS.page in message  # the advice every failed download gets
    assert cache_listing(weights_cache) == []
    assert not (tmp_path / "PWNED").exists()


def test_wrong_layout_is_not_the_authors_file(drive, weights_cache, monkeypatch, random_weights):
    drive.files["checkpoint"] = random_weights.read_bytes()  # good STFAN weights, but ours (RGB safetensors)
    point_at(monkeypatch, drive.url("direct"))
    with pytest.raises(WeightsError, match="expects BGR"):
        cache.fetch(AUTHORS)
    assert cache_listing(weights_cache) == []


def test_offline_makes_no_request(drive, weights_cache, monkeypatch):
    point_at(monkeypatch, drive.url("direct"))
    monkeypatch.setenv(registry.OFFLINE_ENV, "1")
    with pytest.raises(WeightsUnavailable) as info:
        load_weights(None)
    message = str(info.value)
    for words in ("offline", "weights fetch authors", "weights import", AUTHORS.page):
        assert words in message
    assert drive.requests == [] and cache_listing(weights_cache) == []


@pytest.mark.parametrize("route", ["hang", "stall", "mute"])
def test_a_stalled_download_ends_at_the_stall_limit_and_says_how_to_retry(drive, weights_cache, monkeypatch, route):
    """Headers then silence, a body that stops after 1000 bytes, no answer at all: the whole fetch ends once
    the limit (here 1 s) passes without a byte, with no further try, and the error says how to try again."""
    point_at(monkeypatch, drive.url(route))
    monkeypatch.setenv(registry.STALL_ENV, "1")
    started = time.monotonic()
    with pytest.raises(WeightsUnavailable) as info:
        cache.fetch(AUTHORS)
    elapsed = time.monotonic() - started
    assert 0.9 < elapsed < 2.5, elapsed
    message = str(info.value)
    for words in ("stalled: no data for 1 s", "retry with 'stfan-deblur weights fetch authors'", "--stall-timeout",
                  registry.STALL_ENV, "weights import", AUTHORS.page):
        assert words in message
    assert len(drive.requests) == 1 and cache_listing(weights_cache) == []


def test_retries_stay_within_the_stall_limit(drive, weights_cache, monkeypatch):
    """A try that would start after the limit is not made: 500s with a long backoff end the fetch at once."""
    monkeypatch.setattr("deblur_cli.models.download.BACKOFF", 30.0)
    drive.flaky_failures = 10
    point_at(monkeypatch, drive.url("flaky"))
    started = time.monotonic()
    with fetching(stall=1.0), pytest.raises(WeightsUnavailable, match=r"HTTP 500.*stall limit of 1 s.*weights imp"):
        cache.fetch(AUTHORS)
    assert time.monotonic() - started < 1.0 and len(drive.requests) == 1


def test_the_stall_limit_must_be_a_positive_number(weights_cache, monkeypatch):
    monkeypatch.setenv(registry.STALL_ENV, "soon")
    with pytest.raises(WeightsError, match="STFAN_DEBLUR_DOWNLOAD_STALL='soon': give a number of seconds"):
        cache.fetch(AUTHORS)


def test_an_unreachable_host_fails_at_once(weights_cache, monkeypatch):
    monkeypatch.setenv(AUTHORS.url_env, "https://drive.invalid/uc?id=x")  # refused by the no_real_network fixture
    with pytest.raises(WeightsUnavailable, match="cannot reach drive.invalid"):
        cache.fetch(AUTHORS)
    assert cache_listing(weights_cache) == []


def test_a_silent_host_times_out_on_connect(weights_cache, monkeypatch):
    """A host that never answers (no route, a firewall dropping packets): one connect timeout, no retries."""
    attempts = []

    def silent(sock, address):
        attempts.append((address, sock.gettimeout()))
        raise TimeoutError("timed out")

    monkeypatch.setattr(socket.socket, "connect", silent)
    monkeypatch.setenv(AUTHORS.url_env, "http://127.0.0.1:9/uc")
    with pytest.raises(WeightsUnavailable, match=r"cannot reach 127.0.0.1:9 \(no connection within 10 s"):
        cache.fetch(AUTHORS)
    assert attempts == [(("127.0.0.1", 9), 10.0)]
    assert cache_listing(weights_cache) == []


def test_default_rule_uses_the_cache_then_never_asks_again(drive, weights_cache, monkeypatch):
    point_at(monkeypatch, drive.url("direct"))
    entry, path, why = choice.default_choice()
    assert (entry.name, path) == ("authors", None) and "fetched on first use" in why
    with fetching(notice=lambda m: None):
        first = load_weights(None)
    assert first.meta.channel_order == "BGR" and len(drive.requests) == 1
    entry, path, why = choice.default_choice()
    assert path == weights_cache / AUTHORS.filename and "cache" in why
    assert load_weights(None).meta.sha256 == first.meta.sha256 and load_weights("authors")
    assert len(drive.requests) == 1


def test_a_changed_cached_file_is_caught(drive, weights_cache, monkeypatch, authors_checkpoint):
    point_at(monkeypatch, drive.url("direct"))
    with fetching(notice=lambda m: None):
        cache.fetch(AUTHORS)
    path = weights_cache / AUTHORS.filename
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF  # same size, different content
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="changed since it was verified"):
        load_weights("authors")


def test_a_download_killed_midway_is_cleaned_up_by_the_next_fetch(drive, weights_cache, monkeypatch,
                                                                  authors_checkpoint):
    from deblur_cli.io.atomic import temp_name

    stale = temp_name(weights_cache / AUTHORS.filename)
    stale.write_bytes(authors_checkpoint[:1000])  # what SIGKILL leaves behind
    point_at(monkeypatch, drive.url("direct"))
    with fetching(notice=lambda m: None):
        cache.fetch(AUTHORS)
    assert not stale.exists()
    assert_verified_entry(weights_cache, authors_checkpoint)


FETCHER = """
import sys
from deblur_cli.models import cache
from deblur_cli.models.registry import fetching, get_entry
print("ready", flush=True)
sys.stdin.readline()  # the go: written to both processes at once
with fetching(notice=lambda m: None):
    print("fresh" if cache.fetch(get_entry("authors")).fresh else "cached", flush=True)
"""


def test_two_processes_fetching_at_once_download_once(drive, weights_cache, monkeypatch,
                                                      authors_checkpoint):
    """The lock serialises the fetches (taken in one step: never by both); the second finds the file cached."""
    point_at(monkeypatch, drive.url("direct"))
    procs = [subprocess.Popen([sys.executable, "-c", FETCHER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True) for _ in range(2)]
    assert [p.stdout.readline().strip() for p in procs] == ["ready", "ready"]
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    said = sorted(p.communicate(timeout=120)[0].strip() for p in procs)
    assert said == ["cached", "fresh"] and [p.returncode for p in procs] == [0, 0]
    assert len(drive.requests) == 1
    assert_verified_entry(weights_cache, authors_checkpoint)


def test_a_lock_left_by_a_killed_process_is_taken(drive, weights_cache, monkeypatch, tmp_path, authors_checkpoint):
    """A process killed while it held the cache's lock (here: holding it, stopped with SIGKILL) blocks no one."""
    holder = subprocess.Popen([sys.executable, "-c", "import sys; from filelock import FileLock; "
                               f"FileLock({str(weights_cache / f'.{AUTHORS.filename}.lock')!r}).acquire(); "
                               "print('held', flush=True); sys.stdin.read()"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    holder.kill()
    holder.wait()
    point_at(monkeypatch, drive.url("direct"))
    with fetching(notice=lambda m: None):
        assert cache.fetch(AUTHORS).fresh
    assert_verified_entry(weights_cache, authors_checkpoint)


def test_import_of_a_legacy_file(weights_cache, tmp_path, authors_checkpoint):
    source = tmp_path / "best-ckpt.pth.tar"
    source.write_bytes(authors_checkpoint)
    assert authors_checkpoint[:2] == b"\x80\x02"  # the legacy (non-zip) format
    cached = cache.import_file(source, AUTHORS)
    card = assert_verified_entry(weights_cache, authors_checkpoint)
    assert card["source"] == f"imported from {source.resolve()}" and cached.verified.tensors == 110
    assert source.is_file()  # copied, not moved


def test_synth_v0_is_shipped_experimental_and_pinned(monkeypatch):
    entry = get_entry("synth-v0")
    path = choice.local_file(entry)
    assert entry.experimental and path is not None and sha256_of(path) == entry.sha256
    notices = []
    with fetching(notice=notices.append):
        loaded = load_weights("synth-v0")
        load_weights(path)  # by its path: still that entry
    assert loaded.meta.channel_order == "RGB"
    assert len(notices) == 2 and all(n.startswith("warning: weights 'synth-v0' are experimental") for n in notices)
    with pytest.raises(WeightsError, match="nothing to fetch"):
        cache.fetch(entry)
