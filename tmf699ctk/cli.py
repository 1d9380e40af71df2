"""The command line: the only place that prints errors and turns them into exit codes.

Exit codes: 0 every mandatory check passed; 1 a mandatory (or offered optional) check failed;
2 usage, scenario or config error; 3 target unreachable or run aborted.
"""

# Unlike the other modules, no `from __future__ import annotations`: typer reads the annotations of
# every command (~120 options) each time the kit starts; as objects they are read as they are, as
# strings each was compiled and evaluated twice (~10 ms of CPU per run).

import errno
import faulthandler
import gc
import inspect
import os
import signal
import ssl
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.table import Table

from . import SPEC_NAME, SPEC_VERSION, __version__
from ._config import template_text
from ._console import ConsoleProgress, make_console, print_summary
from ._exceptions import CtkError, UsageError
from ._outputs import OutputPaths, write_outputs
from ._redact import Redactor
from ._results import RunResult
from ._rules import RULES
from ._runner import CancelToken
from ._settings import BY_KEY, FailOn, Settings, build_settings
from ._view import sha256_file as sha256_of

EXIT_PASS, EXIT_FAIL, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help=f"Conformance test kit for the TM Forum {SPEC_NAME} API (v{SPEC_VERSION} and v5.0.0).",
)


def _version(value: bool) -> None:
    if value:
        from ._apis import API_VERSIONS

        typer.echo(f"tmf699ctk {__version__} ({SPEC_NAME} {', '.join('v' + v for v in API_VERSIONS)})")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Exit codes: 0 pass, 1 conformance failure, 2 usage/scenario/config error, 3 unreachable/aborted."""


def exit_code_for(result: RunResult) -> int:
    if result.aborted:
        return EXIT_UNREACHABLE
    if result.scenario_errors():  # the scenario files need fixing before the run says anything
        return EXIT_USAGE
    if result.unreachable:
        return EXIT_UNREACHABLE
    return EXIT_PASS if result.verdict == "PASS" else EXIT_FAIL


@contextmanager
def _signals(cancel: CancelToken) -> Iterator[None]:
    """SIGINT and SIGTERM (a cancelled CI job) stop the run cleanly; a second one skips cleanup."""
    def handler(signum: int, frame: object) -> None:
        cancel.cancel("interrupted by the user (Ctrl-C)" if signum == signal.SIGINT
                      else f"interrupted by {signal.Signals(signum).name} (e.g. a cancelled CI job)")

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


# a stopped run (signal, --max-time) ends within its cleanup budget: drain half of it, clean up within
# it. Past that and this grace it is stuck (a kit defect, e.g. a deadlock): it must not hold a CI job
STOP_GRACE = 30.0


@contextmanager
def _ends_once_stopped(cancel: CancelToken, cleanup_timeout: float) -> Iterator[None]:
    """Once ``cancel`` is set, the block must end within 1.5 * ``cleanup_timeout`` + STOP_GRACE;
    otherwise every thread's stack is printed on stderr and the process exits 3 (nothing else could
    end it but a kill, which would leave no evidence at all)."""
    ended = threading.Event()

    def watch() -> None:
        while not cancel.stop.wait(0.5):
            if ended.is_set():  # a run that ended unstopped: nothing to watch (and no thread left behind)
                return
        bound = 1.5 * cleanup_timeout + STOP_GRACE
        if ended.wait(bound):
            return
        stream = sys.__stderr__
        if stream is not None:
            with suppress(OSError, ValueError):
                stream.write(f"error: the run did not end {bound:g} s after it was stopped ({cancel.reason}); "
                             "this is a defect of the kit, please report it with the stacks below\n")
                stream.flush()
                faulthandler.dump_traceback(file=stream, all_threads=True)
        os._exit(EXIT_UNREACHABLE)

    watcher = threading.Thread(target=watch, name="tmf699ctk-stop-watch", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        ended.set()


def settings_from_cli(config: Path | None, **options: Any) -> Settings:
    """The command line's values (None: not given) keyed like the settings, merged with the
    environment and the config file."""
    cli: dict[str, Any] = {}
    for name, value in options.items():
        option = BY_KEY[CLI_KEYS[name]]
        # a flag that is absent leaves the value to the environment, the config file or the default
        cli[option.key] = (option.flag if value else None) if option.flag is not None else value
    settings = build_settings(cli, config_path=config)
    _masking.append(settings.redactor)  # main() masks what it prints of an error with it
    return settings


_masking: list[Redactor] = []  # the run's redactor, once its settings are built


CLI_KEYS = {
    "base_url": "target.base_url", "api_version": "target.api_version", "header": "target.headers",
    "user": "target.basic_auth", "secret_header": "target.secret_headers", "timeout": "target.timeout",
    "max_body": "target.max_body", "insecure": "target.verify_tls", "ca_bundle": "target.ca_bundle",
    "proxy": "target.proxy", "oauth2_token_url": "target.oauth2.token_url",
    "oauth2_client_id": "target.oauth2.client_id", "oauth2_client_secret": "target.oauth2.client_secret",
    "oauth2_scope": "target.oauth2.scope", "oauth2_audience": "target.oauth2.audience",
    "oauth2_auth_method": "target.oauth2.auth_method", "cert": "target.client_cert", "key": "target.client_key",
    "key_password_env": "target.client_key_password_env",
    "profile": "run.profile", "embedded": "run.embedded", "fault": "run.faults",
    "scenarios": "run.scenario_paths", "scenario": "run.only", "tag": "run.tags", "workers": "run.workers",
    "cleanup_timeout": "run.cleanup_timeout", "clock_skew": "run.clock_skew", "max_time": "run.max_time",
    "notifications": "notifications.mode", "listen": "notifications.listen",
    "callback_url": "notifications.callback_url", "event_timeout": "notifications.event_timeout",
    "quiet_period": "notifications.quiet_period", "report_dir": "output.report_dir", "html": "output.html",
    "junit": "output.junit", "markdown": "output.markdown", "submission": "output.submission",
    "baseline": "run.baseline", "fail_on": "run.fail_on",
}


@app.command()
def run(
    base_url: Annotated[
        str | None,
        typer.Option(
            "--base-url", "-u", metavar="URL", help="Base URL of the TMF699 API, e.g. https://host/tmf-api/sales/v4"
        ),
    ] = None,
    embedded: Annotated[
        bool | None,
        typer.Option("--embedded", help="Start the bundled reference server on a free loopback port and test it."),
    ] = None,
    fault: Annotated[
        list[str] | None,
        typer.Option(
            "--fault",
            metavar="NAME",
            help="With --embedded: inject faults (NAME[,NAME...]; see `serve --list-faults`).",
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", metavar="FILE", help="Config file (see `init`); env TMF699CTK_CONFIG."),
    ] = None,
    api_version: Annotated[
        str | None,
        typer.Option("--api-version", metavar="VERSION",
                     help="TMF699 version under test, 4.0.0 or 5.0.0 (default: from a base URL ending /v4 or /v5)."),
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option("--profile", "-p", metavar="PROFILE", help="official (TM Forum kit) or full (default)."),
    ] = None,
    scenarios: Annotated[
        list[Path] | None,
        typer.Option("--scenarios", metavar="PATH", help="Scenario files or folders instead of the bundled suite."),
    ] = None,
    scenario: Annotated[
        list[str] | None, typer.Option("--scenario", "-s", metavar="ID", help="Run only this scenario ID (repeatable).")
    ] = None,
    tag: Annotated[
        list[str] | None,
        typer.Option("--tag", "-t", metavar="TAG", help="Run only scenarios with this tag (repeatable)."),
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", "-w", metavar="N", help="Scenarios run at once (default 4).")
    ] = None,
    header: Annotated[
        list[str] | None,
        typer.Option("--header", "-H", metavar="'NAME: VALUE'", help="Extra header 'Name: value' (repeatable).")
    ] = None,
    user: Annotated[
        str | None, typer.Option("--user", metavar="NAME:PASSWORD", help="Basic auth 'name:password'.")
    ] = None,
    secret_header: Annotated[
        list[str] | None,
        typer.Option("--secret-header", metavar="NAME", help="Mask this header's value in every output (repeatable)."),
    ] = None,
    insecure: Annotated[
        bool | None, typer.Option("--insecure", "-k", help="Do not verify TLS certificates.")
    ] = None,
    ca_bundle: Annotated[
        str | None, typer.Option("--ca-bundle", metavar="FILE", help="Verify TLS with this CA bundle (PEM).")
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", metavar="SECONDS",
                     help="Seconds for each whole exchange: connect, headers and body (default 10)."),
    ] = None,
    max_body: Annotated[
        str | None,
        typer.Option("--max-body", metavar="SIZE", help="Largest response body read, e.g. 16MiB (default)."),
    ] = None,
    proxy: Annotated[str | None, typer.Option("--proxy", metavar="URL", help="Proxy URL for every request.")] = None,
    oauth2_token_url: Annotated[
        str | None,
        typer.Option("--oauth2-token-url", metavar="URL",
                     help="OAuth2 client credentials: the token endpoint; its bearer token is sent with every "
                          "request (renewed before expiry and once after a 401)."),
    ] = None,
    oauth2_client_id: Annotated[
        str | None, typer.Option("--oauth2-client-id", metavar="ID", help="OAuth2 client id.")
    ] = None,
    oauth2_client_secret: Annotated[
        str | None,
        typer.Option("--oauth2-client-secret", metavar="SECRET",
                     help="OAuth2 client secret (safer: TMF699CTK_OAUTH2_CLIENT_SECRET, or ${ENV} in the config)."),
    ] = None,
    oauth2_scope: Annotated[
        str | None, typer.Option("--oauth2-scope", metavar="SCOPES", help="Scopes asked for, space-separated.")
    ] = None,
    oauth2_audience: Annotated[
        str | None, typer.Option("--oauth2-audience", metavar="AUDIENCE", help="Audience sent to the token endpoint.")
    ] = None,
    oauth2_auth_method: Annotated[
        str | None,
        typer.Option("--oauth2-auth-method", metavar="METHOD",
                     help="Client authentication at the token endpoint: basic (client_secret_basic, default) or "
                          "body (client_secret_post)."),
    ] = None,
    cert: Annotated[
        str | None, typer.Option("--cert", metavar="FILE", help="Mutual TLS: client certificate (PEM).")
    ] = None,
    key: Annotated[
        str | None, typer.Option("--key", metavar="FILE", help="Mutual TLS: the certificate's private key (PEM).")
    ] = None,
    key_password_env: Annotated[
        str | None,
        typer.Option("--key-password-env", metavar="NAME",
                     help="Environment variable holding the --key passphrase (never the passphrase itself)."),
    ] = None,
    cleanup_timeout: Annotated[
        float | None,
        typer.Option("--cleanup-timeout", metavar="SECONDS",
                     help="After an interruption, seconds allowed for deleting what the run created (default 10)."),
    ] = None,
    clock_skew: Annotated[
        float | None,
        typer.Option("--clock-skew", metavar="SECONDS",
                     help="How far the server's clock may be ahead before a date counts as future (default 300)."),
    ] = None,
    max_time: Annotated[
        float | None,
        typer.Option("--max-time", metavar="SECONDS",
                     help="Stop the run after this long as if interrupted: cleanup, partial results, exit 3 "
                          "(default: no limit)."),
    ] = None,
    report_dir: Annotated[
        Path | None,
        typer.Option("--report-dir", "-o", metavar="DIR", help="Output folder (default reports/<timestamp>/)."),
    ] = None,
    html: Annotated[
        Path | None,
        typer.Option(
            "--html", metavar="FILE",
            help="HTML report path (default: in the report folder, named <COMPANY>-TMF699-v<version>-HTMLReport.html).",
        ),
    ] = None,
    junit: Annotated[Path | None, typer.Option("--junit", metavar="FILE", help="Also write JUnit XML here.")] = None,
    markdown: Annotated[
        Path | None, typer.Option("--markdown", metavar="FILE", help="Also write a Markdown summary here.")
    ] = None,
    notifications: Annotated[
        str | None,
        typer.Option(
            "--notifications",
            metavar="MODE",
            help="Event delivery checks: off, optional (default: a missing event warns) or mandatory.",
        ),
    ] = None,
    listen: Annotated[
        str | None,
        typer.Option(
            "--listen",
            metavar="HOST:PORT",
            help="Where the notification listener binds, HOST:PORT (default 127.0.0.1:0).",
        ),
    ] = None,
    callback_url: Annotated[
        str | None,
        typer.Option(
            "--callback-url",
            metavar="URL",
            help="The callback URL told to the server, when it reaches the kit through another address.",
        ),
    ] = None,
    event_timeout: Annotated[
        float | None,
        typer.Option("--event-timeout", metavar="SECONDS", help="Seconds to wait for each event (default 5).")
    ] = None,
    quiet_period: Annotated[
        float | None,
        typer.Option("--quiet-period", metavar="SECONDS",
                     help="Seconds to watch for an event that must not come (default 1).")
    ] = None,
    submission: Annotated[
        bool | None,
        typer.Option("--submission", help="Also write the certification document and bundle (see `submission`)."),
    ] = None,
    baseline: Annotated[
        Path | None,
        typer.Option("--baseline", metavar="RESULTS",
                     help="An earlier run's results.json: mark every check new failure, still failing, fixed, "
                          "new pass, unverified, new or gone."),
    ] = None,
    fail_on: Annotated[
        str | None,
        typer.Option("--fail-on", metavar="WHEN",
                     help="verdict (default: exit 1 on a FAIL verdict) or new (exit 1 only for a blocking "
                          "failure the --baseline did not have; the verdict is still shown)."),
    ] = None,
) -> None:
    """Run the conformance suite against a TMF699 server and write the reports.

    Every option also reads an environment variable (TMF699CTK_<OPTION>, e.g. TMF699CTK_BASE_URL);
    precedence: command line > environment > config file > defaults (see `tmf699ctk config`).
    Writes results.json and the HTML report into the report folder; a Markdown summary is also
    appended to $GITHUB_STEP_SUMMARY when that variable is set.
    """
    from . import _pipeline
    from ._plan import build_plan

    settings = settings_from_cli(
        config, base_url=base_url, embedded=embedded, fault=fault, api_version=api_version, profile=profile,
        scenarios=scenarios, scenario=scenario, tag=tag, workers=workers, header=header, user=user,
        secret_header=secret_header, insecure=insecure, ca_bundle=ca_bundle, timeout=timeout,
        max_body=max_body, proxy=proxy, oauth2_token_url=oauth2_token_url, oauth2_client_id=oauth2_client_id,
        oauth2_client_secret=oauth2_client_secret, oauth2_scope=oauth2_scope, oauth2_audience=oauth2_audience,
        oauth2_auth_method=oauth2_auth_method, cert=cert, key=key, key_password_env=key_password_env,
        cleanup_timeout=cleanup_timeout, clock_skew=clock_skew, max_time=max_time,
        report_dir=report_dir, html=html, junit=junit, markdown=markdown, notifications=notifications,
        listen=listen, callback_url=callback_url, event_timeout=event_timeout, quiet_period=quiet_period,
        submission=submission, baseline=baseline, fail_on=fail_on,
    )
    if not settings.run.embedded and not settings.target.base_url:
        raise UsageError("give --base-url URL (or target.base_url in the config file, or TMF699CTK_BASE_URL), "
                         "or use --embedded")
    if settings.run.faults:
        from ._plan import api_version as version_of
        from .server import parse_faults_for

        try:
            parse_faults_for(",".join(settings.run.faults), version_of(settings))
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
    inputs = None
    if settings.output.submission:
        from ._submission_config import load_submission_inputs

        # the document's fields are checked before anything is sent: a missing one is not found after the run
        inputs = load_submission_inputs(config, dict(settings.report))
    # the modules and the plan live as long as the process: the garbage collections need not go through
    # them (the one full collection a run made took ~20 ms of CPU, every thread paused)
    gc.freeze()
    plan = build_plan(settings)
    gc.freeze()
    console = make_console()
    cancel = CancelToken()
    with _signals(cancel), _ends_once_stopped(cancel, settings.run.cleanup_timeout), \
            ConsoleProgress(console, settings.redactor) as progress:
        finished = _pipeline.run(settings, observer=progress, cancel=cancel, plan=plan)
    result = finished.result
    print_summary(console, result, [str(p) for p in (finished.outputs.results, *finished.written.paths)])
    for problem in finished.written.problems:
        make_console(stderr=True).print(f"error: {problem} (results.json was written)")
    if inputs is not None:
        from ._submission_bundle import describe, write_submission

        outcome = write_submission(result, finished.outputs.results, inputs, finished.outputs.folder)
        for line in describe(outcome):
            console.print(line)
    code = exit_code_for(result)
    if result.baseline is not None:
        from ._baseline_view import print_comparison

        print_comparison(console, result)
        if settings.run.fail_on == FailOn.NEW and code == EXIT_FAIL:
            code = _exit_for_new_failures(console, result)
    if finished.written.problems and code == EXIT_PASS:  # an output asked for is missing: not a clean pass
        code = EXIT_USAGE
    raise typer.Exit(code)


def _exit_for_new_failures(console: Any, result: RunResult) -> int:
    """--fail-on new: exit 1 only when a blocking failure is new; say why the verdict is not the exit code."""
    from ._baseline import comparison

    compared = comparison(result)
    if compared is not None and compared.new_failures():
        return EXIT_FAIL
    console.print(f"exit {EXIT_PASS} (--fail-on new): no new failure since the baseline; the verdict is "
                  f"still {result.verdict}")
    return EXIT_PASS


@app.command()
def report(
    results: Annotated[Path, typer.Argument(help="A results.json written by `run`.")],
    html: Annotated[
        Path | None, typer.Option("--html", help="HTML report path (default: next to the results file).")
    ] = None,
    junit: Annotated[Path | None, typer.Option("--junit", help="Write JUnit XML here.")] = None,
    markdown: Annotated[Path | None, typer.Option("--markdown", help="Write a Markdown summary here.")] = None,
) -> None:
    """Re-render the HTML report, JUnit XML or Markdown from a saved results.json."""
    try:
        run_result = RunResult.read(results)
    except OSError as exc:
        raise UsageError(f"cannot read {results}: {exc.strerror or exc}") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{results} is not a tmf699ctk results file: {exc}") from exc
    from ._evidence import derived_problems

    disagreements = derived_problems(run_result)
    for problem in disagreements[:5]:  # the outputs show what the checks give, never what the file claims
        make_console(stderr=True).print(f"note: results.json's {problem}; the outputs show what the checks give")
    if len(disagreements) > 5:
        make_console(stderr=True).print(f"note: ... and {len(disagreements) - 5} more disagreements")
    from ._outputs import distinct_outputs
    from ._view import report_filename

    page = html or results.parent / report_filename(run_result)
    distinct_outputs([(results, "the results file"), (page, "the HTML report"), (junit, "--junit"),
                      (markdown, "--markdown")])
    written = write_outputs(run_result, results, OutputPaths(results.parent, html, junit, markdown))
    console = make_console()
    for path in written.paths:
        console.print(f"wrote {path}")
    for problem in written.problems:
        make_console(stderr=True).print(f"error: {problem}")
    # writing them is the whole job: an output that could not be written is the user's path's fault
    raise typer.Exit(EXIT_USAGE if written.problems else exit_code_for(run_result))


@app.command()
def verify(
    html: Annotated[Path, typer.Argument(help="An HTML report written by tmf699ctk, or a certification bundle.")],
    results: Annotated[Path | None, typer.Argument(help="The results.json the report was rendered from.")] = None,
) -> None:
    """Check that a report and its results.json are authentic: the digest matches and re-rendering
    the results gives the report byte for byte. Given a certification bundle, also check its manifest
    and that its documents' names, versions, date and verdict match its results.json.
    Exit 0 when authentic, 1 when not."""
    from ._outputs import verify_report

    if results is None:
        _verify_bundle(html)
    try:
        problems = verify_report(html, results)
    except OSError as exc:
        raise UsageError(f"cannot read {exc.filename}: {exc.strerror}") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{results} is not a tmf699ctk results file: {exc}") from exc
    console = make_console()
    for problem in problems:
        console.print(f"NOT AUTHENTIC: {problem}")
    if not problems:
        console.print(f"authentic: {html} is the rendering of {results} (SHA-256 {sha256_of(results)})")
    raise typer.Exit(EXIT_FAIL if problems else EXIT_PASS)


def _verify_bundle(bundle: Path) -> NoReturn:
    from ._submission_bundle import verify_bundle

    if bundle.suffix.lower() != ".zip":
        raise UsageError(f"give the results.json that {bundle} was rendered from, or a certification bundle (.zip)")
    problems = verify_bundle(bundle)
    console = make_console()
    for problem in problems:
        console.print(f"NOT AUTHENTIC: {problem}")
    if not problems:
        console.print(f"authentic: {bundle}: every file matches its manifest, the report is the rendering of its "
                      "results.json and the documents state that run's names, versions, date and verdict")
    raise typer.Exit(EXIT_FAIL if problems else EXIT_PASS)


@app.command()
def submission(
    results: Annotated[Path, typer.Argument(help="A results.json written by `run`.")],
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Config file with the submission: section (see `init`).")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output folder (default: next to results).")] = None,
    formats: Annotated[
        list[str] | None,
        typer.Option("--format", "-f", metavar="FORMAT",
                     help="html, docx or md (repeatable; default: all, docx when the docx extra is installed)."),
    ] = None,
    require_pass: Annotated[
        bool, typer.Option("--require-pass", help="Refuse the bundle (exit 1) unless the run passed and is complete.")
    ] = False,
) -> None:
    """Write the TM Forum conformance certification document for a run, and the bundle to submit:
    <COMPANY>-TMF699-v<version>-certification.zip with the documents, the HTML report, results.json
    and a manifest (check it with `verify BUNDLE.zip`)."""
    from ._submission_bundle import describe, read_run, write_submission
    from ._submission_config import load_submission_inputs

    run_result = read_run(results)
    inputs = load_submission_inputs(config, run_result.metadata, report_source=str(results))
    outcome = write_submission(run_result, results, inputs, out or results.parent, formats, require_pass)
    console = make_console()
    for line in describe(outcome):
        console.print(line)
    if outcome.refused or not outcome.facts.passed:
        raise typer.Exit(exit_code_for(run_result) or EXIT_FAIL)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0 picks a free one).")] = 8699,
    base_path: Annotated[
        str | None,
        typer.Option("--base-path", help="Where the API is mounted (default: the version's, /tmf-api/sales/v4 or "
                                         "/tmf-api/salesManagement/v5)."),
    ] = None,
    api_version: Annotated[
        str, typer.Option("--api-version", metavar="VERSION", help="TMF699 version served: 4.0.0 or 5.0.0.")
    ] = "4.0.0",
    accepted: Annotated[
        bool, typer.Option("--accepted", help="(v5) Answer every write 202 Accepted and apply it a moment later.")
    ] = False,
    fault: Annotated[
        list[str] | None, typer.Option("--fault", metavar="NAME", help="Inject faults NAME[,NAME...].")
    ] = None,
    list_faults: Annotated[
        bool, typer.Option("--list-faults", help="List the injectable faults (of --api-version).")
    ] = False,
    tls_cert: Annotated[
        Path | None, typer.Option("--tls-cert", help="Serve HTTPS with this certificate chain (PEM).")
    ] = None,
    tls_key: Annotated[Path | None, typer.Option("--tls-key", help="The certificate's private key (PEM).")] = None,
    tls_client_ca: Annotated[
        Path | None,
        typer.Option("--tls-client-ca", metavar="FILE",
                     help="With --tls-cert: require a client certificate signed by this CA (PEM), i.e. mutual TLS."),
    ] = None,
    latency_ms: Annotated[
        float, typer.Option("--latency-ms", min=0, metavar="MS", help="Wait this long before handling each request.")
    ] = 0.0,
    jitter_ms: Annotated[
        float, typer.Option("--jitter-ms", min=0, metavar="MS", help="Plus a random wait of up to this long.")
    ] = 0.0,
    log: Annotated[bool, typer.Option("--log", help="Print one line per request to stderr.")] = False,
) -> None:
    """Start the reference TMF699 server on its own (Ctrl-C stops it)."""
    from ._apis import api_spec
    from .server import ReferenceServer, faults_of, parse_faults_for

    console = make_console()
    try:
        api = api_spec(api_version)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    if accepted and api.major != "5":
        raise UsageError("--accepted is a TMF699 v5 behaviour (v4 has no 202 Accepted): add --api-version 5.0.0")
    if list_faults:
        table = Table("fault", "description", "rules it must trip", title=f"Faults of the TMF699 v{api.version} mode",
                      title_justify="left")
        for f in faults_of(api.version):
            table.add_row(f.name, f.description, ", ".join(f.rules))
        console.print(table)
        return
    try:
        faults = parse_faults_for(",".join(fault or []), api.version)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    if (tls_cert is None) != (tls_key is None):
        raise UsageError("--tls-cert and --tls-key go together")
    tls = (str(tls_cert), str(tls_key)) if tls_cert and tls_key else None
    if tls_client_ca and not tls:
        raise UsageError("--tls-client-ca needs --tls-cert and --tls-key (mutual TLS is HTTPS)")
    try:
        server = ReferenceServer(host=host, port=port, base_path=base_path or api.default_base_path, faults=faults,
                                 tls=tls, tls_client_ca=str(tls_client_ca) if tls_client_ca else None,
                                 api_version=api.version, accepted=accepted, latency_ms=latency_ms,
                                 jitter_ms=jitter_ms, log=_request_log if log else None)
    except ssl.SSLError as exc:
        raise UsageError(f"cannot load the TLS files: {exc.reason or exc}") from exc
    except OSError as exc:
        raise UsageError(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from exc
    console.print(
        f"TMF699 v{api.version} reference server on {server.url}"
        + (" (writes answered 202 Accepted)" if accepted else "")
        + (f" with faults {', '.join(sorted(faults))}" if faults else "")
        + (f", client certificates signed by {tls_client_ca} required" if tls_client_ca else "")
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        console.print("stopped")
    finally:
        server.httpd.server_close()


def _request_log(line: str) -> None:
    from datetime import datetime

    sys.stderr.write(f"{datetime.now().isoformat(timespec='milliseconds')} {line}\n")
    sys.stderr.flush()


@app.command("list")
def list_(
    profile: Annotated[str | None, typer.Option("--profile", "-p", help="Only this profile's scenarios.")] = None,
    scenarios: Annotated[list[Path] | None, typer.Option("--scenarios", help="Scenario files or folders.")] = None,
    api_version: Annotated[
        str, typer.Option("--api-version", metavar="VERSION", help="The suite and rules of this TMF699 version.")
    ] = "4.0.0",
) -> None:
    """Show the scenarios and the rule catalogue (rule ID, level, title) of a TMF699 version."""
    from ._apis import API_VERSIONS
    from ._scenarios import load_scenarios, select
    from ._settings import Profile

    if api_version not in API_VERSIONS:
        raise UsageError(f"--api-version must be one of {', '.join(API_VERSIONS)}")
    console = make_console()
    loaded = [s for s in load_scenarios(scenarios or None) if s.applies_to(api_version)]
    if profile:
        try:
            loaded = select(loaded, Profile(profile))
        except ValueError as exc:
            raise UsageError(f"--profile must be one of {', '.join(p.value for p in Profile)}") from exc
    table = Table("scenario", "profiles", "steps", "checks", "title", title=f"Scenarios (TMF699 v{api_version})",
                  title_justify="left")
    for s in loaded:
        table.add_row(
            s.id, ",".join(s.profiles), str(len(s.steps)), str(sum(len(st.expect) for st in s.steps)), s.title
        )
    console.print(table)
    applicable = [r for r in RULES if r.applies_to(api_version)]
    rules = Table("rule", "level", "family", "title", title=f"Rules of TMF699 v{api_version} ({len(applicable)})",
                  title_justify="left")
    for r in applicable:
        rules.add_row(r.id, r.level.value, r.family, r.title)
    console.print(rules)


@app.command()
def selftest(
    fault: Annotated[
        list[str] | None, typer.Option("--fault", metavar="NAME", help="Only these faults (repeatable).")
    ] = None,
    jobs: Annotated[
        int, typer.Option("--jobs", "-j", help="Runs working at once (runs waiting out a bound go beside them).")
    ] = 2,
    api_version: Annotated[
        str, typer.Option("--api-version", metavar="VERSION", help="Prove the suite of this TMF699 version.")
    ] = "4.0.0",
) -> None:
    """Prove the suite: clean servers must pass with no failed check, every injected fault must fail.

    Exits 0 when every fault is detected and nothing is a false alarm, 1 otherwise, 3 when interrupted
    or when a run has not ended after 10 minutes (a kit defect: its threads' stacks are printed).
    """
    from ._selftest import selftest as run_selftest

    console = make_console()
    table = Table(
        "target / fault", "verdict", "expected rules", "result", title="Detection matrix", title_justify="left"
    )
    def interrupt(signum: int, frame: object) -> None:  # SIGTERM (a cancelled CI job) as Ctrl-C: exit 3
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        outcomes = run_selftest(
            fault, jobs=jobs, on_outcome=lambda o: console.print(f"{'ok  ' if o.ok else 'MISS'} {o.name}"),
            api_version=api_version,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    except KeyboardInterrupt:  # the runs in progress are stopped with their servers (nothing to clean up)
        sys.stderr.write("interrupted: the self-check did not finish\n")
        raise typer.Exit(EXIT_UNREACHABLE) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
    for o in outcomes:
        table.add_row(
            o.name, o.verdict, ", ".join(o.expected) or "-", o.verdict_line(), style=None if o.ok else "bold red"
        )
    console.print(table)
    faults = [o for o in outcomes if o.is_fault]
    misses = [o.name for o in outcomes if not o.ok]
    console.print(
        f"{sum(o.ok for o in faults)}/{len(faults)} faults detected; "
        f"{sum(o.ok for o in outcomes if not o.is_fault)}/{len(outcomes) - len(faults)} clean servers "
        f"passed" + (f"; problems: {', '.join(misses)}" if misses else "")
    )
    raise typer.Exit(EXIT_FAIL if misses else EXIT_PASS)


@app.command()
def validate(
    paths: Annotated[list[Path] | None, typer.Argument(help="Scenario files or folders (default: bundled).")] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="Also validate this config file.")] = None,
) -> None:
    """Check scenario files and a config file without sending any request."""
    from ._apis import api_spec
    from ._config import effective_payloads, validate_payloads
    from ._plan import api_version
    from ._scenarios import load_scenarios
    from ._schemas import SchemaStore

    loaded = load_scenarios(paths or None)
    steps = sum(len(s.steps) + len(s.teardown) for s in loaded)
    message = f"{len(loaded)} scenarios, {steps} steps: valid"
    if config is not None:
        settings = build_settings({}, config_path=config)
        api = api_spec(api_version(settings))
        validate_payloads(effective_payloads(settings.payloads, api), SchemaStore.load(api.schemas),
                          settings.config_file, api)
        message += f"; config {config}: valid"
    make_console().print(message)


def config_(**options: Any) -> None:
    """Print the settings a run with these options would use, and where each value comes from
    (secrets masked). Takes every option of `run`, so you see what a command line would do.

    Precedence: command line > environment (TMF699CTK_*) > config file > defaults.
    """
    from ._settings import effective

    settings = settings_from_cli(options.pop("config"), **options)
    console = make_console()
    if settings.config_file:
        console.print(f"config file: {settings.config_file}")
    table = Table("setting", "environment variable", "value", "source", title="Effective settings",
                  title_justify="left")
    for row in effective(settings):
        table.add_row(*row)
    console.print(table)


# `config` takes exactly the options of `run` (declared once, there): an option added to `run` is
# shown by `config` without a second declaration that could drift
config_.__signature__ = inspect.signature(run, eval_str=True)  # type: ignore[attr-defined]
app.command("config")(config_)


@app.command()
def diff(
    baseline: Annotated[Path, typer.Argument(help="The earlier run's results.json.")],
    results: Annotated[Path, typer.Argument(help="The later run's results.json.")],
) -> None:
    """Compare two runs check by check (matched by scenario, step and rule ID): new failures, still
    failing, fixed, new passes, unverified, new and gone checks.

    Exit 0 when the later run has no new blocking failure, 1 when it has.
    """
    from ._baseline import Baseline, compare
    from ._baseline_view import print_comparison

    before, after = Baseline.load(baseline), Baseline.load(results).run
    compared = compare(after, before)
    after.baseline = compared.to_dict()
    console = make_console()
    console.print(f"{results}: verdict {after.verdict}")
    print_comparison(console, after)
    new = compared.new_failures()
    console.print(f"{len(new)} new blocking failure{'' if len(new) == 1 else 's'}: exit "
                  f"{EXIT_FAIL if new else EXIT_PASS}")
    raise typer.Exit(EXIT_FAIL if new else EXIT_PASS)


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the config file.")] = Path("tmf699ctk.yaml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    api_version: Annotated[
        str, typer.Option("--api-version", metavar="VERSION", help="Write the payloads of this TMF699 version.")
    ] = "4.0.0",
    prompt: Annotated[
        bool | None,
        typer.Option("--prompt/--no-prompt", help="Ask for the certification fields (default: when interactive)."),
    ] = None,
) -> None:
    """Write a commented config file to adapt (base URL, auth, payloads, report and submission fields)."""
    from ._submission_config import REQUIRED, fill_template, init_answers, missing_after_init

    if os.path.exists(path) and not force:  # Path.exists() raises on a name too long (Python 3.11)
        raise UsageError(f"{path} exists; use --force to overwrite it")
    try:
        text, missing = template_text(api_version), list(REQUIRED)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    if prompt if prompt is not None else sys.stdin is not None and sys.stdin.isatty():  # None: closed (`<&-`)
        if sys.stdin is None:
            raise UsageError("--prompt reads the answers from standard input, which is closed")
        try:
            answers = init_answers(lambda question, default: typer.prompt(question, default=default,
                                                                          show_default=bool(default)))
        except typer.Abort as exc:  # what the prompt makes of the end of its input, and of Ctrl-C
            if isinstance(exc.__context__, EOFError):
                raise UsageError("standard input ended before every --prompt question was answered; "
                                 "nothing was written") from None
            # Ctrl-C (click's "Aborted!" and exit 1 would read as a conformance failure)
            sys.stderr.write("\ninterrupted: nothing was written\n")
            raise typer.Exit(EXIT_UNREACHABLE) from None
        text, missing = fill_template(text, answers), missing_after_init(answers)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from exc
    console = make_console()
    console.print(f"wrote {path}; edit it, then: tmf699ctk run --config {path}")
    if missing:
        console.print(f"for the certification document (`run --submission`), fill in: {', '.join(missing)}")


# what a write meets when nobody can read it any more: a closed pipe, a full device, a closed
# descriptor, an I/O error of the device
_READER_GONE = frozenset({errno.EPIPE, errno.ENOSPC, errno.EBADF, errno.EIO})


class _ReaderMayLeave:
    """A standard stream whose reader may be gone without breaking the run: a closed pipe
    (`tmf699ctk run | head`), a full device, a closed descriptor. What cannot be written is dropped,
    and the run goes on to write its results, report and exit code. (Click would end the command at
    the first failed write, exit 1, having saved nothing; a full device was an internal error.) Text
    the stream's encoding cannot carry is written escaped (``\\xe9``), not lost."""

    def __init__(self, stream: Any, fd: int) -> None:
        if stream is None:  # the descriptor was closed before the start (`>&-`): Python has no stream
            stream = self._devnull(fd)
        self._stream = stream
        self.gone = False

    @staticmethod
    def _devnull(fd: int) -> Any:
        """/dev/null on ``fd`` itself: a file the run opens later must not take that descriptor."""
        null = os.open(os.devnull, os.O_WRONLY)
        if null != fd:
            os.dup2(null, fd)
            os.close(null)
        return open(fd, "w", encoding="utf-8", closefd=False)

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                return int(self._stream.write(text))
            except UnicodeEncodeError:
                encoding = getattr(self._stream, "encoding", None) or "ascii"
                return self.write(text.encode(encoding, "backslashreplace").decode(encoding))
            except (OSError, ValueError) as exc:
                if isinstance(exc, OSError) and exc.errno not in _READER_GONE:
                    raise
                if isinstance(exc, ValueError) and not getattr(self._stream, "closed", False):
                    raise
                self._leave()
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if not self.gone:
            try:
                self._stream.flush()
            except OSError as exc:
                if exc.errno not in _READER_GONE:
                    raise
                self._leave()

    def _leave(self) -> None:
        self.gone = True
        # what the stream still buffers, and the interpreter's own flush at exit, go nowhere instead
        with suppress(OSError, ValueError, AttributeError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def main() -> None:
    """Entry point: every CtkError becomes one clear line and its exit code, never a traceback.

    Click reports its own usage errors with exit code 2.
    """
    from ._memory import release_large_buffers

    release_large_buffers()  # the memory bound against hostile servers counts on it
    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _ReaderMayLeave(sys.stdout, 1), _ReaderMayLeave(sys.stderr, 2)
    try:
        _run_app()
    finally:
        if isinstance(sys.stdout, _ReaderMayLeave):
            sys.stdout = streams[0]
        if isinstance(sys.stderr, _ReaderMayLeave):
            sys.stderr = streams[1]


def _run_app() -> None:
    """The app, with a kit error or bug said in one line and its exit code."""

    def shown(exc: BaseException) -> str:  # an exception's text may carry a URL or value with a secret
        text = str(exc)
        return _masking[-1].text(text) if _masking else text

    try:
        try:
            app()
        except SystemExit as exc:  # typer makes an interrupt inside a command exit 130, silently
            if _interrupted(exc):
                raise KeyboardInterrupt from None
            raise
    except CtkError as exc:
        sys.stderr.write(f"error: {shown(exc)}\n")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:  # before the run's own handler is installed, or after it is gone
        sys.stderr.write("interrupted\n")
        sys.exit(EXIT_UNREACHABLE)
    except Exception as exc:  # a kit bug: one line, the traceback only on request
        if os.environ.get("TMF699CTK_DEBUG"):
            raise
        sys.stderr.write(f"internal error: {type(exc).__name__}: {shown(exc)} (set TMF699CTK_DEBUG=1 for details; "
                         "please report it)\n")
        sys.exit(EXIT_UNREACHABLE)


def _interrupted(exc: SystemExit) -> bool:
    """typer's own exit for a KeyboardInterrupt (``Exit(130)`` raised from it): the kit says it as
    every other interrupt, in one line with exit code 3."""
    exit_ = exc.__context__
    return exc.code == 130 and isinstance(exit_, typer.Exit) and isinstance(exit_.__cause__, KeyboardInterrupt)


def entry() -> None:
    """The console script: main(), then leave without the interpreter's teardown.

    Everything is written and closed by then (results, reports, the step summary); freeing every
    object of a run one by one costs ~0.15 s, and after an interruption a request thread stuck on
    the server would hold the exit until its deadline."""
    code: object
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code
    if code is None:
        code = 0
    elif not isinstance(code, int):  # sys.exit("message"): said on stderr, exit 1, as Python does
        sys.stderr.write(f"{code}\n")
        code = 1
    for stream in (sys.stdout, sys.stderr):
        with suppress(OSError, ValueError, AttributeError):  # a closed pipe (`| head`), no stream (`>&-`)
            stream.flush()
    os._exit(code)
