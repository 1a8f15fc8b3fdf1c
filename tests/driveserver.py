"""A loopback HTTP server that answers the way Google Drive does, for offline download tests.

Each route is one of Drive's behaviours: the file itself (``Content-Disposition``),
the "can't scan for viruses" page whose ``form#download-form`` points back here,
a quota page (in German: pages are read by structure, not by their English
text), a permission refusal (HTTP 403), an HTML page with no form, a body cut short of its
``Content-Length``, a body that stalls after its first bytes, headers and then silence, no answer at
all, a 500 before the file, a file that is not a checkpoint, and a pickle that would run code.
A silent route stays silent until the imitation is closed. Every request is recorded so tests can count them.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

CONFIRM_PAGE = """<!DOCTYPE html><html><head><title>Google Drive - Virenscan-Warnung</title></head><body>
<div class="uc-main"><div id="uc-text"><p class="uc-warning-caption">Google Drive kann diese Datei nicht auf Viren
pr&uuml;fen.</p></div></div>
<form id="download-form" action="{base}/download" method="get">
<input type="submit" id="uc-download-link" class="goog-inline-block jfk-button" value="Trotzdem herunterladen"/>
<input type="hidden" name="id" value="FILEID"><input type="hidden" name="export" value="download">
<input type="hidden" name="confirm" value="t"><input type="hidden" name="uuid" value="0b7e-uuid">
</form></body></html>"""

QUOTA_PAGE = """<!DOCTYPE html><html><head><title>Google Drive - Kontingent &uuml;berschritten</title></head>
<body><div class="uc-main"><div id="uc-text"><p class="uc-error-caption">Diese Datei kann nicht angezeigt oder
heruntergeladen werden.</p><p class="uc-error-subcaption">Zu viele Nutzer haben diese Datei in letzter Zeit
aufgerufen oder heruntergeladen. Versuchen Sie es sp&auml;ter noch einmal.</p></div></div></body></html>"""

FORBIDDEN_PAGE = """<!DOCTYPE html><html><head><title>Google Drive</title></head><body><div class="uc-main">
<p class="uc-error-subcaption">Sie ben&ouml;tigen eine Zugriffsberechtigung.</p></div></body></html>"""

PLAIN_PAGE = "<!DOCTYPE html><html><head><title>Sign in</title></head><body><div id='main'>Hello</div></body></html>"


class DriveImitation:
    """``with DriveImitation(files) as drive: drive.url("direct")``; ``files`` maps a kind to bytes."""

    def __init__(self, checkpoint: bytes, not_checkpoint: bytes = b"", code_pickle: bytes = b"") -> None:
        self.files = {"checkpoint": checkpoint, "garbage": not_checkpoint, "evil": code_pickle}
        self.requests: list[str] = []
        self.flaky_failures = 1
        self.closing = threading.Event()  # silent routes wait for it
        imitation = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                imitation.requests.append(self.path)
                imitation.answer(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def __enter__(self) -> "DriveImitation":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()

    def url(self, route: str) -> str:
        return f"{self.base}/uc?export=download&id=FILEID&route={route}"

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str,
              attachment: bool = False, length: int | None = None) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body) if length is None else length))
        if attachment:
            handler.send_header("Content-Disposition", 'attachment; filename="best-ckpt.pth.tar"')
        handler.send_header("Set-Cookie", "NID=imitation; Path=/")
        handler.end_headers()
        handler.wfile.write(body)
        handler.wfile.flush()

    def answer(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        route = query.get("route", "")
        html = "text/html; charset=utf-8"
        binary = "application/octet-stream"
        if parts.path == "/download":  # the confirm form's target, like drive.usercontent.google.com
            complete = all(query.get(k) for k in ("id", "export", "confirm", "uuid"))
            if complete and h.headers.get("Cookie", "").find("NID=imitation") >= 0:
                return self._send(h, 200, self.files["checkpoint"], binary, attachment=True)
            return self._send(h, 400, b"<html>bad request</html>", html)
        if route == "direct":
            return self._send(h, 200, self.files["checkpoint"], binary, attachment=True)
        if route == "confirm":
            return self._send(h, 200, CONFIRM_PAGE.format(base=self.base).encode(), html)
        if route == "quota":
            return self._send(h, 200, QUOTA_PAGE.encode(), html)
        if route == "noform":
            return self._send(h, 200, PLAIN_PAGE.encode(), html)
        if route == "short":
            body = self.files["checkpoint"]
            return self._send(h, 200, body[: len(body) // 2], binary, attachment=True, length=len(body))
        if route == "flaky":
            if self.flaky_failures > 0:
                self.flaky_failures -= 1
                return self._send(h, 500, b"<html>Internal error</html>", html)
            return self._send(h, 200, self.files["checkpoint"], binary, attachment=True)
        if route in ("stall", "hang"):  # headers (and for "stall" a little of the body), then silence
            h.send_response(200)
            h.send_header("Content-Type", binary)
            h.send_header("Content-Length", str(len(self.files["checkpoint"])))
            h.send_header("Content-Disposition", 'attachment; filename="best-ckpt.pth.tar"')
            h.end_headers()
            h.wfile.write(self.files["checkpoint"][:1000] if route == "stall" else b"")
            h.wfile.flush()
            self.closing.wait(60)
            return None
        if route == "mute":  # the connection is taken, the request read, and nothing ever answered
            self.closing.wait(60)
            return None
        if route == "forbidden":
            return self._send(h, 403, FORBIDDEN_PAGE.encode(), html)
        if route == "html-as-file":  # claims to be a download, is a page
            return self._send(h, 200, PLAIN_PAGE.encode(), binary, attachment=True)
        if route in ("garbage", "evil"):
            return self._send(h, 200, self.files[route], binary, attachment=True)
        if route == "missing":
            return self._send(h, 404, b"<html>not found</html>", html)
        return self._send(h, 404, b"unknown route", "text/plain")
