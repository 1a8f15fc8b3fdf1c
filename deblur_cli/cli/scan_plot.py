"""``scan --plot``: each file's timeline as a PNG (matplotlib, the optional ``plot`` extra)."""

from __future__ import annotations

from pathlib import Path

from ..errors import OptionError
from ..pipeline.scan import FileScan


def check_plotting() -> None:
    """OptionError (one line) where matplotlib is not installed."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise OptionError("--plot needs matplotlib: pip install 'stfan-deblur[plot]'") from None


def plot_scans(scans: list[FileScan], target: Path, root: Path | None) -> list[Path]:
    raise NotImplementedError
