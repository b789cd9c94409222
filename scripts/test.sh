#!/usr/bin/env bash
# Builds ferret with warnings as errors under AddressSanitizer and UndefinedBehaviorSanitizer,
# starts a throwaway PostgreSQL server, runs every test suite against every backend the tree
# builds, and prints the parity matrix and a closing "N passed, N failed, N skipped" line.
#
#   scripts/test.sh [extra meson test arguments]
#
# Environment: BUILD_DIR (default build-test), FERRET_SANITIZE (default address,undefined;
# "none" to build without).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=${BUILD_DIR:-build-test}
sanitize=${FERRET_SANITIZE:-address,undefined}

scripts/install-deps.sh
if [[ -x tests/integration/node/install.sh ]]; then
  tests/integration/node/install.sh
fi

if [[ ! -d $build ]]; then
  meson setup "$build" -Dwerror=true -Db_sanitize="$sanitize" -Db_lundef=false \
    -Dunit_tests=enabled -Dintegration_tests=enabled
fi
meson compile -C "$build"

# A PostgreSQL server for the postgres backend's suites, stopped however the run ends.
pg_dir=/tmp/ferret-pg.$$
cleanup() { tests/support/pg_cluster.sh stop "$pg_dir" >/dev/null 2>&1 || true; }
trap cleanup EXIT
if FERRET_PG_CONNINFO=$(tests/support/pg_cluster.sh start "$pg_dir"); then
  export FERRET_PG_CONNINFO
else
  echo "test.sh: could not start PostgreSQL; postgres suites will skip" >&2
  unset FERRET_PG_CONNINFO
fi

# ASan's leak checker needs ptrace-free /proc access; it works on Debian as is.
status=0
meson test -C "$build" --print-errorlogs --num-processes 2 "$@" || status=$?
python3 scripts/parity.py "$build/meson-logs/testlog.json" || status=1
exit $status
