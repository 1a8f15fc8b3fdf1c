"""Shared fixtures: the reference data beside the repository, small weights files, and a sealed network.

No test may reach a real host: every connection and name lookup that is not
loopback is refused (autouse), and every test gets its own empty weights cache
with no weights, offline or mirror settings inherited from the environment.
"""

from __future__ import annotations

import io
import ipaddress
import os
import socket
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
GOLDEN = SHARED / "reference" / "stfan_golden.npz"
MANIFEST = SHARED / "reference" / "stfan_checkpoint_manifest.json"

torch.set_num_threads(min(2, torch.get_num_threads()))


def pytest_configure(config: pytest.Config) -> None:
    """Decide Triton's mode once, for the whole session and before any test module imports triton.

    Triton reads TRITON_INTERPRET when a kernel is defined, so a module that set it
    on import (and one that cleared it) made results depend on test order. Without a
    GPU every Triton kernel runs in the interpreter; tests that need the variable
    absent remove it with monkeypatch for their own duration.
    """
    if not torch.cuda.is_available():
        os.environ.setdefault("TRITON_INTERPRET", "1")


@pytest.fixture(scope="session")
def golden() -> dict[str, np.ndarray]:
    if not GOLDEN.is_file():
        pytest.skip(f"reference vectors not found at {GOLDEN}")
    with np.load(GOLDEN) as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="session")
def golden_state_dict(golden) -> dict[str, torch.Tensor]:
    """The golden weights as the authors' checkpoint names them (with ``module.``)."""
    return {key[len("param/"):]: torch.from_numpy(value) for key, value in golden.items() if key.startswith("param/")}


@pytest.fixture(scope="session")
def random_weights(tmp_path_factory) -> Path:
    """A seeded random-weights file in this project's format: enough to exercise the whole pipeline."""
    from deblur_cli.models import STFAN
    from deblur_cli.models.weights import save_weights

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "random.safetensors"
    save_weights(STFAN().state_dict(), path, {"name": "random-test", "channel_order": "RGB"}, half=False)
    return path


# ----------------------------------------------------------------------------- network and weights cache

LOOPBACK_NAMES = ("localhost", "localhost.localdomain")


def _is_loopback(host) -> bool:
    if isinstance(host, bytes):
        host = host.decode()
    if host is None or str(host).lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


class RealNetworkRefused(OSError):
    """A test tried to reach a host that is not this machine."""


@pytest.fixture(autouse=True)
def no_real_network(monkeypatch):
    """Refuse every connection and name lookup that is not loopback, so no test ever reaches a real host."""
    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
            raise RealNetworkRefused(f"test tried to connect to {address}")
        return real_connect(sock, address)

    def getaddrinfo(host, *args, **kwargs):
        if not _is_loopback(host):
            raise socket.gaierror(socket.EAI_NONAME, f"test tried to look up {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture(autouse=True)
def weights_cache(monkeypatch, tmp_path_factory) -> Path:
    """An empty weights cache of the test's own; no weights, offline or mirror settings from the environment."""
    from deblur_cli.models.registry import ENTRIES, ENV

    for name in ("WEIGHTS", "OFFLINE", "DOWNLOAD_STALL", *(e.url_env.removeprefix(ENV) for e in ENTRIES.values())):
        monkeypatch.delenv(ENV + name, raising=False)
    cache = tmp_path_factory.mktemp("weights-cache")
    monkeypatch.setenv("STFAN_DEBLUR_CACHE", str(cache))
    return cache


def authors_layout(state_dict: dict[str, torch.Tensor]) -> dict:
    """A checkpoint as the authors' save code writes it (DataParallel names, their top-level keys)."""
    return {"epoch_idx": 400, "Best_Img_PSNR": 31.24, "Best_Epoch": 400,
            "deblurnet_state_dict": {f"module.{k}": v for k, v in state_dict.items()}}


@pytest.fixture(scope="session")
def authors_checkpoint(tmp_path_factory) -> bytes:
    """Random STFAN weights in the authors' layout, saved in the legacy (pre-1.6, non-zip) format."""
    from deblur_cli.models import STFAN

    torch.manual_seed(1)
    buffer = io.BytesIO()
    torch.save(authors_layout(STFAN().state_dict()), buffer, _use_new_zipfile_serialization=False)
    return buffer.getvalue()


@pytest.fixture
def drive(authors_checkpoint, monkeypatch):
    """A loopback imitation of Google Drive (see tests/driveserver.py); retries wait only milliseconds."""
    from tests.driveserver import DriveImitation

    monkeypatch.setattr("deblur_cli.models.download.BACKOFF", 0.01)
    with DriveImitation(authors_checkpoint, not_checkpoint=bytes(range(256)) * 64) as server:
        yield server
