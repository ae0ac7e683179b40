#!/usr/bin/env bash
# Nightly-style fuzzing: every fuzz target (tests/fuzz) with many inputs and a random
# seed; fails on any exception outside stategate's own error types.
#   scripts/fuzz.sh [INPUTS_PER_TARGET] [SEED]     (defaults: 10000, random)
# Prints the seed (rerun with it to reproduce), the number of inputs run and the time.
set -euo pipefail
cd "$(dirname "$0")/.."
per_target="${1:-10000}"
seed="${2:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}"
minimum=100000
count_file="$(mktemp)"
trap 'rm -f "$count_file"' EXIT
echo "fuzz: ${per_target} inputs per target, seed ${seed}"
start=$(date +%s)
status=0
STATEGATE_FUZZ_EXAMPLES="$per_target" STATEGATE_FUZZ_COUNT_FILE="$count_file" \
  .venv/bin/python -m pytest -q -p no:cacheprovider tests/fuzz \
  --hypothesis-seed="$seed" || status=$?
elapsed=$(( $(date +%s) - start ))
total="$(cat "$count_file" 2>/dev/null || echo 0)"
echo "fuzz: ${total:-0} inputs fuzzed in ${elapsed} s (seed ${seed}, exit ${status})"
if [ "$status" -eq 0 ] && [ "${total:-0}" -lt "$minimum" ] && [ -z "${1:-}" ]; then
  echo "fuzz: fewer than ${minimum} inputs ran" >&2
  status=1
fi
exit "$status"
