#!/usr/bin/env bash
# stategate's main job on the bundled example platform.
set -euo pipefail
cd "$(dirname "$0")/.."
# setup names each step on stderr (a first run installs engines and dependencies; later
# runs only check them); the demo's own output is what goes to stdout
# (--runtime: what stategate and the demo need, none of the test tools)
echo "demo: preparing with scripts/setup.sh --runtime" >&2
bash scripts/setup.sh --runtime >&2
echo "demo: starting (a few minutes: real servers, backups, drills)" >&2
exec .venv/bin/stategate demo "$@"
