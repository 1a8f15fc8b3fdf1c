"""User-facing errors: each carries one line that the CLI prints as it is.

Anything raised as a :class:`DeblurError` is the user's to fix (bad input, bad
weights, unknown device); the CLI prints ``error: <message>`` and exits non-zero
without a traceback. Any other exception is a bug in this tool.
"""

from __future__ import annotations


class DeblurError(Exception):
    """Base class: a problem the user can act on, described in one line."""

    exit_code = 1


class InputError(DeblurError):
    """The input is missing, unreadable, corrupt or has no video stream."""


class OutputError(DeblurError):
    """The output cannot be written (exists, would overwrite the input, bad extension)."""


class WeightsError(DeblurError):
    """A weights file is missing, unsafe, or not STFAN weights."""


class WeightsUnavailable(WeightsError):
    """Weights that must be downloaded cannot be: offline mode, no network, or the host refused (quota)."""


class DeviceError(DeblurError):
    """The requested device or precision is not available."""


class OptionError(DeblurError):
    """An option's value cannot be used (out of range, or contradicting the input)."""


class Interrupted(DeblurError):
    """The user pressed Ctrl-C; partial output has been removed."""

    exit_code = 130


class BatchInterrupted(Interrupted):
    """Ctrl-C during several files: carries the outcomes of those that got one, for the summary and report."""

    def __init__(self, message: str, outcomes: list) -> None:
        super().__init__(message)
        self.outcomes = outcomes


def first_line(exc: BaseException) -> str:
    """An exception's message as one line: its first non-empty line, or its type's name when it has none."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
