#!/bin/bash
#
# run.sh: build ferretd and the benchmark in release mode, start the servers, run every
# workload against both backends with their anchors, and write
# bench/results/<date>-<host>.md and .png (bench/README.md).
#
#   bench/run.sh            the full run: 200,000 documents in the main collection,
#                           1,000,000 for the memory check, 3 s per cell (about 12 minutes
#                           on 2 cores)
#   QUICK=1 bench/run.sh    the same cells on small sizes, 1 s each (about 3 minutes)
#
# Environment: BACKENDS ("sqlite postgres"), PORT (27950), SYNCHRONOUS (normal), CLIENTS (1,4,16,64),
# CELL_SECONDS, MAIN_DOCS, MEM_DOCS, MEM_OPS, WORKERS (nproc), BENCH_BUILD_DIR (build-bench
# in the source tree), BENCH_SOURCE_DIR (the tree to build; this checkout by default),
# BENCH_WORK_DIR (a scratch directory under /tmp), RESULTS_DIR (bench/results).
#
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd -P)
ROOT=$(cd "$HERE/.." && pwd -P)
SRC=${BENCH_SOURCE_DIR:-$ROOT}
BUILD=${BENCH_BUILD_DIR:-$SRC/build-bench}
WORK=${BENCH_WORK_DIR:-/tmp/ferret-bench-$$}
RESULTS=${RESULTS_DIR:-$HERE/results}
BACKENDS=${BACKENDS:-sqlite postgres}
SYNCHRONOUS=${SYNCHRONOUS:-normal}
CLIENTS=${CLIENTS:-1,4,16,64}
WORKERS=${WORKERS:-$(nproc)}
if [ "${QUICK:-0}" = 1 ]; then
   CELL_SECONDS=${CELL_SECONDS:-1}
   MAIN_DOCS=${MAIN_DOCS:-20000}
   MEM_DOCS=${MEM_DOCS:-100000}
   MEM_OPS=${MEM_OPS:-100000}
   VARIANT="quick run"
else
   CELL_SECONDS=${CELL_SECONDS:-3}
   MAIN_DOCS=${MAIN_DOCS:-200000}
   MEM_DOCS=${MEM_DOCS:-1000000}
   MEM_OPS=${MEM_OPS:-1000000}
   VARIANT="full run"
fi

note() { echo "run.sh: $*" >&2; }

PG_DIR=
cleanup() {
   local status=$?
   if [ -n "$PG_DIR" ]; then
      "$ROOT/tests/support/pg_cluster.sh" stop "$PG_DIR" || true
   fi
   if [ $status = 0 ]; then
      rm -rf "$WORK"
   else
      note "failed; the server logs are kept in $WORK"
   fi
}
trap cleanup EXIT
mkdir -p "$WORK" "$RESULTS"

# ---- what it needs: the project's packages, and gnuplot for the chart ----
"$SRC/scripts/install-deps.sh"
if ! command -v gnuplot >/dev/null; then
   sudo=""
   [ "$(id -u)" -eq 0 ] || sudo=sudo
   DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends gnuplot-nox
fi

# ---- build ----
if [ ! -f "$BUILD/build.ninja" ]; then
   note "configuring $BUILD"
   meson setup "$BUILD" "$SRC" -Dbench=enabled -Dbuildtype=release \
      -Dunit_tests=disabled -Dintegration_tests=disabled >"$WORK/setup.log" ||
      { cat "$WORK/setup.log" >&2; exit 1; }
else
   meson configure "$BUILD" -Dbench=enabled -Dbuildtype=release >/dev/null
fi
note "building"
ninja -C "$BUILD" core/ferretd bench/bench_server plugins/sqlite/sqlite.so \
   plugins/postgres/postgres.so >"$WORK/build.log" || { tail -n 40 "$WORK/build.log" >&2; exit 1; }

