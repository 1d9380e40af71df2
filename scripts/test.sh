#!/usr/bin/env bash
# Install tmf699ctk with its test dependencies into .venv and run the whole test suite.
# This is the README's test command, and what CI runs (.ci/run) on a clean checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'
.venv/bin/ruff check .
exec .venv/bin/python -m pytest "$@"
