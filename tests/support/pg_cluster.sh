#!/bin/bash
#
# pg_cluster.sh: a throwaway PostgreSQL server for tests.
#
#   pg_cluster.sh start DIR            initdb in DIR (if needed), start on a free loopback port,
#                                      wait until it accepts connections, create database
#                                      "ferret", print a libpq conninfo on stdout
#   pg_cluster.sh restart DIR [MODE]   stop (pg_ctl -m MODE: fast by default, or immediate) and
#                                      start again on the same port; prints the conninfo
#   pg_cluster.sh conninfo DIR         prints the conninfo of a started cluster
#   pg_cluster.sh stop DIR             stops the server and removes DIR
#
# Only the conninfo goes to stdout; progress and errors go to stderr, the server log to
# DIR/server.log. Built for CI: a fresh Debian machine with the `postgresql` package, run as
# root, no stdin. initdb refuses to run as root, so as root the server runs as a system user
# (FERRET_PG_OS_USER, default ferret-test, created when missing; nobody as a last resort).
# The binaries come from PG_BINDIR, else the newest /usr/lib/postgresql/*/bin, else PATH.
#
set -eu
exec </dev/null

PROG=pg_cluster.sh
MARKER=.ferret-pg-cluster
DB_USER=ferret
DB_NAME=ferret

die() {
   echo "$PROG: $*" >&2
   exit 1
}

note() {
   echo "$PROG: $*" >&2
}

find_bindir() {
   local d
   if [ -n "${PG_BINDIR:-}" ]; then
      [ -x "$PG_BINDIR/initdb" ] || die "no initdb in PG_BINDIR '$PG_BINDIR'"
      echo "$PG_BINDIR"
      return
   fi
   d=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
   if [ -n "$d" ] && [ -x "$d/initdb" ]; then
      echo "$d"
      return
   fi
   d=$(command -v initdb 2>/dev/null || true)
   [ -n "$d" ] || die "initdb not found: install the postgresql package or set PG_BINDIR"
   dirname "$d"
}

# The user the server runs as. Root gets a system user, because initdb and postgres refuse root.
os_user() {
   local u=${FERRET_PG_OS_USER:-ferret-test}
   if [ "$(id -u)" != 0 ]; then
      id -un
      return
   fi
   if ! id -u "$u" >/dev/null 2>&1; then
      # Parallel test runs may race to create the user; the second useradd fails harmlessly.
      useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
         "$u" >/dev/null 2>&1 || true
   fi
   if ! id -u "$u" >/dev/null 2>&1; then
      note "could not create user '$u'; using 'nobody'"
      u=nobody
   fi
   echo "$u"
}

# Runs a command as the server's user, from inside the cluster directory (root's working
# directory may be unreadable to that user, and initdb complains about it).
as_user() {
   if [ "$(id -u)" = 0 ]; then
      if command -v runuser >/dev/null 2>&1; then
         (cd "$DIR" && runuser -u "$USER_OS" -- "$@")
      else
         (cd "$DIR" && su -s /bin/sh "$USER_OS" -c "$(printf '%q ' "$@")")
      fi
   else
      (cd "$DIR" && "$@")
   fi
}

abs_dir() {
   mkdir -p "$1"
   (cd "$1" && pwd -P)
}

conninfo() {
   echo "host=127.0.0.1 port=$(cat "$DIR/port") user=$DB_USER dbname=$DB_NAME"
}

port_in_use() {
   # A connect that succeeds means someone listens there; bash's /dev/tcp needs no tools.
   (exec 3<>"/dev/tcp/127.0.0.1/$1") >/dev/null 2>&1
}

pick_port() {
   local p _
   for _ in $(seq 1 50); do
      p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
      if ! port_in_use "$p"; then
         echo "$p"
         return
      fi
   done
   die "no free port found"
}

pg_start() {
   local port=$1
   as_user "$BINDIR/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 120 -s \
      -o "-p $port" start >&2
}

