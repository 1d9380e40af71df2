"""Conformance checks: small functions over one recorded exchange.

A check raises ``CheckFailed`` with a precise message, or returns a short note on success.
Which rule a check serves (ID, level, hint) is declared in ``_rules.py``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from . import _jsonpath
from ._compare import differences, same_scalar, short
from ._results import HttpRequest, HttpResponse
from ._schemas import SchemaStore, parse_datetime

JSON_TYPES = ("application/json", "application/merge-patch+json", "application/problem+json")
# Polymorphism metadata is class information, not an attribute a `fields` selection can drop.
META_ATTRIBUTES = frozenset({"@type", "@baseType", "@schemaLocation"})


class CheckFailed(Exception):
    """The response does not satisfy the rule; the message says exactly how."""


class CheckInconclusive(Exception):
    """The response can neither pass nor fail the rule (reported as skipped, with the reason)."""


_NOT_PARSED = object()


class _Body:
    """A JSON message under test: an HTTP response, or an event the server sent."""

    _json: Any = _NOT_PARSED

    def _text(self) -> tuple[str, str]:
        """(body, what it is, for messages)."""
        raise NotImplementedError

    def json(self) -> Any:
        if self._json is _NOT_PARSED:
            body, what = self._text()
            if not body.strip():
                raise CheckFailed(f"{what} has an empty body, expected JSON")
            try:
                self._json = json.loads(body)
            except RecursionError as exc:
                raise CheckFailed(f"{what} is JSON nested too deeply to examine") from exc
            except ValueError as exc:
                raise CheckFailed(f"{what} is not JSON ({exc}): {short(body, 120)}") from exc
        return self._json

    def obj(self) -> dict[str, Any]:
        body = self.json()
        if not isinstance(body, dict):
            raise CheckFailed(f"expected a JSON object, got {_kind(body)}")
        return body

    def items(self) -> list[Any]:
        body = self.json()
        if not isinstance(body, list):
            raise CheckFailed(f"expected a JSON array, got {_kind(body)}")
        return body


@dataclass
class CheckContext(_Body):
    """An HTTP exchange: the kit's request and the server's response."""

    request: HttpRequest
    response: HttpResponse
    schemas: SchemaStore
    base_url: str
    _json: Any = field(default=_NOT_PARSED, repr=False)

    def _text(self) -> tuple[str, str]:
        return self.response.body, f"the {self.response.status} response"


@dataclass
class EventContext(_Body):
    """A notification the server POSTed to the kit's listener (not an HTTP response)."""

    path: str  # where it was POSTed
    headers: list[tuple[str, str]]
    body: str
    latency_ms: float  # since the request that should have caused it
    schemas: SchemaStore
    base_url: str
    _json: Any = field(default=_NOT_PARSED, repr=False)

    def _text(self) -> tuple[str, str]:
        return self.body, "the notification"


AnyContext = CheckContext | EventContext


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


def _ids(items: list[Any]) -> list[Any]:
    return [item.get("id") if isinstance(item, dict) else None for item in items]


# -- status, media type, body shape ------------------------------------------------------------


def status_in(ctx: CheckContext, expected: int | list[int]) -> str:
    allowed = [expected] if isinstance(expected, int) else list(expected)
    got = ctx.response.status
    if got not in allowed:
        wanted = " or ".join(map(str, allowed))
        detail = f": {short(ctx.response.body, 160)}" if ctx.response.body.strip() else ""
        raise CheckFailed(f"expected HTTP {wanted}, got {got} {ctx.response.reason}{detail}")
    return f"HTTP {got}"


def json_content_type(ctx: CheckContext) -> str:
    value = ctx.response.header("content-type")
    if value is None:
        raise CheckFailed("a response with a body has no Content-Type header")
    media = value.split(";")[0].strip().lower()
    if media not in JSON_TYPES and not media.endswith("+json"):
        raise CheckFailed(f"Content-Type is {value!r}, expected a JSON media type (application/json)")
    return value


def is_object(ctx: CheckContext) -> str:
    ctx.obj()
    return "a JSON object"


