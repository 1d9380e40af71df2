"""Conformance checks: small functions over one recorded exchange.

A check raises ``CheckFailed`` with a precise message, or returns a short note on success.
Which rule a check serves (ID, level, hint) is declared in ``_rules.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import SplitResult, unquote, urljoin, urlsplit

from . import _jsonpath, _safejson
from ._compare import contains, differences, mismatches, patch_differences, same_scalar, short
from ._jsonpath import join
from ._results import HttpRequest, HttpResponse
from ._schemas import SchemaStore, parse_datetime

JSON_TYPES = ("application/json", "application/merge-patch+json", "application/problem+json")
# Polymorphism metadata is class information, not an attribute a `fields` selection can drop.
META_ATTRIBUTES = frozenset({"@type", "@baseType", "@schemaLocation"})
# Server-maintained timestamps that every write moves (v5's lastUpdate; v4 has none).
MAINTAINED = frozenset({"lastUpdate"})
# what a server keeps even when it stores a patch as the whole resource: the mandatory and server-set
# attributes (id, href, creationDate, name, status, statusChangeDate, @type, lastUpdate)
_KEPT_BY_A_REPLACEMENT = frozenset({"id", "href", "creationDate", "name", "status", "statusChangeDate", "@type",
                                    *MAINTAINED})


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
                self._json = _safejson.loads(body)
            except (_safejson.TooDeep, _safejson.TooMany) as exc:
                raise CheckFailed(f"{what} is {exc}") from exc
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
    clock_skew: float = 300.0  # seconds a server clock may be ahead before a date counts as future
    _json: Any = field(default=_NOT_PARSED, repr=False)

    def _text(self) -> tuple[str, str]:
        return self.response.body, f"the {self.response.status} response"

    @property
    def one(self) -> str:
        """What the request is about, for messages: a v5 opportunity, or a lead."""
        return "opportunity" if "/salesOpportunity" in urlsplit(self.request.url).path else "lead"

    @property
    def many(self) -> str:
        return "opportunities" if self.one == "opportunity" else "leads"


@dataclass
class EventContext(_Body):
    """A notification the server POSTed to the kit's listener (not an HTTP response)."""

    path: str  # where it was POSTed
    headers: list[tuple[str, str]]
    body: str
    latency_ms: float  # since the request that should have caused it
    schemas: SchemaStore
    base_url: str
    clock_skew: float = 300.0
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


def _anonymous(items: list[Any]) -> bool:
    """A list none of whose items carries an id: no resource in it can be told apart from another."""
    return bool(items) and all(i is None for i in _ids(items))


# A list answer whose items have no id is the list's defect, reported where the list is judged
# (TMF699-LIST-03, and the schema rules where the spec requires id); checks that find resources
# in a list by id have nothing to examine then.
NO_IDS = "no item carries an id (TMF699-LIST-03 reports a list whose items have none)"


# -- status, media type, body shape ------------------------------------------------------------


def status_in(ctx: CheckContext, expected: int | list[int]) -> str:
    allowed = [expected] if isinstance(expected, int) else list(expected)
    got = ctx.response.status
    if got not in allowed:
        wanted = " or ".join(map(str, allowed))
        detail = f": {short(ctx.response.body, 160)}" if ctx.response.body.strip() else ""
        hint = _refusal_hint(got, allowed)
        raise CheckFailed(f"expected HTTP {wanted}, got {got} {ctx.response.reason}{detail}{hint}")
    return f"HTTP {got}"


def _refusal_hint(got: int, allowed: list[int]) -> str:
    """What a 401 or 403 where the API's answer was expected most likely means: the run's credentials."""
    if got not in (401, 403) or any(status in (401, 403) for status in allowed):
        return ""
    what = "refused the credentials sent" if got == 401 else "does not allow them this request"
    return (f" (the server {what}: check --header, --user or the --oauth2-* settings, and what this API key "
            "or account may do)")


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
    if not targets:
        raise CheckInconclusive(f"the list is empty: no item to validate against {schema}")
    return f"valid {schema}" + (f" ({len(targets)} items)" if items else "")


_valid_against = schema  # for checks whose own argument is named `schema`


def error_body(ctx: CheckContext) -> str:
    ctx.obj()
    return schema(ctx, "Error")


# -- resource content --------------------------------------------------------------------------


def _targets(ctx: CheckContext, items: bool) -> list[Any]:
    """The lead, or the list's items (an empty list has nothing to examine)."""
    if not items:
        return [ctx.obj()]
    found = ctx.items()
    if not found:
        raise CheckInconclusive("the list is empty: no item to examine")
    return found


def has_attributes(ctx: CheckContext, attributes: list[str], items: bool = False, filled: bool = False) -> str:
    """Each of ``attributes`` is present; ``filled``: with a value, neither null nor empty (an id ""
    makes /salesLead/ the lead's URL). TM Forum's kit checks presence only."""
    targets = _targets(ctx, items)
    for index, item in enumerate(targets):
        missing = [a for a in attributes if not isinstance(item, dict) or a not in item]
        unset = [a for a in attributes if filled and a not in missing and isinstance(item, dict)
                 and item[a] in (None, "")]
        if missing or unset:
            where = f"item {index} (id {item.get('id')!r})" if items and isinstance(item, dict) else "the body"
            raise CheckFailed(f"{where} lacks {', '.join(missing + [f'{a} (it is {short(item[a])})' for a in unset])}")
    return f"{', '.join(attributes)} present" + (f" in {len(targets)} items" if items else "")


def string_attributes(ctx: CheckContext, attributes: list[str], items: bool = False) -> str:
    targets = _targets(ctx, items)
    seen = 0
    for index, item in enumerate(targets):
        for attr in attributes:
            if isinstance(item, dict) and attr in item:
                seen += 1
                if not isinstance(item[attr], str):
                    raise CheckFailed(f"item {index}: {attr} is {short(item[attr])}, expected a string")
    if not seen:
        raise CheckInconclusive(f"none of {', '.join(attributes)} is present: nothing to examine")
    return f"{', '.join(attributes)} are strings"


def echoes(ctx: CheckContext, sent: dict[str, Any]) -> str:
    if not sent:
        raise CheckInconclusive("nothing was sent to compare with")
    problems = differences(sent, ctx.obj())
    if problems:
        raise CheckFailed("the response does not carry what was sent: " + "; ".join(problems))
    return f"{len(sent)} attributes echoed"


def equals_resource(ctx: CheckContext, expected: dict[str, Any], attributes: list[str] | None = None) -> str:
    body = ctx.obj()
    if attributes:
        expected = {k: expected[k] for k in attributes if k in expected}
    if not expected:
        wanted = ", ".join(attributes or ["its attributes"])
        raise CheckInconclusive(f"the {ctx.one} to compare with has none of {wanted}")
    problems = differences(expected, body)
    if problems:
        raise CheckFailed(f"differs from the {ctx.one} as created: " + "; ".join(problems))
    return f"{len(expected)} attributes equal"


