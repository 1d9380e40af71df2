"""Masking of credentials: every recorded exchange passes through a Redactor before it is kept."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

MASK = "********"
_SECRET_NAME = re.compile(r"authorization|cookie|key|token|secret|password|passwd|session|auth|credential", re.I)
MIN_SECRET_LENGTH = 4  # shorter values would mask ordinary text


@dataclass
class Redactor:
    secret_headers: set[str] = field(default_factory=set)
    secret_values: set[str] = field(default_factory=set)

    def add_values(self, values: Iterable[str]) -> None:
        for value in values:
            if value and len(value) >= MIN_SECRET_LENGTH:
                self.secret_values.add(value)
                # "Bearer abc" also leaks as "abc" in echoes of the token alone
                scheme, _, credential = value.partition(" ")
                if credential and len(credential) >= MIN_SECRET_LENGTH and scheme.isalpha():
                    self.secret_values.add(credential)

    def is_secret_header(self, name: str) -> bool:
        return bool(_SECRET_NAME.search(name)) or name.lower() in self.secret_headers

    def headers(self, headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        items = headers.items() if isinstance(headers, Mapping) else headers
        return [(k, MASK if self.is_secret_header(k) else self.text(v)) for k, v in items]

    def text(self, text: str) -> str:
        # longest first, so a token is masked whole before any secret it contains
        for secret in sorted(self.secret_values, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, MASK)
        return text