def is_array(ctx: CheckContext) -> str:
    return f"a JSON array of {len(ctx.items())}"


def no_body(ctx: CheckContext) -> str:
    if ctx.response.body.strip():
        raise CheckFailed(f"expected no body, got {ctx.response.size} bytes: {short(ctx.response.body, 120)}")
    return "empty body"


# -- schemas -----------------------------------------------------------------------------------


def schema(ctx: AnyContext, schema: str, items: bool = False) -> str:
    body = ctx.json()
    targets = list(enumerate(ctx.items())) if items else [(None, body)]
    problems: list[str] = []
    for index, instance in targets:
        for problem in ctx.schemas.errors(schema, instance, limit=5):
            problems.append(problem.replace("$", f"$[{index}]", 1) if index is not None else problem)
        if len(problems) >= 10:
            break
    if problems:
        raise CheckFailed(f"not a valid {schema}: " + "; ".join(problems[:10]))
    return f"valid {schema}" + (f" ({len(targets)} items)" if items else "")


_valid_against = schema  # for checks whose own argument is named `schema`


def error_body(ctx: CheckContext) -> str:
    ctx.obj()
    return schema(ctx, "Error")


# -- resource content --------------------------------------------------------------------------


def has_attributes(ctx: CheckContext, attributes: list[str], items: bool = False) -> str:
    targets = ctx.items() if items else [ctx.obj()]
    for index, item in enumerate(targets):
        missing = [a for a in attributes if not isinstance(item, dict) or a not in item]
        if missing:
            where = f"item {index} (id {item.get('id')!r})" if items and isinstance(item, dict) else "the body"
            raise CheckFailed(f"{where} lacks {', '.join(missing)}")
    return f"{', '.join(attributes)} present" + (f" in {len(targets)} items" if items else "")


def string_attributes(ctx: CheckContext, attributes: list[str], items: bool = False) -> str:
    targets = ctx.items() if items else [ctx.obj()]
    for index, item in enumerate(targets):
        for attr in attributes:
            if isinstance(item, dict) and attr in item and not isinstance(item[attr], str):
                raise CheckFailed(f"item {index}: {attr} is {short(item[attr])}, expected a string")
    return f"{', '.join(attributes)} are strings"


def echoes(ctx: CheckContext, sent: dict[str, Any]) -> str:
    problems = differences(sent, ctx.obj())
    if problems:
        raise CheckFailed("the response does not carry what was sent: " + "; ".join(problems))
    return f"{len(sent)} attributes echoed"


def equals_resource(ctx: CheckContext, expected: dict[str, Any], attributes: list[str] | None = None) -> str:
    body = ctx.obj()
    if attributes:
        expected = {k: expected[k] for k in attributes if k in expected}
    problems = differences(expected, body)
    if problems:
        raise CheckFailed("differs from the lead as created: " + "; ".join(problems))
    return f"{len(expected)} attributes equal"


def reference_resolves(ctx: CheckContext, expected: dict[str, Any]) -> str:
    """GET on a reference's href serves the resource the reference names."""
    if ctx.response.status != 200:
        raise CheckFailed(f"the reference's href {ctx.request.url} answered {ctx.response.status} "
                          f"{ctx.response.reason}: it resolves to nothing")
    problems = differences(expected, ctx.obj())
    if problems:
        raise CheckFailed("the reference's href serves another resource: " + "; ".join(problems))
    return f"resolves to {expected.get('id')!r}"


def values_equal(ctx: CheckContext, expected: dict[str, Any], attributes: list[str], items: bool = False) -> str:
    """The lead (or the list item with its id) carries the same values (official kit's value tests)."""
    if items:
        match = [i for i in ctx.items() if isinstance(i, dict) and i.get("id") == expected.get("id")]
        if not match:
            raise _missing_from_list(ctx, ctx.items(), expected.get("id"), "is not in the list")
        actual = match[0]
    else:
        actual = ctx.obj()
    problems = differences({k: expected[k] for k in attributes if k in expected}, actual)
    if problems:
        raise CheckFailed("; ".join(problems))
    return f"{', '.join(attributes)} equal"


