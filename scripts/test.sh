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

# The path differential against Tomcat (issue 8): needs the Debian tomcat10 package and javac;
# skipped with a note where they are missing (set AUTHGATE_REQUIRE_TOMCAT=1 to make that fail).
if [ -x /usr/share/tomcat10/bin/catalina.sh ] && command -v javac >/dev/null 2>&1; then
  ./scripts/tomcat-diff.sh
elif [ "${AUTHGATE_REQUIRE_TOMCAT:-0}" = 1 ]; then
  echo "tomcat-diff: tomcat10 or javac missing (apt-get install tomcat10 default-jdk-headless)" >&2
  exit 1
else
  echo "tomcat-diff: skipped (apt-get install tomcat10 default-jdk-headless to run it)"
fi