def unchanged_by_refused(ctx: CheckContext, expected: dict[str, Any], patches: list[Any] | None = None,
                         statuses: list[int] | None = None) -> str:
    """The lead is as it was (``expected``: as last read) before patches that had to be refused.
    ``patches`` and ``statuses``: each of those patches and the status it was answered with; one
    answered 2xx was not refused (the rule expecting the refusal reports that), so what it names,
    and the server-maintained times it moves, are its doing, not a refused patch's."""
    if patches is None or statuses is None:
        return equals_resource(ctx, expected)
    if len(patches) != len(statuses):
        raise CheckInconclusive(f"{len(patches)} patches but {len(statuses)} answers: they cannot be matched")
    accepted = [p for p, s in zip(patches, statuses, strict=True) if 200 <= s < 300]
    if accepted and len(accepted) == len(patches):
        raise CheckInconclusive(f"none of the {len(patches)} patches was refused (each answered 2xx, which the "
                                "rules expecting the refusals report): no refused patch to examine")
    if not all(isinstance(p, dict) for p in accepted):
        raise CheckInconclusive("an accepted patch is not a merge patch: what it changed cannot be set aside")
    named = {k for p in accepted for k in p} | (MAINTAINED if accepted else set())
    if "status" in named:
        named.add("statusChangeDate")
    kept = {k: v for k, v in expected.items() if k not in named}
    if not kept:
        raise CheckInconclusive(f"the accepted patches named every attribute of the {ctx.one}: nothing to examine")
    problems = differences(kept, ctx.obj())
    if problems:
        raise CheckFailed(f"a refused patch changed the {ctx.one}: " + "; ".join(problems))
    aside = f" ({', '.join(sorted(named - MAINTAINED))} left to the {len(accepted)} accepted)" if accepted else ""
    return f"{len(kept)} attributes unchanged by the {len(patches) - len(accepted)} refused patch(es){aside}"


def reference_resolves(ctx: CheckContext, expected: dict[str, Any], attributes: list[str] | None = None) -> str:
    """GET on a reference's href serves the resource the reference names. ``expected``: that resource
    as the API served it (``attributes``: the ones that identify it), so that a defect of its own
    representation, which other rules report, is not carried into the reference."""
    if attributes is not None:
        expected = {k: expected[k] for k in attributes if k in expected}
    if not expected:
        raise CheckInconclusive("the referenced resource as served has none of "
                                f"{', '.join(attributes or ['its attributes'])} to compare with")
    if ctx.response.status != 200:
        raise CheckFailed(f"the reference's href {ctx.request.url} answered {ctx.response.status} "
                          f"{ctx.response.reason}: it resolves to nothing")
    problems = differences(expected, ctx.obj())
    if problems:
        raise CheckFailed("the reference's href serves another resource: " + "; ".join(problems))
    return f"resolves to {expected.get('id')!r}"


def values_equal(ctx: CheckContext, expected: dict[str, Any], attributes: list[str], items: bool = False) -> str:
    """The lead (or the list item with its id) carries the same values (official kit's value tests)."""
    wanted = {k: expected[k] for k in attributes if k in expected}
    if not wanted:
        raise CheckInconclusive(f"the {ctx.one} to compare with has none of {', '.join(attributes)}")
    actual = _our_item(ctx, expected, "is not in the list") if items else ctx.obj()
    problems = differences(wanted, actual)
    if problems:
        raise CheckFailed("; ".join(problems))
    return f"{', '.join(attributes)} equal"


def accepted(ctx: CheckContext) -> str:
    """The request was accepted (2xx): how exactly is another rule's business."""
    got = ctx.response.status
    if not 200 <= got < 300:
        detail = f": {short(ctx.response.body, 160)}" if ctx.response.body.strip() else ""
        raise CheckFailed(f"refused with HTTP {got} {ctx.response.reason}{detail}")
    return f"accepted (HTTP {got})"


def second_create(ctx: CheckContext, first: dict[str, Any]) -> str:
    """A second POST of the same body creates another lead or answers 409, never returns the first."""
    got = ctx.response.status
    if got == 409:
        return "409 Conflict: the duplicate is refused"
    if not 200 <= got < 300:
        raise CheckFailed(f"expected 201 (a second {ctx.one}) or 409 (a conflict), got {got} {ctx.response.reason}")
    rid, first_id = ctx.obj().get("id"), first.get("id")
    if not isinstance(first_id, str) or not first_id:
        raise CheckInconclusive(f"the first {ctx.one} has no id ({short(first_id)}) to compare with")
    if rid == first_id:
        raise CheckFailed(f"answered {got} with the first {ctx.one}'s id {rid!r}: the duplicate overwrote or "
                          f"returned the first {ctx.one} instead of creating another (or answering 409)")
    return f"a second {ctx.one} {rid!r} (the first is {first_id!r})"


def unchanged_by_duplicate(ctx: CheckContext, expected: dict[str, Any], second: Any = None) -> str:
    """After a duplicate POST the first lead is still there, exactly as it was."""
    if isinstance(second, dict) and second.get("id") is not None and second.get("id") == expected.get("id"):
        raise CheckInconclusive(f"the duplicate POST answered with the first {ctx.one}'s id: TMF699-CREATE-06 reports "
                                f"that it overwrote the first {ctx.one}")
    if ctx.response.status != 200:
        raise CheckFailed(f"GET of the first {ctx.one} answers {ctx.response.status} {ctx.response.reason}: the "
                          "duplicate POST removed or replaced it")
    problems = mismatches(expected, ctx.obj(), (f"the {ctx.one} as created", f"the {ctx.one} now"))
    if problems:
        raise CheckFailed(f"the duplicate POST changed the first {ctx.one}: " + "; ".join(problems))
    return f"{len(expected)} attributes unchanged"


def _split(url: str, what: str, inconclusive: bool = False) -> SplitResult:
    """A URL the server gave, split; one that cannot be parsed (``http://[::1``) fails the check
    that reads it, naming it (or leaves it inconclusive where another rule reports that URL)."""
    try:
        return urlsplit(url)
    except ValueError as exc:
        if inconclusive:
            raise CheckInconclusive(f"{what} {url!r} is not a valid URL ({exc}): another rule reports it") from None
        raise CheckFailed(f"{what} {url!r} is not a valid URL: {exc}") from None


def _join(base: str, reference: str, inconclusive: bool = False) -> str:
    try:
        return urljoin(base, reference)
    except ValueError:
        return _split(reference, "Location", inconclusive).geturl()  # raises: the same words


def href_consistent(ctx: CheckContext, resource: str = "salesLead") -> str:
    body = ctx.obj()
    href, rid = body.get("href"), body.get("id")
    if not isinstance(href, str) or not isinstance(rid, str):
        raise CheckFailed(f"href {short(href)} and id {short(rid)} must both be strings")
    parts = _split(href, "href")
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
    if not location and ctx.response.status != 201:  # v5's 202 Accepted: the spec asks for no header
        raise CheckInconclusive(f"answered {ctx.response.status}, not 201 Created: Location is asked of a 201")
    if not location:
        raise CheckFailed("201 Created without a Location header")
    rid = ctx.obj().get("id")
    absolute = _join(ctx.request.url, location)  # relative references are allowed (RFC 9110)
    if not _unquoted_endswith(_split(absolute, "Location").path, f"/{resource}/{rid}"):
        raise CheckFailed(f"Location {location!r} does not point to /{resource}/{rid}")
    return location