def href_consistent(ctx: CheckContext, resource: str = "salesLead") -> str:
    body = ctx.obj()
    href, rid = body.get("href"), body.get("id")
    if not isinstance(href, str) or not isinstance(rid, str):
        raise CheckFailed(f"href {short(href)} and id {short(rid)} must both be strings")
    parts = urlsplit(href)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise CheckFailed(f"href {href!r} is not an absolute http(s) URL")
    suffix = f"/{resource}/{rid}"
    if not _unquoted_endswith(parts.path, suffix):
        raise CheckFailed(f"href {href!r} does not end with {suffix!r}")
    return href


def _unquoted_endswith(path: str, suffix: str) -> bool:
    return unquote(path).rstrip("/").endswith(suffix)


def location_header(ctx: CheckContext, resource: str = "salesLead") -> str:
    location = ctx.response.header("location")
    if not location:
        raise CheckFailed("201 Created without a Location header")
    rid = ctx.obj().get("id")
    absolute = urljoin(ctx.request.url, location)  # relative references are allowed (RFC 9110)
    if not _unquoted_endswith(urlsplit(absolute).path, f"/{resource}/{rid}"):
        raise CheckFailed(f"Location {location!r} does not point to /{resource}/{rid}")
    return location


def changed_later(ctx: CheckContext, attribute: str, before: str) -> str:
    body = ctx.obj()
    after = body.get(attribute)
    if not isinstance(after, str):
        raise CheckFailed(f"{attribute} is {short(after)} after the change")
    if same_scalar(before, after):
        old = parse_datetime(before)
        if old is not None and old.microsecond == 0 and "." not in before:
            # whole-second timestamps cannot show a change made within the same second
            raise CheckInconclusive(f"{attribute} stayed {before!r}: the server's timestamps have 1-second "
                                    "resolution and the status changed within that second")
        raise CheckFailed(f"{attribute} stayed {before!r} although status changed")
    old, new = parse_datetime(before), parse_datetime(after)
    if old and new and new < old:
        raise CheckFailed(f"{attribute} moved backwards: {before!r} -> {after!r}")
    return f"{before} -> {after}"


# -- collections -------------------------------------------------------------------------------


def _partial_page(ctx: CheckContext, items: list[Any]) -> str | None:
    """Why this list is only a page of the matches (206, or X-Total-Count above the items), if it is."""
    total = ctx.response.header("x-total-count")
    if ctx.response.status == 206:
        return f"the server answered 206 with {len(items)} item(s)" + (f" of {total}" if total else "")
    if total is not None and total.strip().isdigit() and int(total) > len(items):
        return f"X-Total-Count is {total} but {len(items)} item(s) came back"
    return None


def _missing_from_list(ctx: CheckContext, items: list[Any], rid: Any, what: str) -> CheckFailed | CheckInconclusive:
    """A lead absent from a partial page may be on another page: that proves nothing."""
    partial = _partial_page(ctx, items)
    if partial:
        return CheckInconclusive(f"lead {rid!r} is not on this page, but {partial}: it may be on another page")
    return CheckFailed(f"lead {rid!r} {what}")


def list_contains(ctx: CheckContext, id: str, present: bool = True) -> str:
    ids = _ids(ctx.items())
    if present and id not in ids:
        raise _missing_from_list(ctx, ctx.items(), id, f"is not among the {len(ids)} items returned")
    if not present and id in ids:
        raise CheckFailed(f"lead {id!r} is returned although it must be excluded")
    return f"{id} {'present' if present else 'absent'} among {len(ids)} items"


def _count(ctx: CheckContext, name: str) -> int | None:
    value = ctx.response.header(name)
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError as exc:
        raise CheckFailed(f"{name} is {value!r}, not an integer") from exc


def count_headers_present(ctx: CheckContext) -> str:
    missing = [n for n in ("X-Total-Count", "X-Result-Count") if ctx.response.header(n) is None]
    if missing:
        raise CheckFailed(f"list response without {' and '.join(missing)}")
    return "X-Total-Count and X-Result-Count present"


