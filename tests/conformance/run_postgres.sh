#!/bin/sh
# Runs the conformance harness on the PostgreSQL backend against the server the test setup
# started (FERRET_PG_CONNINFO, see scripts/test.sh). Exit 77 tells meson it was skipped.
if [ -z "${FERRET_PG_CONNINFO:-}" ]; then
  echo "conformance-postgres: FERRET_PG_CONNINFO is not set; no PostgreSQL server to test" >&2
  exit 77
fi
exec "$1" "$2" "conninfo=$FERRET_PG_CONNINFO"
