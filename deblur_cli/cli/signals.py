"""Termination signals handled like Ctrl-C: the one place that installs signal handlers.

``timeout``, ``docker stop`` and systemd send SIGTERM; closing a terminal sends
SIGHUP. Python turns only SIGINT (Ctrl-C) into an exception; the others would
end the process on the spot and leave partial files behind. Inside
:func:`stop_on_signals` they raise :class:`~deblur_cli.errors.Stop` in the main
thread instead, a KeyboardInterrupt subclass, so every clean-up written for
Ctrl-C (workers told to stop and waited for, temporaries removed) runs
unchanged, and the process exits with the status a shell expects (143 for
SIGTERM, 129 for SIGHUP, 130 for Ctrl-C).

Only the first signal raises: later ones arrive while that clean-up runs and
are ignored, so a second ``kill`` cannot cut a clean-up short (a second Ctrl-C
is waited through the same way, see :mod:`deblur_cli.pipeline.workers`).
Processes forked meanwhile (data-loading workers) inherit the handler but not
the role: in them a signal does what it did before, it ends the process.

Whatever must react to a stop catches KeyboardInterrupt, as for Ctrl-C, and
turns it into :class:`~deblur_cli.errors.Interrupted` (whose exit status and
:func:`~deblur_cli.errors.stopped_by` wording follow the signal).
"""

from __future__ import annotations

import os
import signal
import threading
from contextlib import contextmanager
from typing import Iterator

from ..errors import Stop

# The signals that stop a run cleanly (where the platform has them; Windows has no SIGHUP).
HANDLED = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


@contextmanager
def stop_on_signals(signals: tuple[int, ...] = HANDLED) -> Iterator[None]:
    """Within the block, each of ``signals`` raises :class:`Stop` in the main thread (the first one only).

    Handlers are installed only from the main thread (Python allows no other);
    elsewhere, and after the block, the previous handlers apply.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stopping: list[Stop] = []
    owner = os.getpid()

    def handler(signum: int, frame) -> None:
        if os.getpid() != owner:  # a forked child: end it the default way, as without this handler
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        if stopping:
            return  # a clean-up is already under way: let it finish
        stopping.append(Stop(signum, signal.Signals(signum).name))
        raise stopping[0]

    previous = {}
    try:
        for signum in signals:
            previous[signum] = signal.signal(signum, handler)
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