def location_in_base(ctx: CheckContext, resource: str = "salesLead") -> str:
    """The Location header resolves inside the API's base URL and is the new lead's href."""
    location = ctx.response.header("location")
    if not location:
        raise CheckInconclusive("no Location header (TMF630-LOCATION-01 reports that)")
    body = ctx.obj()
    rid, href = body.get("id"), body.get("href")
    absolute = _join(ctx.request.url, location, inconclusive=True)  # LOCATION-01 reports a bad one
    if not _unquoted_endswith(_split(absolute, "Location", inconclusive=True).path, f"/{resource}/{rid}"):
        raise CheckInconclusive(f"Location {location!r} does not point to the {ctx.one} "
                                "(TMF630-LOCATION-01 reports that)")
    base = urlsplit(ctx.base_url.rstrip("/"))
    where = _split(absolute, "Location")
    if (where.scheme, where.netloc.lower()) != (base.scheme, base.netloc.lower()) \
            or not unquote(where.path).startswith(unquote(base.path).rstrip("/") + "/"):
        if isinstance(href, str) and unquote(absolute).rstrip("/") == \
                unquote(_join(ctx.request.url, href, inconclusive=True)).rstrip("/"):
            # one URL, built one way: where it leads is the href's finding (a GET on it leaves the API)
            raise CheckInconclusive(f"Location {location!r} is the {ctx.one}'s href, which is outside the API's base "
                                    f"URL {ctx.base_url!r} as well: TMF630-HREF-02 reports that href")
        raise CheckFailed(f"Location {location!r} resolves to {absolute!r}, outside the API's base URL "
                          f"{ctx.base_url!r}: a client cannot follow it")
    if isinstance(href, str) and not _unquoted_endswith(_split(href, "href", inconclusive=True).path,
                                                       f"/{resource}/{rid}"):
        raise CheckInconclusive(f"the {ctx.one}'s href {href!r} does not point to it (TMF630-HREF-01 reports that)")
    if isinstance(href, str) and _split(href, "href", inconclusive=True).scheme \
            and unquote(absolute).rstrip("/") != unquote(href).rstrip("/"):
        raise CheckFailed(f"Location {location!r} resolves to {absolute!r}, but the {ctx.one}'s href is {href!r}")
    return f"{location} = href"


def changed_later(ctx: CheckContext, attribute: str, before: str, change: str = "status changed") -> str:
    """``attribute``, a time the server keeps, moved forward with the ``change`` just made."""
    body = ctx.obj()
    after = body.get(attribute)
    if not isinstance(after, str):
        raise CheckFailed(f"{attribute} is {short(after)} after the change")
    if same_scalar(before, after):
        old = parse_datetime(before)
        if old is not None and old.microsecond == 0:
            # whole-second timestamps (also written with .000, as Node or a DATETIME column make them)
            # cannot show a change made within the same second
            raise CheckInconclusive(f"{attribute} stayed {before!r}: the server's timestamps have 1-second "
                                    "resolution and the change came within that second")
        raise CheckFailed(f"{attribute} stayed {before!r} although {change}")
    old, new = parse_datetime(before), parse_datetime(after)
    if old and new and new < old:
        raise CheckFailed(f"{attribute} moved backwards: {before!r} -> {after!r}")
    return f"{before} -> {after}"


def updated_later(ctx: CheckContext, before: str | None) -> str:
    """A write moves lastUpdate ("date and time of the last update"), when the resource carries one."""
    if not isinstance(before, str):
        raise CheckInconclusive(f"the {ctx.one} as stored before the change has no lastUpdate: nothing to compare")
    if not isinstance(ctx.obj().get("lastUpdate"), str):
        raise CheckInconclusive("the answer carries no lastUpdate to compare (the rules on what a PATCH "
                                "returns report a missing attribute)")
    return changed_later(ctx, "lastUpdate", before, f"the {ctx.one} was changed")


# -- plausibility of server-set values --------------------------------------------------------------


def _instant(body: dict[str, Any], attribute: str) -> datetime | None:
    value = body.get(attribute)
    return parse_datetime(value) if isinstance(value, str) else None


def not_in_future(ctx: AnyContext, attributes: list[str]) -> str:
    """Server-set date-times are not later than now plus the clock-skew allowance."""
    body = ctx.obj()
    limit = datetime.now(UTC) + timedelta(seconds=ctx.clock_skew)
    seen = []
    for attribute in attributes:
        moment = _instant(body, attribute)
        if moment is None:
            continue  # absent or not a date-time: the schema rules report that
        seen.append(attribute)
        if moment > limit:
            ahead = (moment - datetime.now(UTC)).total_seconds()
            raise CheckFailed(f"{attribute} {body[attribute]!r} is {ahead:.0f} s in the future (the allowance for "
                              f"clock skew is {ctx.clock_skew:g} s): is the server's clock or time zone wrong?")
    if not seen:
        raise CheckInconclusive(f"none of {', '.join(attributes)} is a date-time to examine")
    return f"{', '.join(seen)} not in the future"


def not_before(ctx: CheckContext, attribute: str = "statusChangeDate", reference: str = "creationDate") -> str:
    body = ctx.obj()
    later, earlier = _instant(body, attribute), _instant(body, reference)
    if later is None or earlier is None:
        raise CheckInconclusive(f"{attribute} and {reference} are not both date-times: nothing to compare")
    if later < earlier:
        raise CheckFailed(f"{attribute} {body[attribute]!r} is before {reference} {body[reference]!r}")
    return f"{attribute} >= {reference}"


# -- merge patch (RFC 7396), modelled ------------------------------------------------------------------
# The expected resource is merge(before, patch); `before` is the lead as last read. Each rule looks at
# one part of the result, so that one defect is reported once: the patched attributes, the untouched
# ones, and the values the server computed (statusChangeDate) in the PATCH response and the next GET.

_ABSENT = object()


def _spec_walk(ctx: AnyContext, schema: str) -> tuple[set[str], set[str]]:
    """The attributes a schema defines and those it requires, through allOf and $ref chains (v5
    builds SalesLead on Entity, whose Extensible requires @type)."""
    found: set[str] = set()
    required: set[str] = set()
    seen: set[tuple[int, str]] = set()

    def walk(document: Any, node: Any) -> None:
        if not isinstance(node, dict):
            return
        found.update(node.get("properties", {}))
        required.update(r for r in node.get("required", []) if isinstance(r, str))
        for part in node.get("allOf", []):
            walk(document, part)
        ref = node.get("$ref")
        if isinstance(ref, str) and (id(document), ref) not in seen:
            seen.add((id(document), ref))
            name, _, pointer = ref.partition("#")
            target_document = ctx.schemas.registry.contents(ctx.schemas.id_base + name) if name else document
            target = target_document
            for key in filter(None, pointer.split("/")):
                target = target.get(key, {}) if isinstance(target, dict) else {}
            walk(target_document, target)

    root = ctx.schemas.registry.contents(ctx.schemas.id_base + f"{schema}.schema.json")
    walk(root, root)
    return found, required


def _spec_attributes(ctx: AnyContext, schema: str) -> set[str]:
    """The attributes a schema defines."""
    return _spec_walk(ctx, schema)[0]


