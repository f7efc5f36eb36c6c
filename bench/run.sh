#!/usr/bin/env bash
# `make bench`: every benchmark scenario, one table. Settings: see the docstring of bench/run.py.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m bench.run "$@"
