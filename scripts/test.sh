#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine with the Rust toolchain.
# Installs what the tests need (PostgreSQL 15 for the audit and token stores) and runs every
# test target. The tests start their own Postgres (as an unprivileged user, temp dir, free
# port) and their own loopback servers; nothing else needs to be running.
set -euo pipefail
cd "$(dirname "$0")/.."

PG_BIN=/usr/lib/postgresql/15/bin
if [ ! -x "$PG_BIN/initdb" ] || ! command -v psql >/dev/null 2>&1; then
  echo "installing PostgreSQL 15 (needed by the store tests)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql-15 postgresql-client-15 >/dev/null
fi

cargo test --all-targets --locked "$@"
