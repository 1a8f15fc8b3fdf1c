"""Download one file over HTTP(S), the way Google Drive serves public files (the flow gdown follows).

``drive.google.com/uc?export=download&id=ID`` answers either with the file
(``Content-Disposition``) or with an HTML page: the "can't scan for viruses"
page, whose ``form#download-form`` action plus hidden inputs is the real URL;
or an error page (``.uc-error-subcaption``: quota exceeded, no permission),
which is final. Pages are read by their structure (ids, classes, forms), never
by their English text: Drive answers in the user's language. An HTML page is
never saved as the file.

A host that cannot be reached fails at once (a connect timeout: a machine
without a route may hang rather than refuse). The whole download is bounded by
the stall limit (``stall``, 90 s by default, :data:`~.registry.STALL_ENV`): once
that long passes without a byte from the server -- while connecting, waiting for
headers, reading, or between tries -- it fails, with no further try, and the
error says how to retry. Transient failures (resets, 5xx, a body cut short of
its ``Content-Length``) are retried a few times with backoff, within that bound.
Only the standard library is used (urllib, http.cookiejar, html.parser).
"""

from __future__ import annotations

import errno
import http.client
import socket
import ssl
import time
import urllib.error
import urllib.request
from contextlib import nullcontext
from dataclasses import dataclass
from functools import partial
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Callable
from urllib.parse import urlencode, urljoin, urlsplit

from ..errors import WeightsError, WeightsUnavailable
from .drive_page import DrivePage, looks_like_html
from .registry import STALL_SECONDS, ProgressFactory

USER_AGENT = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/124.0.0.0 Safari/537.36")
CONNECT_TIMEOUT = 10.0  # seconds to open a connection (and finish TLS)
RETRIES = 3  # further tries after a transient failure
BACKOFF = 1.0  # seconds before the first retry; doubles each time
CHUNK = 1 << 16
PAGE_LIMIT = 2 << 20  # an HTML answer larger than this is not a Drive page
MAX_BYTES = 512 << 20  # no STFAN weights file is this large
MAX_HOPS = 3  # page -> confirm form -> file


class ConnectTimeout(OSError):
    """No connection within the connect timeout: the host is unreachable from here."""


class _Transient(Exception):
    """A failure worth another try."""


class _Stalled(Exception):
    """No byte within the stall limit: final."""


@dataclass(frozen=True)
class Downloaded:
    url: str  # where the file finally came from
    size: int
    filename: str | None  # as the server named it (Content-Disposition)


def _connection_class(base: type[http.client.HTTPConnection]) -> type[http.client.HTTPConnection]:
    class Connection(base):  # type: ignore[valid-type, misc]
        def __init__(self, *args, read_timeout: Callable[[], float], **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.read_timeout = read_timeout  # seconds left before the stall limit, asked when connected

        def connect(self) -> None:
            try:
                super().connect()
            except TimeoutError:
                raise ConnectTimeout(f"no connection within {self.timeout:g} s") from None
            self.sock.settimeout(self.read_timeout())

    return Connection


_HTTPConnection = _connection_class(http.client.HTTPConnection)
_HTTPSConnection = _connection_class(http.client.HTTPSConnection)


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, read_timeout: Callable[[], float]) -> None:
        super().__init__()
        self.read_timeout = read_timeout

    def http_open(self, req):
        return self.do_open(partial(_HTTPConnection, read_timeout=self.read_timeout), req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, read_timeout: Callable[[], float]) -> None:
        super().__init__()
        self.read_timeout = read_timeout

    def https_open(self, req):
        return self.do_open(partial(_HTTPSConnection, read_timeout=self.read_timeout), req, context=self._context)


def _unreachable(reason: object) -> bool:
    if isinstance(reason, (socket.gaierror, ConnectTimeout, ConnectionRefusedError)):
        return True
    return isinstance(reason, OSError) and reason.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH)


