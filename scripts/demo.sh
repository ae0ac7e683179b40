#!/usr/bin/env bash
# stategate's main job on the bundled example platform.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
exec .venv/bin/stategate demo "$@"