def _merge_problems(before: Any, patch: Any, actual: Any, path: str, found: list[tuple[str, str]]) -> None:
    """(kind, problem) for each way ``actual`` is not merge(before, patch); kinds: "null" (not
    removed), "array" (not replaced whole), "object" (a nested object replaced, not merged),
    "value" (a value not set)."""
    if isinstance(patch, list):
        if not isinstance(actual, list):
            found.append(("array", f"{path}: expected the patch's array, got "
                                   f"{'nothing' if actual is _ABSENT else short(actual)}"))
        elif len(actual) != len(patch):
            found.append(("array", f"{path}: the patch replaced the array with {len(patch)} item(s), got "
                                   f"{len(actual)}: an array in a merge patch replaces the array whole"))
        else:
            found.extend(("array", p) for p in differences(patch, actual, path))
        return
    if not isinstance(patch, dict):
        if actual is _ABSENT:
            found.append(("value", f"{path}: missing, but the patch set it to {short(patch)}"))
        else:
            found.extend(("value", p) for p in differences(patch, actual, path))
        return
    if not isinstance(actual, dict):
        found.append(("object", f"{path}: expected an object (the merge of the patch into it), got "
                                f"{'nothing' if actual is _ABSENT else short(actual)}"))
        return
    for key, value in patch.items():
        child = join(path, key)
        if value is None:
            if key in actual:
                found.append(("null", f"{child}: still {short(actual[key])}, but the patch set it to null, "
                                      "which removes it"))
            continue
        old = before.get(key) if isinstance(before, dict) else None
        _merge_problems(old, value, actual.get(key, _ABSENT), child, found)
    if path != "$" and isinstance(before, dict):  # inside a patched object: what the patch did not name stays
        for key, value in before.items():
            if key in patch:
                continue
            child = join(path, key)
            if key not in actual:
                found.append(("object", f"{child}: dropped; the patch did not name it, so the object must be "
                                        f"merged, not replaced (it was {short(value)})"))
            else:
                found.extend(("object", p) for p in differences(value, actual[key], child))


def _patch_kinds(patch: Any) -> set[str]:
    """What a patch exercises: null members, arrays, nested objects."""
    kinds: set[str] = set()
    for value in patch.values() if isinstance(patch, dict) else []:
        if value is None:
            kinds.add("null")
        elif isinstance(value, list):
            kinds.add("array")
        elif isinstance(value, dict):
            kinds |= {"object"} | _patch_kinds(value)
    return kinds


# rule focus -> (the kinds of problem it reports, the kind of patch member it needs)
_FOCUS = {"objects": ({"object", "value"}, "object"), "nulls": ({"null"}, "null"), "arrays": ({"array"}, "array")}


def _class_kept(ctx: CheckContext, before: dict[str, Any], patch: dict[str, Any], schema: str) -> dict[str, Any]:
    """Where the resource schema requires @type (v5: every Extensible entity, so the _MVO view of a
    patch carries it), a patch's @type names the resource's class: it is no change. The resource
    keeps the class it had as last read; whether that class is the right one, or shown at all, is
    the schema rules' to say (TMF699-SCHEMA-01/02). Elsewhere (v4) @type is an attribute like any other."""
    if "@type" not in patch or "@type" not in _spec_walk(ctx, schema)[1]:
        return patch
    kept = {k: v for k, v in patch.items() if k != "@type"}
    if kept and isinstance(before, dict) and "@type" in before:
        kept["@type"] = before["@type"]
    return kept


def merge_applied(ctx: CheckContext, before: dict[str, Any], patch: dict[str, Any],
                  reported: dict[str, Any] | None = None, only: str | None = None, schema: str = "SalesLead") -> str:
    """Every patched attribute is merge(before, patch): nested objects merged, arrays replaced whole,
    null removing. ``reported``: the PATCH response, whose own defects are not reported again;
    ``only``: objects, nulls or arrays, the part of RFC 7396 this rule judges (the others have
    their own rules); ``schema``: the resource's (whether @type is its required class, see _class_kept)."""
    patch = _class_kept(ctx, before, patch, schema)
    if not patch:
        raise CheckInconclusive("the patch is empty (or names nothing but the resource's class): nothing to examine")
    kinds, needed = _FOCUS[only] if only else ({"null", "array", "object", "value"}, None)
    if needed is not None and needed not in _patch_kinds(patch):
        raise CheckInconclusive(f"the patch has no {only} to examine")
    found: list[tuple[str, str]] = []
    _merge_problems(before, patch, ctx.obj(), "$", found)
    problems = [p for kind, p in found if kind in kinds]
    if problems and reported is not None:
        already: list[tuple[str, str]] = []
        _merge_problems(before, patch, reported, "$", already)
        fresh = [p for p in problems if p not in {q for _, q in already}]
        if not fresh:
            raise CheckInconclusive("the same differences were in the PATCH response, where they are reported: "
                                    + "; ".join(problems[:3]))
        problems = fresh
    if problems and only:
        # one root cause: a patch stored as the whole resource (PUT semantics) is TMF630-PATCH-11's
        # finding; how its nested objects, nulls or arrays were merged is then moot. Seen only when
        # nothing but the mandatory and server-set attributes survived of what the patch left alone:
        # one attribute lost beside a real merge defect is not a replacement
        body = ctx.obj()
        left_alone = [k for k, v in before.items() if k not in patch and k not in _KEPT_BY_A_REPLACEMENT
                      and v is not None]
        if left_alone and not any(k in body for k in left_alone):
            raise CheckInconclusive(f"the {ctx.one} was replaced, not merged ({', '.join(left_alone[:5])} gone: "
                                    f"TMF630-PATCH-11's finding), so how its {only} were patched cannot be told "
                                    "apart: " + "; ".join(problems[:3]))
    if problems:
        raise CheckFailed("not merge(before, patch): " + "; ".join(problems[:10]))
    return f"{', '.join(patch)} as merge(before, patch)"


def _status_changed(before: dict[str, Any], patch: dict[str, Any]) -> bool:
    return "status" in patch and not same_scalar(patch["status"], before.get("status"))


def merge_untouched(ctx: CheckContext, before: dict[str, Any], patch: dict[str, Any], schema: str = "SalesLead") -> str:
    """Every attribute the patch does not name is unchanged (id, href and creationDate included;
    statusChangeDate too, unless the status changed). Attributes outside the spec are the server's,
    and so is the time of the last update (v5's lastUpdate), which every write moves."""
    body = ctx.obj()
    defined = _spec_attributes(ctx, schema)
    moved = ({"statusChangeDate"} if _status_changed(before, patch) else set()) | MAINTAINED
    compared, found = [], []
    for key, value in before.items():
        if key in patch or key not in defined or key in moved:
            continue
        compared.append(key)
        if key not in body:
            found.append(f"$.{key}: missing after the patch (it was {short(value)})")
        else:
            found.extend(differences(value, body[key], join("$", key)))
    if not compared:
        raise CheckInconclusive(f"the {ctx.one} had no attribute the patch left alone: nothing to examine")
    if found:
        raise CheckFailed("attributes the patch did not touch changed: " + "; ".join(found[:10]))
    return f"{len(compared)} untouched attributes unchanged"