def count_headers_consistent(ctx: CheckContext, total: int | None = None) -> str:
    items = ctx.items()
    result, known_total = _count(ctx, "X-Result-Count"), _count(ctx, "X-Total-Count")
    notes = []
    if result is not None:
        if result != len(items):
            raise CheckFailed(f"X-Result-Count is {result} but the body holds {len(items)} items")
        notes.append(f"X-Result-Count {result}")
    if known_total is not None:
        if known_total < len(items):
            raise CheckFailed(f"X-Total-Count is {known_total}, fewer than the {len(items)} items returned")
        if total is not None and known_total != total:
            raise CheckFailed(f"X-Total-Count is {known_total}, but exactly {total} leads match")
        notes.append(f"X-Total-Count {known_total}")
    return ", ".join(notes) or "no count headers to compare"


def page_size(ctx: CheckContext, limit: int, at_least: int | None = None) -> str:
    items = ctx.items()
    if len(items) > limit:
        raise CheckFailed(f"limit={limit} but {len(items)} items returned")
    if at_least is not None and len(items) < at_least:
        raise CheckFailed(f"expected {at_least} item(s) on this page (at least two leads exist), got {len(items)}")
    return f"{len(items)} item(s) for limit={limit}"


def page_disjoint(ctx: CheckContext, previous: list[Any]) -> str:
    earlier = {i for i in _ids(previous) if i is not None}
    repeated = [i for i in _ids(ctx.items()) if i in earlier]
    if repeated:
        raise CheckFailed(f"the next page repeats {', '.join(map(str, repeated))}: offset is ignored")
    return "pages are disjoint"


def fields_only(
    ctx: CheckContext, fields: list[str], items: bool = False, expected: dict[str, Any] | None = None
) -> str:
    """Only the selected attributes (+id, href) come back; the lead we created (``expected``),
    which has them all, must carry each of them. Other leads may simply lack an attribute."""
    targets = ctx.items() if items else [ctx.obj()]
    allowed = set(fields) | {"id", "href"} | META_ATTRIBUTES
    for index, item in enumerate(targets):
        if not isinstance(item, dict):
            raise CheckFailed(f"item {index} is {_kind(item)}, expected an object")
        extra = sorted(set(item) - allowed)
        if extra:
            where = f"item {index} (id {item.get('id')!r})" if items else "the body"
            raise CheckFailed(f"fields={','.join(fields)} but {where} also carries {', '.join(extra)}")
        if "id" not in item:
            raise CheckFailed(f"fields={','.join(fields)} dropped id, which is always returned")
    if expected is not None:
        ours = [i for i in targets if i.get("id") == expected.get("id")]
        if items and not ours:
            raise _missing_from_list(ctx, targets, expected.get("id"), "is missing from the fields-selected list")
        absent = [f for f in fields if f in expected and ours and f not in ours[0]]
        if absent:
            raise CheckFailed(f"fields={','.join(fields)} but the lead's {', '.join(absent)} is missing")
    shown = sorted(set(fields) - {"none"}) or ["id", "href"]
    return f"only {', '.join(shown)} (+id, href) in {len(targets)} item(s)"


_OPS = {
    "eq": lambda a, b: a == b,
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
}


def _matches(actual: Any, expected: Any, op: str) -> bool:
    if op == "eq":
        return same_scalar(expected, actual)
    left = parse_datetime(actual) if isinstance(actual, str) else None
    right = parse_datetime(expected) if isinstance(expected, str) else None
    if left is None or right is None:
        return False
    return bool(_OPS[op](left, right))


