"""The per-user weights cache: fetch or import an entry's file, verify it, keep a card beside it.

The cache is ``<torch hub dir>/checkpoints/stfan-deblur/`` (so ``TORCH_HOME``
is honoured, like torchvision's downloads), or ``STFAN_DEBLUR_CACHE``. A file
enters it only through :func:`_install`: under a lock (two processes fetching
at once wait for each other; the second finds the file cached), written to a
temporary name, verified, described in a JSON card and renamed into place.
Nothing half-written is ever left: a failure removes the temporary.

Verification stands in for a published hash: the file loads with
``torch.load(weights_only=True)`` (code in a pickle is refused, never run),
has the layout the entry expects (the authors' save code: ``epoch_idx``,
``Best_Img_PSNR``, ``Best_Epoch``, ``deblurnet_state_dict``), loads strictly
into our STFAN (every name and shape), holds only finite numbers, and matches
the entry's pinned sha256 where there is one. The card records the sha256, so
a later change of the file is caught when it is loaded.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from ..errors import WeightsError, WeightsUnavailable, first_line
from ..io.atomic import atomic_output, is_temporary, remove_quietly, write_atomic
from .registry import STALL_ENV, WeightsEntry, fetch_settings, offline_error

CACHE_ENV = "STFAN_DEBLUR_CACHE"
CACHE_SUBDIR = ("checkpoints", "stfan-deblur")
AUTHORS_KEYS = ("epoch_idx", "Best_Img_PSNR", "Best_Epoch")  # beside deblurnet_state_dict
LOCK_TIMEOUT = 15 * 60.0  # seconds to wait for another process's download


def cache_dir() -> Path:
    override = os.environ.get(CACHE_ENV, "").strip()
    if override:
        return Path(override).expanduser()
    import torch.hub

    return Path(torch.hub.get_dir()).joinpath(*CACHE_SUBDIR)


def cached_path(entry: WeightsEntry) -> Path:
    return cache_dir() / entry.filename


def card_path(entry: WeightsEntry) -> Path:
    path = cached_path(entry)
    return path.with_name(path.name + ".json")


def read_card(entry: WeightsEntry) -> dict[str, Any] | None:
    try:
        card = json.loads(card_path(entry).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return card if isinstance(card, dict) else None


def cached_file(entry: WeightsEntry) -> Path | None:
    """The cached file if it is there with its card (written only after verification), else None."""
    path, card = cached_path(entry), read_card(entry)
    try:
        return path if card is not None and path.stat().st_size == card.get("size") else None
    except OSError:
        return None


def damage(entry: WeightsEntry) -> str | None:
    """What is wrong with what the cache holds for ``entry`` (a file cut short, a file without its card), or None
    when it holds the verified file or nothing at all."""
    path, card = cached_path(entry), read_card(entry)
    try:
        size = path.stat().st_size
    except OSError:
        return None if card is None else f"its card is there but the file {path} is gone"
    if card is None:
        return f"{path} has no card: it was never verified"
    if size != card.get("size"):
        return f"{path} holds {size:,} bytes where {card.get('size') or 0:,} were verified"
    return None


def repair_advice(entry: WeightsEntry) -> str:
    return (f"run 'stfan-deblur weights fetch {entry.name} --force' (or download the file in a browser from "
            f"{entry.page or entry.download_url()} and run 'stfan-deblur weights import FILE')")


@dataclass(frozen=True)
class Verified:
    """What verification found out about a weights file."""

    size: int
    sha256: str
    tensors: int
    parameters: int
    channel_order: str
    source: str  # "authors" or "stfan-deblur"
    epoch: int | None = None
    best_epoch: int | None = None
    psnr: float | None = None  # the checkpoint's own Best_Img_PSNR

    def summary(self) -> str:
        figures = [f"{self.size:,} bytes", f"sha256 {self.sha256}"]
        if self.epoch is not None:
            figures.append(f"epoch {self.epoch}")
        if self.psnr is not None:
            figures.append(f"Best_Img_PSNR {self.psnr:.2f} dB")
        figures.append(f"{self.tensors} tensors, {self.parameters:,} parameters, {self.channel_order}")
        return ", ".join(figures)


def _scalar(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def verify_file(path: Path, entry: WeightsEntry | None = None, *, label: str | None = None) -> Verified:
    """Check that ``path`` is usable STFAN weights (for ``entry`` when given); WeightsError says why not."""
    import torch

    from .stfan import STFAN
    from .weights import load_file, load_into

    label = label or str(path)
    try:
        loaded = load_file(path)
        if entry is not None and entry.channel_order != loaded.meta.channel_order:
            raise WeightsError(f"{path}: {loaded.meta.channel_order} weights, but '{entry.name}' expects "
                               f"{entry.channel_order}: not the '{entry.name}' file")
        if entry is not None and entry.name == "authors":
            missing = [k for k in AUTHORS_KEYS if k not in loaded.meta.metrics]
            if loaded.meta.source != "authors" or missing:
                raise WeightsError(f"{path}: not the authors' checkpoint layout (missing "
                                   f"{', '.join(missing) or 'deblurnet_state_dict'})")
        if entry is not None and entry.sha256 and loaded.meta.sha256 != entry.sha256:
            raise WeightsError(f"{path}: sha256 {loaded.meta.sha256} differs from the pinned {entry.sha256}")
        load_into(STFAN(), loaded)  # every name and shape, nothing missing, nothing extra
        if not all(bool(torch.isfinite(t).all()) for t in loaded.state_dict.values() if t.is_floating_point()):
            raise WeightsError(f"{path}: the weights hold NaN or infinite values")
    except WeightsError as exc:
        raise WeightsError(str(exc).replace(str(path), label)) from None
    metrics = {k: _scalar(v) for k, v in loaded.meta.metrics.items()}
    return Verified(
        size=path.stat().st_size, sha256=loaded.meta.sha256, tensors=len(loaded.state_dict),
        parameters=sum(t.numel() for t in loaded.state_dict.values()), channel_order=loaded.meta.channel_order,
        source=loaded.meta.source, epoch=metrics.get("epoch_idx"), best_epoch=metrics.get("Best_Epoch"),
        psnr=metrics.get("Best_Img_PSNR"))


@dataclass(frozen=True)
class Cached:
    path: Path
    verified: Verified
    fresh: bool  # False: it was in the cache already


def _install(entry: WeightsEntry, produce: Callable[[Path], str], *, force: bool, advice: str = "") -> Cached:
    """Under the entry's lock: unless cached (and not ``force``), ``produce(temp)`` writes the file and returns
    where it came from; verify it (a file that fails gets ``advice``), write its card, rename it into the cache."""
    from filelock import FileLock, Timeout

    dest = cached_path(entry)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(dest.with_name(f".{dest.name}.lock")), timeout=LOCK_TIMEOUT)
        lock.acquire()
    except Timeout:
        raise WeightsError(f"another process has been writing {dest} for {LOCK_TIMEOUT / 60:.0f} minutes") from None
    except OSError as exc:
        raise WeightsError(f"cannot use the weights cache {dest.parent}: {exc.strerror or exc}") from None
    try:
        if not force and cached_file(entry) is not None:
            return Cached(dest, verify_file(dest, entry), fresh=False)
        for stale in dest.parent.glob(f".{dest.stem}*"):  # left by a process killed mid-download (we hold the lock)
            if is_temporary(stale):
                remove_quietly(stale)
        with atomic_output(dest) as temp:
            source = produce(temp)
            try:
                verified = verify_file(temp, entry, label=f"the file from {source}")
            except WeightsError as exc:
                if not advice:
                    raise
                raise WeightsUnavailable(f"{exc}; {advice}") from None
            card = {"entry": entry.name, "file": entry.filename, **asdict(verified), "source": source,
                    "cached_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
            write_atomic(card_path(entry), json.dumps(card, indent=2) + "\n")
        return Cached(dest, verified, fresh=True)
    finally:
        lock.release()


def fetch(entry: WeightsEntry, *, force: bool = False) -> Cached:
    """Download ``entry`` into the cache (unless it is there), announcing it and showing progress."""
    from .download import Downloader

    settings = fetch_settings()
    if entry.shipped:
        raise WeightsError(f"'{entry.name}' is shipped with the package: there is nothing to fetch")
    if not force and cached_file(entry) is not None:
        return Cached(cached_path(entry), verify_file(cached_path(entry), entry), fresh=False)
    if settings.is_offline:
        if (why := damage(entry)) is not None:
            raise WeightsUnavailable(f"the cached '{entry.name}' file is damaged ({why}) and offline mode allows no "
                                     f"download: {repair_advice(entry)} where there is internet")
        raise offline_error(entry)
    url = entry.download_url()
    assert url is not None
    retry = f"stfan-deblur weights fetch {entry.name}"
    browser = f"download the file in a browser from {entry.page or url} and run 'stfan-deblur weights import FILE'"
    advice = f"retry later ('{retry}'), or {browser}"
    refused = advice + (f"; the authors also published it in a OneDrive folder, a page to open in a browser: "
                        f"{entry.second_page}" if entry.second_page else "")
    stalled = (f"retry with '{retry}' (to wait longer: '{retry} --stall-timeout SECONDS' or {STALL_ENV}=SECONDS), "
               f"or {browser}")
    downloader = Downloader(advice=advice, refused_advice=refused, stalled_advice=stalled,
                            stall=settings.stall_seconds)

    def produce(temp: Path) -> str:
        settings.notice(f"Fetching '{entry.name}' weights ({entry.size_label}, once) from {url} "
                        f"into {cached_path(entry)}")
        return downloader.fetch(url, temp, settings.progress, label=f"'{entry.name}'").url

    cached = _install(entry, produce, force=force, advice=advice)
    if cached.fresh:
        settings.notice(f"Verified and cached '{entry.name}': {cached.verified.summary()}")
    return cached


def import_file(path: str | Path, entry: WeightsEntry) -> Cached:
    """Verify a file the user obtained themselves (e.g. in a browser) and store it in the cache as ``entry``."""
    path = Path(path)
    if entry.shipped:
        raise WeightsError(f"'{entry.name}' is shipped with the package: import a file as a downloadable entry")
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")

    def produce(temp: Path) -> str:
        try:
            shutil.copyfile(path, temp)
        except OSError as exc:
            raise WeightsError(f"cannot copy {path} into the cache: {first_line(exc)}") from None
        return f"imported from {path.resolve()}"

    return _install(entry, produce, force=True)
