"""The weights room imports one way, read from the source with ``ast`` (imports inside functions count).

Bottom to top: :mod:`registry` (entries, fetch settings: no torch) and :mod:`weights` (file formats),
then :mod:`drive_page` (reading Drive's pages) and :mod:`download` (HTTP), then :mod:`cache` (the verified
cache), then :mod:`choice` (which weights a run uses, ``load_weights``). A module may import only the ones
before it in :data:`ORDER`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

MODELS = Path(__file__).resolve().parents[1] / "deblur_cli" / "models"
ORDER = ["registry", "weights", "drive_page", "download", "cache", "choice"]


def room_imports(name: str) -> set[str]:
    """The weights-room modules that ``models/<name>.py`` imports, at the top or lazily."""
    found = set()
    for node in ast.walk(ast.parse((MODELS / f"{name}.py").read_text())):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level == 1:
                found |= {module.split(".")[0]} if module else {alias.name for alias in node.names}
            elif module.startswith("deblur_cli.models."):
                found.add(module.split(".")[2])
            elif module == "deblur_cli.models" or (node.level == 2 and module == "models"):
                found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[2] for a in node.names if a.name.startswith("deblur_cli.models.")}
    return found & set(ORDER)


@pytest.mark.parametrize("name", ORDER)
def test_the_weights_room_imports_one_way(name):
    below = set(ORDER[: ORDER.index(name)])
    wrong = room_imports(name) - below
    assert not wrong, f"models/{name}.py imports {sorted(wrong)}, which must not be imported from below"


def test_the_reader_sees_imports_of_every_form():
    assert room_imports("choice") >= {"cache", "registry", "weights"}
    assert "registry" in room_imports("download") and {"registry", "download", "weights"} <= room_imports("cache")


def test_the_registry_stays_light():
    """``--help`` reads the registry: importing it must not import torch."""
    import subprocess
    import sys

    code = "import sys, deblur_cli.models.registry; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
