"""What the pipeline tells a progress display, and a display that shows nothing.

The pipeline only calls these hooks; how progress looks (rich bars on a
terminal, periodic lines in a log) is the command line's business
(:mod:`deblur_cli.cli.progress`), so the pipeline never imports it.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, contextmanager
from typing import Iterator, Protocol


class FileProgress(Protocol):
    """The two callbacks :func:`~deblur_cli.pipeline.video.deblur_video` takes, for one file."""

    def on_start(self, total: int | None) -> None: ...

    def on_frame(self, done: int) -> None: ...


class Reporter(Protocol):
    """A progress display for a run of ``total_files`` files."""

    def session(self, total_files: int) -> AbstractContextManager[object]: ...

    def file(self, name: str) -> AbstractContextManager[FileProgress]: ...

    def skipped(self, name: str) -> None: ...  # a file of the run that needs no work (its output exists)


class _Silent:
    def on_start(self, total: int | None) -> None:
        pass

    def on_frame(self, done: int) -> None:
        pass


class NullReporter:
    """Shows nothing."""

    @contextmanager
    def session(self, total_files: int) -> Iterator["NullReporter"]:
        yield self

    @contextmanager
    def file(self, name: str) -> Iterator[FileProgress]:
        yield _Silent()

    def skipped(self, name: str) -> None:
        pass


NULL_REPORTER = NullReporter()
