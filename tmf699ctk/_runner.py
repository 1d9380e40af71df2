"""Execute planned scenarios: send each step, evaluate its rules, record everything.

The executor keeps no global state: a ``ScenarioState`` belongs to one scenario run, and the
only shared objects (HTTP client, schemas, target health) are safe to share across threads, so
scenarios can later run concurrently without a redesign.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from . import SPEC_NAME, SPEC_VERSION, __version__
from . import _jsonpath as jsonpath
from ._checks import CheckContext, CheckFailed, CheckInconclusive, event_arrived, status_in
from ._config import Config
from ._http import TargetHealth, build_url, send
from ._listener import Listener, ReceivedEvent
from ._results import (
    CheckResult,
    Exchange,
    HttpRequest,
    HttpResponse,
    Level,
    RunResult,
    ScenarioResult,
    Status,
    StepResult,
)
from ._rules import AUTO_RULES
from ._scenarios import NO_BODY, Expectation, Scenario, Step
from ._schemas import SchemaStore
from ._templating import TemplateProblem, render

# statuses after which a created resource no longer needs cleaning up
_GONE = {200, 202, 204, 404, 410}


@dataclass
class ScenarioState:
    """Everything one scenario run knows: saved values, tracked resources, declined features."""

    variables: dict[str, Any]
    tracked: dict[str, str] = field(default_factory=dict)  # url -> description
    broken: str | None = None
    declined: dict[str, str] = field(default_factory=dict)  # feature -> reason
    last_sent: float = 0.0  # monotonic time of the latest request: events must arrive after it


@dataclass(frozen=True)
class NotificationSettings:
    """How notification delivery is judged (``--notifications``) and how long to wait."""

    mode: str = "optional"  # off | optional | mandatory
    event_timeout: float = 5.0
    quiet_period: float = 1.0


class RunObserver:
    """Receives progress events; the console implements it, the runner never prints."""

    def scenario_started(self, scenario: Scenario, index: int, total: int) -> None: ...

    def step_finished(self, scenario: Scenario, step: StepResult) -> None: ...

    def scenario_finished(self, result: ScenarioResult) -> None: ...


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Runner:
    def __init__(
        self,
        client: httpx.Client,
        config: Config,
        schemas: SchemaStore,
        base_url: str,
        observer: RunObserver | None = None,
        listener: Listener | None = None,
        notifications: NotificationSettings | None = None,
    ) -> None:
        self.listener = listener
        self.notifications = notifications or NotificationSettings()
        self.client = client
        self.config = config
        self.schemas = schemas
        self.base_url = base_url
        self.observer = observer or RunObserver()
        self.health = TargetHealth()
        self.run_id = uuid.uuid4().hex[:8]
        config.rendered_payloads({"run_id": self.run_id})  # fail fast on a broken payload template
        self._origin = urlsplit(base_url)[:2]
        self.profile = "full"

    # -- whole run ---------------------------------------------------------------------------

    def run(self, scenarios: list[Scenario], profile: str, target_info: dict[str, Any] | None = None) -> RunResult:
        result = RunResult(
            tool={"name": "tmf699ctk", "version": __version__},
            spec={"name": SPEC_NAME, "version": SPEC_VERSION, "schemas": self.schemas.spec},
            target={"base_url": self.base_url, **(target_info or {})},
            profile=profile,
            started_at=_now(),
            metadata=dict(self.config.report),
        )
        result.target["run_id"] = self.run_id
        self.profile = profile
        started = time.perf_counter()
        try:
            for index, scenario in enumerate(scenarios):
                self.observer.scenario_started(scenario, index, len(scenarios))
                outcome = self.run_scenario(scenario, index)
                result.scenarios.append(outcome)
                self.observer.scenario_finished(outcome)
        except KeyboardInterrupt:
            result.aborted = "interrupted by the user (Ctrl-C); the results are partial"
        result.unreachable = self.health.unreachable
        if self.listener is not None:
            result.notifications = {
                "mode": self.notifications.mode, "callback_url": self.listener.callback_url,
                "listen": self.listener.listen, "received": len(self.listener.events),
                "unclaimed": [{"path": e.path, "eventType": e.event_type(), "lead": e.lead_id(),
                               "received_at": e.wall_time} for e in self.listener.events if not e.claimed],
            }
        result.ended_at = _now()
        result.duration_ms = round((time.perf_counter() - started) * 1000, 1)
        result.finish()
        return result

    # -- one scenario --------------------------------------------------------------------------

    def run_scenario(self, scenario: Scenario, index: int = 0) -> ScenarioResult:
        # each scenario gets its own run_id, so its leads' names match no other scenario's
        run_id = f"{self.run_id}-{index}"
        payloads = self.config.rendered_payloads({"run_id": run_id})
        variables = {"payloads": payloads, "run_id": run_id, "base_url": self.base_url}
        if self.listener is not None:
            variables["callback_url"] = self.listener.callback_url
        state = ScenarioState(variables=variables)
        if "notifications" in scenario.requires and self.listener is None:
            state.broken = f"notifications are {self.notifications.mode}: no listener, so no hub or event test"
        outcome = ScenarioResult(
            id=scenario.id, title=scenario.title, file=scenario.file, tags=list(scenario.tags),
            description=scenario.description, started_at=_now(),
        )
        started = time.perf_counter()
        try:
            for step in scenario.steps:
                outcome.steps.append(self._step(scenario, step, state, kind="step"))
        finally:
            state.broken = None  # teardown always runs
            for step in scenario.teardown:
                outcome.steps.append(self._step(scenario, step, state, kind="teardown"))
            outcome.cleanup = self._cleanup(state)
            outcome.duration_ms = round((time.perf_counter() - started) * 1000, 1)
        return outcome

    def _step(self, scenario: Scenario, step: Step, state: ScenarioState, kind: str) -> StepResult:
        context = {**state.variables, **step.variables}
        name = self._render_name(step, context)
        result = StepResult(name=name, kind=kind)
        if state.broken:
            return self._skip(result, step, state.broken)
        if step.feature and step.feature in state.declined:
            return self._skip(result, step, state.declined[step.feature], not_supported=True)
        if step.wait is not None:
            return self._wait(scenario, step, state, result, context)
        exchange_started = time.monotonic()
        try:
            exchange = self._send(step, context)
        except TemplateProblem as exc:
            state.broken = f"step '{name}' could not be built: {exc}"
            return self._skip(result, step, state.broken)
        result.exchange = exchange
        state.last_sent = exchange_started
        self._track(exchange, state)
        response = exchange.response
        if response is None:
            message = exchange.error or "no response"
            result.checks = [self._outcome(e, Status.ERROR, message) for e in step.expect]
            state.broken = f"step '{name}' got no response: {message}"
            self.observer.step_finished(scenario, result)
            return result
        if step.feature and response.status in step.declines:
            path = urlsplit(exchange.request.url).path
            reason = (f"{step.feature}: not offered by the server ({exchange.request.method} {path} answered "
                      f"{response.status} {response.reason})")
            state.declined[step.feature] = reason
            return self._skip(result, step, reason, not_supported=True)
        ctx = CheckContext(exchange.request, response, self.schemas, self.base_url)
        listed = {e.rule.id for e in step.expect}
        # gates first: if the status or body shape is wrong, body checks would only echo that
        ordered = sorted(step.expect, key=lambda e: not e.rule.gate)
        blocked: str | None = None
        shape_failed = False
        for expectation in ordered:
            if blocked:
                result.checks.append(self._outcome(expectation, Status.SKIPPED, blocked))
                continue
            outcome = self._evaluate(expectation, ctx, context)
            result.checks.append(outcome)
            if expectation.rule.gate and outcome.status in (Status.FAILED, Status.ERROR):
                blocked = f"not evaluated: {outcome.rule_id} failed ({outcome.message[:120]})"
                # a wrong 2xx (200 for 201) still carries the lead; an error status or shape does not
                shape_failed = not 200 <= response.status < 300 or expectation.rule.check is not status_in
        if response.body.strip() and self.profile != "official":  # the official kit checks no media type
            for rule in AUTO_RULES:
                if rule.id not in listed:
                    auto = Expectation(rule, rule.level, dict(rule.defaults))
                    result.checks.append(self._evaluate(auto, ctx, context))
        if shape_failed and step.save:
            # a 4xx/5xx or a body of the wrong shape is no lead to build later steps on
            state.broken = f"step '{name}' failed ({blocked}); its values were not saved"
        else:
            self._save(step, ctx, state, result)
        self.observer.step_finished(scenario, result)
        return result

    def _wait(self, scenario: Scenario, step: Step, state: ScenarioState, result: StepResult,
              context: dict[str, Any]) -> StepResult:
        """Wait for the notification the previous request should have caused (or for its absence)."""
        assert step.wait is not None and self.listener is not None
        try:
            subscription = str(render(step.wait.subscription, context))
            about = render(step.wait.about, context) if step.wait.about else None
        except TemplateProblem as exc:
            state.broken = f"step '{result.name}' could not be built: {exc}"
            return self._skip(result, step, state.broken)
        callback = urlsplit(subscription)
        since, sub_path, wanted, absent = state.last_sent, callback.path.rstrip("/"), step.wait.type, step.wait.absent

        def mine(event: ReceivedEvent) -> bool:
            path = event.path.rstrip("/")
            return (not event.claimed and event.received_at >= since
                    and (path == sub_path or path.startswith(sub_path + "/listener/")))

        def pick(events: list[ReceivedEvent]) -> ReceivedEvent | None:
            candidates = [e for e in events if mine(e) and (about is None or e.lead_id() in (about, None))]
            exact = [e for e in candidates if wanted is None or e.is_type(wanted)]
            if exact or absent:
                return exact[0] if exact else None
            # an event about this lead of another type: report it as the wrong eventType
            return next((e for e in candidates if e.lead_id() == about), None)

        timeout = self.notifications.quiet_period if absent else self.notifications.event_timeout
        event = self.listener.wait_for(pick, timeout)
        what = f"{wanted or 'event'}{f' about lead {about}' if about else ''}"
        if event is None:
            if absent:
                result.checks = [self._outcome(e, Status.PASSED, f"no {what} within {timeout:g} s")
                                 for e in step.expect]
            else:
                received = len(self.listener.events)
                message = (f"no {what} arrived at {subscription} within {timeout:g} s "
                           f"({received} event(s) received by the listener in all)")
                result.checks = [
                    self._outcome(e, Status.FAILED, message) if e.rule.check is event_arrived
                    else self._outcome(e, Status.SKIPPED, f"not evaluated: {message}")
                    for e in step.expect
                ]
            result.skipped_reason = None
            self.observer.step_finished(scenario, result)
            return result
        latency = round((event.received_at - since) * 1000, 2)
        body = self.config.redactor.text(event.body)
        # recorded: the server's POST to the listener and the listener's 201 (latency as its time)
        result.exchange = Exchange(
            request=HttpRequest("POST", f"{callback.scheme}://{callback.netloc}{event.path}",
                                self.config.redactor.headers(event.headers), body),
            response=HttpResponse(201, "Created (kit listener)", "HTTP/1.1", [], "", len(event.body.encode()),
                                  latency),
            started_at=event.wall_time,
        )
        # checked: the notification itself, as the message under test
        notification = HttpResponse(201, "Created", "HTTP/1.1", result.exchange.request.headers, body,
                                    len(event.body.encode()), latency)
        ctx = CheckContext(result.exchange.request, notification, self.schemas, self.base_url)
        result.checks = [self._evaluate(e, ctx, context) for e in step.expect]
        self.observer.step_finished(scenario, result)
        return result

    def _render_name(self, step: Step, context: dict[str, Any]) -> str:
        try:
            return str(render(step.name, context))
        except TemplateProblem:
            return step.name

    def _send(self, step: Step, context: dict[str, Any]) -> Exchange:
        req = step.request
        assert req is not None  # the scenario schema requires a request or a wait_event
        rendered_url = render(req.url, context) if req.url is not None else None
        url = build_url(self.base_url, render(req.path, context), rendered_url, render(req.query, context))
        if rendered_url is not None and urlsplit(url)[:2] != self._origin:
            # never send the user's credentials to an origin they did not configure
            raise TemplateProblem(f"refusing to follow {url!r}: it is outside the configured base URL's origin")
        return send(
            self.client, req.method, url,
            redactor=self.config.redactor, health=self.health,
            headers=render(req.headers, context),
            json_body=render(req.json, context) if req.json is not NO_BODY else None,
            raw_body=req.body, content_type=req.content_type,
        )

    def _evaluate(self, expectation: Expectation, ctx: CheckContext, context: dict[str, Any]) -> CheckResult:
        rule = expectation.rule
        try:
            args = render(expectation.args, context)
        except TemplateProblem as exc:
            return self._outcome(expectation, Status.SKIPPED, f"cannot evaluate: {exc}")
        try:
            note = rule.check(ctx, **args)
        except CheckFailed as exc:
            return self._outcome(expectation, Status.FAILED, str(exc))
        except CheckInconclusive as exc:
            return self._outcome(expectation, Status.SKIPPED, f"inconclusive: {exc}")
        except Exception as exc:  # a check must never crash the run; report it as an error
            return self._outcome(expectation, Status.ERROR, f"internal error in the check: {exc!r}")
        return self._outcome(expectation, Status.PASSED, note or "")

    def _outcome(self, expectation: Expectation, status: Status, message: str,
                 not_supported: bool = False) -> CheckResult:
        rule = expectation.rule
        level = expectation.level
        if self.notifications.mode == "mandatory" and rule.id.startswith("TMF699-EVENT-"):
            level = Level.MANDATORY  # --notifications mandatory: delivery is required
        return CheckResult(rule.id, rule.title, level, rule.family, status, message, rule.hint, not_supported)

    def _skip(self, result: StepResult, step: Step, reason: str, not_supported: bool = False) -> StepResult:
        result.skipped_reason = reason
        result.checks = [self._outcome(e, Status.SKIPPED, reason, not_supported) for e in step.expect]
        return result

    def _save(self, step: Step, ctx: CheckContext, state: ScenarioState, result: StepResult) -> None:
        for name, source in step.save.items():
            try:
                if isinstance(source, dict):
                    value = ctx.response.header(source["header"])
                    if value is None:
                        raise KeyError(f"no {source['header']} header")
                else:
                    value = jsonpath.get(ctx.json(), source)
            except (KeyError, CheckFailed) as exc:
                state.broken = f"step '{result.name}' could not save {name!r}: {str(exc).strip(chr(39))}"
                return
            state.variables[name] = value
            result.saved.append(name)

    # -- resources the run created -------------------------------------------------------------

    def _track(self, exchange: Exchange, state: ScenarioState) -> None:
        response, request = exchange.response, exchange.request
        if response is None:
            return
        url = request.url.split("?", 1)[0].rstrip("/")
        if request.method == "POST" and 200 <= response.status < 300:
            try:
                body = json.loads(response.body)
            except ValueError:
                return
            if isinstance(body, list) and len(body) == 1:
                body = body[0]
            if isinstance(body, dict) and isinstance(body.get("id"), str) and body["id"]:
                state.tracked[f"{url}/{body['id']}"] = body["id"]
        elif request.method == "DELETE" and response.status in _GONE:
            state.tracked.pop(url, None)

    def _cleanup(self, state: ScenarioState) -> list[Exchange]:
        done = []
        for url in list(state.tracked):
            done.append(send(self.client, "DELETE", url, redactor=self.config.redactor, health=self.health))
            state.tracked.pop(url)
        return done

