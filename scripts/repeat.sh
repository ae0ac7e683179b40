#!/usr/bin/env bash
# Flake check (issue 18): run the whole pytest suite N times in a row (default 10)
# while CPU-heavy jobs run beside it (default: one busy loop, a whole core of
# this 2-core machine). Stops at the first failing run. Each run's
# output goes to $REPEAT_LOG_DIR (default: a temporary folder); the summary
# (run, result, seconds, load average) is printed at the end.
#   bash scripts/repeat.sh [N] [--hogs K] [-- pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=10
hogs=1
while [ $# -gt 0 ]; do
  case "$1" in
    --hogs) hogs="$2"; shift 2 ;;
    --) shift; break ;;
    [0-9]*) runs="$1"; shift ;;
    *) echo "repeat: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -x .venv/bin/python ] || bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
logs="${REPEAT_LOG_DIR:-$(mktemp -d)}"
mkdir -p "$logs"

pids=()
stop_hogs() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap stop_hogs EXIT
for _ in $(seq 1 "$hogs"); do
  python3 -c 'while True: pass' &
  pids+=($!)
done
echo "repeat: $runs runs, $hogs CPU hog(s) beside them, logs in $logs"

summary="$logs/summary.tsv"
printf 'run\tresult\tseconds\tload1\ttail\n' >"$summary"
failed=0
for i in $(seq 1 "$runs"); do
  start=$(date +%s)
  if python -m pytest -q -p no:cacheprovider "$@" >"$logs/run-$i.log" 2>&1; then
    result=pass
  else
    result=FAIL
    failed=1
  fi
  secs=$(( $(date +%s) - start ))
  load=$(cut -d' ' -f1 /proc/loadavg)
  last=$(tail -n 1 "$logs/run-$i.log")
  printf '%s\t%s\t%s\t%s\t%s\n' "$i" "$result" "$secs" "$load" "$last" | tee -a "$summary"
  [ "$failed" = 0 ] || break
done
column -t -s $'\t' "$summary"
exit "$failed"
