"""``stfan-deblur info``: a complete report with or without weights, for people and as JSON."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from deblur_cli import __version__
from deblur_cli.cli.info_cmd import info_command
from deblur_cli.cli.sysinfo import plain
from deblur_cli.models.registry import DEFAULT_RULE
from deblur_cli.models.weights import sha256_of


@pytest.fixture
def runner() -> CliRunner:
    """A wide terminal; the autouse fixtures give an empty weights cache and no weights from the environment."""
    return CliRunner(env={"COLUMNS": "200"})


def test_report_without_cached_weights_says_what_the_default_is_and_how_to_get_it(runner):
    result = runner.invoke(info_command, [])
    assert result.exit_code == 0, result.output
    out = result.output
    for heading in ("Versions", "Weights", "Devices", "Encoders", "Triton"):
        assert heading in out
    assert __version__ in out and torch.__version__ in out and "PyAV" in out
    assert "'authors' is not cached yet: it is fetched on first use" in out and DEFAULT_RULE in out
    assert "weights fetch authors" in out and "weights import FILE" in out and "drive.google.com" in out
    assert "libx264" in out and "cpu" in out


def test_report_shows_the_weights_card(runner, random_weights):
    result = runner.invoke(info_command, ["--weights", str(random_weights)])
    assert result.exit_code == 0, result.output
    assert "random-test" in result.output and "RGB" in result.output and "stfan-deblur" in result.output
    assert sha256_of(random_weights) in result.output


def test_weights_from_the_environment(runner, random_weights):
    result = runner.invoke(info_command, ["--json"], env={"STFAN_DEBLUR_WEIGHTS": str(random_weights)})
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["weights"]["name"] == "random-test"


def test_json_report(runner, random_weights):
    result = runner.invoke(info_command, ["--json", "--weights", str(random_weights)])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["versions"]["stfan-deblur"] == __version__
    weights = info["weights"]
    assert weights["loaded"] and not weights["default"]
    assert weights["sha256"] == sha256_of(random_weights)
    assert (weights["name"], weights["source"], weights["channel_order"]) == ("random-test", "stfan-deblur", "RGB")
    assert weights["value_range"] == [0.0, 1.0]
    assert isinstance(weights["recipe"], dict) and isinstance(weights["metrics"], dict)
    assert info["devices"]["cpu"]["logical_cores"] >= 1
    assert len(info["devices"]["cuda"]) == (torch.cuda.device_count() if torch.cuda.is_available() else 0)
    assert info["encoders"]["libx264"]["usable"] is True
    assert set(info["triton"]) == {"installed", "version", "fac_auto"}
    assert info["triton"]["fac_auto"] in ("reference", "triton", "cpu")


def test_json_without_weights(runner):
    result = runner.invoke(info_command, ["--json"])
    assert result.exit_code == 0
    weights = json.loads(result.output)["weights"]
    assert weights["loaded"] is False and weights["default"] is True and weights["path"] is None
    assert weights["entry"]["name"] == "authors" and weights["entry"]["channel_order"] == "BGR"
    assert "weights fetch authors" in weights["status"]


def test_a_broken_weights_file_is_reported_and_fails(runner, tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 64)
    result = runner.invoke(info_command, ["--weights", str(bad)])
    assert result.exit_code == 1
    assert "not a weights file" in result.output and "Traceback" not in result.output
    missing = runner.invoke(info_command, ["--json", "--weights", str(tmp_path / "nope.pth")])
    assert missing.exit_code == 1 and "not found" in json.loads(missing.output)["weights"]["error"]


def test_plain_turns_metadata_into_json_values():
    assert plain({"psnr": torch.tensor(31.5), "range": (0, 1), "n": 3, "x": None}) == {
        "psnr": 31.5, "range": [0, 1], "n": 3, "x": None}
