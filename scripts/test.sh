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
.venv/bin/ruff check .
.venv/bin/mypy  # strict, on the package (pyproject.toml [tool.mypy])
# four processes (most tests wait on loopback servers); each test file stays in one process, so
# the fault matrices, computed once per file, are computed once
exec .venv/bin/python -m pytest -n 4 --dist loadfile "$@"
