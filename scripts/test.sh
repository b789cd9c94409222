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

# The layout of every C file is the committed .clang-format's.
if command -v clang-format >/dev/null; then
  git ls-files '*.c' '*.h' | xargs clang-format --dry-run -Werror || status_format=1
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

status=${status_format:-0}
meson test -C "$build" --print-errorlogs --num-processes 2 "$@" || status=$?
logs=("$build/meson-logs/testlog.json")

# LeakSanitizer's leak check at exit occasionally crashes in its own ptrace-based tracer
# ("Tracer caught signal 11") under load, after every test case passed: a failure of the
# sanitizer runtime, not of the test. Such tests, and only they, run once more; the rerun's
# result replaces the first in the totals and the parity matrix, and is reported by name.
sanitizer_crashes=$(python3 - "$build/meson-logs/testlog.json" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line) if line.strip() else None
    if r and r["result"] not in ("OK", "SKIP", "EXPECTEDFAIL") and \
            "LeakSanitizer has encountered a fatal error" in r.get("stdout", "") + r.get("stderr", ""):
        print(r["name"].partition(" / ")[2] or r["name"])
PY
)
if [[ -n $sanitizer_crashes ]]; then
  echo "test.sh: the sanitizer runtime crashed in: $sanitizer_crashes; running them once more"
  rerun_status=0
  # shellcheck disable=SC2086  # one test name per word
  meson test -C "$build" --no-rebuild --print-errorlogs --logbase testlog-rerun \
    $sanitizer_crashes || rerun_status=$?
  export FERRET_RERUN_LOG="$build/meson-logs/testlog-rerun.json"
  if [[ $status -ne 0 ]] && python3 - "${logs[0]}" "$FERRET_RERUN_LOG" <<'PY'
import json, sys
def failed(path):
    out = set()
    for line in open(path):
        if line.strip():
            r = json.loads(line)
            if r["result"] not in ("OK", "SKIP", "EXPECTEDFAIL"):
                out.add(r["name"])
    return out
rerun = {json.loads(l)["name"] for l in open(sys.argv[2]) if l.strip()}
sys.exit(0 if failed(sys.argv[1]) <= rerun and not failed(sys.argv[2]) else 1)
PY
  then
    status=${status_format:-0}
  fi
fi

# A second compiler: clang with warnings as errors, its unit tests and the conformance suites.
if [[ ${FERRET_SECOND_COMPILER:-clang} != none ]] && command -v clang >/dev/null; then
  clang_build=${build}-clang
  if [[ ! -d $clang_build ]]; then
    CC=clang meson setup "$clang_build" -Dwerror=true -Dunit_tests=enabled \
      -Dintegration_tests=disabled
  fi
  meson compile -C "$clang_build"
  meson test -C "$clang_build" --print-errorlogs --num-processes 2 --suite unit \
    --suite conformance-sqlite --suite conformance-postgres --suite conformance-skeleton \
    || status=$?
  logs+=("$clang_build/meson-logs/testlog.json")
fi

# Memcheck: the unit tests under valgrind, on a build without sanitizers (valgrind and ASan
# do not mix).
if [[ ${FERRET_VALGRIND:-1} != 0 ]] && command -v valgrind >/dev/null; then
  valgrind_build=${build}-valgrind
  if [[ ! -d $valgrind_build ]]; then
    meson setup "$valgrind_build" -Dunit_tests=enabled -Dintegration_tests=disabled \
      -Dsqlite=disabled -Dpostgres=disabled -Dskeleton=disabled
  fi
  meson compile -C "$valgrind_build"
  # meson names the log of a wrapped run after the wrapper: testlog-valgrind.json.
  meson test -C "$valgrind_build" --print-errorlogs --num-processes 2 --suite unit \
    --wrapper "valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --suppressions=$root/tests/valgrind.supp" \
    || status=$?
  logs+=("$valgrind_build/meson-logs/testlog-valgrind.json")
fi

# Fuzz the wire parsers and the query engine for a bounded time (tests/fuzz).
if [[ ${FERRET_FUZZ_SECONDS:-30} != 0 ]] && command -v clang >/dev/null; then
  fuzz_build=${build}-fuzz
  if [[ ! -d $fuzz_build ]]; then
    CC=clang meson setup "$fuzz_build" -Dfuzz=enabled -Db_sanitize=address,undefined \
      -Db_lundef=false -Dunit_tests=disabled -Dintegration_tests=disabled \
      -Dsqlite=disabled -Dpostgres=disabled -Dskeleton=disabled
  fi
  meson compile -C "$fuzz_build"
  seeds=$(mktemp -d)
  /usr/bin/python3 tests/fuzz/make_seeds.py "$seeds/filter"
  mkdir -p "$seeds/opmsg"
  for target in opmsg filter; do
    if "$fuzz_build/tests/fuzz/fuzz_$target" -max_total_time="${FERRET_FUZZ_SECONDS:-30}" \
         -artifact_prefix="$fuzz_build/" "$seeds/$target" >"$fuzz_build/fuzz_$target.log" 2>&1; then
      echo "fuzz_$target: no crash in ${FERRET_FUZZ_SECONDS:-30} s"
    else
      echo "fuzz_$target: FAILED, see $fuzz_build/fuzz_$target.log"
      tail -40 "$fuzz_build/fuzz_$target.log"
      status=1
    fi
  done
  rm -rf "$seeds"
fi

python3 scripts/parity.py "${logs[@]}" || status=1
exit $status