def same_as_response(ctx: CheckContext, response: dict[str, Any], before: dict[str, Any],
                     patch: dict[str, Any], schema: str = "SalesLead") -> str:
    """The next GET shows what the PATCH response showed (the server-computed values above all),
    leaving aside the patched attributes and the response's own defects, reported elsewhere."""
    body = ctx.obj()
    defined = _spec_attributes(ctx, schema)
    moved = {"statusChangeDate"} if _status_changed(before, patch) else set()
    compared, found = [], []
    for key in dict.fromkeys([*response, *body]):
        if key in patch or key not in defined:
            continue
        if key in before and key not in moved and not contains(before[key], response.get(key, _ABSENT)):
            continue  # the response already got an untouched attribute wrong (TMF630-PATCH-11)
        compared.append(key)
        if key not in body:
            found.append(f"$.{key}: in the PATCH response ({short(response[key])}) but not on GET")
        elif key not in response:
            found.append(f"$.{key}: on GET ({short(body[key])}) but not in the PATCH response")
        else:
            found.extend(mismatches(response[key], body[key], ("the PATCH response", "GET"), join("$", key)))
    if not compared:
        raise CheckInconclusive("no attribute to compare outside the patched ones")
    if found:
        raise CheckFailed("the PATCH response is not what was stored: " + "; ".join(found[:10]))
    return f"{len(compared)} attributes as in the PATCH response"


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
        return CheckInconclusive(f"{ctx.one} {rid!r} is not on this page, but {partial}: it may be on another page")
    return CheckFailed(f"{ctx.one} {rid!r} {what}")


def _our_item(ctx: CheckContext, expected: dict[str, Any], what: str,
              unselected: list[Any] | None = None) -> dict[str, Any]:
    """The list item with the id of ``expected``; an id-less lead cannot be told apart from others.
    ``unselected``: the same list read without the option judged (the option's subject is what
    the items show, not which are listed): a lead missing is TMF699-LIST-03's finding, inconclusive
    here, whether the read without the option lists it or not. The two reads see the collection at
    different moments: other scenarios' leads come and go between them, so a list losing its last
    (or first) match loses this lead in one and another lead in the other, as it happens."""
    rid = expected.get("id")
    if not isinstance(rid, str) or not rid:
        raise CheckInconclusive(f"the {ctx.one} to look for has no id ({short(rid)}): it cannot be found in a list")
    items = ctx.items()
    if _anonymous(items):
        raise CheckInconclusive(f"{NO_IDS}: {ctx.one} {rid!r} cannot be told apart from the others")
    match = [i for i in items if isinstance(i, dict) and i.get("id") == rid]
    if not match and unselected is not None:
        too = ", and from the list read without it too" if rid not in _ids(unselected) else ""
        raise CheckInconclusive(f"{ctx.one} {rid!r} {what}{too}: what a list returns is TMF699-LIST-03's "
                                "to judge, what its items show is this rule's")
    if not match:
        raise _missing_from_list(ctx, items, rid, what)
    return match[0]


def list_contains(ctx: CheckContext, id: str | None = None, present: bool = True,
                  ids: list[str] | None = None, unselected: list[Any] | None = None,
                  by_id: int | None = None, listed: list[Any] | None = None) -> str:
    """``id`` is (or, ``present`` false, is not) listed; ``ids``: each of them is (the leads a
    scenario created together: which of them a server loses may depend on their arrival order).
    ``unselected``: on a list read with ``fields``, the same list without; items that carry no id
    only there are the selection's defect (the fields rules report it), not a lost lead. ``by_id``:
    for a deleted lead, the status GET by id answered after the delete; a lead still found there
    is not deleted at all (TMF699-DELETE-03), and a list showing it says nothing more. ``listed``: a
    list read before (``?id=``) that already showed the deleted lead, reported there."""
    if (id is None) == (ids is None) or (ids is not None and not present):
        raise ValueError("give either id (listed or, present: false, not) or ids (each listed)")
    if by_id is not None and by_id not in (404, 410):
        raise CheckInconclusive(f"GET by id answered {by_id} after the delete: the {ctx.one} is not deleted at all "
                                "(TMF699-DELETE-03 reports that)")
    if not present and isinstance(listed, list) and id in _ids(listed):
        raise CheckInconclusive(f"the list read by id already showed the deleted {ctx.one} (reported there)")
    if unselected is not None and _anonymous(ctx.items()) and not _anonymous(unselected):
        raise CheckInconclusive("the selected items carry no id, which the list without fields has: the "
                                "selection drops it (TMF630-FIELDS-01/02 report that)")
    if ids is not None:
        return _list_contains_all(ctx, ids)
    ids = _ids(ctx.items())
    if present and id not in ids:
        none = ", none of which carries an id" if _anonymous(ctx.items()) else ""
        raise _missing_from_list(ctx, ctx.items(), id, f"is not among the {len(ids)} items returned{none}")
    if not present and id in ids:
        raise CheckFailed(f"{ctx.one} {id!r} is returned although it must be excluded")
    return f"{id} {'present' if present else 'absent'} among {len(ids)} items"


def _list_contains_all(ctx: CheckContext, wanted: list[str]) -> str:
    if not wanted:
        raise CheckInconclusive(f"no {ctx.one} to look for (none was created)")
    listed = _ids(ctx.items())
    missing = [rid for rid in wanted if rid not in listed]
    if missing:
        what = f"is not among the {len(listed)} items returned"
        if _anonymous(ctx.items()):
            what += ", none of which carries an id"
        if len(missing) > 1:
            what += (f" ({len(missing)} of the {len(wanted)} {ctx.many} looked for are missing: "
                     f"{', '.join(map(repr, missing))})")
        raise _missing_from_list(ctx, ctx.items(), missing[0], what)
    return f"all {len(wanted)} present among {len(listed)} items"


def _count(ctx: CheckContext, name: str) -> int | None:
    value = ctx.response.header(name)
    if value is None:
        return None
    values = {v.strip() for k, v in ctx.response.headers if k.lower() == name.lower()}
    numbers = {int(v) if v.isdigit() else v for v in values}  # 5 and 05 are one count
    if len(numbers) > 1:  # a count is one number (RFC 9110 5.3: only list fields may repeat)
        raise CheckFailed(f"{name} is sent more than once, with different values: {', '.join(sorted(values))}")
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
            distinct = {i for i in _ids(items) if i is not None}
            if len(distinct) == total < len(items) == known_total:
                raise CheckInconclusive(f"X-Total-Count is {known_total} because the list repeats {ctx.many} "
                                        "(TMF699-LIST-04 reports that)")
            if known_total == len(items) < total:  # the count is right about the answer: the answer is short
                raise CheckInconclusive(f"X-Total-Count is {known_total}, the {len(items)} item(s) returned, but "
                                        f"exactly {total} {ctx.many} match: the answer omits a match, which the "
                                        "rules judging what a list returns report (TMF699-LIST-03, the filters)")
            raise CheckFailed(f"X-Total-Count is {known_total}, but exactly {total} {ctx.many} match")
        notes.append(f"X-Total-Count {known_total}")
    if not notes:
        raise CheckInconclusive("no X-Result-Count or X-Total-Count header to compare (TMF630-PAGE-01 reports that)")
    return ", ".join(notes)


def page_size(ctx: CheckContext, limit: int, at_least: int | None = None) -> str:
    items = ctx.items()
    if len(items) > limit:
        raise CheckFailed(f"limit={limit} but {len(items)} items returned")
    if at_least is not None and len(items) < at_least:
        raise CheckFailed(f"expected {at_least} item(s) on this page (at least two {ctx.many} exist), got {len(items)}")
    return f"{len(items)} item(s) for limit={limit}"


