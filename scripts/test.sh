#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine with the Rust toolchain.
# Installs what the tests need (PostgreSQL 15 for the audit and token stores, Tomcat 10 for
# the path differential, oauthlib for the OAuth 1.0a signature check, Chromium and chromedriver
# for the token page) and runs every test target, then the Tomcat differential. The tests start their own Postgres (as an unprivileged user, temp dir, free
# port) and their own loopback servers; nothing else needs to be running.
set -euo pipefail
cd "$(dirname "$0")/.."

PG_BIN=/usr/lib/postgresql/15/bin
need=()
if [ ! -x "$PG_BIN/initdb" ] || ! command -v psql >/dev/null 2>&1; then
  need+=(postgresql-15 postgresql-client-15)   # the audit and token store tests
fi
if [ ! -x /usr/share/tomcat10/bin/catalina.sh ]; then
  need+=(tomcat10)                               # the path differential against Tomcat
fi
if ! command -v javac >/dev/null 2>&1; then
  need+=(default-jdk-headless)                   # compiles the differential's servlet
fi
if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
  need+=(redis-server)                           # rate_limit.store = "redis" and the three-replica tests
fi
if ! python3 -m pip --version >/dev/null 2>&1; then
  need+=(python3-pip)                            # installs oauthlib for the oauth1 signature check
fi
if [ ! -x /usr/lib/chromium/chromium ] || ! command -v chromedriver >/dev/null 2>&1; then
  need+=(chromium chromium-driver)               # the token page in headless Chromium (tests/it/page_browser.rs)
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
  # Debian starts a system Tomcat on :8080 when it installs the package; the tests never use it.
  systemctl stop tomcat10 >/dev/null 2>&1 || service tomcat10 stop >/dev/null 2>&1 || true
  # Likewise a system Redis on :6379; the tests start their own.
  systemctl stop redis-server >/dev/null 2>&1 || service redis-server stop >/dev/null 2>&1 || true
fi

# oauthlib, the OAuth 1.0a implementation the oauth1 signatures are verified against
# (tests/oauth1/verify.py); its RSA-SHA1 needs PyJWT and cryptography. Kept in target/ so
# nothing outside the repository changes.
if [ ! -d target/oauth1-py/oauthlib ] || [ ! -d target/oauth1-py/jwt ] || [ ! -d target/oauth1-py/cryptography ]; then
  echo "installing oauthlib into target/oauth1-py"
  python3 -m pip install --quiet --disable-pip-version-check --target target/oauth1-py \
    'oauthlib==3.2.2' 'PyJWT==2.*' 'cryptography'
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --all-targets --locked "$@" 2>&1 | tee "$log"

# The path differential against Tomcat: every path authgate forwards must be the
# path Tomcat resolves. Exits non-zero on any mismatch.
./scripts/tomcat-diff.sh

# One closing line for the whole run (the per-binary lines above end with the examples' empty
# harnesses, which would otherwise be the last word).
awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
