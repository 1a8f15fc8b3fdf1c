"""User-facing errors: each carries one line that the CLI prints as it is.

Anything raised as a :class:`DeblurError` is the user's to fix (bad input, bad
weights, unknown device); the CLI prints ``error: <message>`` and exits non-zero
without a traceback. Any other exception is a bug in this tool.

A message stays one line whatever the user's file names hold: every
:class:`DeblurError` passes its message through :func:`shown`, the one function
that escapes control characters (a newline in a file name prints as ``\\n``).
"""

from __future__ import annotations

import sys

INTERRUPT_EXIT = 130  # what shells report for a process ended by Ctrl-C (128 + SIGINT)


def shown(text: object) -> str:
    """``text`` (a path, a name, a message) printable on one line: control characters escaped.

    Newlines, tabs and other control or unprintable characters become
    backslash escapes (``\\n``, ``\\t``, ``\\x1b``); bytes that were not valid
    UTF-8 in a file name (surrogate escapes) become ``\\xNN``. Printable text,
    spaces and non-ASCII letters are kept as they are. Escaping twice changes nothing.
    """
    out = []
    for char in str(text):
        code = ord(char)
        if 0xDC80 <= code <= 0xDCFF:  # os.fsdecode's stand-in for an undecodable byte
            out.append(f"\\x{code - 0xDC00:02x}")
        elif char.isprintable():
            out.append(char)
        else:
            out.append(char.encode("unicode_escape").decode("ascii"))
    return "".join(out)


class DeblurError(Exception):
    """Base class: a problem the user can act on, described in one line."""

    exit_code = 1

    def __init__(self, message: object = "", *args: object) -> None:
        super().__init__(shown(message), *args)


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


class Stop(KeyboardInterrupt):
    """A termination signal (SIGTERM, SIGHUP...) raised in the main thread as Ctrl-C is.

    A subclass of KeyboardInterrupt, so every clean-up written for Ctrl-C runs
    for it too; it carries the exit status a shell expects (128 + the signal's
    number). :func:`deblur_cli.cli.signals.stop_on_signals` raises it.
    """

    def __init__(self, signum: int, name: str) -> None:
        super().__init__(name)
        self.signum, self.name = signum, name
        self.exit_code = 128 + signum


class Interrupted(DeblurError):
    """Ctrl-C or a termination signal stopped the work; partial output has been removed.

    ``exit_code``: 130 for Ctrl-C, 128 + N for signal N; when not given, taken
    from the :class:`Stop` being handled where this error is made (so
    ``except KeyboardInterrupt: raise Interrupted(...)`` reports the right
    status). ``frames``: how many frames were done before the stop, where known.
    """

    def __init__(self, message: object = "interrupted", *, exit_code: int | None = None,
                 frames: int | None = None) -> None:
        super().__init__(message)
        if exit_code is None:
            exit_code = exit_code_of(sys.exc_info()[1])
        self.exit_code = exit_code
        self.frames = frames


class BatchInterrupted(Interrupted):
    """A stop during several files: carries the outcomes of those that got one, for the summary and report."""

    def __init__(self, message: str, outcomes: list, *, exit_code: int | None = None) -> None:
        super().__init__(message, exit_code=exit_code)
        self.outcomes = outcomes


def exit_code_of(interrupt: BaseException | None) -> int:
    """The exit status for an interruption: the signal's for a :class:`Stop`, else Ctrl-C's (130)."""
    return interrupt.exit_code if isinstance(interrupt, (Stop, Interrupted)) else INTERRUPT_EXIT


def stopped_by(interrupt: BaseException | None) -> str:
    """``"interrupted"``, or ``"interrupted by SIGTERM"`` when a signal other than Ctrl-C did it."""
    if isinstance(interrupt, Stop):
        return f"interrupted by {interrupt.name}"
    return "interrupted"


def first_line(exc: BaseException) -> str:
    """An exception's message as one line: its first non-empty line, or its type's name when it has none."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
