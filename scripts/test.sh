#!/usr/bin/env bash
# The whole test suite: set-up, lint, type check (strict), tests, then a bounded
# mutation run (the critical modules this commit changed, else a small sample).
set -euo pipefail
cd "$(dirname "$0")/.."
STATEGATE_SETUP=full bash scripts/setup.sh  # everything, the test tools too (never --runtime)
export PATH="$PWD/.venv/bin:$PATH"
echo "== ruff"; ruff check .
echo "== ruff format"; ruff format --check .
echo "== mypy (strict)"; mypy
echo "== pytest"; python -m pytest -q -p no:cacheprovider --durations=30 "$@"
# every bench at a tiny scale, one round: a bench that breaks fails CI; its figures are
# not asserted (bench/README.md)
echo "== benches (bench/run-all --scale 0.01 --rounds 1)"
python bench/run-all --scale 0.01 --rounds 1
echo "== mutation (bounded)"; bash scripts/mutation.sh --changed
