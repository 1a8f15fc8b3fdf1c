"""Reading Google Drive's HTML answers by their structure (ids, classes, forms), never by their English text.

A page is either the "can't scan for viruses" page (``form#download-form``: its
action plus hidden inputs is the file's URL), an old-style page with a download
link (``a#uc-download-link``), or an error page (``.uc-error-subcaption``: quota,
no permission) whose text is Google's own, in the user's language.
"""

from __future__ import annotations

from html.parser import HTMLParser


class DrivePage(HTMLParser):
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


def looks_like_html(content_type: str, disposition: str, head: bytes) -> bool:
    start = head.lstrip()[:15].lower()
    if start.startswith((b"<!doctype html", b"<html")):
        return True
    return "text/html" in content_type.lower() and "attachment" not in disposition.lower()
