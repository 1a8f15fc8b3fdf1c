"""The install carries every package and the shipped weights (listed in pyproject.toml, not found)."""

from __future__ import annotations

import pytest

from tests.conftest import REPO

tomllib = pytest.importorskip("tomllib")


def test_pyproject_lists_every_package_and_the_shipped_weights():
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "deblur_cli").rglob("__init__.py")}
    assert set(config["packages"]) == folders | {"deblur_cli._weights"}
    assert config["package-dir"]["deblur_cli._weights"] == "weights"
    shipped = config["package-data"]["deblur_cli._weights"]
    assert "*.safetensors" in shipped and any((REPO / "weights").glob("*.safetensors"))
