#!/usr/bin/env bash
# Installs what ferret needs to build and test on Debian 12 (bookworm). Idempotent.
# Run as root, or with sudo available.
set -euo pipefail

packages=(
  build-essential meson ninja-build pkg-config
  libbson-dev libevent-dev libpcre2-dev     # the core
  libicu-dev                                # the core: collations
  libsqlite3-dev                            # the SQLite backend
  libpq-dev                                 # the PostgreSQL backend
  libcmocka-dev libmongoc-dev               # unit tests, C client tests
  clang clang-format valgrind               # the second compiler, layout check, memcheck
  postgresql                                # a throwaway server for the PostgreSQL tests
  python3 python3-pymongo                   # Python client tests
  nodejs npm                                # Node.js driver, mongosh, CRUD spec runner
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node and npm may come from outside Debian's packages (e.g. NodeSource); accept those.
if command -v node >/dev/null && command -v npm >/dev/null; then
  filtered=()
  for p in "${missing[@]}"; do [[ $p == nodejs || $p == npm ]] || filtered+=("$p"); done
  missing=("${filtered[@]}")
fi
if ((${#missing[@]})); then
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -q
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
