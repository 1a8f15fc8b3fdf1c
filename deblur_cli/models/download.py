"""Download one file over HTTP(S), the way Google Drive serves public files (the flow gdown follows).

``drive.google.com/uc?export=download&id=ID`` answers either with the file
(``Content-Disposition``) or with an HTML page: the "can't scan for viruses"
page, whose ``form#download-form`` action plus hidden inputs is the real URL;
or an error page (``.uc-error-subcaption``: quota exceeded, no permission),
which is final. Pages are read by their structure (ids, classes, forms), never
by their English text: Drive answers in the user's language. An HTML page is
never saved as the file.

Connect and read timeouts are separate (a machine without a route may hang
rather than refuse); a host that cannot be reached fails at once, transient
failures (timeouts while reading, resets, 5xx, a body cut short of its
``Content-Length``) are retried a few times with backoff. Only the standard
library is used (urllib, http.cookiejar, html.parser).
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
from html.parser import HTMLParser
from http.cookiejar import CookieJar
from pathlib import Path
from urllib.parse import urlencode, urljoin, urlsplit

from ..errors import WeightsError, WeightsUnavailable
from .registry import ProgressFactory

USER_AGENT = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/124.0.0.0 Safari/537.36")
CONNECT_TIMEOUT = 10.0  # seconds to open a connection (and finish TLS)
READ_TIMEOUT = 60.0  # seconds without a byte while reading
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


@dataclass(frozen=True)
class Downloaded:
    url: str  # where the file finally came from
    size: int
    filename: str | None  # as the server named it (Content-Disposition)


def _connection_class(base: type[http.client.HTTPConnection]) -> type[http.client.HTTPConnection]:
    class Connection(base):  # type: ignore[valid-type, misc]
        def __init__(self, *args, read_timeout: float, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.read_timeout = read_timeout

        def connect(self) -> None:
            try:
                super().connect()
            except TimeoutError:
                raise ConnectTimeout(f"no connection within {self.timeout:g} s") from None
            self.sock.settimeout(self.read_timeout)

    return Connection


_HTTPConnection = _connection_class(http.client.HTTPConnection)
_HTTPSConnection = _connection_class(http.client.HTTPSConnection)


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, read_timeout: float) -> None:
        super().__init__()
        self.read_timeout = read_timeout

    def http_open(self, req):
        return self.do_open(partial(_HTTPConnection, read_timeout=self.read_timeout), req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, read_timeout: float) -> None:
        super().__init__()
        self.read_timeout = read_timeout

    def https_open(self, req):
        return self.do_open(partial(_HTTPSConnection, read_timeout=self.read_timeout), req, context=self._context)


class _DrivePage(HTMLParser):
    """What a Drive HTML answer holds: the confirm form, an old-style download link, or Google's error text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.form_action: str | None = None
        self.inputs: dict[str, str] = {}
        self.link: str | None = None
        self.error: list[str] = []
        self._in_form = False
        self._capture: tuple[str, int] | None = None  # (tag, depth) while inside an error caption

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if self._capture is not None:
            if tag == self._capture[0]:
                self._capture = (tag, self._capture[1] + 1)
            return
        if tag == "form" and a.get("id") == "download-form":
            self.form_action, self._in_form = a.get("action", ""), True
        elif tag == "input" and self._in_form and a.get("type", "").lower() == "hidden" and a.get("name"):
            self.inputs[a["name"]] = a.get("value", "")
        elif tag == "a" and a.get("id") == "uc-download-link" and a.get("href"):
            self.link = a["href"]
        elif {"uc-error-subcaption", "uc-error-caption"} & set(a.get("class", "").split()):
            self._capture = (tag, 1)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False
        if self._capture is not None and tag == self._capture[0]:
            depth = self._capture[1] - 1
            self._capture = (tag, depth) if depth else None
            self.error.append(" ")

    def handle_data(self, data: str) -> None:
        if self._capture is not None:
            self.error.append(data)

    @property
    def error_text(self) -> str:
        return " ".join("".join(self.error).split())


