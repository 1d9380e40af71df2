"""Masking of credentials: every recorded exchange passes through a Redactor before it is kept."""

from __future__ import annotations

import base64
import html
import json
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "********"
_SECRET_NAME = re.compile(r"authorization|cookie|key|token|secret|password|passwd|session|auth|credential", re.I)
MIN_SECRET_LENGTH = 4  # shorter values would mask ordinary text
_PERCENT = re.compile(r"%[0-9A-F]{2}")


_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "/": "\\/", "\b": "\\b", "\f": "\\f", "\n": "\\n",
                  "\r": "\\r", "\t": "\\t"}


def _unicode_escape(code: int) -> str:
    """A pattern for ``\\uXXXX`` of ``code``, hex digits in either case."""
    return "\\\\u" + "".join(f"[{d}{d.upper()}]" if d.isalpha() else d for d in f"{code:04x}")


@lru_cache(maxsize=1024)
def _json_escaped(secret: str) -> re.Pattern[str]:
    """The secret as any JSON encoder may write it: each character literal or escaped."""
    parts = []
    for ch in secret:
        options = [re.escape(ch)]
        code = ord(ch)
        if code > 0xFFFF:  # a surrogate pair
            code -= 0x10000
            options.append(_unicode_escape(0xD800 + (code >> 10)) + _unicode_escape(0xDC00 + (code & 0x3FF)))
        else:
            options.append(_unicode_escape(code))
        if ch in _SHORT_ESCAPES:
            options.append(re.escape(_SHORT_ESCAPES[ch]))
        parts.append("(?:" + "|".join(options) + ")")
    # only where an escape can start: after an even number of backslashes (group 1, kept)
    return re.compile(r"(?<!\\)((?:\\\\)*)" + "".join(parts))


@dataclass
class Redactor:
    secret_headers: set[str] = field(default_factory=set)
    secret_values: set[str] = field(default_factory=set, repr=False)  # a repr in a log must not leak them
    # secrets also arrive during a run (OAuth2 tokens) while other threads mask
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add_values(self, values: Iterable[str]) -> None:
        for value in values:
            if value and len(value) >= MIN_SECRET_LENGTH:
                self._add(value)
                # "Bearer abc" also leaks as "abc" in echoes of the token alone
                scheme, _, credential = value.partition(" ")
                if credential and len(credential) >= MIN_SECRET_LENGTH and scheme.isalpha():
                    self._add(credential)

    def _add(self, value: str) -> None:
        """The value, and the forms it takes when a URL or a JSON body carries it."""
        encoded = {quote(value, safe=""), quote(value), quote_plus(value), quote_plus(value, safe="/")}
        # .NET's HttpUtility.UrlEncode writes + for a space and lowercase hex: an echo may use either
        encoded |= {_PERCENT.sub(lambda m: m.group(0).lower(), form) for form in encoded}
        forms = {value, *encoded, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1],
                 html.escape(value), html.escape(value, quote=False)}
        with self._lock:
            self.secret_values.update(f for f in forms if f == value or len(f) >= MIN_SECRET_LENGTH)

    def add_credentials(self, username: str, password: str) -> None:
        """Basic-auth credentials leak as ``user:password``, its base64 and the whole header."""
        pair = f"{username}:{password}"
        encoded = base64.b64encode(pair.encode("utf-8")).decode("ascii")
        self.add_values([password, pair, encoded, f"Basic {encoded}"])

    def add_url_userinfo(self, url: str) -> None:
        """A password in a URL (``https://user:secret@host``) is a secret too."""
        from urllib.parse import unquote, urlsplit

        try:
            parts = urlsplit(url)
        except ValueError:
            return
        if parts.password:
            self.add_values([parts.password, unquote(parts.password), f"{parts.username}:{parts.password}"])
            # the client sends them as basic auth: its header, and echoes of it, carry their base64
            self.add_credentials(unquote(parts.username or ""), unquote(parts.password))

    def is_secret_header(self, name: str) -> bool:
        return bool(_SECRET_NAME.search(name)) or name.lower() in self.secret_headers

    def headers(self, headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        items = headers.items() if isinstance(headers, Mapping) else headers
        return [(k, MASK if self.is_secret_header(k) else self.text(v)) for k, v in items]

    def _longest_first(self) -> list[str]:
        with self._lock:
            secrets = list(self.secret_values)
        # longest first, so a token is masked whole before any secret it contains
        return sorted(secrets, key=len, reverse=True)

    def text(self, text: str) -> str:
        return _masked_text(text, self._longest_first())

    def masked(self, data: Any) -> Any:
        """A copy of a JSON-like tree with every secret masked (header values also by name): the
        secrets known when it is called (listed once, not once per string)."""
        secrets = self._longest_first()

        def walk(data: Any) -> Any:
            if isinstance(data, str):
                return _masked_text(data, secrets)
            if isinstance(data, list | tuple):
                return [walk(v) for v in data]
            if isinstance(data, dict):
                out = {}
                for key, value in data.items():
                    if key == "headers" and isinstance(value, list | tuple):
                        out[key] = [[n, MASK if self.is_secret_header(str(n)) else _masked_text(str(v), secrets)]
                                    for n, v in value]
                    else:
                        out[key] = walk(value)
                return out
            return data

        return walk(data)


def _masked_text(text: str, secrets: list[str]) -> str:
    """``text`` with each of ``secrets`` (longest first) masked, literal or JSON-escaped."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    if "\\" in text:  # JSON escapes other encoders use (\/ from PHP, \u002B from .NET, all \uXXXX...)
        for secret in secrets:
            text = _json_escaped(secret).sub(lambda m: m.group(1) + MASK, text)
    return writable(text)


def writable(text: str) -> str:
    """``text`` with lone surrogates (a server's ``"\\ud800"`` parsed from JSON) written as escapes,
    so every file and terminal can encode it as UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text
