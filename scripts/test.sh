#!/usr/bin/env bash
# The whole test suite: set-up, lint, type check (strict), tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
echo "== ruff"; ruff check src tests bench
echo "== ruff format"; ruff format --check src tests bench
echo "== mypy (strict)"; mypy
echo "== pytest"; python -m pytest -q -p no:cacheprovider "$@"
