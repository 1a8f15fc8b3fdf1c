"""The network (:mod:`.stfan`), its weights files (:mod:`.weights`), the named weights entries
(:mod:`.registry`), downloads (:mod:`.download`, :mod:`.drive_page`), their per-user cache
(:mod:`.cache`) and which weights a run uses (:mod:`.choice`, ``load_weights``); these import
one way, in that order (tests/test_weights_layout.py).

Importing this package imports nothing heavy: ``--help`` reads the registry without torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["STFAN", "STFANState"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(import_module(".stfan", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
