#!/usr/bin/env bash
# Install tmf699ctk with its test dependencies into .venv and run the whole test suite.
# This is the README's test command, and what CI runs (.ci/run) on a clean checkout.
set -euo pipefail
cd "$(dirname "$0")/.."

# The HTML report is tested in a real headless browser: Debian's chromium. Installed here when
# missing and possible (root with apt-get); otherwise those tests skip and say why.
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's chromium for the report tests..."
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "chromium could not be installed; the browser tests will be skipped"
fi

python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'
# the kit is installed editable, so pip compiles none of it: with PYTHONDONTWRITEBYTECODE set (as
# on these machines) every process of the suite that imports it would compile it again (~0.16 s)
.venv/bin/python -m compileall -q tmf699ctk
# pytest rewrites the asserts of every test module, and of the kit (an installed plugin's package), in
# each process it starts; under PYTHONDONTWRITEBYTECODE none could keep the result, so each of the four
# workers, and each pytest the plugin tests start, rewrote and compiled them all again (~1.7 s of CPU
# each). One collection allowed to write bytecode keeps them in __pycache__ (ignored by git) for every
# process after it; it runs beside ruff and mypy (two cores). Its errors are the real run's to report.
PYTHONDONTWRITEBYTECODE= .venv/bin/python -m pytest --collect-only -q -p no:cacheprovider >/dev/null 2>&1 &
rewrite=$!
.venv/bin/ruff check .
.venv/bin/mypy  # strict, on the package (pyproject.toml [tool.mypy])
wait "$rewrite" || true
# four processes (most tests wait on loopback servers); each test file stays in one process, so
# the fault matrices, computed once per file, are computed once
exec .venv/bin/python -m pytest -n 4 --dist loadfile "$@"
