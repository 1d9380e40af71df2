"""`python -m tmf699ctk ...` as a real process, without paying the interpreter's start-up each time.

A fresh `python -m tmf699ctk` spends ~0.4 s of CPU importing typer, rich, httpx, jsonschema and the
kit before it reads its arguments, and the suite starts ~190 of them. Here one *zygote* per test
process, a separate interpreter that has imported the kit's modules and built what a process builds
once (each version's suite and schemas, the report template) and done nothing else, forks a child for
each command. The child takes the command's working directory, environment and standard
streams (stdin /dev/null, stdout and stderr to files), then runs `python -m tmf699ctk` the way the
interpreter does (``runpy._run_module_as_main``): the console script's ``entry()`` ends it with
its own exit code. Exit code, stdout and stderr are the process's own; a traceback, a hang or a
crash shows as it would.

What a fork cannot reproduce runs as a real ``python -m tmf699ctk``: an environment that changes
a variable other than those the kit reads while it runs (interpreter and library start-up
variables are fixed when the zygote starts), or input on stdin. Commands that are about the
process itself (signals, the start-up interrupt, the console script in CI examples) use real
processes in their own tests; test_cliproc.py proves both ways give the same answers.
"""

from __future__ import annotations

import json
import locale
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

# what a forked child may see changed from the zygote's environment: read by the kit at run time
RUNTIME_VARIABLES = re.compile(r"(TMF699CTK_\w+|CTK_\w+|NO_COLOR|COLUMNS|GITHUB_STEP_SUMMARY|PYTEST_CURRENT_TEST)")

# the zygote: imports what a command imports, then forks one child per request line
ZYGOTE = r'''
import gc, importlib, json, os, pkgutil, runpy, sys, threading, traceback
import tmf699ctk
for info in pkgutil.walk_packages(tmf699ctk.__path__, "tmf699ctk."):
    if info.name not in ("tmf699ctk.__main__", "tmf699ctk.docs", "tmf699ctk.pytest_plugin"):
        try:
            importlib.import_module(info.name)
        except ImportError:  # an optional extra that is not installed: a command imports it, or fails, itself
            pass
# what each command would otherwise build again in every child, and a process keeps once built: each
# version's bundled suite (scenarios parsed, their templates compiled) and schemas, the HTML report's
# template (~0.13 s of each `run`'s CPU)
from tmf699ctk import _plan, _report_html, _settings
for version in ("5.0.0", "4.0.0"):
    _plan.build_plan(_settings.build_settings({"target.api_version": version}, env={}))
_report_html._template()
# all of it lives as long as the zygote: a child's full collections need not go through it again
# (~0.07 s of a child's `run`) nor write to its pages (copied on write after the fork)
gc.freeze()
requests, replies = os.fdopen(int(sys.argv[1]), "r"), os.fdopen(int(sys.argv[2]), "w")
devnull = os.open(os.devnull, os.O_RDWR)
os.dup2(devnull, 0)
for line in requests:
    job = json.loads(line)
    assert threading.active_count() == 1, "the zygote must fork with one thread"
    sys.stdout.flush(); sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            requests.close(); replies.close()
            os.chdir(job["cwd"])
            os.environ.clear(); os.environ.update(job["env"])
            for fd, path in ((1, job["stdout"]), (2, job["stderr"])):
                os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), fd)
            sys.argv = ["-m", *job["args"]]
            runpy._run_module_as_main("tmf699ctk")  # what `python -m tmf699ctk` does
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:
            traceback.print_exc()
        finally:
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except Exception:
                    pass
            os._exit(code)
    replies.write(json.dumps({"pid": pid}) + "\n"); replies.flush()
    _, status = os.waitpid(pid, 0)
    replies.write(json.dumps({"status": os.waitstatus_to_exitcode(status)}) + "\n"); replies.flush()
'''


class _Zygote:
    def __init__(self) -> None:
        self.env = dict(os.environ)
        requests_r, self._requests = os.pipe()
        self._replies, replies_w = os.pipe()
        self.proc = subprocess.Popen([sys.executable, "-c", ZYGOTE, str(requests_r), str(replies_w)], env=self.env,
                                     pass_fds=(requests_r, replies_w), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        os.close(requests_r)
        os.close(replies_w)
        self._buffer = b""
        self.lock = threading.Lock()

    def _reply(self, timeout: float | None) -> dict[str, int]:
        while b"\n" not in self._buffer:
            ready, _, _ = select.select([self._replies], [], [], timeout)
            if not ready:
                raise TimeoutError
            chunk = os.read(self._replies, 4096)
            if not chunk:
                raise RuntimeError(f"the zygote ended (exit {self.proc.poll()})")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        reply: dict[str, int] = json.loads(line)
        return reply

    def run(self, args: list[str], cwd: str, env: dict[str, str], timeout: float | None
            ) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "tmf699ctk", *args]
        with self.lock, tempfile.TemporaryDirectory(prefix="ctk-cli-") as folder:
            out, err = Path(folder, "stdout"), Path(folder, "stderr")
            job = {"args": args, "cwd": cwd, "env": env, "stdout": str(out), "stderr": str(err)}
            os.write(self._requests, (json.dumps(job) + "\n").encode())
            pid = self._reply(60)["pid"]
            try:
                code = self._reply(timeout)["status"]
            except TimeoutError:
                os.kill(pid, signal.SIGKILL)
                self._reply(60)
                raise subprocess.TimeoutExpired(command, timeout or 0, _text(out), _text(err)) from None
            return subprocess.CompletedProcess(command, code, _text(out), _text(err))


def _text(path: Path) -> str:
    """As subprocess decodes a child's output with text=True: the locale's encoding, universal newlines."""
    data = path.read_bytes() if path.exists() else b""
    text = data.decode(locale.getpreferredencoding(False))
    return text.replace("\r\n", "\n").replace("\r", "\n")


_zygote: _Zygote | None = None
_started = threading.Lock()


def _forkable(env: dict[str, str], zygote_env: dict[str, str]) -> bool:
    changed = {k for k in env.keys() | zygote_env.keys() if env.get(k) != zygote_env.get(k)}
    return all(RUNTIME_VARIABLES.fullmatch(k) for k in changed)


def real_process(args: list[str] | tuple[str, ...], cwd: str | Path | None = None, env: dict[str, str] | None = None,
                 timeout: float | None = 120) -> subprocess.CompletedProcess[str]:
    """`python -m tmf699ctk ARGS` started from scratch."""
    return subprocess.run([sys.executable, "-m", "tmf699ctk", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=timeout)


def run_ctk(args: list[str] | tuple[str, ...], cwd: str | Path | None = None, env: dict[str, str] | None = None,
            timeout: float | None = 120) -> subprocess.CompletedProcess[str]:
    """`python -m tmf699ctk ARGS` in its own process, like ``subprocess.run(..., capture_output=True,
    text=True)``; ``env`` is the whole environment (default: this process's)."""
    global _zygote
    environment = dict(os.environ if env is None else env)
    with _started:
        if _zygote is None or _zygote.proc.poll() is not None:
            _zygote = _Zygote()
        zygote = _zygote
    if not _forkable(environment, zygote.env):
        return real_process(args, cwd, environment, timeout)
    return zygote.run(list(args), str(Path(cwd or os.getcwd()).resolve()), environment, timeout)


def shutdown() -> None:
    """End the zygote and wait for it, so that its CPU time is counted with this process's children."""
    global _zygote
    with _started:
        zygote, _zygote = _zygote, None
    if zygote is not None:
        os.close(zygote._requests)
        zygote.proc.wait(timeout=60)
        os.close(zygote._replies)
