#!/usr/bin/env bash
# Mutation testing of the critical core (docs/mutation.md): every target module,
# one at a time, one worker. Arguments go to scripts/mutation.py, e.g. --changed
# (the bounded run .ci/run makes) or the paths of some targets.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || bash scripts/setup.sh
exec .venv/bin/python scripts/mutation.py "$@"
