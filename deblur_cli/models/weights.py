"""STFAN weights: where they come from, what they expect, and safe loading.

Weights carry their own metadata (like torchvision's weights entries): the channel
order the network was trained on, the training recipe, validation figures and
the file's sha256. Users never have to guess a ``--bgr`` flag: the authors'
checkpoint is recognised and marked BGR, this project's files say RGB.

Two formats load:
- this project's ``.safetensors`` files (tensors + a JSON metadata entry), and
- the authors' ``best-ckpt.pth.tar`` (a pickled dict with ``deblurnet_state_dict``,
  keys prefixed ``module.``), read with ``torch.load(weights_only=True)`` so a
  pickle that would run code is refused instead of executed.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch

from ..errors import WeightsError, first_line
from ..io.atomic import atomic_output

META_KEY = "stfan_deblur"
AUTHORS_STATE_KEY = "deblurnet_state_dict"
# The repository's weights/ folder, installed as the package ``deblur_cli._weights``.
SHIPPED_PACKAGE = "deblur_cli._weights"


@dataclass(frozen=True)
class WeightsMeta:
    """What a weights file says about itself."""

    name: str
    channel_order: str  # "RGB" or "BGR": the order the network expects its input in
    source: str  # "stfan-deblur" (trained by this project) or "authors" (Zhou et al.)
    value_range: tuple[float, float] = (0.0, 1.0)
    recipe: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, Any] = field(default_factory=dict)
    sha256: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "channel_order": self.channel_order,
            "source": self.source,
            "value_range": list(self.value_range),
            "recipe": dict(self.recipe),
            "metrics": dict(self.metrics),
            "sha256": self.sha256,
        }


@dataclass
class LoadedWeights:
    state_dict: dict[str, torch.Tensor]
    meta: WeightsMeta
    path: Path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def shipped_weights_dir() -> Path:
    """The installed copy of weights/ (a namespace package: no ``__init__.py``), else the source tree's."""
    from importlib.util import find_spec

    try:
        spec = find_spec(SHIPPED_PACKAGE)
    except ModuleNotFoundError:
        spec = None
    if spec is not None and spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0])
    return Path(__file__).resolve().parents[2] / "weights"


def _meta_from_dict(raw: Mapping[str, Any], sha: str, fallback_name: str) -> WeightsMeta:
    order = str(raw.get("channel_order", "RGB")).upper()
    if order not in ("RGB", "BGR"):
        raise WeightsError(f"weights metadata names an unknown channel order {order!r}")
    return WeightsMeta(
        name=str(raw.get("name", fallback_name)),
        channel_order=order,
        source=str(raw.get("source", "stfan-deblur")),
        value_range=tuple(raw.get("value_range", (0.0, 1.0))),
        recipe=raw.get("recipe", {}),
        metrics=raw.get("metrics", {}),
        sha256=sha,
    )


def _load_safetensors(path: Path, sha: str) -> LoadedWeights:
    from safetensors import SafetensorError
    from safetensors.torch import safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            raw_meta = fh.metadata() or {}
            tensors = {key: fh.get_tensor(key) for key in fh.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"{path}: not a weights file "
                           f"(neither safetensors nor a PyTorch checkpoint: {exc})") from None
    try:
        meta = json.loads(raw_meta.get(META_KEY, "{}"))
    except json.JSONDecodeError:
        raise WeightsError(f"{path}: its metadata is not valid JSON") from None
    return LoadedWeights(tensors, _meta_from_dict(meta, sha, path.stem), path)


