"""Which weights a run uses: ``--weights NAME|FILE`` or the default rule, resolved to a file and loaded.

The top of the weights room, whose modules import one way (tests/test_weights_layout.py):
:mod:`.registry` (the entries and fetch settings: data, no torch) and :mod:`.weights` (the
file formats) at the bottom, then :mod:`.drive_page` and :mod:`.download` (HTTP), then :mod:`.cache` (the verified
per-user cache), then this module, which picks an entry (:data:`~.registry.DEFAULT_RULE`),
finds its file on this machine or fetches it, and loads it (:func:`load_weights`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import WeightsError
from . import cache
from .registry import DEFAULT_ENTRY, ENTRIES, WeightsEntry, entry_for_sha, experimental_warning, fetch_settings

if TYPE_CHECKING:
    from .weights import LoadedWeights


@dataclass(frozen=True)
class Resolved:
    path: Path
    entry: WeightsEntry | None  # None: a file the user named
    how: str  # why these weights, for people
    expected_sha256: str | None = None  # pinned, or recorded when the file was cached


def local_file(entry: WeightsEntry) -> Path | None:
    """The entry's file on this machine (shipped, or cached and verified), or None."""
    if entry.shipped:
        from .weights import shipped_weights_dir

        path = shipped_weights_dir() / entry.filename
        return path if path.is_file() else None
    return cache.cached_file(entry)


def default_choice() -> tuple[WeightsEntry, Path | None, str]:
    """(entry, its local file or None when it has to be fetched, why); never touches the network."""
    authors = ENTRIES[DEFAULT_ENTRY]
    path = local_file(authors)
    if path is not None:
        return authors, path, f"'{authors.name}' from the cache"
    for entry in ENTRIES.values():
        if entry.shipped and not entry.experimental and (path := local_file(entry)) is not None:
            return entry, path, f"'{entry.name}' shipped with the package"
    return authors, None, f"'{authors.name}' is not cached yet: it is fetched on first use"


def _expected_sha(entry: WeightsEntry) -> str | None:
    return entry.sha256 or (None if entry.shipped else (cache.read_card(entry) or {}).get("sha256"))


def resolve(spec: str | Path | None = None) -> Resolved:
    """A usable weights file for ``--weights SPEC`` (an entry name or a file; None: the default rule).

    An entry that is not on this machine is fetched (:func:`.cache.fetch`), or, offline,
    :class:`~deblur_cli.errors.WeightsUnavailable` says how to get it.
    """
    if spec is not None:
        path = Path(spec)
        if path.is_file():
            return Resolved(path, None, f"the file {path}")
        if str(spec) not in ENTRIES:
            hint = "" if path.suffix else f" (entries: {', '.join(ENTRIES)})"
            raise WeightsError(f"weights file not found: {spec}{hint}")
        entry, how = ENTRIES[str(spec)], f"'{spec}' (named)"
        path = local_file(entry)
    else:
        entry, path, how = default_choice()
        how = f"default: {how}"
    if path is None:
        if entry.shipped:
            raise WeightsError(f"the shipped weights '{entry.name}' are missing from this installation; reinstall")
        path = cache.fetch(entry).path
        how = f"'{entry.name}' fetched into the cache" if spec is not None else f"default: '{entry.name}' fetched"
    return Resolved(path, entry, how, _expected_sha(entry))


def load_weights(path: str | Path | None = None) -> LoadedWeights:
    """Read weights and their metadata, never executing code.

    ``path``: a weights file, a registry entry name (``authors``, ``synth-v0``), or None for the
    default (:data:`~deblur_cli.models.registry.DEFAULT_RULE`); an entry that is not on this
    machine is fetched into the cache unless offline (see :mod:`~deblur_cli.models.registry`).
    Loading experimental weights sends a one-line warning to the fetch settings' ``notice``.
    """
    from .weights import load_file

    resolved = resolve(path)
    loaded = load_file(resolved.path)
    if resolved.expected_sha256 and loaded.meta.sha256 != resolved.expected_sha256:
        raise WeightsError(f"{resolved.path} changed since it was verified (sha256 {loaded.meta.sha256[:12]}, "
                           f"expected {resolved.expected_sha256[:12]}): run 'stfan-deblur weights fetch "
                           f"{resolved.entry.name if resolved.entry else 'NAME'} --force'")
    entry = resolved.entry or entry_for_sha(loaded.meta.sha256)
    if entry is not None and entry.experimental:
        fetch_settings().notice(experimental_warning(entry))
    return loaded
