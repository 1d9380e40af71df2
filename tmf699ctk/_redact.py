"""Masking of credentials: every recorded exchange passes through a Redactor before it is kept."""

from __future__ import annotations

import base64
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

MASK = "********"
_SECRET_NAME = re.compile(r"authorization|cookie|key|token|secret|password|passwd|session|auth|credential", re.I)
MIN_SECRET_LENGTH = 4  # shorter values would mask ordinary text


@dataclass
class Redactor:
    secret_headers: set[str] = field(default_factory=set)
    secret_values: set[str] = field(default_factory=set, repr=False)  # a repr in a log must not leak them
    # secrets also arrive during a run (OAuth2 tokens) while other threads mask
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add_values(self, values: Iterable[str]) -> None:
        for value in values:
            if value and len(value) >= MIN_SECRET_LENGTH:
                # "Bearer abc" also leaks as "abc" in echoes of the token alone
                scheme, _, credential = value.partition(" ")
                with self._lock:
                    self.secret_values.add(value)
                    if credential and len(credential) >= MIN_SECRET_LENGTH and scheme.isalpha():
                        self.secret_values.add(credential)

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

    def is_secret_header(self, name: str) -> bool:
        return bool(_SECRET_NAME.search(name)) or name.lower() in self.secret_headers

    def headers(self, headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        items = headers.items() if isinstance(headers, Mapping) else headers
        return [(k, MASK if self.is_secret_header(k) else self.text(v)) for k, v in items]

    def text(self, text: str) -> str:
        with self._lock:
            secrets = list(self.secret_values)
        # longest first, so a token is masked whole before any secret it contains
        for secret in sorted(secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def masked(self, data: Any) -> Any:
        """A copy of a JSON-like tree with every secret masked (header values also by name)."""
        if isinstance(data, str):
            return self.text(data)
        if isinstance(data, list | tuple):
            return [self.masked(v) for v in data]
        if isinstance(data, dict):
            out = {}
            for key, value in data.items():
                if key == "headers" and isinstance(value, list | tuple):
                    out[key] = [[n, MASK if self.is_secret_header(str(n)) else self.text(str(v))] for n, v in value]
                else:
                    out[key] = self.masked(value)
            return out
        return data
