#!/usr/bin/env bash
# Builds ferret and starts it on 127.0.0.1:27017 with the embedded SQLite backend, data in ./data.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
[[ -d build ]] || meson setup build
meson compile -C build
exec build/core/ferretd --config ferret.conf "$@"
