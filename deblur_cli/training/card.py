"""The weights card: what a file says about how it was made, accumulated over every training session.

A continued file keeps its ancestors' record: ``recipe["history"]`` lists every
session (date, device, seconds, steps, recipe, data, validation figures, start
weights) and ``recipe["totals"]`` sums them (steps, training seconds, GPU
seconds, sessions). The v0 file predates the history; its one session is read
from its flat record. Everything travels in the safetensors metadata, so
``stfan-deblur info --weights FILE`` shows it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ..models.weights import META_KEY


def read_card(path: str | Path) -> dict[str, Any]:
    """The full metadata record of one of this project's .safetensors files ({} for other files)."""
    path = Path(path)
    if path.suffix != ".safetensors":
        return {}
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        return json.loads((fh.metadata() or {}).get(META_KEY, "{}"))


def history_of(card: dict[str, Any]) -> list[dict[str, Any]]:
    """The sessions that made a file: its recorded history, or (files from before the history) its one session."""
    recipe = card.get("recipe", {}) or {}
    if recipe.get("history"):
        return list(recipe["history"])
    if not recipe:
        return []
    session = {key: value for key, value in recipe.items() if key not in ("history", "totals")}
    return [{"name": card.get("name"), "device": recipe.get("device"), "seconds": recipe.get("train_seconds", 0.0),
             "steps": card.get("steps", 0), "recipe": session, "data": card.get("data", {}),
             "validation": card.get("metrics", {}), "init": card.get("init")}]


def is_gpu(device: str | None) -> bool:
    return bool(device) and bool(re.search(r"NVIDIA|AMD Instinct|Radeon|GPU|H100|H200|A100", str(device)))


def totals_of(history: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "sessions": len(history),
        "steps": int(sum(int(s.get("steps") or 0) for s in history)),
        "train_seconds": round(sum(float(s.get("seconds") or 0.0) for s in history), 1),
        "gpu_seconds": round(sum(float(s.get("seconds") or 0.0) for s in history if is_gpu(s.get("device"))), 1),
    }


def build_card(*, name: str, channel_order: str, init: str, previous: dict[str, Any], session: dict[str, Any],
               recipe: dict[str, Any], data: dict[str, Any], metrics: dict[str, Any]) -> dict[str, Any]:
    """The metadata of a new file: this session's recipe, the whole history and its totals."""
    history = history_of(previous) + [session]
    totals = totals_of(history)
    return {"name": name, "channel_order": channel_order, "source": "stfan-deblur", "init": init,
            "recipe": {**recipe, "totals": totals, "history": history}, "steps": session["steps"],
            "total_steps": totals["steps"], "data": data, "metrics": metrics}


_VERSION = re.compile(r"_v(\d+)")


def newest_weights(folder: str | Path) -> Path | None:
    """The most trained of this project's .safetensors files in ``folder``: most sessions, then steps, then version."""
    best, best_key = None, None
    for path in sorted(Path(folder).glob("*.safetensors")):
        try:
            card = read_card(path)
        except Exception:  # noqa: BLE001 - a broken file is simply not a candidate
            continue
        if card.get("source", "stfan-deblur") != "stfan-deblur":
            continue
        totals = totals_of(history_of(card))
        version = int(m.group(1)) if (m := _VERSION.search(path.stem)) else -1
        key = (totals["sessions"], totals["steps"], version)
        if best_key is None or key > best_key:
            best, best_key = path, key
    return best
