#!/usr/bin/env bash
# Nightly-style fuzzing: every fuzz target (tests/fuzz) with many inputs and a random
# seed; fails on any exception outside stategate's own error types.
#   scripts/fuzz.sh [INPUTS_PER_TARGET] [SEED]     (defaults: 10000, random)
# FUZZ_JOBS=N (default: the number of CPUs) runs the targets in N parallel groups.
# Prints the seed (rerun with it to reproduce), the number of inputs run and the time.
set -euo pipefail
cd "$(dirname "$0")/.."
per_target="${1:-10000}"
seed="${2:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}"
jobs="${FUZZ_JOBS:-$(nproc)}"
minimum=100000
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

mapfile -t targets < <(.venv/bin/python -m pytest -q -p no:cacheprovider --collect-only tests/fuzz \
  | grep '::')
echo "fuzz: ${#targets[@]} targets, ${per_target} inputs each, seed ${seed}, ${jobs} jobs"
start=$(date +%s)
pids=()
for ((job = 0; job < jobs; job++)); do
  group=()
  for ((i = job; i < ${#targets[@]}; i += jobs)); do group+=("${targets[$i]}"); done
  [ ${#group[@]} -gt 0 ] || continue
  STATEGATE_FUZZ_EXAMPLES="$per_target" STATEGATE_FUZZ_COUNT_FILE="$work/count.$job" \
    .venv/bin/python -m pytest -q -p no:cacheprovider --hypothesis-seed="$seed" \
    "${group[@]}" >"$work/log.$job" 2>&1 &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
elapsed=$(( $(date +%s) - start ))
cat "$work"/log.*
total=0
for f in "$work"/count.*; do [ -e "$f" ] && total=$(( total + $(cat "$f") )); done
echo "fuzz: ${total} inputs fuzzed in ${elapsed} s (seed ${seed}, ${jobs} jobs, exit ${status})"
if [ "$status" -eq 0 ] && [ "$total" -lt "$minimum" ] && [ -z "${1:-}" ]; then
  echo "fuzz: fewer than ${minimum} inputs ran" >&2
  status=1
fi
exit "$status"
