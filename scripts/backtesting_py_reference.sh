#!/usr/bin/env bash
# Regenerate tests/fixtures/backtesting_py_goog.json (and GOOG.csv) from backtesting.py 0.6.6
# in a throwaway virtualenv. Needs python3 >= 3.11 and PyPI. Extra arguments go to the .py
# script, e.g. `--time 20` to also time the library in-process.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
venv="$(mktemp -d)/venv"
trap 'rm -rf "$(dirname "$venv")"' EXIT
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check \
    backtesting==0.6.6 pandas==3.1.1 numpy==2.4.6
mkdir -p "$root/tests/fixtures"
"$venv/bin/python" "$here/backtesting_py_reference.py" \
    "$root/tests/fixtures/backtesting_py_goog.json" \
    --csv-out "$root/tests/fixtures/GOOG.csv" "$@"