def _looks_like_html(content_type: str, disposition: str, head: bytes) -> bool:
    start = head.lstrip()[:15].lower()
    if start.startswith((b"<!doctype html", b"<html")):
        return True
    return "text/html" in content_type.lower() and "attachment" not in disposition.lower()


def _unreachable(reason: object) -> bool:
    if isinstance(reason, (socket.gaierror, ConnectTimeout, ConnectionRefusedError)):
        return True
    return isinstance(reason, OSError) and reason.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH)


class Downloader:
    """One download session (its own cookies); :meth:`fetch` writes the file to ``dest`` or raises."""

    def __init__(self, *, advice: str, connect_timeout: float | None = None, read_timeout: float | None = None,
                 retries: int | None = None, backoff: float | None = None) -> None:
        self.advice = advice  # what the user can do instead, appended to every error
        self.cookies = CookieJar()
        read_timeout = READ_TIMEOUT if read_timeout is None else read_timeout
        self.opener = urllib.request.build_opener(
            _HTTPHandler(read_timeout), _HTTPSHandler(read_timeout), urllib.request.HTTPCookieProcessor(self.cookies))
        self.connect_timeout = CONNECT_TIMEOUT if connect_timeout is None else connect_timeout
        self.retries = RETRIES if retries is None else retries
        self.backoff = BACKOFF if backoff is None else backoff

    def fetch(self, url: str, dest: Path, progress: ProgressFactory | None = None, label: str = "weights") -> Downloaded:
        for attempt in range(self.retries + 1):
            try:
                return self._attempt(url, dest, progress, label)
            except _Transient as exc:
                if attempt == self.retries:
                    raise WeightsUnavailable(f"downloading {label} failed {attempt + 1} times ({exc}); "
                                             f"{self.advice}") from None
                time.sleep(self.backoff * 2**attempt)
        raise AssertionError("unreachable")

    def _fail(self, what: str) -> WeightsUnavailable:
        return WeightsUnavailable(f"{what}; {self.advice}")

    def _open(self, url: str):
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": "*/*"})
        try:
            return self.opener.open(request, timeout=self.connect_timeout)
        except urllib.error.HTTPError as exc:
            body = b""
            if exc.fp is not None and "html" in (exc.headers or {}).get("Content-Type", ""):
                with exc:
                    body = self._read(exc, PAGE_LIMIT)
            if exc.code >= 500 or exc.code in (408, 429):
                raise _Transient(f"HTTP {exc.code} {exc.reason}") from None
            self._refusal(body, url)
            raise self._fail(f"{urlsplit(url).netloc} answered HTTP {exc.code} {exc.reason}") from None
        except urllib.error.URLError as exc:
            host = urlsplit(url).netloc
            if _unreachable(exc.reason):
                raise self._fail(f"cannot reach {host} ({exc.reason}; is this machine offline?)") from None
            if isinstance(exc.reason, ssl.SSLCertVerificationError):
                raise self._fail(f"the secure connection to {host} failed ({exc.reason})") from None
            raise _Transient(f"{host}: {exc.reason}") from None
        except (OSError, http.client.HTTPException) as exc:
            raise _Transient(f"{type(exc).__name__}: {exc}") from None

    def _refusal(self, page: bytes, url: str) -> None:
        """Raise Google's own error (quota, permission) if the page is one; it is final, never retried."""
        parser = _DrivePage()
        parser.feed(page.decode("utf-8", "replace"))
        if parser.error_text:
            raise self._fail(f"Google Drive refused the download: \"{parser.error_text[:300]}\"")

    def _next_url(self, page: bytes, url: str) -> str:
        parser = _DrivePage()
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
                if not _looks_like_html(headers.get("Content-Type", ""), headers.get("Content-Disposition", ""), head):
                    return self._save(response, head, dest, progress, label, final_url)
                page = head + self._read(response, PAGE_LIMIT)
            url = self._next_url(page, final_url)
        raise self._fail("Google Drive kept answering with web pages instead of the file")

    @staticmethod
    def _read(response, size: int) -> bytes:
        try:
            return response.read(size)
        except (OSError, http.client.HTTPException) as exc:
            raise _Transient(f"connection lost while reading ({type(exc).__name__}: {exc})") from None

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