def _load_pickle(path: Path, sha: str) -> LoadedWeights:
    """The authors' checkpoint (or a training checkpoint of ours), loaded without running code."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # The weights-only unpickler's reason is the line before its pointer to the documentation.
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        reason = next((line for line in lines if "GLOBAL" in line), lines[-2] if len(lines) > 1 else "")
        if "GLOBAL" in reason:
            raise WeightsError(f"{path}: refused: the file would run code when loaded ({reason}); "
                               "only plain tensor checkpoints are accepted") from None
        raise WeightsError(f"{path}: not a readable weights file (damaged pickle: {reason})") from None
    except Exception as exc:  # torch.load meets garbage with KeyError, IndexError, RuntimeError, EOFError...
        raise WeightsError(f"{path}: not a readable weights file ({type(exc).__name__}: {first_line(exc)})") from None
    if not isinstance(ckpt, dict):
        raise WeightsError(f"{path}: not a checkpoint dictionary")
    if AUTHORS_STATE_KEY in ckpt:
        state = ckpt[AUTHORS_STATE_KEY]
        meta = WeightsMeta(
            name="stfan-authors",
            channel_order="BGR",  # the authors read frames with OpenCV
            source="authors",
            recipe={"paper": "Zhou et al., ICCV 2019", "data": "DVD"},
            metrics={k: ckpt[k] for k in ("Best_Img_PSNR", "Best_Epoch", "epoch_idx") if _is_scalar(ckpt.get(k))},
            sha256=sha,
        )
    elif "model" in ckpt and isinstance(ckpt["model"], dict):
        # A training checkpoint written by `stfan-deblur train`.
        state = ckpt["model"]
        meta = _meta_from_dict(ckpt.get("meta", {}) or {}, sha, path.stem)
    else:
        state, meta = ckpt, _meta_from_dict({}, sha, path.stem)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{path}: no STFAN state dict found in the checkpoint")
    return LoadedWeights(dict(state), meta, path)


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (int, float)) or (isinstance(value, torch.Tensor) and value.numel() == 1)


def strip_prefix(state_dict: Mapping[str, torch.Tensor], prefix: str = "module.") -> dict[str, torch.Tensor]:
    """Drop ``DataParallel``'s ``module.`` prefix where every key has it."""
    if state_dict and all(key.startswith(prefix) for key in state_dict):
        return {key[len(prefix):]: value for key, value in state_dict.items()}
    return dict(state_dict)


def load_file(path: Path) -> LoadedWeights:
    """One weights file, either format, with ``module.`` prefixes stripped."""
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    sha = sha256_of(path)
    with open(path, "rb") as fh:
        head = fh.read(8)
    # safetensors starts with a little-endian header length; pickles and zip archives do not.
    if path.suffix == ".safetensors" or (len(head) == 8 and head[:2] not in (b"PK", b"\x80\x02")):
        loaded = _load_safetensors(path, sha)
    else:
        loaded = _load_pickle(path, sha)
    loaded.state_dict = strip_prefix(loaded.state_dict)
    return loaded


def load_into(model: torch.nn.Module, loaded: LoadedWeights) -> None:
    """Load a state dict, turning mismatches into a one-line WeightsError."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(loaded.state_dict))
    unexpected = sorted(set(loaded.state_dict) - set(expected))
    wrong = sorted(k for k in expected if k in loaded.state_dict and loaded.state_dict[k].shape != expected[k].shape)
    if missing or unexpected or wrong:
        detail = ((missing and f"missing {missing[0]}") or (unexpected and f"unexpected {unexpected[0]}")
                  or f"wrong shape {wrong[0]}")
        n = len(missing) + len(unexpected) + len(wrong)
        raise WeightsError(f"{loaded.path}: not STFAN weights ({n} mismatched tensors, e.g. {detail})")
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in loaded.state_dict.items()})


def save_weights(state_dict: Mapping[str, torch.Tensor], path: str | Path, meta: Mapping[str, Any], *,
                 half: bool = True) -> str:
    """Write this project's weights format (safetensors, fp16 by default); returns the sha256.

    The file is written under a temporary name and renamed, so a failure never
    leaves a truncated weights file behind.
    """
    from safetensors.torch import save_file

    path = Path(path)
    tensors = {
        key: value.detach().to("cpu", torch.float16 if half and value.is_floating_point() else value.dtype).contiguous()
        for key, value in strip_prefix(state_dict).items()
    }
    meta = dict(meta)
    meta.setdefault("channel_order", "RGB")
    meta.setdefault("source", "stfan-deblur")
    meta.setdefault("name", path.stem)
    meta["dtype"] = "float16" if half else "float32"
    with atomic_output(path) as temp:
        save_file(tensors, str(temp), metadata={META_KEY: json.dumps(meta, sort_keys=True)})
    return sha256_of(path)
