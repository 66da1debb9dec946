"""API Gateway's mapping-template context for Velocity (VTL): `$input`, `$util` as API Gateway
defines them, and rendering a template with them (airspeed-ext, made for AWS's dialect)."""

from __future__ import annotations

import base64
import json
import urllib.parse
from collections.abc import Mapping
from functools import cache
from typing import Any

import airspeed
from jsonpath_ng.ext.parser import parse as jsonpath


def escape_javascript(text: str) -> str:
    """$util.escapeJavaScript: Java's StringEscapeUtils rules (quotes, slash, controls, non-ASCII)."""
    out: list[str] = []
    for ch in text:
        code = ord(ch)
        if ch in "\"'\\/":
            out.append("\\" + ch)
        elif ch in "\b\f\n\r\t":
            out.append({"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}[ch])
        elif code < 0x20 or code > 0x7E:
            if code > 0xFFFF:  # a surrogate pair in Java's UTF-16 strings
                code -= 0x10000
                out.append(f"\\u{0xD800 + (code >> 10):04X}\\u{0xDC00 + (code & 0x3FF):04X}")
            else:
                out.append(f"\\u{code:04X}")
        else:
            out.append(ch)
    return "".join(out)


class Util:
    """$util as API Gateway defines it for mapping templates."""

    def escapeJavaScript(self, text: Any) -> str:
        return escape_javascript(str(text))

    def parseJson(self, text: str) -> Any:
        return json.loads(text)

    def urlEncode(self, text: str) -> str:
        return urllib.parse.quote_plus(text)

    def urlDecode(self, text: str) -> str:
        return urllib.parse.unquote_plus(text)

    def base64Encode(self, text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    def base64Decode(self, text: str) -> str:
        return base64.b64decode(text).decode()


@cache
def _compiled_path(path: str) -> Any:
    return jsonpath(path)


class JavaString(str):
    """A string as VTL sees it on AWS: a Java String, whose length() counts UTF-16 code units
    (a character beyond the Basic Multilingual Plane, such as an emoji, counts 2)."""

    def length(self) -> int:
        return len(self.encode("utf-16-le", errors="surrogatepass")) // 2


class Input:
    """$input: the request body (integration request) or the integration's body (response)."""

    def __init__(self, body: str, headers: Mapping[str, str]) -> None:
        self.body = JavaString(body)
        self._headers = dict(headers)
        self._parsed: Any = None
        self._is_parsed = False

    def _value(self) -> Any:
        if not self._is_parsed:
            try:
                self._parsed = json.loads(self.body) if self.body.strip() else {}
            except ValueError:
                self._parsed = None
            self._is_parsed = True
        return self._parsed

    def path(self, path: str) -> Any:
        found = [m.value for m in _compiled_path(path).find(self._value())]
        if not found:
            return None
        return found[0] if len(found) == 1 else found

    def json(self, path: str) -> str:
        return json.dumps(self.path(path), separators=(",", ":"), ensure_ascii=False)

    def params(self, name: str | None = None) -> Any:
        params = {"header": self._headers, "querystring": {}, "path": {}}
        if name is None:
            return params
        return self._headers.get(name)


def render(template: airspeed.Template, body: str, headers: Mapping[str, str], context: dict[str, Any]) -> str:
    out: str = template.merge({"input": Input(body, headers), "util": Util(), "context": context})
    return out
