"""Execute a plan: scenarios concurrently (the steps of one in order), every exchange recorded,
every created resource in a ledger and deleted, interruptions honoured.

Pure: no file or console work. The CLI, the self-check and the pytest plugin compose
``execute`` with saving and rendering. Secrets are not masked here: checks see the real values,
and masking happens when results are written or shown.
"""

from __future__ import annotations

import re
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urljoin, urlsplit

import httpx

from . import SPEC_NAME, __version__
from . import _jsonpath as jsonpath
from ._checks import CheckContext, CheckFailed, CheckInconclusive, EventContext
from ._compare import patch_differences, short
from ._config import LazyPayloads, check_payload_templates
from ._http import (
    INTERRUPTED,
    KEPT_PREFIX,
    NOT_SENT,
    LargeBodyPermit,
    TargetHealth,
    build_client,
    build_url,
    outside_base,
    send,
)
from ._listener import Listener, ReceivedEvent
from ._plan import Plan
from ._results import (
    KIT_ERROR,
    CheckResult,
    Exchange,
    HttpRequest,
    HttpResponse,
    Leftover,
    Level,
    RunResult,
    ScenarioResult,
    Status,
    StepResult,
    is_blocking,
)
from ._rule_args import argument_problems
from ._rules import ACCEPTED_RULE, BY_ID, EFFECT_RULES, Gate
from ._safejson import loads as load_json
from ._scenarios import NO_BODY, Expectation, Scenario, Step
from ._settings import NotificationMode, Settings
from ._templating import TemplateProblem, render, render_path


class _ScenarioFault(Exception):
    """The scenario itself is wrong at this step (a template or JSON path problem the author made)."""


# statuses after which a resource no longer needs cleaning up
_GONE = {200, 202, 204, 404, 410}
MATCHED_PREFIX = 8192  # characters of a header a `save ... matches` pattern searches
GROUP_WORKERS = 10  # requests of one concurrent block sent at the same time (N2's ten reads in one round)
# a scenario waiting out quiet periods gives its place to another only when the wait is longer
PLACE_WORTH_GIVING = 0.05
# response bodies a run keeps whole in its results: this many times --max-body (the memory bound)
EVIDENCE_BUDGET_FACTOR = 2
# values saved from large answers for later steps, alive while their scenario runs: this many times
SAVED_BUDGET_FACTOR = 2
KEPT_HEADERS = 100  # headers kept of a response beyond the evidence budget


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Refused(Exception):
    """The kit will not send a request: its URL is not under the base URL (the message says why
    and names the server-provided value that led there)."""

    def __init__(self, message: str, exchange: Exchange) -> None:
        super().__init__(message)
        self.exchange = exchange


