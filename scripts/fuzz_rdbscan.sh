#!/usr/bin/env bash
# The native RDB scanner under AddressSanitizer and UndefinedBehaviorSanitizer.
#
#   bash scripts/fuzz_rdbscan.sh [SECONDS]
#
# 1. builds the scanner with -fsanitize=address,undefined (a separate build under
#    build/sanitize: the installed one is untouched) and runs the RDB tests against it;
# 2. builds the libFuzzer harness (fuzz/rdbscan/harness.c, clang) and fuzzes for
#    SECONDS (default 900) on one core, from seeds written by fuzz/rdbscan/seeds.py
#    (real redis-server snapshots and the crafted unit-test cases). The corpus grows in
#    build/fuzz/corpus; findings (crash-*, leak-*, timeout-*) land in build/fuzz/.
# Any sanitizer report fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-900}"
py=.venv/bin/python

cc=$(command -v clang-14 || command -v clang || true)
if [ -z "$cc" ] || ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends clang-14 libclang-rt-14-dev >/dev/null
    cc=clang-14
  else
    echo "fuzz_rdbscan: please install clang-14 and libclang-rt-14-dev (needs root)" >&2
    exit 2
  fi
fi

include=$($py -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
libdir=$($py -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR"))')
ldver=$($py -c 'import sysconfig; print(sysconfig.get_config_var("LDVERSION"))')
sanitize=(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g -O1)
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1"  # the interpreter itself leaks at exit
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

echo "== sanitized build: RDB tests"
rm -rf build/sanitize && mkdir -p build/sanitize
cp -r src build/sanitize/src
rm -f build/sanitize/src/stategate/native/*.so
gcc -shared -fPIC -std=c11 -Wall -Wextra -Wno-unused-parameter "${sanitize[@]}" -I"$include" \
  -o "build/sanitize/src/stategate/native/rdbscan$($py -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')" \
  src/stategate/native/rdbscan.c -lcrypto
LD_PRELOAD="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)" \
  PYTHONPATH=build/sanitize/src PYTHONMALLOC=malloc \
  $py -m pytest -q -p no:cacheprovider tests/unit/providers/test_rdb_hostile.py \
  tests/unit/providers/test_rdb_native.py tests/integration/test_rdb_scanner.py \
  -k "not address_space and not default_limit_is_refused"  # ASan's shadow memory needs no RLIMIT_AS

echo "== libFuzzer: $seconds s"
mkdir -p build/fuzz/corpus build/fuzz/seeds
"$cc" "${sanitize[@]}" -fsanitize=fuzzer -I"$include" fuzz/rdbscan/harness.c \
  -lcrypto -L"$libdir" -lpython"$ldver" -Wl,-rpath,"$libdir" -o build/fuzz/rdbscan_fuzz
$py fuzz/rdbscan/seeds.py build/fuzz/seeds
cd build/fuzz
./rdbscan_fuzz -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=1024 -timeout=10 \
  -print_final_stats=1 corpus seeds 2>&1 | tee fuzz.log | grep -v "^#[0-9].*\(NEW\|REDUCE\|pulse\)" || true
grep -q "Done [0-9]* runs" fuzz.log  # libFuzzer ends with this line only when nothing was found
