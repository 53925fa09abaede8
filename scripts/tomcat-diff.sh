#!/usr/bin/env bash
# Path differential against Tomcat: a one-servlet Tomcat app (tests/tomcat/) that
# echoes getServletPath()/getPathInfo(), authgate (debug build) in front of it forwarding
# everything, and tests/tomcat/diff_client.py sending the catalog's path cases
# (docs/catalog.md §P) plus a generated set. Exits non-zero on any mismatch, or when Tomcat
# is not installed (apt-get install tomcat10).
#
#   scripts/tomcat-diff.sh            # builds authgate (cargo build) if needed
#   AUTHGATE_BIN=path scripts/tomcat-diff.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CATALINA_HOME=${CATALINA_HOME:-/usr/share/tomcat10}
[ -x "$CATALINA_HOME/bin/catalina.sh" ] || { echo "tomcat-diff: Tomcat not found at $CATALINA_HOME (apt-get install tomcat10)" >&2; exit 2; }
command -v javac >/dev/null || { echo "tomcat-diff: javac not found" >&2; exit 2; }
BIN=${AUTHGATE_BIN:-$ROOT/target/debug/authgate}
[ -n "${AUTHGATE_BIN:-}" ] || cargo build --quiet --bin authgate

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 300); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.2; done; return 1; }

WORK=$(mktemp -d /tmp/authgate-tomcat-diff.XXXXXX)
chmod 755 "$WORK"
TOMCAT_PID=; AUTHGATE_PID=
cleanup() {
  [ -n "$AUTHGATE_PID" ] && kill "$AUTHGATE_PID" 2>/dev/null || true
  if [ -n "$TOMCAT_PID" ]; then
    # runuser's child is the JVM (catalina.sh execs java): stop it by its parent's pid.
    for c in $(pgrep -P "$TOMCAT_PID" 2>/dev/null); do kill "$c" 2>/dev/null || true; done
    kill "$TOMCAT_PID" 2>/dev/null || true
  fi
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# --- Tomcat, as an unprivileged user, CATALINA_BASE in the temp dir ---
TPORT=$(free_port)
BASE=$WORK/tomcat
mkdir -p "$BASE"/{conf,logs,temp,work,webapps/ROOT/WEB-INF/classes}
sed "s/@PORT@/$TPORT/" tests/tomcat/server.xml > "$BASE/conf/server.xml"
cp "$CATALINA_HOME/etc/web.xml" "$BASE/conf/web.xml"
cp "$CATALINA_HOME/etc/logging.properties" "$BASE/conf/" 2>/dev/null || true
cp tests/tomcat/web.xml "$BASE/webapps/ROOT/WEB-INF/web.xml"
javac -nowarn -cp "$CATALINA_HOME/lib/servlet-api.jar" -d "$BASE/webapps/ROOT/WEB-INF/classes" tests/tomcat/EchoServlet.java
RUN_AS=()
if [ "$(id -u)" = 0 ]; then chown -R nobody "$BASE"; RUN_AS=(runuser -u nobody --); fi
"${RUN_AS[@]}" env CATALINA_HOME="$CATALINA_HOME" CATALINA_BASE="$BASE" CATALINA_TMPDIR="$BASE/temp" \
  JAVA_OPTS="-Xmx256m -XX:TieredStopAtLevel=1" "$CATALINA_HOME/bin/catalina.sh" run > "$WORK/tomcat.log" 2>&1 &
TOMCAT_PID=$!
wait_port "$TPORT" || { echo "tomcat-diff: Tomcat did not start" >&2; tail -30 "$WORK/tomcat.log" >&2; exit 2; }

# --- authgate in front, forwarding every path it accepts ---
APORT=$(free_port); ADMIN=$(free_port)
cat > "$WORK/authgate.toml" <<TOML
[server]
listen = "127.0.0.1:$APORT"
admin_listen = "127.0.0.1:$ADMIN"
[upstream]
url = "http://127.0.0.1:$TPORT"
[auth]
enabled = false
api_paths = ["/**"]
[audit]
database_url = "sqlite://$WORK/audit.db?mode=rwc"
spool_dir = "$WORK/spool"
log = "off"
[log]
level = "warn"
TOML
"$BIN" run -c "$WORK/authgate.toml" > "$WORK/authgate.log" 2>&1 &
AUTHGATE_PID=$!
wait_port "$APORT" || { echo "tomcat-diff: authgate did not start" >&2; tail -30 "$WORK/authgate.log" >&2; exit 2; }
# Warm up Tomcat (the first request loads the servlet).
python3 - "$TPORT" <<'PY'
import socket, sys, time
for _ in range(100):
    try:
        s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
        s.sendall(b"GET /warm HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        if b"servletPath" in s.recv(65536) + s.recv(65536):
            break
    except OSError:
        pass
    time.sleep(0.2)
PY

python3 tests/tomcat/diff_client.py "127.0.0.1:$APORT"
