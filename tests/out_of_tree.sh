#!/bin/sh
# out_of_tree.sh: proves the third-party path of plugins/skeleton/README.md end to end.
#
#    tests/out_of_tree.sh [FERRET_SOURCE_ROOT]
#
# 1. builds the core alone and `meson install`s it into a temporary prefix;
# 2. copies plugins/skeleton out of the tree, as a third party would, and builds it with its
#    own `meson setup`, finding the core only through PKG_CONFIG_PATH=<prefix>/<libdir>/pkgconfig
#    and `dependency('ferret-backend')`, then installs it into the pkg-config variable
#    `backenddir`;
# 3. starts the installed <prefix>/bin/ferretd with `--backend skeleton` and no plugin_dir, waits
#    for its "listening" line on stderr, stops it with SIGTERM and expects exit status 0.
#
# Exits 0 on success; otherwise prints what failed and exits non-zero. Everything happens in
# a temporary directory, removed at the end (kept when FERRET_KEEP_TMP is set). MESON and NINJA
# override the programs used.
set -eu

MESON=${MESON:-meson}
NINJA=${NINJA:-ninja}
src=${1:-$(cd "$(dirname "$0")/.." && pwd)}
work=$(mktemp -d "${TMPDIR:-/tmp}/ferret-out-of-tree.XXXXXX")
prefix=$work/prefix
server_pid=

cleanup() {
   if [ -n "$server_pid" ]; then
      kill -KILL "$server_pid" 2>/dev/null || true
   fi
   if [ -n "${FERRET_KEEP_TMP:-}" ]; then
      echo "out_of_tree: kept $work"
   else
      rm -rf "$work"
   fi
}
trap cleanup EXIT

fail() {
   echo "out_of_tree: FAILED: $*" >&2
   exit 1
}

# Runs a build step with its output in a log, shown only when the step fails.
step() {
   name=$1
   shift
   echo "out_of_tree: $name"
   if ! "$@" >"$work/$name.log" 2>&1; then
      tail -n 40 "$work/$name.log" >&2
      fail "$name (see the output above)"
   fi
}

[ -f "$src/meson.build" ] && [ -d "$src/plugins/skeleton" ] ||
   fail "'$src' is not a ferret source tree"

# 1. The core alone: no in-tree backends, no tests.
step core-setup "$MESON" setup "$work/core-build" "$src" --prefix="$prefix" \
   -Dsqlite=disabled -Dpostgres=disabled -Dskeleton=disabled \
   -Dunit_tests=disabled -Dintegration_tests=disabled -Dfuzz=disabled -Dbench=disabled
step core-install "$MESON" install -C "$work/core-build"

pc=$(find "$prefix" -name ferret-backend.pc | head -n 1)
[ -n "$pc" ] || fail "no ferret-backend.pc under $prefix"
[ -f "$prefix/include/ferret/backend.h" ] || fail "no include/ferret/backend.h under $prefix"
[ -x "$prefix/bin/ferretd" ] || fail "no bin/ferretd under $prefix"
PKG_CONFIG_PATH=$(dirname "$pc")${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
export PKG_CONFIG_PATH
backenddir=$(pkg-config --variable=backenddir ferret-backend) ||
   fail "pkg-config does not know ferret-backend"
case $backenddir in
"$prefix"/*) ;;
*) fail "backenddir '$backenddir' is outside the prefix '$prefix'" ;;
esac

# 2. The skeleton, copied out of the tree so that nothing can reach back into it.
cp -R "$src/plugins/skeleton" "$work/skeleton"
step skeleton-setup "$MESON" setup "$work/skeleton-build" "$work/skeleton" --prefix="$prefix"
grep -q "ferret-backend found: YES" "$work/skeleton-setup.log" ||
   fail "the skeleton's setup did not find ferret-backend"
step skeleton-install "$MESON" install -C "$work/skeleton-build"

module=$backenddir/skeleton.so
[ -f "$module" ] || fail "skeleton.so is not installed at $module"
if command -v nm >/dev/null 2>&1; then
   exported=$(nm -D --defined-only "$module" | awk '$2 == "T" || $2 == "D" || $2 == "B" { print $3 }')
   [ "$exported" = ferret_backend_entry ] ||
      fail "skeleton.so must export only ferret_backend_entry, exports: $exported"
fi

# 3. The installed server finds the installed backend by name, in its default plugin_dir.
echo "out_of_tree: ferretd --backend skeleton"
cd "$work"
"$prefix/bin/ferretd" --backend skeleton --listen 127.0.0.1:0 --workers 1 \
   2>"$work/ferretd.log" &
server_pid=$!
tries=0
until grep -q "listening" "$work/ferretd.log"; do
   if ! kill -0 "$server_pid" 2>/dev/null; then
      wait "$server_pid" || true
      server_pid=
      cat "$work/ferretd.log" >&2
      fail "ferretd exited before listening"
   fi
   tries=$((tries + 1))
   [ "$tries" -le 300 ] || { cat "$work/ferretd.log" >&2; fail "ferretd did not listen in 30 s"; }
   sleep 0.1
done
grep "listening" "$work/ferretd.log" | grep -q "backend skeleton" || {
   cat "$work/ferretd.log" >&2
   fail "ferretd is listening, but not with the skeleton backend"
}
kill -TERM "$server_pid"
tries=0
while kill -0 "$server_pid" 2>/dev/null && [ "$(ps -o stat= -p "$server_pid" | cut -c1)" != Z ]; do
   tries=$((tries + 1))
   [ "$tries" -le 100 ] || { cat "$work/ferretd.log" >&2; fail "ferretd did not stop in 10 s after SIGTERM"; }
   sleep 0.1
done
status=0
wait "$server_pid" || status=$?
server_pid=
[ "$status" -eq 0 ] || { cat "$work/ferretd.log" >&2; fail "ferretd exited with status $status after SIGTERM"; }

echo "out_of_tree: ok ($(grep "listening" "$work/ferretd.log" | head -n 1))"
