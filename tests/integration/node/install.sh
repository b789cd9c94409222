#!/bin/sh
# Installs the pinned npm dependencies (mongodb driver, mongosh, mongoose) of the node
# integration tests and of the unified spec runner into node_modules/.
# Idempotent: `npm ci` wipes and reinstalls, which takes a minute, so it only
# runs when node_modules was not installed from the current package-lock.json.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

stamp=node_modules/.ferret-lock-sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] &&
   [ -f node_modules/mongodb/package.json ] && [ -x node_modules/.bin/mongosh ] &&
   [ -f node_modules/mongoose/package.json ]; then
   echo "install.sh: node_modules up to date"
   exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
   echo "install.sh: npm not found" >&2
   exit 1
fi

npm ci --no-audit --no-fund
echo "$want" > "$stamp"
echo "install.sh: installed $(node -p 'require("mongodb/package.json").version' 2>/dev/null || echo '?') mongodb driver"
