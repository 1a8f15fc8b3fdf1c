"""The package's shape: layers point one way, modules stay small, and the public API resolves.

Read from the source with ``ast`` (nothing is imported), so a wrong-way import
fails here even if no test happens to execute it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "deblur_cli"
MAX_LINES = 300

# Package -> the packages it must never import (directly or lazily inside a function).
FORBIDDEN = {
    "ops": {"models", "inference", "io", "pipeline", "evaluation", "training", "synth", "cli"},
    "models": {"inference", "pipeline", "evaluation", "training", "cli"},
    "inference": {"pipeline", "evaluation", "training", "cli", "io"},
    "analysis": {"models", "inference", "ops", "io", "pipeline", "evaluation", "training", "synth", "cli"},
    "io": {"models", "inference", "pipeline", "evaluation", "training", "cli"},
    "pipeline": {"evaluation", "training", "cli"},
    "synth": {"inference", "pipeline", "evaluation", "training", "cli"},
    "evaluation": {"training", "cli"},
    "training": {"pipeline", "cli"},
}


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def imported_packages(path: Path) -> set[str]:
    """The first-level subpackages of deblur_cli that ``path`` imports (absolute or relative)."""
    here = path.relative_to(PACKAGE.parent).with_suffix("").parts  # ("deblur_cli", "io", "sink")
    package = here[:-1] if path.name != "__init__.py" else here[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        targets: list[tuple[str, ...]] = []
        if isinstance(node, ast.Import):
            targets = [tuple(alias.name.split(".")) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = tuple((node.module or "").split(".")) if node.module else ()
            if node.level:
                base = package[: len(package) - node.level + 1] + base
            targets = [base + (alias.name,) for alias in node.names] if len(base) == 1 else [base]
        for target in targets:
            if len(target) >= 2 and target[0] == "deblur_cli":
                found.add(target[1])
    return found


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_layers_point_one_way(path):
    layer = path.relative_to(PACKAGE).parts[0]
    wrong = imported_packages(path) & FORBIDDEN.get(layer, set())
    assert not wrong, f"{path.relative_to(PACKAGE)} ({layer}) imports {sorted(wrong)}"


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_stay_small(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(PACKAGE)} has {lines} lines: split it by job"


def test_top_level_holds_only_the_api_and_the_errors():
    assert sorted(p.name for p in PACKAGE.glob("*.py")) == ["__init__.py", "__main__.py", "errors.py"]


def test_every_public_name_resolves():
    import deblur_cli

    for name in deblur_cli.__all__:
        assert getattr(deblur_cli, name) is not None, name