class Downloader:
    """One download session (its own cookies); :meth:`fetch` writes the file to ``dest`` or raises."""

    def __init__(self, *, advice: str, refused_advice: str | None = None, stalled_advice: str | None = None,
                 stall: float = STALL_SECONDS, connect_timeout: float | None = None, retries: int | None = None,
                 backoff: float | None = None) -> None:
        self.advice = advice  # what the user can do instead, appended to every error
        self.refused_advice = refused_advice or advice  # the same when the host refuses (quota, permission)
        self.stalled_advice = stalled_advice or advice  # the same when it stalls (how to try again, waiting longer)
        self.stall = stall
        self.cookies = CookieJar()
        self.opener = urllib.request.build_opener(
            _HTTPHandler(self._time_left), _HTTPSHandler(self._time_left),
            urllib.request.HTTPCookieProcessor(self.cookies))
        self.connect_timeout = CONNECT_TIMEOUT if connect_timeout is None else connect_timeout
        self.retries = RETRIES if retries is None else retries
        self.backoff = BACKOFF if backoff is None else backoff
        self._last_byte = time.monotonic()

    def fetch(self, url: str, dest: Path, progress: ProgressFactory | None = None,
              label: str = "weights") -> Downloaded:
        self._last_byte = time.monotonic()
        for attempt in range(self.retries + 1):
            try:
                return self._attempt(url, dest, progress, label)
            except _Stalled:
                raise self._stalled(url) from None
            except _Transient as exc:
                if attempt == self.retries:
                    raise WeightsUnavailable(f"downloading {label} failed {attempt + 1} times ({exc}); "
                                             f"{self.advice}") from None
                pause = self.backoff * 2**attempt
                if self._time_left() <= pause:
                    raise WeightsUnavailable(f"downloading {label} failed ({exc}) and another try would pass the "
                                             f"stall limit of {self.stall:g} s; {self.stalled_advice}") from None
                time.sleep(pause)
        raise AssertionError("unreachable")

    def _time_left(self) -> float:
        """Seconds until the stall limit, counted from the last byte received (never quite 0: a socket timeout)."""
        return max(0.01, self.stall - (time.monotonic() - self._last_byte))

    def _stalled(self, url: str) -> WeightsUnavailable:
        return WeightsUnavailable(f"the download from {urlsplit(url).netloc} stalled: no data for {self.stall:g} s; "
                                  f"{self.stalled_advice}")

    def _fail(self, what: str, *, refused: bool = False) -> WeightsUnavailable:
        return WeightsUnavailable(f"{what}; {self.refused_advice if refused else self.advice}")

    def _open(self, url: str):
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": "*/*"})
        try:
            response = self.opener.open(request, timeout=min(self.connect_timeout, self._time_left()))
            self._last_byte = time.monotonic()  # the headers came
            return response
        except urllib.error.HTTPError as exc:
            self._last_byte = time.monotonic()
            body = b""
            if exc.fp is not None and "html" in (exc.headers or {}).get("Content-Type", ""):
                with exc:
                    body = self._read(exc, PAGE_LIMIT)
            if exc.code >= 500 or exc.code in (408, 429):
                raise _Transient(f"HTTP {exc.code} {exc.reason}") from None
            self._refusal(body, url)
            raise self._fail(f"{urlsplit(url).netloc} answered HTTP {exc.code} {exc.reason}",
                             refused=exc.code == 403) from None
        except urllib.error.URLError as exc:
            host = urlsplit(url).netloc
            if _unreachable(exc.reason):
                raise self._fail(f"cannot reach {host} ({exc.reason}; is this machine offline?)") from None
            if isinstance(exc.reason, ssl.SSLCertVerificationError):
                raise self._fail(f"the secure connection to {host} failed ({exc.reason})") from None
            if isinstance(exc.reason, TimeoutError):
                raise _Stalled() from None
            raise _Transient(f"{host}: {exc.reason}") from None
        except TimeoutError:  # no headers within the stall limit
            raise _Stalled() from None
        except (OSError, http.client.HTTPException) as exc:
            raise _Transient(f"{type(exc).__name__}: {exc}") from None

    def _refusal(self, page: bytes, url: str) -> None:
        """Raise Google's own error (quota, permission) if the page is one; it is final, never retried."""
        parser = DrivePage()
        parser.feed(page.decode("utf-8", "replace"))
        if parser.error_text:
            raise self._fail(f"Google Drive refused the download: \"{parser.error_text[:300]}\"", refused=True)

    def _next_url(self, page: bytes, url: str) -> str:
        parser = DrivePage()
        parser.feed(page.decode("utf-8", "replace"))
        self._refusal(page, url)
        if parser.form_action is not None:
            action = urljoin(url, parser.form_action or url)
            return action + ("&" if "?" in action else "?") + urlencode(parser.inputs)
        if parser.link:
            return urljoin(url, parser.link)
        token = next((c.value for c in self.cookies if c.name.startswith("download_warning")), None)
        if token and "confirm=" not in url:
            return f"{url}&confirm={token}"
        raise self._fail(f"{urlsplit(url).netloc} answered with a web page, not the file (no download form in it)")

    def _attempt(self, url: str, dest: Path, progress: ProgressFactory | None, label: str) -> Downloaded:
        for _ in range(MAX_HOPS):
            response = self._open(url)
            with response:
                headers, final_url = response.headers, response.geturl()
                head = self._read(response, CHUNK)
                if not looks_like_html(headers.get("Content-Type", ""), headers.get("Content-Disposition", ""), head):
                    return self._save(response, head, dest, progress, label, final_url)
                page = head + self._read(response, PAGE_LIMIT)
            url = self._next_url(page, final_url)
        raise self._fail("Google Drive kept answering with web pages instead of the file")

    def _read(self, response, size: int) -> bytes:
        try:
            data = response.read(size)
        except TimeoutError:
            raise _Stalled() from None
        except (OSError, http.client.HTTPException) as exc:
            raise _Transient(f"connection lost while reading ({type(exc).__name__}: {exc})") from None
        if data:
            self._last_byte = time.monotonic()
        return data

    def _save(self, response, head: bytes, dest: Path, progress: ProgressFactory | None, label: str,
              url: str) -> Downloaded:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        if total is not None and total > MAX_BYTES:
            raise self._fail(f"the server offers {total:,} bytes, far more than any STFAN weights file")
        done = 0
        bar = progress(f"downloading {label}", total) if progress else nullcontext(lambda n: None)
        try:
            with bar as advance, open(dest, "wb") as fh:
                chunk = head
                while chunk:
                    done += len(chunk)
                    if done > MAX_BYTES:
                        raise self._fail(f"the download passed {MAX_BYTES:,} bytes: not an STFAN weights file")
                    fh.write(chunk)
                    advance(done)
                    chunk = self._read(response, CHUNK)
        except OSError as exc:
            raise WeightsError(f"cannot write the download to {dest.parent}: {exc.strerror or exc}") from None
        if total is not None and done != total:
            raise _Transient(f"the body stopped at {done:,} of {total:,} bytes")
        if done == 0:
            raise self._fail("the server sent an empty file")
        return Downloaded(url, done, response.headers.get_filename())