class CancelToken:
    """Set by a signal handler (or Ctrl-C): the first request stops the run and cleans up; a
    second one skips what is left of the cleanup. Results are written in both cases."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.skip_cleanup = threading.Event()
        self.reason: str | None = None
        self.stopped_at: float | None = None  # time.monotonic() of the first request to stop
        # a signal handler runs on the main thread, maybe while that thread is in cancel() already
        self._lock = threading.RLock()

    def cancel(self, reason: str) -> None:
        with self._lock:
            if self.stop.is_set():
                self.skip_cleanup.set()
            else:
                self.reason = reason
                self.stopped_at = time.monotonic()
                self.stop.set()

    def expire(self, reason: str) -> None:
        """The run's time limit: stop it, unless it is stopping already (the limit never skips a
        cleanup that an interruption started)."""
        with self._lock:
            if not self.stop.is_set():
                self.cancel(reason)

    @property
    def cancelled(self) -> bool:
        return self.stop.is_set()


class _Slots:
    """The places of the scenarios that run at once (``--workers``). A scenario that only waits for
    its quiet periods to pass gives its place back, and one coming back from such a wait goes
    before any scenario not yet started."""

    def __init__(self, count: int) -> None:
        self._free = count
        self._returning = 0
        self._changes = 0
        self._cond = threading.Condition()

    def take(self) -> bool:
        """A place for a scenario not yet started, if one is free and nobody is coming back."""
        with self._cond:
            if self._free > 0 and self._returning == 0:
                self._free -= 1
                return True
            return False

    def give(self) -> None:
        with self._cond:
            self._free += 1
            self._changes += 1
            self._cond.notify_all()

    def poke(self, *_: object) -> None:
        """Wake the scheduler (a scenario's future is done)."""
        with self._cond:
            self._changes += 1
            self._cond.notify_all()

    def take_back(self, stop: threading.Event) -> bool:
        """Wait for a place again; False (and none taken) once the run is being stopped."""
        with self._cond:
            self._returning += 1
            try:
                while self._free == 0:
                    if stop.is_set():
                        return False
                    self._cond.wait(0.1)
                self._free -= 1
                return True
            finally:
                self._returning -= 1
                if self._returning == 0 and self._free > 0:  # new scenarios may have a place again
                    self._changes += 1
                    self._cond.notify_all()

    def changes(self) -> int:
        with self._cond:
            return self._changes

    def wait_change(self, seen: int, timeout: float) -> None:
        """Until a place is given (or ``timeout``): the scheduler's wake-up."""
        with self._cond:
            if self._changes == seen:
                self._cond.wait(timeout)


class RunObserver:
    """Receives progress as it happens (from worker threads); the console implements it."""

    def run_started(self, plan: Plan) -> None: ...

    def scenario_started(self, scenario: Scenario, index: int, total: int) -> None: ...

    def step_finished(self, scenario: Scenario, step: StepResult) -> None: ...

    def scenario_finished(self, result: ScenarioResult) -> None: ...

    def cleanup_started(self, pending: int) -> None: ...


# -- the ledger of what the run created -----------------------------------------------------------


@dataclass
class Created:
    """A POST that may have created a resource."""

    collection: str  # the URL the POST went to
    scenario: str
    name: str | None  # the unique name sent, to find it again when the answer was lost
    id: str | None = None
    state: str = "in flight"  # in flight | created | unknown | absent | deleted | leftover
    reason: str = ""

    @property
    def url(self) -> str | None:
        return f"{self.collection}/{quote(self.id, safe='')}" if self.id else None


class Ledger:
    """Every POST that may have created something, until it is confirmed deleted (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: list[Created] = []

    def sending(self, collection: str, scenario: str, name: str | None) -> Created:
        entry = Created(collection, scenario, name)
        with self.lock:
            self.entries.append(entry)
        return entry

    def answered(self, entry: Created, exchange: Exchange, reached: bool = True) -> None:
        """Record the POST's answer (``reached``: False when the request never got to the server)."""
        response = exchange.response
        with self.lock:
            if response is None and not reached:
                entry.state = "absent"  # refused, not resolved, not sent: nothing can have been created
            elif response is None:
                entry.state, entry.reason = "unknown", f"the POST got no answer ({exchange.error})"
            elif 200 <= response.status < 300:
                rid = _created_id(response.body) if not response.truncated else None
                if rid is not None:
                    entry.id, entry.state = rid, "created"
                else:
                    entry.state = "unknown"
                    entry.reason = f"the {response.status} answer carries no id"
                    if response.truncated:
                        why = exchange.error or "larger than --max-body"
                        entry.reason = f"the {response.status} answer's body was incomplete ({why})"
            elif response.status >= 500:
                entry.state, entry.reason = "unknown", f"the POST answered {response.status}"
            else:
                entry.state = "absent"  # refused: nothing was created

    def identify(self, collection: str, name: str | None, rid: str) -> None:
        """A POST answered 202 without an id: the resource it created was found by polling."""
        with self.lock:
            for entry in self.entries:
                if entry.state == "unknown" and entry.collection == collection and entry.name == name:
                    entry.id, entry.state, entry.reason = rid, "created", ""
                    return

    def moved(self, url: str, rid: str) -> None:
        """The server took a new id for the resource at ``url``: the cleanup deletes it where it now is."""
        with self.lock:
            for entry in self.entries:
                if entry.url and _same_resource(entry.url, url) and entry.state == "created":
                    entry.id = rid

    def deleted(self, url: str) -> None:
        with self.lock:
            for entry in self.entries:
                if entry.url and _same_resource(entry.url, url):
                    entry.state = "deleted"

    def open(self, scenario: str | None = None) -> list[Created]:
        with self.lock:
            return [e for e in self.entries if e.state in ("in flight", "created", "unknown")
                    and (scenario is None or e.scenario == scenario)]


def _same_resource(a: str, b: str) -> bool:
    return a.split("?", 1)[0].rstrip("/") == b.split("?", 1)[0].rstrip("/")


def _created_id(body: str) -> str | None:
    try:
        data = load_json(body)
    except ValueError:
        return None
    if isinstance(data, list) and len(data) == 1:
        data = data[0]
    rid = data.get("id") if isinstance(data, dict) else None
    return rid if isinstance(rid, str) and rid else None


# -- per-scenario state ---------------------------------------------------------------------------


@dataclass
class ScenarioState:
    """Everything one scenario run knows: saved values, declined features, whether it is broken."""

    variables: dict[str, Any]
    callback: str | None = None
    broken: str | None = None
    declined: dict[str, str] = field(default_factory=dict)  # feature -> reason
    last_sent: float = 0.0  # monotonic time of the latest request: events must arrive after it
    # the latest request, when it was a write that promised an effect (`accepted:`) and was answered 2xx:
    # what the event awaited next follows from (its effect is verified when the event does not come)
    last_write: tuple[str, Exchange] | None = None
    events_seen: int = 0  # events this scenario's subscriptions received
    collected: dict[str, dict[int, Any]] = field(default_factory=dict)
    # `absent` waits judged once the steps are done: (the step's result, the judgement)
    deferred: list[tuple[Step, StepResult, Callable[[], None]]] = field(default_factory=list)
    discarded: list[Exchange] = field(default_factory=list)  # deletes of leads a reduce probe created
    kept: dict[tuple[str, int | None], int] = field(default_factory=dict)  # memory of large saved values
    failed: bool = False  # a blocking check of the scenario failed, in plan order: what skipped checks follow from
    # the failure standing for what an answer lacked, per step result; kept in plan order (see _in_order)
    unexplained: dict[int, tuple[StepResult, CheckResult]] = field(default_factory=dict)
    # resource URL -> why it is no longer there: a PATCH of its read-only id was taken (reported by the
    # rule expecting the refusal); a 404 there later is that one cause, not a finding of its own
    moved: dict[str, str] = field(default_factory=dict)
    window_end: float = 0.0  # monotonic time the last `absent` window closes
    # the longest a notification this scenario waited for took to arrive after the request that caused
    # it: an absence is watched that much longer than the quiet period (see _wait)
    slowest_event: float = 0.0
    index: int = -1  # the scenario's place in the plan
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


class Runner:
    def __init__(
        self,
        plan: Plan,
        settings: Settings,
        client: httpx.Client,
        base_url: str,
        *,
        listener: Listener | None = None,
        observer: RunObserver | None = None,
        cancel: CancelToken | None = None,
    ) -> None:
        self.plan = plan
        self.settings = settings
        self.client = client
        self.base_url = base_url.rstrip("/")
        self.listener = listener
        self.observer = observer or RunObserver()
        self.cancel = cancel or CancelToken()
        self.health = TargetHealth(proxy=settings.target.proxy)
        self.ledger = Ledger()
        self.run_id = uuid.uuid4().hex[:8]
        self.n = settings.notifications
        check_payload_templates(plan.payloads, {"run_id": self.run_id})  # fail fast on a broken payload template
        self._evidence_budget = EVIDENCE_BUDGET_FACTOR * settings.target.max_body
        self._retained = 0  # memory of the answers kept whole in the results
        self._saved_budget = SAVED_BUDGET_FACTOR * settings.target.max_body
        self._saved = 0  # memory of the large values the running scenarios saved
        self._retained_lock = threading.Lock()
        self._step_local = threading.local()  # the large-body permit of the step this thread runs
        # attributes a server rejected (see _reduce), so that other scenarios need not search again
        self._rejected: dict[tuple[str, str, frozenset[str]], tuple[str, ...]] = {}
        self._rejected_lock = threading.Lock()
        # every scenario that holds a place may send a whole block at once
        self._groups = ThreadPoolExecutor(max_workers=max(1, settings.run.workers) * GROUP_WORKERS,
                                          thread_name_prefix="tmf699ctk-group")
        self._slots = _Slots(max(1, settings.run.workers))
        # exclusive scenarios that have ended their exclusive part (`shared` steps, cleanup), by index
        self._released: set[int] = set()
        self._released_lock = threading.Lock()
        # exclusive scenarios whose steps are all done (judged, quiet periods over) and not finished: in
        # teardown or cleanup, which need no place. index -> group. The next exclusive group may start and
        # write meanwhile, and reads only once they are done (_await_isolation)
        self._finishing: dict[int, str] = {}
        self._finished = threading.Condition(self._released_lock)

    # -- whole run ---------------------------------------------------------------------------

    def run(self, target_info: dict[str, Any] | None = None) -> RunResult:
        plan = self.plan
        result = RunResult(
            tool={"name": "tmf699ctk", "version": __version__},
            spec={"name": SPEC_NAME, "version": plan.api_version, "schemas": plan.schemas.spec},
            target={"base_url": self.base_url, "run_id": self.run_id, **(target_info or {})},
            profile=plan.profile.value,
            started_at=_now(),
            metadata=dict(self.settings.report),
            scope=dict(plan.scope),
        )
        started = time.perf_counter()
        self.observer.run_started(plan)
        outcomes: dict[int, ScenarioResult] = {}
        limit = self.settings.run.max_time
        timer = None
        if limit is not None:  # past it, the run stops as an interrupted one does: cleanup, results
            timer = threading.Timer(limit, self.cancel.expire, (f"the run reached its time limit of {limit:g} s "
                                                                  "(--max-time)",))
            timer.daemon = True
            timer.start()
        try:
            try:
                self._schedule(outcomes)
            finally:
                self._groups.shutdown(wait=False, cancel_futures=True)
            result.scenarios = [outcomes[i] for i in sorted(outcomes)]
            # the limit bounds the final cleanup too: a stop during it bounds what is left of it by the
            # cleanup budget (_stop_bound)
            self._final_sweep(result)
        finally:
            if timer is not None:
                timer.cancel()
        if self.cancel.cancelled:
            result.aborted = True
            result.abort_reason = self.cancel.reason
        result.unreachable = self.health.unreachable
        if self.listener is not None:
            result.notifications = self._notification_facts()
        result.ended_at = _now()
        result.duration_ms = round((time.perf_counter() - started) * 1000, 1)
        result.scope["started_at"], result.scope["ended_at"] = result.started_at, result.ended_at
        result.finish()
        return result

    def _schedule(self, outcomes: dict[int, ScenarioResult]) -> None:
        """Independent scenarios run at once (up to ``workers`` of them sending requests; one that only
        waits for a quiet period to end gives its place to the next); an exclusive one runs alone."""
        # scenarios that only read and exclusive ones first; then the longest first, so that the last
        # to finish is not one started late (results keep the plan's order whatever the schedule)
        shared = frozenset(s.exclusive for s in self.plan.scenarios if s.exclusive and s.shared_from is not None)
        scenarios = sorted(enumerate(self.plan.scenarios), key=lambda item: _schedule_key(item[1], shared))
        running: dict[Future[None], tuple[int, Scenario]] = {}
        # a thread for every scenario that may be in flight: those waiting out a quiet period hold
        # one but no place. Not a `with` block: after an interruption, a request stuck on the server
        # must not hold the run
        pool = ThreadPoolExecutor(max_workers=max(1, len(scenarios)), thread_name_prefix="tmf699ctk-scenario")
        try:
            while (scenarios or running) and not self.cancel.cancelled:
                seen = self._slots.changes()
                while scenarios and not self.cancel.cancelled:
                    index, scenario = scenarios[0]
                    if not self._may_start(scenario, running):
                        break  # in the plan's order: nobody overtakes a scenario that waits
                    if not self._slots.take():
                        break
                    scenarios.pop(0)
                    outcome = self._new_outcome(scenario)
                    outcomes[index] = outcome
                    self.observer.scenario_started(scenario, index, len(self.plan.scenarios))
                    future = pool.submit(self._run_scenario, scenario, index, outcome)
                    future.add_done_callback(self._slots.poke)
                    running[future] = (index, scenario)
                for future in [f for f in running if f.done()]:
                    running.pop(future)
                    future.result()  # _run_scenario never raises; a bug here should be loud
                if running and not any(f.done() for f in running):
                    self._slots.wait_change(seen, 0.2)  # a scenario ending or waiting gives a place
        except KeyboardInterrupt:
            self.cancel.cancel("interrupted by the user (Ctrl-C)")
        if running:
            self._drain(running)
        pool.shutdown(wait=not running, cancel_futures=True)

    def _may_start(self, scenario: Scenario, running: dict[Future[None], tuple[int, Scenario]]) -> bool:
        """An exclusive scenario starts only with its own group (and scenarios that only read: they
        change nothing it could see); the others once every exclusive scenario still running has
        ended its exclusive part."""
        with self._released_lock:
            if scenario.exclusive:
                # another group's scenario in its teardown or cleanup only deletes its own resources: this
                # one may start writing, and waits for it to end before its first read (_await_isolation).
                # Not before (a scenario in its shared part may give its place while it waits for a quiet
                # period, and take one back later: one waiting here would hold it)
                return all(other.exclusive == scenario.exclusive or _reads_only(other)
                           or index in self._finishing for index, other in running.values())
            if _reads_only(scenario):
                return True
            return all(not other.exclusive or index in self._released for index, other in running.values())

    def _await_isolation(self, scenario: Scenario) -> None:
        """Before an exclusive scenario's first read: wait until the exclusive scenarios of other groups
        that were ending when it started (their cleanup deletes leads a list would show) have ended."""
        with self._finished:
            while any(group != scenario.exclusive for group in self._finishing.values()) \
                    and not self.cancel.cancelled:
                self._finished.wait(0.1)

    def _finish(self, index: int) -> None:
        with self._finished:
            if self._finishing.pop(index, None) is not None:
                self._finished.notify_all()

    def _release(self, scenario: Scenario, state: ScenarioState, *, finishing: bool = False) -> None:
        """The exclusive part of ``scenario`` is over: other scenarios may start (wakes the scheduler);
        ``finishing``: all that is left is its teardown and cleanup."""
        if not scenario.exclusive:
            return
        with self._released_lock:
            known = state.index in self._released and (not finishing or state.index in self._finishing)
            self._released.add(state.index)
            if finishing:
                self._finishing[state.index] = scenario.exclusive
        if not known:
            self._slots.poke()

    def _drain(self, running: dict[Future[None], tuple[int, Scenario]]) -> None:
        """After an interruption: give in-flight requests a moment to finish, never longer than
        half the cleanup budget (their scenarios' steps so far are kept either way)."""
        deadline = time.monotonic() + self.settings.run.cleanup_timeout / 2
        while running and time.monotonic() < deadline and not self.cancel.skip_cleanup.is_set():
            try:
                done, _ = wait(running, timeout=0.1)
            except KeyboardInterrupt:
                self.cancel.cancel("interrupted by the user (Ctrl-C)")
                continue
            for future in done:
                running.pop(future)

    def _retain(self, exchange: Exchange | None) -> None:
        """Keep response bodies in the results within the run's evidence budget; beyond it, a body
        the checks have already seen is kept as a prefix and marked truncated (``size`` says how
        much came)."""
        response = exchange.response if exchange is not None else None
        if response is None:
            return
        # memory, not characters (one emoji makes a text 4 bytes a character); a header costs far more
        # as Python objects, copied on the way to the files, than as text: ~250 bytes each on top
        cost = sys.getsizeof(response.body) + sum(len(k) + len(v) + 250 for k, v in response.headers)
        with self._retained_lock:
            if self._retained + cost <= self._evidence_budget or cost <= KEPT_PREFIX:
                self._retained += cost
                return
        response.body = response.body[:KEPT_PREFIX]
        response.headers = response.headers[:KEPT_HEADERS]
        response.truncated = True

    def _keep(self, state: ScenarioState, key: tuple[str, int | None], value: Any) -> bool:
        """Count a saved value from a large answer against the run's memory budget (the value it
        replaces is refunded); False, and nothing counted, when it does not fit."""
        with self._retained_lock:
            previous = state.kept.get(key, 0)
            room = self._saved_budget - self._saved + previous
            cost = _footprint(value, room)
            if cost > room:
                return False
            self._saved += cost - previous
            state.kept[key] = cost
        return True

    def _release_kept(self, state: ScenarioState) -> None:
        with self._retained_lock:
            self._saved -= sum(state.kept.values())
            state.kept.clear()

    def _new_outcome(self, scenario: Scenario) -> ScenarioResult:
        return ScenarioResult(id=scenario.id, title=scenario.title, file=scenario.file, tags=list(scenario.tags),
                              description=scenario.description, started_at=_now())

    def _notification_facts(self) -> dict[str, Any]:
        assert self.listener is not None
        events = self.listener.events
        with self.ledger.lock:
            owner = {e.id: e.scenario for e in self.ledger.entries if e.id}

        def foreign(event: ReceivedEvent) -> bool:
            lead, subscriber = event.lead_id(), self._subscriber(event.path)
            return event.refused is None and isinstance(lead, str) and lead in owner \
                and subscriber is not None and owner[lead] != subscriber

        # events about other scenarios' leads depend on timing (scenarios run concurrently): they
        # are counted, not listed, so that results do not depend on the number of workers
        own = [e for e in events if not foreign(e)]
        return {
            "mode": self.n.mode.value, "callback_url": self.listener.callback_url, "listen": self.listener.listen,
            "received": len(own),
            "about_other_scenarios": len(events) - len(own),
            "unclaimed": [{"path": e.path, "eventType": e.event_type(), "lead": e.lead_id(),
                           "received_at": e.wall_time, "reason": e.refused or "no step waited for it"}
                          for e in own if not e.claimed],
        }

    def _subscriber(self, path: str) -> str | None:
        """The scenario whose subscription path received an event (``.../<token>/s<index>/...``)."""
        assert self.listener is not None
        rest = path[len(self.listener.base_path):].strip("/").split("/", 1)[0] if path.startswith(
            self.listener.base_path) else ""
        if rest.startswith("s") and rest[1:].isdigit() and int(rest[1:]) < len(self.plan.scenarios):
            return self.plan.scenarios[int(rest[1:])].id
        return None

    # -- one scenario --------------------------------------------------------------------------

    def _run_scenario(self, scenario: Scenario, index: int, outcome: ScenarioResult) -> None:
        started = time.perf_counter()
        state: ScenarioState | None = None
        placed = True  # the scheduler took this scenario's place
        try:
            state = self._state(scenario, index)
            self._run_steps(scenario, scenario.steps, state, outcome, "step")
            # the windows close later by the slowest event delivery seen (see _judge_absence)
            window_end = state.window_end + min(state.slowest_event, self.n.event_timeout)
            if state.deferred and window_end - time.monotonic() > PLACE_WORTH_GIVING:
                # nothing left to send until its quiet periods end: another scenario may
                self._slots.give()
                placed = False
                self._settle(scenario, state)
                placed = self._slots.take_back(self.cancel.stop)
            else:
                self._settle(scenario, state)
            # teardown and cleanup only touch the scenario's own resources
            self._release(scenario, state, finishing=True)
            state.broken = None  # teardown always runs
            self._run_steps(scenario, scenario.teardown, state, outcome, "teardown")
            if not self.cancel.cancelled:  # after an interruption the run sweeps the ledger itself
                outcome.cleanup.extend(self._cleanup(self.ledger.open(scenario.id)))
            outcome.cleanup.extend(state.discarded)
        except Exception as exc:  # never lose a scenario's evidence to a kit bug, nor let it pass unseen
            message = f"internal error: {type(exc).__name__}: {str(exc)[:300]}"
            outcome.steps.append(StepResult(name="(scenario error)", skipped_reason=message,
                                            scenario_error=f"{KIT_ERROR}: {message}"))
        finally:
            self._finish(index)
            if state is not None:
                self._release_kept(state)  # its saved values die with it
            outcome.duration_ms = round((time.perf_counter() - started) * 1000, 1)
            self.observer.scenario_finished(outcome)
            if placed:
                self._slots.give()

    def _state(self, scenario: Scenario, index: int) -> ScenarioState:
        # each scenario has its own run_id, so its resources' names match no other scenario's; payloads
        # are rendered by each step that uses them (LazyPayloads), with the values saved so far
        run_id = f"{self.run_id}-{index}"
        variables: dict[str, Any] = {"run_id": run_id, "base_url": self.base_url}
        state = ScenarioState(variables=variables, index=index)
        if self.listener is not None:
            # one listener for the run; each scenario's subscriptions live under their own path
            state.callback = f"{self.listener.callback_url}/s{index}"
            variables["callback_url"] = state.callback
        elif "notifications" in scenario.requires:
            state.broken = f"notifications are {self.n.mode.value}: no listener, so no hub or event test"
        return state

    def _run_steps(self, scenario: Scenario, steps: tuple[Step, ...], state: ScenarioState,
                   outcome: ScenarioResult, kind: str) -> None:
        i = 0
        isolated = not (kind == "step" and scenario.exclusive)
        while i < len(steps):
            if self.cancel.cancelled:
                return
            step = steps[i]
            group = [step] if step.group is None else [s for s in steps[i:] if s.group == step.group]
            if not isolated and not all(_writes(s) for s in group):
                self._await_isolation(scenario)
                isolated = True
                if self.cancel.cancelled:
                    return
            if kind == "step" and scenario.shared_from is not None and i + len(group) > scenario.shared_from:
                self._release(scenario, state)
            if step.group is None:
                outcome.steps.extend(self._in_order(state, self._guarded(scenario, step, state, kind)))
                i += 1
                continue
            # the steps of a block are sent together: what stops one is what stood before the block,
            # not what a sibling met meanwhile (which would depend on which finished first)
            with state.lock:
                before = (state.broken, dict(state.declined))
            futures = self._send_block(group, before, scenario, state, kind)
            # in plan order, whatever finished first
            outcome.steps.extend(self._in_order(state, [r for f in futures for r in f.result()]))
            i += len(group)

    def _send_block(self, group: list[Step], before: tuple[str | None, dict[str, str]], scenario: Scenario,
                    state: ScenarioState, kind: str) -> list[Future[list[StepResult]]]:
        """The steps of a block, at most GROUP_WORKERS of them in flight (each block has its own
        allowance: a scenario's block never waits for another scenario's)."""
        allowance = threading.BoundedSemaphore(GROUP_WORKERS)
        futures: list[Future[list[StepResult]]] = []
        for step in group:
            allowance.acquire()
            future = self._groups.submit(self._in_block, before, scenario, step, state, kind)
            future.add_done_callback(lambda _: allowance.release())
            futures.append(future)
        return futures

    def _in_block(self, before: tuple[str | None, dict[str, str]], scenario: Scenario, step: Step,
                  state: ScenarioState, kind: str) -> list[StepResult]:
        self._step_local.before = before
        try:
            return self._guarded(scenario, step, state, kind)
        finally:
            self._step_local.before = None

    @staticmethod
    def _in_order(state: ScenarioState, results: list[StepResult]) -> list[StepResult]:
        """Decide, in plan order (not in the order a concurrent block finished), whether what an
        answer lacked is the scenario's first failure: only then is it reported (see _unexplained)."""
        with state.lock:
            for result in results:
                pending = state.unexplained.pop(id(result), None)
                if pending is not None and pending[0] is result and not state.failed:
                    result.checks.append(pending[1])
                if any(is_blocking(c) for c in result.checks):
                    state.failed = True
        return results

    def _guarded(self, scenario: Scenario, step: Step, state: ScenarioState, kind: str) -> list[StepResult]:
        """One error boundary per step: whatever happens, the step is recorded with a reason (after
        the attempts a negotiating or reducing step made before it, and before the record of the
        polling that followed a 202 Accepted answer)."""
        attempts: list[StepResult] = []
        results: list[StepResult] = []
        # held from a large body's arrival until the step is evaluated (see LargeBodyPermit)
        self._step_local.permit = permit = LargeBodyPermit()
        try:
            outcome = self._step(scenario, step, state, kind, attempts)
            results = outcome if isinstance(outcome, list) else [outcome]
        except Exception as exc:
            result = StepResult(name=step.name, kind=kind)
            message = f"internal error while executing the step: {type(exc).__name__}: {str(exc)[:300]}"
            result.checks = [self._outcome(e, Status.ERROR, message) for e in step.expect if not e.auto]
            with state.lock:
                state.broken = state.broken or f"step '{step.name}' failed: {message}"
            results = [result]
        finally:
            for done in (*attempts, *results):
                self._retain(done.exchange)  # trimmed before the permit lets another large body in
            self._step_local.permit = None
            permit.release()
        for attempt in attempts:
            self.observer.step_finished(scenario, attempt)
        for result in results:
            if not any(pending is result for _, pending, _ in state.deferred):  # told once it is judged
                self.observer.step_finished(scenario, result)
        return [*attempts, *results]

    def _settle(self, scenario: Scenario, state: ScenarioState) -> None:
        """Judge the absences the scenario watched for, once each one's window has passed."""
        while state.deferred:
            step, result, judge = state.deferred.pop(0)
            try:
                judge()
            except Exception as exc:  # the same error boundary as a step
                message = f"internal error while judging the step: {type(exc).__name__}: {str(exc)[:300]}"
                result.checks = [self._outcome(e, Status.ERROR, message) for e in step.expect]
            self.observer.step_finished(scenario, result)

    def _step(self, scenario: Scenario, step: Step, state: ScenarioState, kind: str,
              attempts: list[StepResult]) -> StepResult | list[StepResult]:
        context = {**state.variables, **step.variables}
        context["payloads"] = LazyPayloads(self.plan.payloads, context)
        name = self._render_name(step, context)
        result = StepResult(name=name, kind=kind)
        if self.health.unreachable:  # the cause of everything that follows: said once, the same way
            return self._skip(result, step, f"not sent: the target is unreachable ({self.health.unreachable})")
        broken, declined = getattr(self._step_local, "before", None) or (state.broken, state.declined)
        if broken:
            return self._skip(result, step, broken)
        if step.feature and step.feature in declined:
            return self._skip(result, step, declined[step.feature], not_supported=True)
        try:
            return self._attempt(scenario, step, state, result, context, kind, attempts)
        except _ScenarioFault as fault:
            return self._scenario_error(result, step, state, str(fault))

    def _scenario_error(self, result: StepResult, step: Step, state: ScenarioState, message: str) -> StepResult:
        """The step's checks are errors of the scenario (not of the server) and the rest of it is skipped."""
        result.scenario_error = message
        result.checks = [self._outcome(e, Status.ERROR, f"scenario error: {message}") for e in step.expect
                         if not e.auto]
        with state.lock:
            state.broken = f"not run: step '{result.name}' has a scenario error ({message})"
        return result

    def _attempt(self, scenario: Scenario, step: Step, state: ScenarioState, result: StepResult,
                 context: dict[str, Any], kind: str, attempts: list[StepResult]) -> StepResult | list[StepResult]:
        """The step's result, followed by the polling record when a 202 was followed."""
        name = result.name
        if step.wait is not None:
            return self._wait(step, state, result, context, scenario.id)
        sent_at = time.monotonic()
        expect, refused = step.expect, None
        decided: list[CheckResult] = []
        try:
            if step.negotiate is not None and step.negotiate.variable not in state.variables:
                exchange, expect, refused = self._negotiate(step, context, scenario, state, name, kind, attempts)
            elif step.reduce is not None:
                exchange, expect, decided = self._reduce(step, context, scenario, state, name, kind, attempts)
            else:
                exchange = self._send(step, context, scenario)
        except TemplateProblem as exc:
            with state.lock:
                state.broken = f"step '{name}' could not be built: {exc}"
            self._skip(result, step, f"step '{name}' could not be built: {exc}")
            return self._unexplained(result, step, state, "CTK-JSON-01",
                                     f"an earlier answer lacks what this step is built from ({exc}): it and "
                                     "the steps after it are not run")
        except Refused as exc:
            # the server's data would take the request out of the API: that is the server's failure
            result.exchange = exc.exchange
            result.checks = [self._outcome(e, Status.FAILED, str(exc)) for e in step.expect if not e.auto]
            with state.lock:
                state.broken = f"step '{name}' was not sent: {exc}"
            return result
        if exchange.response is None and self.health.unreachable \
                and (exchange.error or "").startswith(f"{NOT_SENT}: the target is unreachable"):
            # the target became unreachable between this step's start and its request (a sibling of
            # its block, or another scenario, met the failure first): said as for every later step
            return self._skip(result, step, f"not sent: the target is unreachable ({self.health.unreachable})")
        result.exchange = exchange
        if refused is not None:
            with state.lock:
                state.broken = refused
            result.skipped_reason = refused
            result.checks = [self._outcome(e, Status.SKIPPED, f"not evaluated: {refused}")
                             for e in expect if not e.auto]
            return result
        with state.lock:
            state.last_sent = max(state.last_sent, sent_at)
            state.last_write = None
        if exchange.request.method == "DELETE" and exchange.response is not None \
                and exchange.response.status in _GONE:
            self.ledger.deleted(exchange.request.url)
        response = exchange.response
        if response is None or exchange.error:  # no answer, or one whose body was cut short
            message = exchange.error or "no response"
            status = Status.SKIPPED if message.startswith(INTERRUPTED) else Status.ERROR
            result.checks = decided + [self._outcome(e, status, message) for e in expect if not e.auto]
            with state.lock:
                state.broken = f"step '{name}' got no {'' if response is None else 'complete '}response: {message}"
            return result
        if response.truncated:
            cap = self.settings.target.max_body
            message = (f"the response body is larger than --max-body ({_size(cap)}): reading stopped at "
                       f"{response.size:,} bytes, the exchange is recorded truncated and its body not evaluated")
            result.checks = decided + [self._outcome(e, Status.FAILED, message) for e in expect if not e.auto]
            with state.lock:
                state.broken = f"step '{name}' failed: {message}"
            return result
        gone = state.moved.get(_resource_key(exchange.request.url)) if response.status == 404 else None
        if gone is not None:
            return self._skip(result, step, f"not evaluated: the resource is no longer at this URL: {gone}")
        if step.feature and response.status in step.declines:
            path = urlsplit(exchange.request.url).path
            reason = (f"{step.feature}: not offered by the server ({exchange.request.method} {path} answered "
                      f"{response.status} {response.reason})")
            with state.lock:
                state.declined[step.feature] = reason
            return self._skip(result, step, reason, not_supported=True)
        followed: StepResult | None = None
        if response.status == 202 and step.accepted:
            followed, final = self._follow_accepted(step, exchange, name, kind)
            if final is None:
                return [self._not_applied(step, result, response, context, state), followed]
            if step.accepted != "disappears":
                # the resource as GET returned it once the write took effect, with the 202's status and
                # Location (what the write answered) and the GET's other headers (what describes the body)
                location = [(k, v) for k, v in response.headers if k.lower() == "location"]
                headers = [(k, v) for k, v in final.headers if k.lower() != "location"] + location
                response = replace(response, headers=headers, body=final.body, size=final.size)
        if step.accepted and exchange.response is not None and 200 <= exchange.response.status < 300:
            with state.lock:
                state.last_write = (step.accepted, exchange)
        ctx = self._context(exchange, response)
        has_body = bool(response.body.strip())
        # gates first: if the status or body shape is wrong, body checks would only echo that
        ordered = sorted((e for e in expect if has_body or not e.auto), key=lambda e: e.rule.gate == Gate.NONE)
        result.checks.extend(decided)
        blocked: str | None = None
        shape_failed = False
        for expectation in ordered:
            if blocked and not expectation.auto:
                result.checks.append(self._outcome(expectation, Status.SKIPPED, blocked))
                continue
            checked = self._evaluate(expectation, ctx, context)
            result.checks.append(checked)
            if expectation.rule.gate != Gate.NONE and checked.status in (Status.FAILED, Status.ERROR) and not blocked:
                blocked = f"not evaluated: {checked.rule_id} failed ({checked.message[:120]})"
                # a wrong 2xx (200 for 201) still carries the lead; an error status or shape does not
                shape_failed = not 200 <= response.status < 300 or expectation.rule.gate == Gate.SHAPE
        new_id = _taken_id(exchange.request, response)
        if new_id is not None:
            url = _resource_key(exchange.request.url)
            self.ledger.moved(url, new_id)
            with state.lock:
                state.moved[url] = (f"step '{name}' changed its read-only id to {new_id!r} and the server took it "
                                    "(reported at that step)")
        # an answer's status can always be saved, and a value with a default; what its body or headers hold
        # cannot, after such a failure
        if shape_failed and any(not _status_source(source) and not _defaulted(source) for source in step.save.values()):
            with state.lock:
                state.broken = f"step '{name}' failed ({blocked}); its values were not saved"
        else:
            self._save(step, ctx, state, result, failed=shape_failed)
        return [result, followed] if followed is not None else result

    # -- writes answered 202 Accepted ----------------------------------------------------------------

    def _accepted_bound(self) -> float:
        """How long a 202 Accepted write may take to show: twice the event timeout (10 s by default)."""
        return 2 * max(self.n.event_timeout, 0.5)

    def _follow_accepted(self, step: Step, exchange: Exchange, name: str,
                         kind: str) -> tuple[StepResult, HttpResponse | None]:
        """Poll GET, with a bound, until the 202 Accepted write shows: the resource appears (POST),
        changes (PATCH) or disappears (DELETE). Returns the record of the polling, and the final
        GET response when the write took effect."""
        assert exchange.response is not None and step.accepted is not None
        until, request, accepted = step.accepted, exchange.request, exchange.response
        target = request.url.split("?", 1)[0]
        collection = target.rstrip("/")
        sent = _expected_change(request.body) if until == "changes" else None
        looked_up_name = None
        if until == "appears":
            created = _created_at(request, accepted)
            if created is not None:
                target = created
            else:
                looked_up_name = (_json_object(request.body) or {}).get("name")
                target = build_url(collection, None, None, {"name": looked_up_name}) if looked_up_name else ""
        # the write's own query (v5: fields) shapes what a GET of the written resource shows too
        carried = {k: v for k, v in parse_qsl(urlsplit(request.url).query) if k in self.plan.api.write_params}
        if carried and target and looked_up_name is None:
            target = build_url(target.split("?", 1)[0], None, None, carried)
        started, polls, delay = time.monotonic(), 0, 0.05
        deadline = started + self._accepted_bound()
        poll: Exchange | None = None
        fenced: str | None = None  # why a URL the server gave to poll was not followed
        while target and not self.cancel.cancelled:
            why = outside_base(target, self.base_url)
            if why is not None:  # a Location or id of the server's taking the poll out of the API
                fenced = f"refused to poll GET {target}: {why}; the URL came from the 202 answer"
                poll = Exchange(HttpRequest("GET", target, []), error=f"{NOT_SENT}: {fenced}", started_at=_now())
                break
            poll = send(self.client, "GET", target, health=self.health, timeout=self.settings.target.timeout,
                        max_body=self.settings.target.max_body, abort=self.cancel.stop,
                        permit=getattr(self._step_local, "permit", None))
            polls += 1
            answer = poll.response
            if answer is not None and looked_up_name is not None and answer.status in (200, 206):
                with self.ledger.lock:  # a resource this run already knows is not the one that appears
                    known = {e.id for e in self.ledger.entries if e.id}
                found = [i for i in (_json_list(answer.body) or []) if isinstance(i, dict)
                         and i.get("name") == looked_up_name and isinstance(i.get("id"), str)
                         and i["id"] not in known]
                if len(found) == 1:  # found by its unique name: from now on, poll the resource itself
                    target, looked_up_name = f"{collection}/{quote(found[0]['id'], safe='')}", None
                    if carried:
                        target = build_url(target, None, None, carried)
                    continue
            elif answer is not None and _took_effect(until, answer, sent):
                break
            if answer is None or time.monotonic() >= deadline:
                break
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, 1.0)
        waited = time.monotonic() - started
        rule = BY_ID[ACCEPTED_RULE]
        expectation = Expectation(rule, rule.level, {})
        what = {"appears": "the resource appears", "changes": "the change shows",
                "disappears": "the resource is gone"}[until]
        record = StepResult(name=f"After 202 Accepted to '{name}': GET until {what}", kind=kind, exchange=poll)
        if poll is None:
            reason = ("the 202 answer has no Location header and no id, and the request sent no name to look it "
                      "up by") if not target else "interrupted before polling"
            record.checks = [self._outcome(expectation, Status.FAILED if target == "" else Status.SKIPPED, reason)]
            return record, None
        if fenced is not None:
            record.checks = [self._outcome(expectation, Status.FAILED, fenced)]
            return record, None
        if poll.response is None or poll.error or poll.response.truncated:
            problem = poll.error or ("no response" if poll.response is None else "larger than --max-body")
            record.checks = [self._outcome(expectation, Status.ERROR, problem)]
            return record, None
        ctx = self._context(poll, poll.response)
        if looked_up_name is not None:
            record.checks = [self._outcome(expectation, Status.FAILED,
                                           f"no resource named {looked_up_name!r} after {polls} poll(s) over "
                                           f"{waited:.1f} s (the 202 answer carried no Location header or id)")]
            return record, None
        args = {"until": until, "polls": polls, "waited": round(waited, 2), "sent": sent}
        record.checks = [self._evaluate(replace(expectation, args=args), ctx, {})]
        applied = record.checks[0].status == Status.PASSED
        if applied and until == "appears":
            rid = _created_id(poll.response.body)
            if rid is not None:
                self.ledger.identify(collection, (_json_object(request.body) or {}).get("name"), rid)
        if applied and until == "disappears":
            self.ledger.deleted(target.split("?", 1)[0])
        return record, (poll.response if applied else None)

    def _not_applied(self, step: Step, result: StepResult, response: HttpResponse, context: dict[str, Any],
                     state: ScenarioState) -> StepResult:
        """The 202 Accepted write did not take effect: the status is judged, the rest is not evaluated."""
        ctx = CheckContext(result.exchange.request if result.exchange else HttpRequest("GET", "", []), response,
                           self.plan.schemas, self.base_url, clock_skew=self.settings.run.clock_skew)
        reason = f"not evaluated: the write answered 202 Accepted but did not take effect ({ACCEPTED_RULE})"
        for expectation in step.expect:
            if expectation.rule.gate == Gate.STATUS:
                result.checks.append(self._evaluate(expectation, ctx, context))
            elif not expectation.auto:
                result.checks.append(self._outcome(expectation, Status.SKIPPED, reason))
        # later steps build on the write (the resource, the change, its absence): one cause, said once
        with state.lock:
            state.broken = f"step '{result.name}': {reason[len('not evaluated: '):]}"
        return result

    def _context(self, exchange: Exchange, response: HttpResponse) -> CheckContext:
        return CheckContext(exchange.request, response, self.plan.schemas, self.base_url,
                            clock_skew=self.settings.run.clock_skew)

    def _send(self, step: Step, context: dict[str, Any], scenario: Scenario, body: Any = NO_BODY) -> Exchange:
        """Send the step's request (``body``: instead of the step's own JSON body)."""
        req = step.request
        assert req is not None  # the scenario schema requires a request or a wait_event
        with _authored("the request cannot be built"):
            rendered_url = str(render(req.url, context)) if req.url is not None else None
            # each value interpolated into the path is one percent-encoded segment: an id never becomes a path
            path, values = render_path(req.path, context) if rendered_url is None else ("", [])
            try:
                url = build_url(self.base_url, path, rendered_url, render(req.query, context))
            except ValueError as exc:  # a value taken from an answer that no URL can carry
                raise TemplateProblem(f"cannot build the URL: {exc}", author=False) from exc
            if body is NO_BODY:
                body = render(req.json, context) if req.json is not NO_BODY else None
            headers = render(req.headers, context)
            content_type = render(req.content_type, context)
        if rendered_url is not None and not _absolute(url):
            raise TemplateProblem(f"cannot follow {short(url, 200)}: it is not an absolute http(s) URL", author=False)
        why = outside_base(url, self.base_url)
        if why is not None:
            # never send the user's credentials, or any request, outside the API they configured
            source = (f"the URL is the value of {req.url!r}" if rendered_url is not None
                      else f"the value(s) interpolated into the path: {', '.join(short(v) for v in values)}"
                      if values else f"the path is {req.path!r}")
            message = f"refused to send {req.method} {url}: {why}; {source}"
            raise Refused(message, Exchange(HttpRequest(req.method, url, []), error=f"{NOT_SENT}: {message}",
                                            started_at=_now()))
        entry = None
        if req.method == "POST":
            name = body.get("name") if isinstance(body, dict) and isinstance(body.get("name"), str) else None
            entry = self.ledger.sending(url.split("?", 1)[0].rstrip("/"), scenario.id, name)
        exchange = send(
            self.client, req.method, url, health=self.health, headers=headers,
            json_body=body, raw_body=req.body, content_type=content_type,
            timeout=self.settings.target.timeout, max_body=self.settings.target.max_body, abort=self.cancel.stop,
            permit=getattr(self._step_local, "permit", None),
            never_applied=(lambda: self._never_created(entry)) if entry is not None and entry.name else None,
        )
        if entry is not None:
            self.ledger.answered(entry, exchange, reached=not self.health.never_reached(exchange))
        return exchange

    # -- adaptive requests: negotiate a value, reduce a refused body ---------------------------------
    # One cause is reported once: the rule judging the first attempt fails, the other steps go on
    # with what the server accepts, so that the defects behind a refusal are still found.

    def _negotiate(self, step: Step, context: dict[str, Any], scenario: Scenario, state: ScenarioState,
                   name: str, kind: str, attempts: list[StepResult]
                   ) -> tuple[Exchange, tuple[Expectation, ...], str | None]:
        """Send with each value of the negotiated variable until the server accepts one (the value
        is kept for later steps). Returns the exchange to check, the expectations left for it, and
        why the step cannot go on when every value was refused."""
        spec = step.negotiate
        assert spec is not None
        judges = tuple(e for e in step.expect if e.rule.id == spec.judged_by)
        others = tuple(e for e in step.expect if e.rule.id != spec.judged_by)
        first: StepResult | None = None
        for index, value in enumerate(spec.values):
            context[spec.variable] = value
            exchange = self._send(step, context, scenario)
            response = exchange.response
            refused = response is not None and response.status in spec.retry_on
            if not refused or index == len(spec.values) - 1:
                break
            attempt = StepResult(name=f"{name} [{spec.variable} {value}: refused]", kind=kind, exchange=exchange)
            attempts.append(attempt)
            first = first or attempt
        if not refused:
            if exchange.response is not None:
                with state.lock:
                    state.variables[spec.variable] = value
            if first is None:  # the first value was accepted: its judge is one of the step's checks
                return exchange, step.expect, None
            note = f"; the server accepts {spec.variable} {value!r}: the scenario's other steps use it"
        else:
            note = f"; every other value ({', '.join(map(str, spec.values[1:]))}) was refused too"
        if first is not None and first.exchange is not None and first.exchange.response is not None:
            ctx = self._context(first.exchange, first.exchange.response)
            first.checks = [self._noted(self._evaluate(e, ctx, context), note) for e in judges]
        if refused:
            answers = [a.exchange.response for a in attempts if a.exchange] + [exchange.response]
            statuses = sorted({r.status for r in answers if r is not None})
            return exchange, others, (f"step '{name}': the server refused every {spec.variable} "
                                      f"({', '.join(map(str, spec.values))}) with {'/'.join(map(str, statuses))}")
        return exchange, others, None

    def _reduce(self, step: Step, context: dict[str, Any], scenario: Scenario, state: ScenarioState,
                name: str, kind: str, attempts: list[StepResult]
                ) -> tuple[Exchange, tuple[Expectation, ...], list[CheckResult]]:
        """Send the step's JSON body; when it is refused, find the attributes the server rejects and
        go on with the body it accepts. Returns the exchange to check, the expectations left for it
        and the checks already decided."""
        spec = step.reduce
        assert spec is not None and step.request is not None
        with _authored("the request cannot be built"):
            body = render(step.request.json, context)
        if not isinstance(body, dict):
            raise TemplateProblem(f"reduce needs a JSON object body, got {type(body).__name__}")
        context[spec.variable] = body
        exchange = self._send(step, context, scenario, body=body)
        if not _refused(exchange, spec.retry_on):
            with state.lock:
                state.variables[spec.variable] = body
            return exchange, step.expect, []
        judges = tuple(e for e in step.expect if e.rule.id == spec.judged_by)
        others = tuple(e for e in step.expect if e.rule.id != spec.judged_by)
        assert exchange.response is not None
        ctx = self._context(exchange, exchange.response)
        first = StepResult(name=f"{name} [the whole body: refused]", kind=kind, exchange=exchange)
        attempts.append(first)
        found = self._isolate(step, context, scenario, state, name, kind, body, attempts)
        if found is None:
            attempts.remove(first)  # the step itself shows the refusal
            reason = (f"inconclusive: even the body with only {', '.join(spec.keep) or 'no attribute'} is refused, "
                      "so the refusal is not about the optional attributes")
            return exchange, others, [self._outcome(e, Status.SKIPPED, reason) for e in judges]
        culprits, accepted = found
        kept = {k: v for k, v in body.items() if k not in culprits}
        context[spec.variable] = kept
        with state.lock:
            state.variables[spec.variable] = kept
        status = accepted.response.status if accepted.response else "?"
        note = (f"; it rejects {', '.join(culprits)}: without {'them' if len(culprits) > 1 else 'it'} the body is "
                f"accepted (HTTP {status}), and the scenario goes on without {'them' if len(culprits) > 1 else 'it'}")
        first.checks = [self._noted(self._evaluate(e, ctx, context), note) for e in judges]
        return accepted, others, []

    def _isolate(self, step: Step, context: dict[str, Any], scenario: Scenario, state: ScenarioState, name: str,
                 kind: str, body: dict[str, Any], attempts: list[StepResult]) -> tuple[list[str], Exchange] | None:
        """The attributes whose presence makes the server refuse ``body`` (found by retrying with
        halves of them, adaptive group testing), and the accepted exchange without them."""
        spec = step.reduce
        assert spec is not None and attempts[-1].exchange is not None
        keep = [k for k in body if k in spec.keep]
        optional = [k for k in body if k not in spec.keep]
        key = (attempts[-1].exchange.request.method, attempts[-1].exchange.request.url.split("?")[0],
               frozenset(body))

        def ok(exchange: Exchange) -> bool:
            return exchange.response is not None and 200 <= exchange.response.status < 300

        def send(included: list[str], final: bool = False) -> Exchange:
            """A probe (its lead deleted at once), or the final attempt (kept, unless refused)."""
            trial = {k: v for k, v in body.items() if k in keep or k in included}
            left_out = [k for k in optional if k not in included]
            exchange = self._send(step, context, scenario, body=trial)
            if final and ok(exchange):
                return exchange  # the step's own exchange
            attempts.append(StepResult(name=f"{name} [probe {_probe_label(keep + included, left_out)}]", kind=kind,
                                       exchange=exchange))
            if ok(exchange):
                self._discard(exchange, scenario, state)  # a probe's lead must not linger
            return exchange

        with self._rejected_lock:
            known = self._rejected.get(key)
        if known is not None:
            final = send([k for k in optional if k not in known], final=True)
            if ok(final):
                return list(known), final
        if not ok(send([])):
            return None

        def culprits(keys: list[str]) -> list[str]:
            """``keys`` together are refused: which of them are (adaptive halving)."""
            if len(keys) == 1:
                return keys
            half = len(keys) // 2
            found: list[str] = []
            for part in (keys[:half], keys[half:]):
                if not ok(send(part)):
                    found += culprits(part)
            return found

        rejected = culprits(optional) or optional  # refused only together: keep none of them
        final = send([k for k in optional if k not in rejected], final=True)
        if not ok(final):
            rejected = optional
            final = send([], final=True)
            if not ok(final):
                return None
        with self._rejected_lock:
            self._rejected[key] = tuple(rejected)
        return rejected, final

    def _discard(self, exchange: Exchange, scenario: Scenario, state: ScenarioState) -> None:
        """Delete at once what a probe created (its delete is kept with the scenario's cleanup)."""
        rid = _created_id(exchange.response.body) if exchange.response is not None else None
        for entry in self.ledger.open(scenario.id):
            if entry.id is not None and entry.id == rid:
                deleted = self._delete(entry, self._cleanup_timeout(None))
                with state.lock:
                    state.discarded.extend(deleted)
                return

    @staticmethod
    def _noted(check: CheckResult, note: str) -> CheckResult:
        if check.status == Status.FAILED:
            check.message += note
        return check

    # -- notifications -------------------------------------------------------------------------

    def _wait(self, step: Step, state: ScenarioState, result: StepResult, context: dict[str, Any],
              scenario_id: str = "") -> StepResult:
        """Wait for the notification the previous request should have caused (or for its absence)."""
        assert step.wait is not None and self.listener is not None
        try:
            with _authored("the wait cannot be built"):
                subscription = str(render(step.wait.subscription, context))
                about = render(step.wait.about, context) if step.wait.about else None
                wanted = str(render(step.wait.type, context)) if step.wait.type else None
        except TemplateProblem as exc:
            with state.lock:
                state.broken = f"step '{result.name}' could not be built: {exc}"
            self._skip(result, step, f"step '{result.name}' could not be built: {exc}")
            return self._unexplained(result, step, state, "CTK-JSON-01",
                                     f"an earlier answer lacks what this wait is built from ({exc}): it and "
                                     "the steps after it are not run")
        callback = urlsplit(subscription)
        since, sub_path, absent = state.last_sent, callback.path.rstrip("/"), step.wait.absent

        timeout = self.n.quiet_period if absent else self.n.event_timeout
        # an absence is judged over a window: the quiet period, lengthened (at judgement) by the longest
        # this server took to deliver an event this scenario waited for, so that a server slower than
        # the quiet period does not pass for one that sends nothing
        window = [since + timeout if absent else float("inf")]

        def at_subscription(event: ReceivedEvent) -> bool:
            path = event.path.rstrip("/")
            return path == sub_path or path.startswith(sub_path + "/listener/")

        def mine(event: ReceivedEvent) -> bool:
            return not event.claimed and since <= event.received_at <= window[0] and at_subscription(event)

        def candidates(events: list[ReceivedEvent]) -> list[ReceivedEvent]:
            # a second delivery of an event this subscription already had (same eventId: delivery is at
            # least once) is not another event; the same event at another subscription is its own
            taken = {e.event_id() for e in events if e.claimed and e.event_id() and at_subscription(e)}
            return [e for e in events if mine(e) and (about is None or e.lead_id() in (about, None))
                    and not (e.event_id() and e.event_id() in taken)]

        def pick(events: list[ReceivedEvent]) -> ReceivedEvent | None:
            return next((e for e in candidates(events) if wanted is None or e.is_type(wanted)), None)

        def attributable(events: list[ReceivedEvent]) -> ReceivedEvent | None:
            # what an absence is judged on: an event that says it is about this lead; one that names no
            # lead may be another lead's, sent to the subscription before it was removed and delivered
            # late (other scenarios' leads change meanwhile): it proves nothing either way
            return next((e for e in candidates(events) if (wanted is None or e.is_type(wanted))
                         and (about is None or e.lead_id() == about)), None)

        def other_type(events: list[ReceivedEvent]) -> ReceivedEvent | None:
            # once the wait is over: an event about this lead of another type is the wrong eventType
            return next((e for e in candidates(events) if e.lead_id() == about), None)

        noun = "opportunity" if "Opportunity" in (wanted or "") else "lead"  # v5 has both resources
        what = f"{wanted or 'event'}{f' about {noun} {about}' if about else ''}"
        if absent:
            # nothing to wait for now: the window is judged when the scenario's steps are done, so the
            # quiet period overlaps with the steps that follow (the step keeps its place in the results)
            state.window_end = max(state.window_end, window[0])
            state.deferred.append((step, result, lambda: self._judge_absence(
                step, state, result, scenario_id, attributable, pick, window, what, timeout)))
            return result
        event = self.listener.wait_for(pick, timeout, stop=self.cancel.stop)
        if event is None and about is not None and not self.cancel.cancelled:
            event = self.listener.wait_for(other_type, 0)
        if event is None:
            if self.cancel.cancelled:
                return self._skip(result, step, "interrupted while waiting for the notification")
            received = self._events_at(state.callback, scenario_id)
            message = (f"no {what} arrived at {subscription} within {timeout:g} s "
                       f"({received} event(s) about this scenario's leads received in all)")
            with state.lock:
                write = state.last_write
            unapplied = self._without_effect(write) if write is not None else None
            if unapplied is not None:  # no event is owed for a change that did not happen
                result.exchange, why = unapplied
                message = f"inconclusive: {message}, but {why}"
            result.checks = [
                self._outcome(e, Status.FAILED, message) if e.rule.id == "TMF699-EVENT-01" and unapplied is None
                else self._outcome(e, Status.SKIPPED, message if unapplied else f"not evaluated: {message}")
                for e in step.expect
            ]
            return result
        with state.lock:
            state.slowest_event = max(state.slowest_event, event.received_at - since)
        latency = round((event.received_at - since) * 1000, 2)
        result.exchange = self._event_exchange(event, latency)
        ctx = EventContext(event.path, event.headers, event.body, latency, self.plan.schemas, self.base_url,
                           clock_skew=self.settings.run.clock_skew)
        result.checks = [self._evaluate(e, ctx, context) for e in step.expect]
        return result

    def _without_effect(self, write: tuple[str, Exchange]) -> tuple[Exchange, str] | None:
        """When the write an awaited event follows from did not take effect (one GET of its resource
        says so), that GET and why; None when it did, or cannot be told."""
        until, exchange = write
        request, answer = exchange.request, exchange.response
        target: str | None = request.url.split("?", 1)[0]
        if until == "appears":  # the created resource: where the answer says it is
            target = _created_at(request, answer) if answer is not None else None
        if target is None or outside_base(target, self.base_url) is not None:
            return None
        check = send(self.client, "GET", target, health=self.health, timeout=self.settings.target.timeout,
                     max_body=self.settings.target.max_body, abort=self.cancel.stop,
                     permit=getattr(self._step_local, "permit", None))
        seen = check.response
        if seen is None or check.error or seen.truncated:
            return None
        sent = _expected_change(request.body) if until == "changes" else None
        if _took_effect(until, seen, sent):
            return None
        did = {"appears": "is not there", "changes": "does not show the change",
               "disappears": "is still there"}[until]
        return check, (f"the {request.method} it follows did not take effect (GET {target} answered {seen.status}: "
                       f"the resource {did}): no event is owed for a change that did not happen "
                       f"({EFFECT_RULES[until]} reports such a {request.method})")

    def _event_exchange(self, event: ReceivedEvent, latency: float) -> Exchange:
        """The server's POST to the listener and the listener's answer (v4 201, v5 204), with the latency
        as its time."""
        assert self.listener is not None
        origin = urlsplit(self.listener.callback_url)
        status = self.listener.status
        return Exchange(
            request=HttpRequest("POST", f"{origin.scheme}://{origin.netloc}{event.path}", event.headers, event.body),
            response=HttpResponse(status, f"{'Created' if status == 201 else 'Notified'} (kit listener)", "HTTP/1.1",
                                  [], "", len(event.body.encode()), latency),
            started_at=event.wall_time,
        )

    def _judge_absence(self, step: Step, state: ScenarioState, result: StepResult, scenario_id: str,
                       pick: Callable[[list[ReceivedEvent]], ReceivedEvent | None],
                       unnamed: Callable[[list[ReceivedEvent]], ReceivedEvent | None], window: list[float],
                       what: str, quiet: float) -> None:
        """After the window of an `absent` wait has passed: was an event received in it? The window is
        the quiet period plus the slowest delivery of an event the scenario waited for (at most the
        event timeout), known only now that its other steps are done. ``pick`` finds an event about the
        lead; ``unnamed`` also one that names no lead, which is inconclusive: whose it is depends on
        what other scenarios did meanwhile (TMF699-EVENT-04 reports the missing lead)."""
        assert self.listener is not None
        since = window[0] - quiet
        with state.lock:
            window[0] += min(state.slowest_event, self.n.event_timeout)
        # said without the measured part, so that the message is the same from run to run
        within = f"within {quiet:g} s (and the time the slowest event this scenario waited for took)"
        event = self.listener.wait_for(pick, max(0.0, window[0] - time.monotonic()), stop=self.cancel.stop)
        if event is None and self.cancel.cancelled:
            self._skip(result, step, "interrupted while watching for the notification")
            return
        stray = self.listener.wait_for(unnamed, 0) if event is None else None
        if stray is not None:
            result.exchange = self._event_exchange(stray, round((stray.received_at - since) * 1000, 2))
            kind = stray.event_type() or "an event"
            message = (f"inconclusive: {kind} arrived {within}, but it names no lead "
                       "(TMF699-EVENT-04 reports that): it may be about another lead, sent before the "
                       f"subscription was changed and delivered late, so it proves nothing about {what}")
            result.checks = [self._outcome(e, Status.SKIPPED, message) for e in step.expect]
            return
        if event is None:
            seen = self._events_at(state.callback, scenario_id)
            if seen == 0:
                message = (f"inconclusive: no {what} {within}, but no event at all has arrived "
                           "for this scenario's subscriptions, so its absence proves nothing")
                result.checks = [self._outcome(e, Status.SKIPPED, message) for e in step.expect]
            else:
                result.checks = [self._outcome(e, Status.PASSED, f"no {what} {within} "
                                               f"({seen} other event(s) did arrive)") for e in step.expect]
            return
        latency = round((event.received_at - since) * 1000, 2)
        result.exchange = self._event_exchange(event, latency)
        ctx = EventContext(event.path, event.headers, event.body, latency, self.plan.schemas, self.base_url,
                           clock_skew=self.settings.run.clock_skew)
        result.checks = [self._evaluate(e, ctx, {}) for e in step.expect]

    def _events_at(self, callback: str | None, scenario_id: str) -> int:
        """Events about this scenario's own leads at its subscriptions (other scenarios' leads send
        events to every subscriber too, in numbers that depend on timing)."""
        if self.listener is None or callback is None:
            return 0
        prefix = urlsplit(callback).path.rstrip("/")
        with self.ledger.lock:
            own = {e.id for e in self.ledger.entries if e.id and e.scenario == scenario_id}
        return sum(1 for e in self.listener.events
                   if e.refused is None and e.path.startswith(prefix) and e.lead_id() in own)

    # -- checks --------------------------------------------------------------------------------

    def _render_name(self, step: Step, context: dict[str, Any]) -> str:
        try:
            return str(render(step.name, context))
        except TemplateProblem:
            return step.name

    def _evaluate(self, expectation: Expectation, ctx: CheckContext | EventContext,
                  context: dict[str, Any]) -> CheckResult:
        rule = expectation.rule
        try:
            with _authored(f"the arguments of {rule.id} cannot be built"):
                args = render(expectation.args, context)
        except TemplateProblem as exc:
            return self._outcome(expectation, Status.SKIPPED, f"cannot evaluate: {exc}")
        problems = argument_problems(rule, args)
        if problems:
            message = "; ".join(p.message for p in problems)
            if any(p.syntax or expectation.args.get(p.name) == args.get(p.name) for p in problems):
                # a literal the scenario wrote, or a JSON path/regex it built: the author's mistake
                raise _ScenarioFault(f"rule {rule.id}: {message}")
            # a value taken from the server's earlier answer is not of the kind the rule needs
            return self._outcome(expectation, Status.SKIPPED, f"not evaluated: {message}")
        try:
            note = rule.check(ctx, **args)
        except CheckFailed as exc:
            return self._outcome(expectation, Status.FAILED, str(exc))
        except CheckInconclusive as exc:
            return self._outcome(expectation, Status.SKIPPED, f"inconclusive: {exc}")
        except Exception as exc:  # a check must never crash the run; report it as an error
            return self._outcome(expectation, Status.ERROR, f"internal error in the check: {exc!r}"[:500])
        return self._outcome(expectation, Status.PASSED, note or "")

    def _outcome(self, expectation: Expectation, status: Status, message: str,
                 not_supported: bool = False) -> CheckResult:
        rule = expectation.rule
        return CheckResult(rule.id, rule.title, expectation.level, rule.family, status, message, rule.hint,
                           not_supported)

    def _unexplained(self, result: StepResult, step: Step, state: ScenarioState, rule_id: str,
                     message: str) -> StepResult:
        """An answer lacked what the scenario needs next, so its remaining checks are skipped. When no
        check of the scenario has failed before it (decided in plan order by _in_order), that lack
        is the failure the user sees first: skipped checks never leave a PASS behind them."""
        if any(is_blocking(c) for c in result.checks):
            return result  # the step's own failure already says why
        rule = BY_ID[rule_id]
        # the checks it stops are not known yet: mandatory, or optional within an optional feature the
        # server accepted (whose failures block the verdict too); never a mere warning
        level = Level.OPTIONAL if step.feature else Level.MANDATORY
        with state.lock:
            state.unexplained[id(result)] = result, CheckResult(
                rule.id, rule.title, level, rule.family, Status.FAILED, message,
                "Return the attributes and headers the API defines for this answer: the scenario's later steps "
                "use them.")
        return result

    def _skip(self, result: StepResult, step: Step, reason: str, not_supported: bool = False) -> StepResult:
        result.skipped_reason = reason
        result.checks = [self._outcome(e, Status.SKIPPED, reason, not_supported) for e in step.expect if not e.auto]
        return result

    def _save(self, step: Step, ctx: CheckContext, state: ScenarioState, result: StepResult,
              failed: bool = False) -> None:
        """The step's saves (``failed``: its answer failed a gate; only statuses and values with a default
        are saved, the default standing for what the answer holds)."""
        for name, source in step.save.items():
            value: Any
            try:
                if _status_source(source):
                    value = ctx.response.status
                elif _defaulted(source) and "path" in source:
                    value = source["default"] if failed else _found_or(ctx, source["path"], source["default"])
                elif isinstance(source, dict):
                    value = ctx.response.header(source["header"])
                    if value is None and "default" in source:
                        value = source["default"]
                    elif value is None:
                        raise KeyError(f"no {source['header']} header")
                    if "matches" in source:
                        # a regular expression runs holding the GIL, beyond any deadline: whatever its
                        # pattern, it only ever sees a bounded prefix of what the server sent
                        found = re.search(source["matches"], value[:MATCHED_PREFIX])
                        if found is None:
                            raise KeyError(f"{source['header']} {value!r} does not match /{source['matches']}/")
                        value = found.group(1) if found.groups() else found.group(0)
                else:
                    value = jsonpath.get(ctx.json(), source)
            except jsonpath.JSONPathProblem as exc:
                raise _ScenarioFault(f"save {name}: {exc}") from exc
            except (KeyError, CheckFailed) as exc:
                problem = str(exc).strip(chr(39))
                with state.lock:
                    if step.feature and step.declines:
                        # a probe whose answer lacks what the feature needs: the feature is not offered
                        state.declined[step.feature] = f"{step.feature}: not offered by the server ({problem})"
                    else:
                        state.broken = f"step '{result.name}' could not save {name!r}: {problem}"
                if not (step.feature and step.declines):
                    what = f"the {source['header']} header" if isinstance(source, dict) else source
                    self._unexplained(result, step, state,
                                      "CTK-HEADER-01" if isinstance(source, dict) else "CTK-JSON-01",
                                      f"later steps need {what} of this answer (saved as {name!r}): {problem}; "
                                      "the steps after it are not run")
                return
            if len(ctx.response.body) > KEPT_PREFIX and not self._keep(state, (name, step.iteration if step.collect
                                                                              else None), value):
                with state.lock:
                    state.broken = (f"step '{result.name}' could not save {name!r}: the value is too large to keep "
                                    f"for later steps (the running scenarios keep at most {SAVED_BUDGET_FACTOR} x "
                                    "--max-body of saved values in memory)")
                return
            with state.lock:
                if step.collect:  # a for_each step: one value per iteration, in plan order
                    slots = state.collected.setdefault(name, {})
                    slots[step.iteration] = value
                    state.variables[name] = [slots[i] for i in sorted(slots)]
                else:
                    state.variables[name] = value
            result.saved.append(name)

    # -- cleanup -------------------------------------------------------------------------------

    def _cleanup(self, entries: list[Created], deadline: float | None = None) -> list[Exchange]:
        """Delete what the entries created (concurrently); look up by name what a lost answer may
        have created. Exchanges are returned in the entries' order, whatever finished first."""
        if len(entries) <= 1:
            done = [x for entry in entries for x in self._clean(entry, deadline)]
        else:
            with ThreadPoolExecutor(max_workers=min(GROUP_WORKERS, len(entries)),
                                    thread_name_prefix="tmf699ctk-cleanup") as pool:
                batches = list(pool.map(lambda entry: self._clean(entry, deadline), entries))
            done = [x for batch in batches for x in batch]
        for exchange in done:
            self._retain(exchange)
        return done

    def _stop_bound(self, deadline: float | None) -> float | None:
        """``deadline``, or the cleanup budget counted from the moment the run was stopped when that
        comes first (a stop during a cleanup begun unstopped bounds it too)."""
        stopped = self.cancel.stopped_at
        if stopped is None:
            return deadline
        bound = stopped + self.settings.run.cleanup_timeout
        return bound if deadline is None else min(deadline, bound)

    def _clean(self, entry: Created, deadline: float | None) -> list[Exchange]:
        deadline = self._stop_bound(deadline)
        if self.cancel.skip_cleanup.is_set():
            entry.state, entry.reason = "leftover", "cleanup skipped by a second interruption"
            return []
        if deadline is not None and time.monotonic() >= deadline:
            entry.state, entry.reason = "leftover", "the cleanup time budget ran out"
            return []
        timeout = self._cleanup_timeout(deadline)
        if entry.state == "in flight":
            entry.state, entry.reason = "unknown", "the run was interrupted while the POST was in flight"
        if entry.state != "unknown":
            return self._delete(entry, timeout)
        if not entry.name:
            entry.state = "leftover"
            entry.reason += "; no unique name was sent, so it cannot be looked up"
            return []
        found, lookup = self._lookup(entry, timeout)
        done = [lookup]
        if found is None:
            entry.state = "leftover"
            entry.reason += ("; cleanup skipped by a second interruption (its lookup by name was in flight)"
                             if (lookup.error or "").startswith(INTERRUPTED)
                             else f"; looking it up by name failed ({_answer(lookup)})")
            return done
        if not found:
            entry.state = "absent"
            return done
        for rid in found:
            extra = Created(entry.collection, entry.scenario, entry.name, rid, "created")
            done.extend(self._delete(extra, timeout))
            if extra.state != "deleted":
                entry.id, entry.state, entry.reason = rid, "leftover", extra.reason
        if entry.state != "leftover":
            entry.state = "deleted"
        return done

    def _cleanup_timeout(self, deadline: float | None) -> float:
        # cleanup may be slower than the test timeout allows: a lead left behind is worse
        deadline = self._stop_bound(deadline)
        wanted = max(self.settings.target.timeout, 5.0)
        return max(0.1, min(wanted, deadline - time.monotonic())) if deadline is not None else wanted

    def _delete(self, entry: Created, timeout: float) -> list[Exchange]:
        assert entry.url is not None
        why = outside_base(entry.url, self.base_url)
        if why is not None:
            entry.state, entry.reason = "leftover", f"not deleted: {why} (the server gave the id {short(entry.id)})"
            return []
        exchange = send(self.client, "DELETE", entry.url, health=self.health, timeout=timeout,
                        max_body=self.settings.target.max_body, abort=self.cancel.skip_cleanup)
        if exchange.response is not None and exchange.response.status in _GONE:
            entry.state = "deleted"
        elif (exchange.error or "").startswith(INTERRUPTED):
            entry.state = "leftover"
            entry.reason = "cleanup skipped by a second interruption (its DELETE was in flight)"
        else:
            entry.state, entry.reason = "leftover", f"DELETE {_answer(exchange)}"
        return [exchange]

    def _never_created(self, entry: Created) -> str | None:
        """A POST the server dropped unanswered created nothing when no resource bears the unique
        name it sent: said as the evidence for sending it again (None: not known, not sent again)."""
        found, lookup = self._lookup(entry, self.settings.target.timeout, self.cancel.stop)
        if found != [] or not _whole_match_list(lookup, entry.name):
            return None
        return (f"GET {lookup.request.url} answered {lookup.response.status if lookup.response else '?'} with no "
                f"{entry.name!r}: the first was never applied")

    def _lookup(self, entry: Created, timeout: float,
                abort: threading.Event | None = None) -> tuple[list[str] | None, Exchange]:
        """The ids of resources named ``entry.name`` (None when the lookup itself failed)."""
        assert entry.name is not None
        url = build_url(entry.collection, None, None, {"name": entry.name})
        exchange = send(self.client, "GET", url, health=self.health, timeout=timeout,
                        max_body=self.settings.target.max_body, abort=abort or self.cancel.skip_cleanup)
        if exchange.response is None or exchange.error or exchange.response.status not in (200, 206) \
                or exchange.response.truncated:
            return None, exchange
        try:
            items = load_json(exchange.response.body)
        except ValueError:
            return None, exchange
        if not isinstance(items, list):
            return None, exchange
        return [i["id"] for i in items if isinstance(i, dict) and i.get("name") == entry.name
                and isinstance(i.get("id"), str) and i["id"]], exchange

    def _final_sweep(self, result: RunResult) -> None:
        """Whatever no scenario cleaned up (interruption, lost answers) is deleted now, within the
        cleanup budget; what cannot be confirmed deleted is listed as a leftover."""
        pending = self.ledger.open()
        if pending:
            self.observer.cleanup_started(len(pending))
            deadline = time.monotonic() + self.settings.run.cleanup_timeout if self.cancel.cancelled else None
            by_id = {s.id: s for s in result.scenarios}
            with _interruptible(self.cancel):
                self._await_in_flight(pending, deadline)
                for scenario_id in dict.fromkeys(e.scenario for e in pending):
                    exchanges = self._cleanup([e for e in pending if e.scenario == scenario_id], deadline)
                    if scenario_id in by_id:
                        by_id[scenario_id].cleanup.extend(exchanges)
        with self.ledger.lock:
            entries = list(self.ledger.entries)
        result.leftovers = [Leftover(url=e.url or e.collection, id=e.id, name=e.name, reason=e.reason or e.state)
                            for e in entries if e.state in ("leftover", "in flight", "created", "unknown")]

    def _await_in_flight(self, pending: list[Created], deadline: float | None) -> None:
        """A POST still in flight may yet answer with the id: wait for it, within the budget."""
        limit = deadline if deadline is not None else time.monotonic() + self.settings.target.timeout
        while any(e.state == "in flight" for e in pending) and time.monotonic() < (self._stop_bound(limit) or limit) \
                and not self.cancel.skip_cleanup.is_set():
            time.sleep(0.05)


