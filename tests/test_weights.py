"""Weights load from both formats, carry their channel order, and never run code."""

from __future__ import annotations

import os

import pytest
import torch

from deblur_cli.errors import DeviceError, WeightsError, WeightsUnavailable
from deblur_cli.inference.build import build_engine
from deblur_cli.models import STFAN
from deblur_cli.models.choice import load_weights
from deblur_cli.models.weights import save_weights


def _authors_checkpoint(path, state_dict):
    torch.save(
        {"epoch_idx": 400, "Best_Img_PSNR": 31.24, "Best_Epoch": 400,
         "deblurnet_state_dict": {f"module.{k}": v for k, v in state_dict.items()},
         "deblurnet_solver_state_dict": {"state": {}, "param_groups": []}},
        path,
    )


def test_authors_checkpoint_loads_as_bgr_and_matches_golden(tmp_path, golden, golden_state_dict):
    path = tmp_path / "best-ckpt.pth.tar"
    _authors_checkpoint(path, {k.removeprefix("module."): v for k, v in golden_state_dict.items()})
    engine = build_engine(path, device="cpu")
    assert engine.channel_order == "BGR" and engine.weights.source == "authors"
    assert engine.weights.metrics["Best_Img_PSNR"] == pytest.approx(31.24)
    # BGR in the network's terms is what the golden frames are; the engine takes RGB.
    out = engine.step(torch.from_numpy(golden["frames"][0]).flip(1)).flip(1)
    assert (out - torch.from_numpy(golden["outputs"][0]).clamp(0, 1)).abs().max() < 1e-4


def test_own_format_round_trip_keeps_metadata(tmp_path):
    torch.manual_seed(0)
    model = STFAN()
    path = tmp_path / "w.safetensors"
    sha = save_weights(model.state_dict(), path, {"name": "mine", "metrics": {"psnr_gain_db": 3.5}})
    loaded = load_weights(path)
    assert loaded.meta.name == "mine" and loaded.meta.channel_order == "RGB"
    assert loaded.meta.metrics == {"psnr_gain_db": 3.5} and loaded.meta.sha256 == sha
    for key, value in model.state_dict().items():
        assert loaded.state_dict[key].dtype == torch.float16
        assert torch.allclose(loaded.state_dict[key].float(), value, atol=1e-2, rtol=1e-3)
    assert path.stat().st_size < 12 * 2**20
    assert not list(tmp_path.glob(".*tmp"))


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_pickle_that_runs_code_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pth.tar"
    torch.save({"deblurnet_state_dict": _RunsCode()}, path)
    with pytest.raises(WeightsError, match="would run code"):
        load_weights(path)
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("content", [b"", b"hello", b"hello, I am text\n", b"\x00" * 64, b"PK\x03\x04" + b"x" * 64,
                                     b"\x80\x02" + b"\x99" * 50, b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8"])
def test_garbage_files_are_clear_errors(tmp_path, content):
    path = tmp_path / "w.pth"
    path.write_bytes(content)
    with pytest.raises(WeightsError, match="not a"):
        load_weights(path)


def test_wrong_network_is_refused(tmp_path):
    path = tmp_path / "other.safetensors"
    save_weights({"conv.weight": torch.zeros(3, 3)}, path, {})
    with pytest.raises(WeightsError, match="not STFAN weights"):
        build_engine(path, device="cpu")


def test_no_default_weights_offline_says_how_to_get_them(monkeypatch):
    """The default rule finds no cached 'authors' file and no shipped non-experimental entry: offline, that is
    one error naming both ways to get the weights (the autouse fixture gives every test an empty cache)."""
    monkeypatch.setenv("STFAN_DEBLUR_OFFLINE", "1")
    with pytest.raises(WeightsUnavailable, match="weights fetch authors.*weights import FILE"):
        load_weights(None)


def test_a_spec_that_is_neither_a_file_nor_an_entry(tmp_path):
    with pytest.raises(WeightsError, match=r"not found: nope \(entries: authors, synth-v0\)"):
        load_weights("nope")
    with pytest.raises(WeightsError, match="not found"):
        load_weights(tmp_path / "absent.safetensors")


def test_device_errors(random_weights):
    with pytest.raises(DeviceError, match="unknown device"):
        build_engine(random_weights, device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="CUDA is not available"):
            build_engine(random_weights, device="cuda:0")
        with pytest.raises(DeviceError, match="--fp16"):
            build_engine(random_weights, device="cpu", fp16=True)