start() {
   local port tries sockdir
   [ -d "$DIR" ] || die "cannot create '$DIR'"
   if [ -f "$DIR/data/postmaster.pid" ] && [ -f "$DIR/port" ] &&
      as_user "$BINDIR/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
      conninfo
      return
   fi
   touch "$DIR/$MARKER"
   if [ "$(id -u)" = 0 ]; then
      chown -R "$USER_OS" "$DIR"
      chmod 700 "$DIR"
      as_user test -w "$DIR" ||
         die "user '$USER_OS' cannot write '$DIR' (a parent directory is closed to it?); use a directory under /tmp"
   fi
   if [ ! -f "$DIR/data/PG_VERSION" ]; then
      rm -rf "$DIR/data"
      as_user "$BINDIR/initdb" -D "$DIR/data" -U "$DB_USER" -A trust -E UTF8 --locale=C \
         --no-sync >"$DIR/initdb.log" 2>&1 ||
         { cat "$DIR/initdb.log" >&2; die "initdb failed"; }
      # A unix socket in DIR keeps the server off /var/run/postgresql, which may not exist or
      # belong to another user; its path must fit sockaddr_un (107 bytes with the file name).
      sockdir=$DIR
      [ ${#DIR} -le 80 ] || sockdir=
      {
         echo "# ferret test cluster: fast and disposable, never for real data"
         echo "listen_addresses = '127.0.0.1'"
         echo "unix_socket_directories = '$sockdir'"
         echo "fsync = off"
         echo "full_page_writes = off"
         echo "max_connections = 200"
         echo "shared_buffers = 32MB"
         echo "max_locks_per_transaction = 256"
      } >>"$DIR/data/postgresql.conf"
   fi
   # The port is chosen, then bound by the server; if someone takes it in between, try again.
   tries=0
   while :; do
      if [ -f "$DIR/port" ]; then
         port=$(cat "$DIR/port")
      else
         port=$(pick_port)
      fi
      echo "$port" >"$DIR/port"
      if pg_start "$port"; then
         break
      fi
      tries=$((tries + 1))
      rm -f "$DIR/port"
      if [ $tries -ge 5 ] || ! grep -q "could not bind\|could not create listen" "$DIR/server.log"; then
         tail -n 20 "$DIR/server.log" >&2 || true
         die "the server did not start"
      fi
      note "port $port taken, trying another"
   done
   if ! as_user "$BINDIR/psql" -X -q -h 127.0.0.1 -p "$port" -U "$DB_USER" -d postgres -At \
      -c "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'" | grep -q 1; then
      as_user "$BINDIR/psql" -X -q -h 127.0.0.1 -p "$port" -U "$DB_USER" -d postgres \
         -v ON_ERROR_STOP=1 -c "CREATE DATABASE $DB_NAME" >&2 ||
         die "could not create database '$DB_NAME'"
   fi
   conninfo
}

stop_server() {
   local mode=$1
   [ -f "$DIR/data/postmaster.pid" ] || return 0
   as_user "$BINDIR/pg_ctl" -D "$DIR/data" -w -t 60 -s -m "$mode" stop >&2 ||
      as_user "$BINDIR/pg_ctl" -D "$DIR/data" -w -t 60 -s -m immediate stop >&2 || true
}

cmd=${1:-}
[ $# -ge 2 ] || die "usage: $PROG start|stop|restart|conninfo DIR [fast|immediate]"
BINDIR=$(find_bindir)
USER_OS=$(os_user)

case "$cmd" in
start)
   DIR=$(abs_dir "$2")
   start
   ;;
restart)
   if [ ! -f "$2/$MARKER" ]; then
      die "'$2' is not a cluster made by $PROG"
   fi
   DIR=$(abs_dir "$2")
   mode=${3:-fast}
   case "$mode" in fast | immediate | smart) ;; *) die "unknown stop mode '$mode'" ;; esac
   stop_server "$mode"
   start
   ;;
conninfo)
   [ -f "$2/port" ] || die "'$2' is not a started cluster"
   DIR=$(abs_dir "$2")
   conninfo
   ;;
stop)
   [ -d "$2" ] || exit 0
   # Never remove a directory this script did not make.
   [ -f "$2/$MARKER" ] || die "'$2' is not a cluster made by $PROG; not removing it"
   DIR=$(abs_dir "$2")
   stop_server fast
   rm -rf "$DIR"
   ;;
*)
   die "unknown command '$cmd'"
   ;;
esac