def _created_at(request: HttpRequest, answer: HttpResponse) -> str | None:
    """Where a POST's answer says the resource it created is: its Location, else the collection and
    the id in its body (None when it says neither)."""
    location = answer.header("location")
    if location:
        try:
            return urljoin(request.url, location)
        except ValueError:  # "http://[::1": not a URL; outside_base refuses it and says why
            return location
    rid = _created_id(answer.body)
    return None if rid is None else f"{request.url.split('?', 1)[0].rstrip('/')}/{quote(rid, safe='')}"


def _whole_match_list(lookup: Exchange, name: str | None) -> bool:
    """Whether a ``GET ?name=`` answer lists every resource of that name: an absence on a page of
    them (206, X-Total-Count above the items, a Link to a next page), or in an answer that ignored
    the filter (it lists other names: the server may page by default), proves nothing."""
    response = lookup.response
    if response is None or response.status != 200:
        return False
    try:
        items = load_json(response.body)
    except ValueError:
        return False
    if not isinstance(items, list) or any(not isinstance(i, dict) or i.get("name") != name for i in items):
        return False
    total = (response.header("x-total-count") or "").strip()
    if total.isdigit() and int(total) > len(items):
        return False
    # RFC 8288: rel may list several relation types ("last next")
    return not re.search(r'rel\s*=\s*"?[^";,]*\bnext\b', response.header("link") or "", re.IGNORECASE)