def filtered(
    ctx: CheckContext,
    where: dict[str, Any],
    include: list[str] | None = None,
    exclude: list[str] | None = None,
) -> str:
    """Every item satisfies every condition; ``include``/``exclude`` ids are (not) returned.

    A condition is ``attribute`` (equality), ``attribute.op`` (gt/gte/lt/lte on date-times)
    or has a list value (OR of equalities).
    """
    items = ctx.items()
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise CheckFailed(f"item {index} is {_kind(item)}, expected an object")
        for key, expected in where.items():
            attribute, _, op = key.partition(".")
            op = op or "eq"
            if attribute not in item:
                raise CheckFailed(f"item {index} (id {item.get('id')!r}) has no {attribute} to filter on")
            options = expected if isinstance(expected, list) else [expected]
            if not any(_matches(item[attribute], option, op) for option in options):
                wanted = " or ".join(map(repr, options))
                raise CheckFailed(
                    f"filter {key}={wanted} returned item {item.get('id')!r} whose {attribute} is "
                    f"{short(item[attribute])}: the filter is ignored or wrong"
                )
    ids = _ids(items)
    for rid in include or []:
        if rid not in ids:
            raise _missing_from_list(ctx, items, rid, f"matches the filter but is not returned ({len(ids)} items)")
    for rid in exclude or []:
        if rid in ids:
            raise CheckFailed(f"lead {rid!r} does not match the filter but is returned")
    return f"{len(items)} matching item(s)"


def sorted_by(ctx: CheckContext, attribute: str, descending: bool = False, include: list[str] | None = None) -> str:
    """The items come in ``attribute`` order (date-times as instants). With ``include`` (the
    scenario's own resources, whose values differ in a way every collation agrees on) only their
    relative order is judged, so other data on the server cannot raise a false alarm."""
    items = ctx.items()
    order = "descending" if descending else "ascending"
    if include:
        missing = [rid for rid in include if rid not in _ids(items)]
        if missing:
            raise _missing_from_list(ctx, items, missing[0], "is not in the sorted list")
        judged = [item for item in items if isinstance(item, dict) and item.get("id") in include]
    else:
        judged = items
    keys = []
    for index, item in enumerate(judged):
        if not isinstance(item, dict) or attribute not in item:
            raise CheckFailed(f"item {index} has no {attribute} to sort on")
        keys.append(_sort_key(item[attribute]))
    for index in range(1, len(keys)):
        try:
            wrong = keys[index] > keys[index - 1] if descending else keys[index] < keys[index - 1]
        except TypeError as exc:
            raise CheckFailed(f"{attribute} values of different types cannot be ordered") from exc
        if wrong:
            earlier, later = judged[index - 1], judged[index]
            raise CheckFailed(f"not in {order} {attribute} order: {earlier.get('id')!r} "
                              f"({short(earlier[attribute])}) comes before {later.get('id')!r} "
                              f"({short(later[attribute])})")
    return f"{len(judged)} item(s) in {order} {attribute} order"


def _sort_key(value: Any) -> Any:
    if isinstance(value, str):
        moment = parse_datetime(value)
        return moment if moment is not None else value
    return value


# -- writes answered 202 Accepted --------------------------------------------------------------


def took_effect(ctx: CheckContext, until: str, polls: int, waited: float,
                sent: dict[str, Any] | None = None) -> str:
    """After 202 Accepted the kit polled GET; the last answer shows the write took effect."""
    status = ctx.response.status
    spent = f"{polls} poll(s) over {waited:.1f} s"
    if until == "disappears":
        if status not in (404, 410):
            raise CheckFailed(f"still there after {spent}: the last GET answered {status}")
        return f"gone after {spent} (GET answered {status})"
    if status != 200:
        raise CheckFailed(f"not {'there' if until == 'appears' else 'readable'} after {spent}: "
                          f"the last GET answered {status} {ctx.response.reason}")
    if until == "changes" and sent:
        problems = differences(sent, ctx.obj())
        if problems:
            raise CheckFailed(f"the change is not visible after {spent}: " + "; ".join(problems))
    return f"{'appeared' if until == 'appears' else 'changed'} after {spent}"


# -- hub and notifications ---------------------------------------------------------------------
# Event rules receive an EventContext: the notification the server POSTed to the kit's listener.


def subscription_valid(ctx: CheckContext, callback: str, schema: str = "EventSubscription",
                       id: str | None = None) -> str:
    """A valid subscription (v4 EventSubscription, v5 Hub) for ``callback`` (and with ``id``, when known)."""
    _valid_against(ctx, schema)
    body = ctx.obj()
    if body.get("callback") != callback:
        raise CheckFailed(f"callback is {short(body.get('callback'))}, but {callback!r} was registered")
    if id is not None and body.get("id") != id:
        raise CheckFailed(f"id is {short(body.get('id'))}, but subscription {id!r} was asked for")
    return f"subscription {body.get('id')!r} for {callback}"


