"""Encoder probing: what FFmpeg has built in versus what opens on this machine."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from deblur_cli.io import encoders
from deblur_cli.io.encoders import (
    KNOWN_ENCODERS,
    available_encoders,
    encoder_status,
    encoder_usable,
    first_usable,
)


@pytest.fixture(autouse=True)
def fresh_cache():
    encoder_status.cache_clear()
    yield
    encoder_status.cache_clear()


def test_every_known_encoder_is_reported():
    found = available_encoders()
    assert list(found) == list(KNOWN_ENCODERS)
    assert all(isinstance(v, bool) for v in found.values())
    # PyAV's wheels build these in, and software encoders open anywhere.
    assert found["libx264"] and found["ffv1"]


def test_unknown_and_non_video_encoders_are_not_usable():
    status = encoder_status("no-such-encoder")
    assert (status.present, status.usable) == (False, False) and "not in this" in status.reason
    status = encoder_status("aac")
    assert (status.present, status.usable) == (True, False) and "audio" in status.reason


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None or Path("/dev/nvidia0").exists(),
                    reason="this machine may really have NVENC")
def test_nvenc_is_present_but_not_usable_without_an_nvidia_driver():
    status = encoder_status("h264_nvenc")
    if not status.present:
        pytest.skip("this PyAV build has no NVENC")
    assert not status.usable and "NVIDIA" in status.reason
    assert first_usable(["h264_nvenc", "libx264"]) == "libx264"


def test_an_encoder_that_fails_to_open_is_not_usable(monkeypatch):
    import av

    real_create = av.CodecContext.create

    class Refusing:
        def __init__(self, ctx):
            self._ctx = ctx

        def __setattr__(self, key, value):
            if key == "_ctx":
                object.__setattr__(self, key, value)
            else:
                setattr(self._ctx, key, value)

        def open(self):
            raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(av.CodecContext, "create", lambda *a, **k: Refusing(real_create(*a, **k)))
    status = encoder_status("libx264")
    assert status.present and not status.usable and "cannot be opened" in status.reason
    assert "Operation not permitted" in status.detail
    assert first_usable(["libx264", "ffv1"]) is None


def test_results_are_cached(monkeypatch):
    assert encoder_usable("libx264")
    monkeypatch.setattr("av.Codec", lambda *a, **k: (_ for _ in ()).throw(AssertionError("probed twice")))
    assert encoder_usable("libx264")
    assert encoders.encoder_status("libx264") is encoders.encoder_status("libx264")