def _writes(step: Step) -> bool:
    """A step that only adds to, changes or removes the scenario's own resources (it reads nothing
    other scenarios' resources could make wrong)."""
    return step.request is not None and step.request.method in ("POST", "PUT", "PATCH", "DELETE")


def _reads_only(scenario: Scenario) -> bool:
    """A scenario that sends nothing but GET changes nothing another could see: it may run beside
    an exclusive one (unless it says it is exclusive itself)."""
    return not scenario.exclusive and all(step.request is not None and step.request.method == "GET"
                                          for step in (*scenario.steps, *scenario.teardown))


def _schedule_key(scenario: Scenario, shared_groups: frozenset[str]) -> tuple[bool, bool, bool, str, bool, int]:
    """Scenarios that only read first (they run beside anything), then exclusive ones (a group whose
    members end their exclusive part early, with `shared` steps, last among them: its tail overlaps
    the others' start); then scenarios that wait for notifications (their waits are long), then by
    how many requests they send one after another (a concurrent block counts once)."""
    steps = (*scenario.steps, *scenario.teardown)
    blocks = Counter(s.group for s in steps if s.group is not None)
    # a block of more requests than its allowance takes more than one round trip
    sequential = sum(1 for s in steps if s.group is None) + sum(-(-n // GROUP_WORKERS) for n in blocks.values())
    return (not _reads_only(scenario), not scenario.exclusive, scenario.exclusive in shared_groups,
            scenario.exclusive, "notifications" not in scenario.requires, -sequential)


@contextmanager
def _authored(what: str) -> Iterator[None]:
    """A template problem the author made (syntax, sandbox, undefined name) is a scenario fault;
    one the data caused (an attribute the saved answer lacks) stays a TemplateProblem."""
    try:
        yield
    except TemplateProblem as exc:
        if exc.author:
            raise _ScenarioFault(f"{what}: {exc}") from exc
        raise


@contextmanager
def _interruptible(cancel: CancelToken) -> Iterator[None]:
    """Ctrl-C during cleanup (when no signal handler is installed) skips the rest of it."""
    try:
        yield
    except KeyboardInterrupt:
        cancel.cancel("interrupted (Ctrl-C)")
        cancel.skip_cleanup.set()


def _footprint(value: Any, limit: int) -> int:
    """Memory a parsed JSON value holds (strings and containers), counted until it passes ``limit``."""
    total, stack = 0, [value]
    while stack and total <= limit:
        node = stack.pop()
        total += sys.getsizeof(node)
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return total


def _absolute(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _size(size: int) -> str:
    return f"{size / (1 << 20):g} MiB" if size % (1 << 20) == 0 else f"{size:,} bytes"


def _resource_key(url: str) -> str:
    return url.split("?", 1)[0].rstrip("/")


def _taken_id(request: HttpRequest, response: HttpResponse) -> str | None:
    """The new id a PATCH set and the server took (a 2xx answer carrying it), else None: the
    resource has moved away from the URL the later steps address."""
    if request.method != "PATCH" or not 200 <= response.status < 300:
        return None
    sent = _json_object(request.body)
    wanted = sent.get("id") if sent is not None else None
    if wanted is None:  # a JSON Patch replacing /id
        ops = [op for op in _json_list(request.body or "") or [] if isinstance(op, dict)
               and op.get("path") == "/id" and op.get("op") in ("replace", "add")]
        wanted = ops[-1].get("value") if ops else None
    current = unquote(_resource_key(request.url).rsplit("/", 1)[-1])
    if not isinstance(wanted, str) or wanted == current or _created_id(response.body) != wanted:
        return None
    return wanted


def _json_object(text: str | None) -> dict[str, Any] | None:
    try:
        data = load_json(text) if text else None
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _json_list(text: str) -> list[Any] | None:
    try:
        data = load_json(text)
    except ValueError:
        return None
    return data if isinstance(data, list) else None


def _expected_change(body: str | None) -> dict[str, Any] | None:
    """What a PATCH body says the resource will show: a merge patch's attributes, or the values a
    JSON Patch adds or replaces at top-level pointers (deeper or JSONPath targets are not predicted,
    and a member a later operation changes again is no longer predicted)."""
    merge = _json_object(body)
    if merge is not None:
        return merge
    try:
        operations = load_json(body) if body else None
    except ValueError:
        return None
    if not isinstance(operations, list):
        return None
    expected: dict[str, Any] = {}
    for op in operations:
        path = op.get("path") if isinstance(op, dict) else None
        if op.get("op") in ("add", "replace") and isinstance(path, str) and path.count("/") == 1 \
                and path.startswith("/") and "~" not in path:
            expected[path[1:]] = op.get("value")
            continue
        for where in (path, op.get("from") if isinstance(op, dict) else None):
            if isinstance(where, str):
                member = _top_member(where)
                if member is None:  # a target not understood: what it changes cannot be predicted
                    expected.clear()
                else:
                    expected.pop(member, None)
    return expected or None


_JSONPATH_MEMBER = re.compile(r"^\$(?:\.([A-Za-z_@][\w@-]*)|\[\s*'([^']+)'\s*\])")


def _top_member(path: str) -> str | None:
    """The top-level member a JSON Pointer or a JSONPath (``$.note[...]``) leads into; None when unknown."""
    if path.startswith("/"):
        return path[1:].split("/", 1)[0].replace("~1", "/").replace("~0", "~")
    found = _JSONPATH_MEMBER.match(path)
    return (found.group(1) or found.group(2)) if found else None


def _took_effect(until: str, answer: HttpResponse, sent: dict[str, Any] | None) -> bool:
    if until == "disappears":
        return answer.status in (404, 410)
    if answer.status != 200:
        return False
    if until == "changes" and sent:
        body = _json_object(answer.body)
        return body is not None and not patch_differences(sent, body)  # a merge patch's null removes
    return True


def _defaulted(source: Any) -> bool:
    """A `save` source with a default: saved whatever the answer (the default when it lacks the value)."""
    return isinstance(source, dict) and "default" in source


def _found_or(ctx: CheckContext, path: str, default: Any) -> Any:
    try:
        return jsonpath.get(ctx.json(), path)
    except (KeyError, CheckFailed, jsonpath.JSONPathProblem):
        return default


def _status_source(source: Any) -> bool:
    """A `save` source that is the answer's status (``{status: true}``)."""
    return isinstance(source, dict) and source.get("status") is True


def _probe_label(kept: list[str], left_out: list[str]) -> str:
    """Name the smaller side of a probe: what it kept, or what it left out."""
    def names(keys: list[str]) -> str:
        return ", ".join(keys[:4]) + (f" and {len(keys) - 4} more" if len(keys) > 4 else "")
    return f"with only {names(kept)}" if len(kept) < len(left_out) else f"without {names(left_out)}"


def _refused(exchange: Exchange, statuses: tuple[int, ...]) -> bool:
    return exchange.response is not None and exchange.response.status in statuses


def _answer(exchange: Exchange) -> str:
    if exchange.response is not None:
        return f"answered {exchange.response.status} {exchange.response.reason}"
    return exchange.error or "no answer"


# -- the pure entry point ---------------------------------------------------------------------------


@contextmanager
def _listener(plan: Plan, settings: Settings) -> Iterator[Listener | None]:
    """The notification listener, for the run only, when a planned scenario needs it."""
    n = settings.notifications
    needed = any("notifications" in s.requires for s in plan.scenarios)
    if n.mode == NotificationMode.OFF or not needed:
        yield None
        return
    with Listener(n.listen_host, n.listen_port, n.callback_url, plan.api.listener_status) as listener:
        yield listener


def execute(
    plan: Plan,
    settings: Settings,
    *,
    observer: RunObserver | None = None,
    cancel: CancelToken | None = None,
    target_info: dict[str, Any] | None = None,
    client_factory: Callable[[Settings], httpx.Client] | None = None,
) -> RunResult:
    """Run the plan against ``settings.target.base_url``; no file or console work.

    The results are unmasked (checks need real values): mask with the settings' redactor before
    writing or showing them (``_outputs.save_results`` does).
    """
    base_url = settings.target.base_url
    if not base_url:
        raise ValueError("execute() needs settings with a base URL")
    make_client = client_factory or (
        lambda s: build_client(s.target, redactor=s.redactor))
    with make_client(settings) as client, _listener(plan, settings) as listener:
        runner = Runner(plan, settings, client, base_url, listener=listener, observer=observer, cancel=cancel)
        return runner.run(target_info)
