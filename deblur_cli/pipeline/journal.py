"""The work folder of a segmented run and its journal: what lets a second run resume the first.

The work folder sits beside the output, hidden, named ``.<output name>.stfan-parts``
(:func:`work_folder`): folder scans skip it (hidden), and it never matches the
temporary-file pattern of :mod:`deblur_cli.io.atomic`, so the clean-up of stale
temporaries leaves it alone (while removing those of a killed run inside it). It
holds one encoded part per finished segment and ``journal.json``, rewritten
atomically after every part: the input's identity (path, size, mtime, sha256
of its first and last MiB), the settings that shape the output (options,
encoder, weights), the segment list, and each part's sha256. A run that finds
a journal whose identity and settings equal its own keeps the parts whose
checksums verify; any difference is named in one line and the folder is
started afresh.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import OutputError
from ..io.atomic import remove_quietly, write_atomic
from ..models.weights import sha256_of as sha256_file  # noqa: F401 -- a part's checksum, as a weights file's

JOURNAL_VERSION = 1
WORK_MARK = ".stfan-parts"
JOURNAL_NAME = "journal.json"
LOCK_NAME = "lock"
EDGE_BYTES = 1 << 20  # the input's first and last MiB are hashed: cheap, and catches a file rewritten in place
_HELD: dict[str, Any] = {}  # work folder -> this process's lock on it
NAME_MAX = 200  # bytes of the output's name kept in the work folder's name (filesystems allow 255)


def work_folder(output: Path) -> Path:
    """The hidden folder beside ``output`` that holds its parts while it is made."""
    name = output.name
    if len(name.encode("utf-8")) > NAME_MAX:
        digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:12]
        name = name.encode("utf-8")[:NAME_MAX - 13].decode("utf-8", "ignore") + "-" + digest
    return output.with_name(f".{name}{WORK_MARK}")


def input_identity(path: Path) -> dict[str, Any]:
    """What tells this input from another or from itself changed: path, size, mtime, hash of both ends."""
    stat = path.stat()
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        digest.update(fh.read(EDGE_BYTES))
        if stat.st_size > EDGE_BYTES:
            fh.seek(max(stat.st_size - EDGE_BYTES, EDGE_BYTES))
            digest.update(fh.read(EDGE_BYTES))
    return {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
            "edges_sha256": digest.hexdigest()}


@dataclass
class Journal:
    """What the run is (``identity``, ``settings``, ``segments``) and what is done (``parts``)."""

    identity: dict[str, Any]
    settings: dict[str, Any]
    segments: list[dict[str, Any]]
    parts: dict[int, dict[str, Any]] = field(default_factory=dict)  # segment index -> part record

    def __post_init__(self) -> None:
        # As JSON gives them back (lists for tuples...), so a journal read from disk compares equal.
        self.identity, self.settings, self.segments = json.loads(
            json.dumps([self.identity, self.settings, self.segments]))

    def to_json(self) -> str:
        return json.dumps({"version": JOURNAL_VERSION, "identity": self.identity, "settings": self.settings,
                           "segments": self.segments, "parts": {str(k): v for k, v in sorted(self.parts.items())}},
                          indent=1, sort_keys=True) + "\n"

    @classmethod
    def read(cls, path: Path) -> "Journal | str":
        """The journal at ``path``, or why it cannot be used (a short phrase)."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("version") != JOURNAL_VERSION:
                return "it was written by another version of this tool"
            parts = {int(k): v for k, v in data["parts"].items()}
            return cls(data["identity"], data["settings"], data["segments"], parts)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return "its journal is unreadable"

    def mismatch(self, other: "Journal") -> str | None:
        """Why a run described by ``other`` cannot continue this one (None: it can)."""
        if self.identity.get("path") != other.identity.get("path"):
            return "it was made from another input file"
        if self.identity != other.identity:
            changed = [k for k in ("size", "mtime_ns", "edges_sha256") if self.identity.get(k) != other.identity.get(k)]
            return f"the input file changed ({', '.join(changed)} differ)"
        if self.settings != other.settings:
            keys = sorted(k for k in set(self.settings) | set(other.settings)
                          if self.settings.get(k) != other.settings.get(k))
            return f"it used other settings ({', '.join(_describe(k, self.settings, other.settings) for k in keys)})"
        if self.segments != other.segments:
            return "its segments differ"
        return None


def _describe(key: str, before: dict, now: dict) -> str:
    """``crf 18 -> 20``; only the name for values too long to show."""
    def shown(value: Any) -> str:
        return "default" if value is None else str(value)

    old, new = shown(before.get(key)), shown(now.get(key))
    if isinstance(before.get(key), (dict, list)) or isinstance(now.get(key), (dict, list)) or len(old + new) > 40:
        return key
    return f"{key} {old} -> {new}"


def save(folder: Path, journal: Journal) -> None:
    write_atomic(folder / JOURNAL_NAME, journal.to_json())


def take_lock(folder: Path) -> None:
    """Make the folder this process's; OutputError if another live process holds it.

    The lock is an OS file lock on ``folder/lock`` (the ``filelock`` package: ``flock`` here), taken in one
    step, so two runs starting together cannot both get it; the kernel lets it go when its process dies, so a
    killed run's folder is taken over. The holder writes its process id into the file for the message.
    """
    from filelock import FileLock, Timeout

    key = str(folder.resolve())
    if key in _HELD:
        return
    path = folder / LOCK_NAME
    lock = FileLock(str(path), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        try:
            owner = f" (process {int(path.read_text().split()[0])})"
        except (OSError, ValueError, IndexError):
            owner = ""
        raise OutputError(f"another run{owner} is writing this output's parts in {folder}; "
                          f"wait for it or stop it") from None
    except OSError as exc:
        raise OutputError(f"cannot lock {path}: {exc.strerror or exc}") from None
    _HELD[key] = lock
    try:
        path.write_text(f"{os.getpid()}\n")
    except OSError:
        pass  # the lock holds without it; only the message of a second run loses the process id


def release_lock(folder: Path) -> None:
    lock = _HELD.pop(str(folder.resolve()), None)
    if lock is not None:  # removed while held: a run that opened it a moment before finds it unlinked, and retries
        remove_quietly(folder / LOCK_NAME)
        lock.release()
