"""Named weights entries (the way torchvision's weights entries work) and the one rule that picks the default.

An entry says where its file comes from (shipped in the package, or a URL /
Google Drive id), what the network expects (channel order, value range), what
it was trained on, its figures, its licence and whether it is experimental.
``--weights`` takes an entry name or a file; with neither,
:func:`~deblur_cli.models.choice.default_choice` decides, exactly as :data:`DEFAULT_RULE` says.
The bottom of the weights room: it imports none of its other modules (tests/test_weights_layout.py).

Everything here is light (no torch at import): ``--help`` reads it.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, replace
from typing import Callable, ContextManager, Iterator

from ..errors import WeightsError, WeightsUnavailable

ENV = "STFAN_DEBLUR_"
OFFLINE_ENV = ENV + "OFFLINE"
AUTHORS_DRIVE_ID = "1GBZicB_w5vRD27XOvDh3n6B4_0lr234d"
DRIVE_PAGE = "https://drive.google.com/file/d/{id}/view"
DRIVE_DOWNLOAD = "https://drive.google.com/uc?export=download&id={id}"
# The folder the authors' README linked before Drive (a folder share: for a person in a browser, not for a script).
AUTHORS_ONEDRIVE = ("https://hiteducn0-my.sharepoint.com/:f:/g/personal/sczhou_hit_edu_cn/"
                    "EiVeE2qh_e5Omxa_JrfOj6UBXgSm13kyI3RHwUPnaDL9Hg?e=5YJFOx")
STALL_ENV = ENV + "DOWNLOAD_STALL"
STALL_SECONDS = 90.0  # a download that receives no byte for this long is given up (and says how to retry)
DEFAULT_ENTRY = "authors"
DEFAULT_RULE = ("a cached 'authors' checkpoint, else a shipped entry that is not experimental, else 'authors' "
                "fetched once from the authors' Google Drive link into the cache (never with --offline)")


@dataclass(frozen=True)
class WeightsEntry:
    """One named set of STFAN weights and everything known about it."""

    name: str
    title: str
    filename: str  # the file's name in the package (shipped) or in the cache
    channel_order: str  # "RGB" or "BGR": the order the network expects
    trained_on: str
    figures: str
    licence: str
    value_range: tuple[float, float] = (0.0, 1.0)
    experimental: bool = False
    shipped: bool = False
    url: str | None = None  # where a remote entry is downloaded from (see url_env)
    page: str | None = None  # a page a person can open in a browser to download it
    second_page: str | None = None  # another place its publisher put it, offered when the first refuses
    size: int | None = None  # bytes, where known exactly
    size_text: str = ""  # the size as its publisher states it
    sha256: str | None = None  # pinned where known; otherwise recorded in the cache card at fetch
    caveat: str = ""  # why an experimental entry is not for real use
    # How far --strength auto trusts the network's changes (inference.weightmap.MAP_SETTINGS): "standard", or
    # "cautious" for weights measured to change sharp frames about as much as blurred ones.
    strength_map: str = "standard"

    @property
    def url_env(self) -> str:
        """The environment variable that points this entry at a mirror (firewalled machines, tests)."""
        return f"{ENV}{self.name.upper().replace('-', '_')}_URL"

    def download_url(self) -> str | None:
        return (os.environ.get(self.url_env, "").strip() or self.url) if not self.shipped else None

    @property
    def size_label(self) -> str:
        return self.size_text or (f"{self.size / 1e6:.1f} MB" if self.size else "unknown size")

    @property
    def origin(self) -> str:
        return "shipped with the package" if self.shipped else (self.page or self.download_url() or "")

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "value_range": list(self.value_range), "url": self.download_url()}


ENTRIES: dict[str, WeightsEntry] = {e.name: e for e in (
    WeightsEntry(
        name="authors",
        title="STFAN as published by its authors (Zhou et al., ICCV 2019), best-ckpt.pth.tar",
        filename="stfan_authors_dvd.pth.tar",
        channel_order="BGR",  # the authors read frames with OpenCV
        trained_on="DVD (Su et al., 2017), the authors' training set",
        figures="31.24 dB PSNR / 0.934 SSIM on the DVD test set (paper; not measured here)",
        licence="the authors' file, fetched from their own Google Drive link and never redistributed by "
                "stfan-deblur; their repository sczhou/STFAN is MIT-licensed and states no separate terms for it",
        url=DRIVE_DOWNLOAD.format(id=AUTHORS_DRIVE_ID),
        page=DRIVE_PAGE.format(id=AUTHORS_DRIVE_ID),
        second_page=AUTHORS_ONEDRIVE,
        size_text="21.5 MB",
    ),
    WeightsEntry(
        name="synth-v0",
        title="stfan-deblur's own first training run (401 s on one H100, synthetic blur)",
        filename="stfan_synth_v0.safetensors",
        channel_order="RGB",
        trained_on="synthetic camera-shake blur from 29 photos (see weights/README.md)",
        # Restored frames against the input as the tool decodes it, never re-encoded files (weights/README.md):
        # benchmarks/bench_strength.py --ceiling 60, held-out photos, 8 clips x 6 frames, 320x192.
        figures="PSNR of restored frames against the input's, held-out synthetic clips: at --strength 1 +0.45 dB "
                "shaky, +0.38 moving objects, -2.33 nearly sharp, -7.93 clean sharp; --strength auto +0.14, +0.14, "
                "-0.00, -0.61. An independent held-out set: +0.2 dB mean at --strength 1, worst clip -0.01",
        licence="trained by this project, MIT like the package",
        experimental=True,
        caveat="it gains a few tenths of a dB on blurred footage and, at --strength 1, alters clean sharp footage "
               "(-7.9 dB on clean sharp test clips)",
        strength_map="cautious",  # it changes sharp frames about as much as blurred ones (benchmarks/RESULTS.md)
        shipped=True,
        size=10_757_438,
        sha256="586f99e37c4237a847fe18229a6547caed11c45c1f0fe6726abeea975dc9c234",
    ),
)}


def get_entry(name: str) -> WeightsEntry:
    try:
        return ENTRIES[name]
    except KeyError:
        raise WeightsError(f"no weights entry named {name!r}: use one of {', '.join(ENTRIES)}") from None


def entry_for_sha(sha256: str) -> WeightsEntry | None:
    """The entry whose pinned hash is ``sha256`` (a shipped file named by its path is still that entry)."""
    return next((e for e in ENTRIES.values() if e.sha256 and e.sha256 == sha256), None)


def experimental_warning(entry: WeightsEntry) -> str:
    return (f"warning: weights '{entry.name}' are experimental: {entry.caveat or 'not for real use'}; "
            f"for real deblurring use '{DEFAULT_ENTRY}' (the default)")


# ----------------------------------------------------------------------------- how fetching talks to its caller

ProgressFactory = Callable[[str, "int | None"], ContextManager[Callable[[int], None]]]


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class FetchSettings:
    """Offline mode (None: ``STFAN_DEBLUR_OFFLINE``), where notices go, a progress bar factory
    (``progress(description, total_bytes)`` is a context manager yielding ``advance(bytes_done)``), and
    how many seconds without a byte end a download (None: ``STFAN_DEBLUR_DOWNLOAD_STALL``, else 90)."""

    offline: bool | None = None
    notice: Callable[[str], None] = _to_stderr
    progress: ProgressFactory | None = None
    stall: float | None = None

    @property
    def stall_seconds(self) -> float:
        if self.stall is not None:
            return self.stall
        raw = os.environ.get(STALL_ENV, "").strip()
        try:
            seconds = float(raw) if raw else STALL_SECONDS
        except ValueError:
            seconds = -1.0
        if not 0 < seconds < float("inf"):
            raise WeightsError(f"{STALL_ENV}={raw!r}: give a number of seconds above 0 (default {STALL_SECONDS:g})")
        return seconds

    @property
    def is_offline(self) -> bool:
        if self.offline is not None:
            return self.offline
        return os.environ.get(OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


# FetchSettings is frozen, so one shared default instance is safe.
_SETTINGS: ContextVar[FetchSettings] = ContextVar("stfan_deblur_fetch_settings", default=FetchSettings())  # noqa: B039


def fetch_settings() -> FetchSettings:
    return _SETTINGS.get()


@contextmanager
def fetching(**changes) -> Iterator[FetchSettings]:
    """Within the block, weights resolution uses these settings (``offline``, ``notice``, ``progress``,
    ``stall``)."""
    token = _SETTINGS.set(replace(_SETTINGS.get(), **{k: v for k, v in changes.items() if v is not None}))
    try:
        yield _SETTINGS.get()
    finally:
        _SETTINGS.reset(token)


def offline_error(entry: WeightsEntry) -> WeightsUnavailable:
    return WeightsUnavailable(
        f"weights '{entry.name}' are not in the cache and offline mode (--offline / {OFFLINE_ENV}) allows no "
        f"download: run 'stfan-deblur weights fetch {entry.name}' where there is internet, or download the file in a "
        f"browser ({entry.page or entry.download_url()}) and run 'stfan-deblur weights import FILE'")
