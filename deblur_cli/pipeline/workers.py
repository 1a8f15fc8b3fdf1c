"""Worker threads that the main thread can wait for, Ctrl-C (or a handled SIGTERM/SIGHUP) or not.

Why not ``Thread.join``: on CPython 3.11, a KeyboardInterrupt that arrives
while the main thread waits in ``join()`` can leave a still-running thread
marked as finished (``_wait_for_tstate_lock`` releases the lock the running
thread holds), so ``is_alive()`` turns False and the caller goes on while the
worker is still writing its output. Waiting on an Event that the worker sets as
its very last step has no such race.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Iterable


class Worker:
    """A daemon thread running ``target(*args)``, with :attr:`done` set when it has returned or raised."""

    def __init__(self, target: Callable[..., Any], name: str, args: tuple = ()) -> None:
        self.done = threading.Event()
        self._target, self._args = target, args
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        try:
            self._target(*self._args)
        finally:
            self.done.set()

    def start(self) -> None:
        self.thread.start()

    @property
    def running(self) -> bool:
        return self.thread.ident is not None and not self.done.is_set()


def wait_all(workers: Iterable[Worker], poll: float,
             on_interrupt: Callable[[], None] | None = None) -> KeyboardInterrupt | None:
    """Wait until every started worker is done, through any number of Ctrl-C (or handled signals).

    ``on_interrupt`` runs at each interruption (e.g. to tell the workers to
    stop). Returns the first interruption (a KeyboardInterrupt, or the
    :class:`~deblur_cli.errors.Stop` of a signal), for the caller to re-raise
    once the workers are gone; None if there was none.
    """
    first: KeyboardInterrupt | None = None
    for worker in workers:
        while worker.running:
            try:
                worker.done.wait(poll)
            except KeyboardInterrupt as exc:
                first = first or exc
                if on_interrupt is not None:
                    on_interrupt()
    return first
