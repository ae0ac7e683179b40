#!/usr/bin/env bash
# The fault suite with more seeds than CI runs (CI: seeds 0-4).
#   bash scripts/faults.sh            # seeds 0-24
#   bash scripts/faults.sh 100-199    # a range, or a list: 3,17,42
# Needs root (tmpfs and bind mounts) and the PostgreSQL/Redis binaries
# scripts/setup.sh expects. Only the seeded scenarios take the seeds; the
# others run once.
set -euo pipefail
cd "$(dirname "$0")/.."
export STATEGATE_FAULT_SEEDS="${1:-0-24}"
echo "== fault suite, seeds ${STATEGATE_FAULT_SEEDS}"
exec .venv/bin/python -m pytest -q -p no:cacheprovider tests/faults "${@:2}"
