"""The web UI of the booted box, over HTTPS from the host, as a browser uses it: forms with
their CSRF token, the session cookie (Secure: the page is HTTPS), its own certificate."""

from __future__ import annotations

import http.cookiejar
import secrets
import ssl
import urllib.parse
import urllib.request
from html.parser import HTMLParser


class FormFields(HTMLParser):
    """The fields a browser would send from the page's forms: inputs (checkboxes only
    when checked), selects (their selected option), text areas."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self._select: str | None = None
        self._area: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        name = a.get("name", "")
        if tag == "input" and name and a.get("type") not in ("submit", "button", "file"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            self.fields[name] = a.get("value", "on" if a.get("type") == "checkbox" else "")
        elif tag == "select" and name:
            self._select = name
        elif tag == "option" and self._select and ("selected" in a or self._select not in self.fields):
            self.fields[self._select] = a.get("value", "")
        elif tag == "textarea" and name:
            self._area = name
            self.fields[name] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._area = None

    def handle_data(self, data: str) -> None:
        if self._area:
            self.fields[self._area] += data


class Browser:
    def __init__(self, base: str) -> None:
        self.base = base
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # its own self-signed
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context),
                                                  urllib.request.HTTPCookieProcessor(self.jar))

    def get(self, path: str, timeout: float = 120) -> tuple[int, str]:
        with self.opener.open(self.base + path, timeout=timeout) as answer:
            return answer.status, answer.read().decode("utf-8", errors="replace")

    def form(self, path: str) -> dict[str, str]:
        parser = FormFields()
        parser.feed(self.get(path)[1])
        return parser.fields

    def post(self, path: str, fields: dict[str, str], timeout: float = 120) -> tuple[int, str, str]:
        data = urllib.parse.urlencode(fields).encode()
        with self.opener.open(self.base + path, data=data, timeout=timeout) as answer:
            return answer.status, answer.geturl(), answer.read().decode("utf-8", errors="replace")

    def upload(self, path: str, fields: dict[str, str], name: str, filename: str,
               content: bytes, timeout: float = 600) -> tuple[int, str, str]:
        """A multipart form with one file, as a browser sends an <input type=file>."""
        boundary = secrets.token_hex(16)
        parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
                 .encode() for k, v in fields.items()]
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                     f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
                     .encode() + content + b"\r\n")
        request = urllib.request.Request(
            self.base + path, data=b"".join(parts) + f"--{boundary}--\r\n".encode(),
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        with self.opener.open(request, timeout=timeout) as answer:
            return answer.status, answer.geturl(), answer.read().decode("utf-8", errors="replace")