def event_arrived(ctx: EventContext) -> str:
    return f"arrived {ctx.latency_ms:.0f} ms after the request"


def event_type_is(ctx: EventContext, expected: str) -> str:
    got = ctx.obj().get("eventType")
    if got != expected:
        raise CheckFailed(f"eventType is {short(got)}, expected {expected!r}")
    return expected


def event_about(ctx: EventContext, id: str, resource: str = "salesLead") -> str:
    event = ctx.obj().get("event")
    payload = event.get(resource) if isinstance(event, dict) else None
    if not isinstance(payload, dict):
        raise CheckFailed(f"the notification carries no event.{resource} payload")
    if payload.get("id") != id:
        raise CheckFailed(f"event.{resource}.id is {short(payload.get('id'))}, expected {id!r}")
    return f"event.{resource}.id {id}"


def unexpected_event(ctx: EventContext) -> str:
    body = ctx.json()
    kind = body.get("eventType") if isinstance(body, dict) else None
    raise CheckFailed(f"received {kind or 'an event'} {ctx.latency_ms:.0f} ms after the request, "
                      f"at {ctx.path}, although none was expected")


# -- generic assertions for user-written scenarios ------------------------------------------------

_JSON_TYPES: dict[str, type | tuple[type, ...]] = {
    "object": dict, "array": list, "string": str, "number": (int, float), "boolean": bool, "null": type(None),
}


def json_path(
    ctx: AnyContext,
    path: str,
    equals: Any = _NOT_PARSED,
    exists: bool = True,
    type: str | None = None,
    matches: str | None = None,
    one_of: list[Any] | None = None,
    length: int | None = None,
) -> str:
    """An assertion on one value of the JSON body, addressed by a JSON path (``$.a[0].b``)."""
    try:
        value = _jsonpath.get(ctx.json(), path)
    except KeyError as exc:
        if not exists:
            return f"{path} is absent"
        raise CheckFailed(str(exc).strip("'")) from exc
    except ValueError as exc:
        raise CheckFailed(str(exc)) from exc
    if not exists:
        raise CheckFailed(f"{path} exists ({short(value)}) but must not")
    if equals is not _NOT_PARSED and not (same_scalar(equals, value) if not isinstance(equals, dict | list)
                                          else not differences(equals, value)):
        raise CheckFailed(f"{path} is {short(value)}, expected {short(equals)}")
    if type is not None:
        expected_type = _JSON_TYPES[type]
        if not isinstance(value, expected_type) or (type == "number" and isinstance(value, bool)):
            raise CheckFailed(f"{path} is {_kind(value)}, expected {type}")
    if matches is not None and not (isinstance(value, str) and re.search(matches, value)):
        raise CheckFailed(f"{path} is {short(value)}, which does not match /{matches}/")
    if one_of is not None and not any(same_scalar(option, value) for option in one_of):
        raise CheckFailed(f"{path} is {short(value)}, not one of {short(one_of)}")
    if length is not None and (not isinstance(value, list | str | dict) or len(value) != length):
        raise CheckFailed(f"{path} has length {len(value) if hasattr(value, '__len__') else 'n/a'}, "
                          f"expected {length}")
    return f"{path} = {short(value, 60)}"


def header(ctx: CheckContext, name: str, equals: str | None = None, matches: str | None = None,
           present: bool = True) -> str:
    """An assertion on a response header (names are case-insensitive)."""
    value = ctx.response.header(name)
    if value is None:
        if present:
            raise CheckFailed(f"no {name} header")
        return f"no {name} header"
    if not present:
        raise CheckFailed(f"{name}: {value!r} is present but must not be")
    if equals is not None and value != equals:
        raise CheckFailed(f"{name} is {value!r}, expected {equals!r}")
    if matches is not None and not re.search(matches, value):
        raise CheckFailed(f"{name} is {value!r}, which does not match /{matches}/")
    return f"{name}: {value}"