# ---- the machine ----
host=$(hostname -s)
stamp=$(date -u +%Y-%m-%d)
out_md="$RESULTS/$stamp-$host.md"
out_png="$RESULTS/$stamp-$host.png"
fsync_rate() {
   # 4 kB writes with O_DSYNC on the benchmark's file system: what one durable commit costs.
   dd if=/dev/zero of="$WORK/fsync-test" bs=4k count=300 oflag=dsync 2>&1 |
      awk '/copied/ { for (i = 1; i <= NF; i++) if ($i == "s,") print int(300 / $(i-1)) }'
   rm -f "$WORK/fsync-test"
}
cpu_model=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)
mem_total=$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
disk=$(df -hT "$WORK" | awk 'NR == 2 { print $1 " (" $2 ", " $3 ")" }')
rota=$(lsblk -dno ROTA "$(df "$WORK" | awk 'NR == 2 { print $1 }')" 2>/dev/null | tr -d ' ' || echo "?")
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
pg_version=$("$pg_bin/postgres" --version 2>/dev/null || echo "?")
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
fsync_per_s=$(fsync_rate)

# ---- run ----
sections=()
sq_dat=
pg_dat=
for backend in $BACKENDS; do
   extra=()
   if [ "$backend" = postgres ]; then
      PG_DIR="$WORK/pg"
      note "starting a PostgreSQL cluster in $PG_DIR"
      conninfo=$("$ROOT/tests/support/pg_cluster.sh" start "$PG_DIR")
      extra=(--conninfo "$conninfo")
   fi
   note "benchmarking $backend"
   "$BUILD/bench/bench_server" --port "${PORT:-27950}" --ferretd "$BUILD/core/ferretd" \
      --plugin-dir "$BUILD/plugins/$backend" --backend "$backend" "${extra[@]}" \
      --synchronous "$SYNCHRONOUS" --work-dir "$WORK/$backend" --workers "$WORKERS" \
      --clients "$CLIENTS" --seconds "$CELL_SECONDS" --main-docs "$MAIN_DOCS" \
      --mem-docs "$MEM_DOCS" --mem-ops "$MEM_OPS" --mem-clients "${MEM_CLIENTS:-16}" \
      --md "$WORK/$backend.md" --dat "$WORK/$backend.dat" 2>&1 | tee "$WORK/$backend.log" >&2
   sections+=("$WORK/$backend.md")
   [ "$backend" = sqlite ] && sq_dat="$WORK/$backend.dat"
   [ "$backend" = postgres ] && pg_dat="$WORK/$backend.dat"
   if [ "$backend" = postgres ]; then
      "$ROOT/tests/support/pg_cluster.sh" stop "$PG_DIR" || true
      PG_DIR=
   fi
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

gnuplot -e "sq='$sq_dat'; pg='$pg_dat'; out='$out_png'" "$HERE/plot.gp"

{
   echo "# ferret benchmark: $stamp on $host ($VARIANT)"
   echo
   echo "Made by \`bench/run.sh\` at commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
   echo "($(date -u +%H:%M) UTC). bench/README.md explains the workloads, the anchors and the"
   echo "targets; the chart is [$(basename "$out_png")]($(basename "$out_png"))."
   echo
   echo "## Machine"
   echo
   echo "| | |"
   echo "|---|---|"
   echo "| CPU | $(nproc) cores, $cpu_model |"
   echo "| memory | $mem_total |"
   echo "| kernel | $(uname -sr) |"
   echo "| disk | $disk, rotational: $rota; $fsync_per_s synchronous 4 kB writes/s |"
   echo "| load average before / after | $load_before / $load_after |"
   echo "| SQLite | $(pkg-config --modversion sqlite3) |"
   echo "| PostgreSQL | $pg_version (test cluster of tests/support/pg_cluster.sh: fsync off) |"
   echo "| libmongoc | $(pkg-config --modversion libmongoc-1.0) |"
   echo "| source built | $SRC ($(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo "snapshot of ${BENCH_SNAPSHOT_OF:-?}")) |"
   echo "| run | $VARIANT: $CELL_SECONDS s per cell, clients $CLIENTS, $WORKERS ferretd workers, SQLite synchronous = $SYNCHRONOUS |"
   echo
   echo "![throughput against clients]($(basename "$out_png"))"
   echo
   cat "${sections[@]}"
} >"$out_md"
note "wrote $out_md and $out_png"