def page_disjoint(ctx: CheckContext, previous: list[Any], limit: int | None = None,
                  everything: list[Any] | None = None) -> str:
    """The next page shares no lead with the previous one (``everything``: the unpaged list, in
    which a lead listed twice may rightly straddle two pages)."""
    earlier = {i for i in _ids(previous) if i is not None}
    current = [i for i in _ids(ctx.items()) if i is not None]
    if not earlier or not current:
        raise CheckInconclusive("one of the pages has no item with an id: nothing to compare")
    if limit is not None and len(current) > limit:
        raise CheckInconclusive(f"limit={limit} returned {len(current)} items (TMF630-PAGE-03 reports that)")
    repeated = [i for i in current if i in earlier]
    listed = _ids(everything or [])
    if repeated and all(listed.count(i) > 1 for i in repeated):
        raise CheckInconclusive(f"the unpaged list itself repeats {', '.join(map(repr, repeated))} "
                                "(TMF699-LIST-04 reports that)")
    if repeated:
        raise CheckFailed(f"the next page repeats {', '.join(map(str, repeated))}: offset is ignored")
    return "pages are disjoint"


def unique_ids(ctx: CheckContext) -> str:
    ids = [i for i in _ids(ctx.items()) if i is not None]
    if not ids:
        raise CheckInconclusive("no item carries an id: nothing to compare")
    seen: set[Any] = set()
    twice = [i for i in ids if i in seen or seen.add(i)]  # type: ignore[func-returns-value]
    if twice:
        shown = ", ".join(map(repr, dict.fromkeys(twice)))
        raise CheckFailed(f"{shown} appear(s) more than once among the {len(ids)} items")
    return f"{len(ids)} distinct ids"


