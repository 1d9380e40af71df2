"""Whether a `GET ?name=` answer proves that no resource of that name exists (the condition for
sending a dropped POST again, RFC 9110 9.2.2): only an answer listing every resource of the name."""

from __future__ import annotations

import json

import pytest

from tmf699ctk._http import Exchange, HttpRequest, HttpResponse
from tmf699ctk._runner import _whole_match_list

NAME = "CTK lead 1a2b-3"


def _answer(items: object, status: int = 200, **headers: str) -> Exchange:
    text = json.dumps(items)
    response = HttpResponse(status, "OK", "HTTP/1.1", [(k.replace("_", "-"), v) for k, v in headers.items()],
                            text, len(text), 1.0)
    return Exchange(request=HttpRequest("GET", f"http://x/salesLead?name={NAME}", []), response=response)


@pytest.mark.parametrize("exchange", [
    _answer([]),
    _answer([], X_Total_Count="0"),
    _answer([{"id": "1", "name": NAME}], X_Total_Count="1"),
    _answer([], Link='<http://x/salesLead?offset=0>; rel="first"'),
], ids=["empty", "empty, counted", "others of the name, all counted", "a Link with no next page"])
def test_a_whole_list_of_the_name_proves_what_it_lacks(exchange: Exchange) -> None:
    assert _whole_match_list(exchange, NAME)


@pytest.mark.parametrize("exchange", [
    _answer([{"id": "9", "name": "another lead"}]),
    _answer([], status=206),
    _answer([{"id": "1", "name": NAME}], X_Total_Count="2"),
    _answer([], Link='<http://x/salesLead?offset=1&limit=1>; rel="next"'),
    _answer([], Link='<http://x/salesLead?offset=9>; rel="last next"'),
    _answer([], Link="<http://x/salesLead?offset=1>; rel=next"),
    _answer({"id": "1"}),
    _answer([], status=500),
], ids=["the filter ignored", "206", "X-Total-Count above the items", "rel=next", "rel with several types",
        "rel unquoted", "not a list", "an error"])
def test_a_page_or_an_answer_that_ignored_the_filter_proves_nothing(exchange: Exchange) -> None:
    assert not _whole_match_list(exchange, NAME)


def test_no_answer_proves_nothing() -> None:
    assert not _whole_match_list(Exchange(request=HttpRequest("GET", "http://x/salesLead", [])), NAME)