def _as_count(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def page_slice(ctx: CheckContext, everything: list[Any], offset: int, limit: int,
               total: int | str | None = None) -> str:
    """The page is items offset .. offset+limit-1 of the unpaged list (offset counts items)."""
    every = _ids(everything)
    if not every or None in every:
        raise CheckInconclusive("the unpaged list has items without an id: pages cannot be compared with it")
    known = _as_count(total)
    expected = every[offset:offset + limit]
    if known is not None and known > len(every) and offset + limit > len(every):
        raise CheckInconclusive(f"the unpaged list held {len(every)} of {known} {ctx.many}: it does not reach "
                                f"offset {offset} + limit {limit}")
    got = _ids(ctx.items())
    if not expected:  # past the last match (the unpaged list holds every match: checked above)
        if known is not None and known > len(every):
            raise CheckInconclusive(f"offset {offset} is past the {len(every)} {ctx.many} the unpaged list held, "
                                    f"of {known}: nothing to compare")
        if got and got == every[:len(got)]:
            raise CheckInconclusive(f"offset={offset} returned the first items: offset is ignored "
                                    "(TMF630-PAGE-04 reports that)")
        if got:
            raise CheckFailed(f"offset={offset} is past the last of the {len(every)} {ctx.many}, but the page holds "
                              f"{len(got)} of them: an offset past the end is an empty page, not the last page")
        return f"offset {offset}, past the {len(every)} {ctx.many}: an empty page"

    if got == expected:
        return f"items {offset}..{offset + len(expected) - 1} of the unpaged list"
    if len(got) > limit:
        raise CheckInconclusive(f"limit={limit} returned {len(got)} items (TMF630-PAGE-03 reports that)")
    if offset and got == every[:len(got)]:
        raise CheckInconclusive(f"offset={offset} returned the first items: offset is ignored "
                                "(TMF630-PAGE-04 reports that)")
    as_page = every[offset * limit:offset * limit + limit]
    if got and got == as_page:
        first = offset * limit
        raise CheckFailed(f"offset={offset}&limit={limit} returned items {first}..{first + len(got) - 1} of the "
                          "unpaged list: offset is read as a page number, not as a count of items")
    raise CheckFailed(f"offset={offset}&limit={limit} returned {short(got, 200)}, but items "
                      f"{offset}..{offset + limit - 1} of the unpaged list are {short(expected, 200)}")


def page_total(ctx: CheckContext, total: int | str) -> str:
    """A page's X-Total-Count is the number of matches, as the unpaged list counts them."""
    wanted = _as_count(total)
    if wanted is None:
        raise CheckInconclusive(f"no unpaged total to compare with ({short(total)})")
    got = _count(ctx, "X-Total-Count")
    if got is None:
        raise CheckInconclusive("no X-Total-Count header (TMF630-PAGE-01 reports that)")
    if got != wanted:
        raise CheckFailed(f"X-Total-Count on this page is {got}, but the unpaged list counts {wanted} {ctx.many}")
    return f"X-Total-Count {got}"


def filtered_page(ctx: CheckContext, target: str, alone: list[Any] | None) -> str:
    """``?id=<target>&offset=0&limit=1``: the filter's only match is its first page. ``alone``: the
    list the same filter returned without offset and limit (exactly ``target`` when filtering works).
    A server that pages the whole collection and filters the page returns an empty page (unless
    ``target`` happens to come first)."""
    if not isinstance(alone, list) or _ids(alone) != [target]:
        raise CheckInconclusive(f"the filter alone does not return exactly {ctx.one} {target!r} "
                                "(TMF630-FILTER-01 reports that): there is no filtered list to page")
    items = ctx.items()
    if _anonymous(items):
        raise CheckInconclusive(NO_IDS)
    got = _ids(items)
    if got == [target]:  # what X-Total-Count says is TMF630-PAGE-02's
        return "the filter's only match, on its first page"
    if not got:
        raise CheckFailed(f"with offset=0&limit=1 the filter returns no {ctx.one}, but without them it returns "
                          f"{target!r}: offset and limit page the whole collection before the filter applies")
    if len(got) > 1:
        raise CheckInconclusive(f"limit=1 returned {len(got)} items (TMF630-PAGE-03 reports that)")
    raise CheckInconclusive(f"with offset=0&limit=1 the filter returns {got[0]!r}, which it does not match "
                            "(TMF630-FILTER-01 reports that on this step)")


def server_set_ignored(ctx: CheckContext, sent: dict[str, Any]) -> str:
    """A POST carrying attributes the server sets (the create view skips them) is refused (400, 422),
    or creates a resource with the server's own values, not those sent."""
    status = ctx.response.status
    if status in (400, 422):
        return f"refused ({status})"
    if not 200 <= status < 300:
        raise CheckFailed(f"expected 400 (refused) or a creation with the server's own values, got {status} "
                          f"{ctx.response.reason}")
    if not ctx.response.body.strip():
        raise CheckInconclusive(f"the {status} answer has no body: what the server set cannot be seen")
    body = ctx.obj()
    taken = [k for k, v in sent.items() if k not in ("name", "@type") and k in body and not differences(v, body[k])]
    if taken:
        raise CheckFailed(f"the server took {', '.join(f'{k}={short(sent[k])}' for k in taken)} from the request: "
                          "these are set by the server (the create view skips them)")
    return f"{', '.join(k for k in sent if k not in ('name', '@type'))} set by the server, not taken from the request"


def listed_whole(ctx: CheckContext, listed: list[Any] | None) -> str:
    """The resource read by id, as the list read just before showed it: whole (``fields`` is the only
    way to a partial representation), and with the same values."""
    item = ctx.obj()
    rid = item.get("id")
    if not isinstance(listed, list) or not isinstance(rid, str):
        raise CheckInconclusive("no list, or no id, to compare with (the list rules report that)")
    shown = next((i for i in listed if isinstance(i, dict) and i.get("id") == rid), None)
    if shown is None:
        raise CheckInconclusive(f"{ctx.one} {rid!r} is not in the list read before (TMF699-LIST-03 reports that)")
    missing = sorted(k for k in item if k not in shown and k not in MAINTAINED)
    if missing:
        raise CheckFailed(f"the list shows {ctx.one} {rid!r} without {', '.join(missing[:8])}"
                          f"{f' and {len(missing) - 8} more' if len(missing) > 8 else ''}: without fields, a list "
                          f"returns each {ctx.one} whole, as GET by id does")
    problems = [p for k in item if k not in MAINTAINED for p in differences(item[k], shown[k], join("$", k))]
    if problems:
        raise CheckFailed(f"the list shows {ctx.one} {rid!r} with other values than GET by id: "
                          + "; ".join(problems[:5]))
    return f"{len(item)} attributes, as GET by id shows them"


def _order_key(value: Any) -> Any:
    moment = parse_datetime(value) if isinstance(value, str) else None
    return moment if moment is not None else value


def sorted_by(ctx: CheckContext, attribute: str, ids: list[str], descending: bool = False,
              unsorted: list[Any] | None = None) -> str:
    """Our leads (``ids``, whose values sort alike under any collation) come in the sorted order;
    other leads in the list are left alone. A lead missing from the answer is not out of order: what a
    list returns is TMF699-LIST-03's to judge (a list that loses its last or first match loses one of
    ours or another scenario's, as the collection stands), and the order is judged among those
    returned. ``unsorted``: the list as read without ``sort`` (a lead missing from it too is missing
    from the collection: the message says so)."""
    items = ctx.items()
    if _anonymous(items):
        raise CheckInconclusive(f"{NO_IDS}: the {ctx.many} whose order is examined cannot be found")
    returned = _ids(items)
    missing = [i for i in ids if i not in returned]
    ours = [item for item in items if isinstance(item, dict) and item.get("id") in ids]
    gone = ""
    if missing:
        partial = _partial_page(ctx, items)
        too = unsorted is not None and missing[0] not in _ids(unsorted)
        gone = (f"{ctx.one} {missing[0]!r} is missing from the sorted list"
                + (" and from the list without sort" if too else "") + (f" ({partial})" if partial else "")
                + " (TMF699-LIST-03 judges what a list returns)")
    if len(ours) < 2:
        raise CheckInconclusive(f"{gone}: fewer than two {ctx.many} of this scenario to order" if gone else
                                f"fewer than two {ctx.many} of this scenario are returned: nothing to order")
    if any(attribute not in item for item in ours):
        raise CheckInconclusive(f"a {ctx.one} of this scenario is returned without {attribute}: nothing to sort on")
    keys = [_order_key(item[attribute]) for item in ours]
    if len(set(map(str, keys))) < 2:
        raise CheckInconclusive(f"the {ctx.many} share one {attribute}: their order proves nothing")
    word = "descending" if descending else "ascending"
    for i in range(len(ours) - 1):
        a, b, ka, kb = ours[i], ours[i + 1], keys[i], keys[i + 1]
        try:
            wrong = ka < kb if descending else ka > kb
        except TypeError:
            raise CheckInconclusive(f"{attribute} values of different types cannot be ordered") from None
        if wrong:
            raise CheckFailed(f"sort {word} on {attribute}, but {ctx.one} {a.get('id')!r} ({short(a[attribute])}) "
                              f"comes before {b.get('id')!r} ({short(b[attribute])})")
    return f"{len(ours)} {ctx.many} in {word} {attribute} order" + (f"; {gone}" if gone else "")


def fields_only(
    ctx: CheckContext, fields: list[str], items: bool = False, expected: dict[str, Any] | None = None,
    unselected: list[Any] | None = None,
) -> str:
    """Only the selected attributes (+id, href) come back; the lead we created (``expected``),
    which has them all, must carry each of them. Other leads may simply lack an attribute.
    ``unselected``: the list as read without ``fields``; when its items carry no id either, a
    missing id is the list's defect, not the selection's."""
    targets = ctx.items() if items else [ctx.obj()]
    allowed = set(fields) | {"id", "href"} | META_ATTRIBUTES
    for index, item in enumerate(targets):
        if not isinstance(item, dict):
            raise CheckFailed(f"item {index} is {_kind(item)}, expected an object")
        extra = sorted(set(item) - allowed)
        if extra:
            where = f"item {index} (id {item.get('id')!r})" if items else "the body"
            raise CheckFailed(f"fields={','.join(fields)} but {where} also carries {', '.join(extra)}")
    for item in targets:
        if "id" not in item:
            if items and unselected is not None and _anonymous(unselected):
                raise CheckInconclusive(f"fields={','.join(fields)} returns items without id, but so does the list "
                                        f"without fields: {NO_IDS}, not the selection's doing")
            raise CheckFailed(f"fields={','.join(fields)} dropped id, which is always returned")
    if expected is not None:
        ours = _our_item(ctx, expected, "is missing from the fields-selected list", unselected) if items \
            else targets[0]
        absent = [f for f in fields if f in expected and f not in ours]
        if absent:
            raise CheckFailed(f"fields={','.join(fields)} but the {ctx.one}'s {', '.join(absent)} is missing")
    elif not targets:
        raise CheckInconclusive("the list is empty: no item to examine")
    shown = sorted(set(fields) - {"none"}) or ["id", "href"]
    return f"only {', '.join(shown)} (+id, href) in {len(targets)} item(s)"


def fields_values(ctx: CheckContext, fields: list[str], expected: dict[str, Any], items: bool = False,
                  unselected: list[Any] | None = None) -> str:
    """Each selected attribute of our lead carries the full lead's value, complex ones intact
    (``unselected``: as for fields_only)."""
    lead = _our_item(ctx, expected, "is missing from the fields-selected list", unselected) if items \
        else ctx.obj()
    compared = [f for f in fields if f in expected and f in lead]
    if not compared:
        raise CheckInconclusive(f"the {ctx.one} shows none of {', '.join(fields)}: no value to compare "
                                "(TMF630-FIELDS-01/03 report a missing attribute)")
    problems = [p for f in compared for p in differences(expected[f], lead[f], join("$", f))]
    if problems:
        raise CheckFailed(f"fields={','.join(fields)} returns other values than the full {ctx.one}: "
                          + "; ".join(problems))
    return f"{', '.join(compared)} equal to the full {ctx.one}'s"


def fields_filtered(ctx: CheckContext, fields: list[str], where: dict[str, Any], same_as: list[Any],
                    projected: list[Any]) -> str:
    """fields with a filter (``where``) returns the leads the filter alone returns (``same_as``),
    each with the attributes the selection alone gives it (``projected``): the two compose."""
    wanted = {i for i in _ids(same_as) if i is not None}
    if not wanted:
        raise CheckInconclusive(f"the filter alone returned no {ctx.one} with an id: nothing to compare")
    if any(isinstance(i, dict) and not same_scalar(v, i.get(k)) for i in same_as for k, v in where.items()):
        raise CheckInconclusive("the filter alone does not filter (TMF630-FILTER-01 reports that): "
                                "there is no filtered set to compare with")
    items = ctx.items()
    got = {i for i in _ids(items) if i is not None}
    if items and not got:
        raise CheckInconclusive("no item carries an id (TMF630-FIELDS-01 reports that): nothing to compare")
    if got != wanted:
        extra, lost = sorted(map(str, got - wanted)), sorted(map(str, wanted - got))
        detail = "; ".join(x for x in (f"{len(extra)} {ctx.one}(s) the filter excludes ({short(extra)})"
                                       if extra else "",
                                       f"without {short(lost)}" if lost else "") if x)
        raise CheckFailed(f"with fields={','.join(fields)} the filter returns other {ctx.many}: {detail}")
    alone = {i.get("id"): set(i) for i in projected if isinstance(i, dict) and i.get("id") is not None}
    for item in items:
        keys = set(item) if isinstance(item, dict) else set()
        if item.get("id") in alone and keys != alone[item.get("id")]:
            differ = sorted(keys ^ alone[item["id"]])
            raise CheckFailed(f"with a filter, fields={','.join(fields)} gives {ctx.one} {item.get('id')!r} other "
                              f"attributes than without one: {', '.join(differ)}")
    return f"the {len(wanted)} filtered {ctx.one}(s), projected as fields={','.join(fields)} alone projects them"


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
    anonymous = _anonymous(items)  # what the items' values show is still judged; who they are is not
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise CheckFailed(f"item {index} is {_kind(item)}, expected an object")
        for key, expected in where.items():
            attribute, _, op = key.partition(".")
            op = op or "eq"
            if anonymous and attribute == "id":
                continue
            if attribute not in item:
                raise CheckFailed(f"item {index} (id {item.get('id')!r}) has no {attribute} to filter on")
            options = expected if isinstance(expected, list) else [expected]
            if not any(_matches(item[attribute], option, op) for option in options):
                wanted = " or ".join(map(repr, options))
                raise CheckFailed(
                    f"filter {key}={wanted} returned item {item.get('id')!r} whose {attribute} is "
                    f"{short(item[attribute])}: the filter is ignored or wrong"
                )
    if anonymous and (include or exclude or any(k.partition(".")[0] == "id" for k in where)):
        raise CheckInconclusive(f"{NO_IDS}: the {ctx.many} the filter must return or leave out cannot be "
                                f"found among the {len(items)} item(s)")
    ids = _ids(items)
    for rid in include or []:
        if rid not in ids:
            raise _missing_from_list(ctx, items, rid, f"matches the filter but is not returned ({len(ids)} items)")
    for rid in exclude or []:
        if rid in ids:
            raise CheckFailed(f"{ctx.one} {rid!r} does not match the filter but is returned")
    if not items and not exclude:
        raise CheckInconclusive(f"the filter returned nothing and no {ctx.one} had to be excluded: nothing to examine")
    return f"{len(items)} matching item(s)"


def filtered_exact(ctx: CheckContext, attribute: str, value: Any, include: list[str], decoys: list[str]) -> str:
    """An equality filter matches exactly: leads whose value only resembles it (contains it, in
    another case, a prefix of it) are left out."""
    if not decoys:
        raise CheckInconclusive(f"no look-alike {ctx.one} to exclude")
    items = ctx.items()
    if _anonymous(items):
        raise CheckInconclusive(f"{NO_IDS}: the look-alikes cannot be told apart from the {ctx.one}")
    unrelated = [i for i in items if isinstance(i, dict) and i.get("id") not in decoys
                 and not same_scalar(value, i.get(attribute))]
    if unrelated:
        raise CheckInconclusive(f"the filter also returned {ctx.one} {unrelated[0].get('id')!r} whose {attribute} is "
                                f"{short(unrelated[0].get(attribute))}: it is ignored altogether (TMF630-FILTER-01)")
    slipped = [i for i in items if isinstance(i, dict) and i.get("id") in decoys]
    if slipped:
        shown = ", ".join(short(i.get(attribute), 60) for i in slipped)
        raise CheckFailed(f"{attribute}={value!r} also returned {len(slipped)} {ctx.one}(s) whose {attribute} only "
                          f"resembles it: {shown}; equality must be exact (not substring, prefix or case-blind)")
    ids = _ids(items)
    for rid in include:
        if rid not in ids:
            raise _missing_from_list(ctx, items, rid, f"has {attribute}={value!r} but is not returned")
    return f"exact: {len(decoys)} look-alike(s) excluded"


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
        problems = patch_differences(sent, ctx.obj())
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


def event_envelope(ctx: EventContext, schema: str | None = None) -> str:
    """eventId is set and eventTime is not in the future (its format is the schema's business).
    ``schema``: the event's schema; an attribute it requires (v5: eventId and eventTime) that is
    absent is TMF699-EVENT-02's finding, and this check judges what is there."""
    body = ctx.obj()
    required = _spec_walk(ctx, schema)[1] if schema else set()
    unchecked: list[str] = []  # required by the schema and absent: the schema rule reports them
    event_id = body.get("eventId")
    if event_id is None and "eventId" in required:
        unchecked.append("eventId")
    elif event_id is None or (isinstance(event_id, str) and not event_id.strip()):
        raise CheckFailed("the notification has no eventId: a listener cannot tell a repeat from a new event")
    moment = _instant(body, "eventTime")
    if "eventTime" not in body:
        if "eventTime" not in required:
            raise CheckFailed("the notification has no eventTime")
        unchecked.append("eventTime")
    elif moment is not None:
        ahead = (moment - datetime.now(UTC)).total_seconds()
        if ahead > ctx.clock_skew:
            raise CheckFailed(f"eventTime {body['eventTime']!r} is {ahead:.0f} s in the future (allowance "
                              f"{ctx.clock_skew:g} s)")
    if unchecked:
        raise CheckInconclusive(f"the notification has no {' and no '.join(unchecked)}, which its schema {schema} "
                                "requires: TMF699-EVENT-02 reports that")
    if moment is None:
        return f"eventId {short(event_id)}; eventTime is not a date-time (TMF699-EVENT-02 reports that)"
    return f"eventId {short(event_id)}, eventTime {body['eventTime']}"


def event_lead_matches(ctx: EventContext, expected: dict[str, Any], resource: str = "salesLead") -> str:
    """Every attribute the event's resource (``event.<resource>``) carries has the API's value at
    that moment (it may carry fewer)."""
    event = ctx.obj().get("event")
    lead = event.get(resource) if isinstance(event, dict) else None
    if not isinstance(lead, dict):
        raise CheckInconclusive(f"no event.{resource} to compare (TMF699-EVENT-04 reports that)")
    compared, problems = [], []
    for key, value in lead.items():
        if key == "id":
            continue
        if key not in expected:
            if key not in META_ATTRIBUTES:
                problems.append(f"$.event.{resource}.{key}: {short(value)}, but the API's lead has no {key}")
            continue
        compared.append(key)
        problems.extend(differences(value, expected[key], f"$.event.{resource}.{key}"))
    if problems:
        raise CheckFailed("the notification's lead differs from the API's: "
                          + "; ".join(p.replace("expected", "event has", 1).replace(", got", ", the API has", 1)
                                      for p in problems[:10]))
    if not compared:
        raise CheckInconclusive("the notification's lead carries nothing but its id: nothing to compare")
    return f"{len(compared)} attributes as the API shows them"


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
