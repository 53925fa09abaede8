#!/usr/bin/env bash
# Load benchmark: authgate against a plain nginx reverse proxy, on this machine.
#
# Installs wrk and nginx from Debian if missing, builds authgate in release mode, starts on
# loopback: an nginx upstream serving a 1.2 KB JSON body for /rest/api/2/issue/ABC-1, a plain
# nginx reverse proxy (2 workers, keepalive upstream, no auth) as the floor, and authgate
# (2 worker threads) in five configurations: A auth only; B = A + rate limit + audit to
# SQLite; C = A + rate limit + audit to Postgres; D and E = A + `[upstream.identity] mode =
# "oauth1"` (every forwarded request signed RSA-SHA1, key made by `authgate applink
# --generate-key`: 2048 bits for D, 4096 for E; the upstream does not verify signatures, so
# these rows measure authgate's own signing cost); F = A + rate limit on a Redis it starts
# (`store = "redis"`), G = A + rate limit in memory (F's twin), H1..H3 = three replicas of F.
# Then runs `wrk -t2 -c64 -d10s --latency` against every row in interleaved rounds (the
# three-replica row: `-t3`, one thread per replica, `bench/replicas.lua`) and prints one
# table, then Redis's own CPU per request for the Redis rows. Everything it starts is
# stopped on exit. Runs in about 8 minutes (plus the first release build).
#
# Rows: direct (the upstream itself), nginx floor, and authgate: bypass path (A, no
# credential), RS256 reused (A, one token: the verified-token cache), RS256 10k rotating (A,
# 10 000 distinct tokens), ES256 (A), introspection (cached) (A), gateway token (A),
# RS256 + rate limit + audit SQLite (B), RS256 + rate limit + audit Postgres (C),
# RS256 + oauth1 (D, the RS256-reused token in, signed out), RS256 + oauth1 4096 (E),
# RS256 + rate limit (memory) (G), RS256 + rate limit on Redis (F) and x3 RS256 + rate limit
# on Redis (H1..H3 together, one token, CPU summed over the three).
#
#   bench/load.sh [ROUNDS] [DURATION]      defaults: 2 rounds, 10s
#   PROFILE=1 bench/load.sh                also records a CPU profile of authgate during the
#                                          first "RS256 reused" run (perf, cpu-clock) and
#                                          prints its top symbols to bench-profile.txt
#   ONLY='bypass|RS256 reused' bench/load.sh   measures only the authgate rows whose name
#                                          matches (direct and the floor always run);
#                                          ONLY=oauth1 gives the two oauth1 rows
#   GW_THREADS=1 bench/load.sh             authgate's worker threads (default 2)
#   BASELINE=/tmp/authgate-old bench/load.sh   adds the bypass and RS256-reused rows of another
#                                          build, interleaved with this one's (an A/B)
#
# Besides req/s and latency, the table shows CPU µs per request of the proxy under test
# (user + system time of its processes over the run, divided by the requests wrk completed):
# unlike req/s it does not depend on how the 2 cores are shared with wrk and the upstream.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
ROUNDS=${1:-2}
DURATION=${2:-10s}
WORK=$(mktemp -d /tmp/authgate-bench.XXXXXX)
chmod 755 "$WORK"
PIDS=()
PG_DATA=""
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$WORK/nginx-up.pid" ] && kill "$(cat "$WORK/nginx-up.pid")" 2>/dev/null || true
  [ -f "$WORK/nginx-floor.pid" ] && kill "$(cat "$WORK/nginx-floor.pid")" 2>/dev/null || true
  [ -n "${REDIS_PORT:-}" ] && pkill -9 -f "redis-server 127.0.0.1:$REDIS_PORT" 2>/dev/null || true
  if [ -n "$PG_DATA" ]; then
    runuser -u nobody -- /usr/lib/postgresql/15/bin/pg_ctl -D "$PG_DATA" -m immediate stop >/dev/null 2>&1 || true
  fi
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || need+=(nginx-light)
command -v openssl >/dev/null || need+=(openssl)
command -v redis-server >/dev/null || need+=(redis-server)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
# Debian's nginx package starts a system instance on :80; we never use it.
systemctl stop nginx >/dev/null 2>&1 || service nginx stop >/dev/null 2>&1 || true
systemctl stop redis-server >/dev/null 2>&1 || service redis-server stop >/dev/null 2>&1 || true

echo "building authgate (release)…"
cargo build --release --locked --bin authgate --example mint_tokens 2>&1 | tail -1
BIN=$ROOT/target/release/authgate
MINT=$ROOT/target/release/examples/mint_tokens

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
P_UP=$(free_port); P_FLOOR=$(free_port); P_IDP=$(free_port)
P_A=$(free_port); P_A_ADM=$(free_port); P_B=$(free_port); P_B_ADM=$(free_port); P_C=$(free_port); P_C_ADM=$(free_port)
P_D=$(free_port); P_D_ADM=$(free_port); P_E=$(free_port); P_E_ADM=$(free_port)
P_F=$(free_port); P_F_ADM=$(free_port); P_G=$(free_port); P_G_ADM=$(free_port)
P_H1=$(free_port); P_H1_ADM=$(free_port); P_H2=$(free_port); P_H2_ADM=$(free_port); P_H3=$(free_port); P_H3_ADM=$(free_port)

# --- keys and tokens ---
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$WORK/rs.key" 2>/dev/null
openssl pkey -in "$WORK/rs.key" -pubout -out "$WORK/rs.pub"
openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null | openssl pkcs8 -topk8 -nocrypt -out "$WORK/es.key"
openssl pkey -in "$WORK/es.key" -pubout -out "$WORK/es.pub"
"$MINT" "$WORK/rs.key" RS256 https://idp.bench/rs jira 1 > "$WORK/rs1.txt"
"$MINT" "$WORK/rs.key" RS256 https://idp.bench/rs jira 10000 > "$WORK/rs10k.txt"
"$MINT" "$WORK/es.key" ES256 https://idp.bench/es jira 1 > "$WORK/es1.txt"
RS_TOKEN=$(cat "$WORK/rs1.txt"); ES_TOKEN=$(cat "$WORK/es1.txt")
OPAQUE_TOKEN="opaque-bench-token-0123456789"
EXP=$(( $(date +%s) + 3600 ))

# --- nginx: upstream (also the introspection endpoint) and the floor proxy ---
python3 - "$WORK/issue.json" <<'PY'
import json, sys
body = {"id": "10001", "key": "ABC-1", "self": "http://jira.local/rest/api/2/issue/10001",
        "fields": {"summary": "Benchmark issue", "description": "x" * 860,
                   "status": {"name": "Open"}, "priority": {"name": "Major"}}}
open(sys.argv[1], "w").write(json.dumps(body))
PY
mkdir -p "$WORK/www/rest/api/2/issue"
cp "$WORK/issue.json" "$WORK/www/rest/api/2/issue/ABC-1"
cp "$WORK/issue.json" "$WORK/www/rest/api/2/issue/BYPASS-1"
cat > "$WORK/nginx-up.conf" <<NGX
worker_processes 1;
pid $WORK/nginx-up.pid;
error_log $WORK/nginx-up.err warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$P_UP;
    root $WORK/www;
    default_type application/json;
    location = /introspect {
      return 200 '{"active":true,"sub":"bench","username":"bench-user","exp":$EXP,"iss":"https://idp.bench/intro"}';
    }
    location / { try_files \$uri =404; }
  }
}
NGX
cat > "$WORK/nginx-floor.conf" <<NGX
worker_processes 2;
pid $WORK/nginx-floor.pid;
error_log $WORK/nginx-floor.err warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  upstream jira { server 127.0.0.1:$P_UP; keepalive 64; }
  server {
    listen 127.0.0.1:$P_FLOOR;
    location / {
      proxy_pass http://jira;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
NGX
nginx -c "$WORK/nginx-up.conf" -p "$WORK"
nginx -c "$WORK/nginx-floor.conf" -p "$WORK"

# --- Postgres for the audit row ---
PG_PORT=$(free_port)
mkdir -p "$WORK/pg"; chown nobody "$WORK/pg"
PG_DATA=$WORK/pg/data
runuser -u nobody -- /usr/lib/postgresql/15/bin/initdb -D "$PG_DATA" -U authgate --auth=trust --no-sync >/dev/null
runuser -u nobody -- /usr/lib/postgresql/15/bin/pg_ctl -D "$PG_DATA" -l "$WORK/pg/log" -w \
  -o "-p $PG_PORT -k $WORK/pg -c listen_addresses=127.0.0.1" start >/dev/null
PG_URL="postgres://authgate@127.0.0.1:$PG_PORT/postgres"

# --- Redis for the shared rate limit ---
REDIS_PORT=$(free_port)
mkdir -p "$WORK/redis"; chown nobody "$WORK/redis"
runuser -u nobody -- redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
  --dir "$WORK/redis" --logfile "$WORK/redis/log" --daemonize yes
for _ in $(seq 1 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.05; done
REDIS_PID=$(pgrep -f "redis-server 127.0.0.1:$REDIS_PORT" | head -1)

# --- authgate configs: A = auth only; B = + rate limit + audit to SQLite; C = + audit to Postgres;
# D, E = A + the oauth1 hand-off (2048- and 4096-bit key) ---
write_config() { # name port admin audit_enabled rate_enabled database_url
  cat > "$WORK/$1.toml" <<TOML
[server]
listen = "127.0.0.1:$2"
admin_listen = "127.0.0.1:$3"
admin_token = "bench-admin-token-0123456789"
[upstream]
url = "http://127.0.0.1:$P_UP"
[auth]
gateway_tokens = true
[access]
bypass = ["GET /rest/api/2/issue/BYPASS-1"]
[[providers]]
name = "rs"
kind = "jwt"
issuer = "https://idp.bench/rs"
audiences = ["jira"]
algorithms = ["RS256"]
public_key_file = "rs.pub"
[[providers]]
name = "es"
kind = "jwt"
issuer = "https://idp.bench/es"
audiences = ["jira"]
algorithms = ["ES256"]
public_key_file = "es.pub"
[[providers]]
name = "intro"
kind = "introspection"
introspection_url = "http://127.0.0.1:$P_UP/introspect"
client_id = "authgate"
client_secret = "bench-secret"
username_claim = "username"
cache_ttl = "10m"
[rate_limit]
enabled = $5
requests = 100000000
per = "1s"
[audit]
enabled = $4
database_url = "$6"
spool_dir = "spool-$1"
log = "off"
[log]
level = "warn"
TOML
}
write_config a "$P_A" "$P_A_ADM" false false "sqlite://a.db?mode=rwc"
write_config b "$P_B" "$P_B_ADM" true true "sqlite://b.db?mode=rwc"
write_config c "$P_C" "$P_C_ADM" true true "$PG_URL"
add_oauth1() { # name bits: [upstream.identity] mode = "oauth1" and a new key made by authgate
  cat >> "$WORK/$1.toml" <<TOML
[upstream.identity]
mode = "oauth1"
consumer_key = "authgate-bench"
private_key_file = "oauth1-$1.key"
TOML
  "$BIN" applink -c "$WORK/$1.toml" --generate-key --bits "$2" > "$WORK/applink-$1.txt"
}
write_config d "$P_D" "$P_D_ADM" false false "sqlite://d.db?mode=rwc"
add_oauth1 d 2048
write_config e "$P_E" "$P_E_ADM" false false "sqlite://e.db?mode=rwc"
add_oauth1 e 4096
# F = A + rate limit on Redis; G = A + rate limit in memory (its twin); H1..H3 = F three times.
add_redis() { # name: the limiter's buckets in the shared Redis
  sed -i "s|^\[rate_limit\]$|[rate_limit]\nstore = \"redis\"\nredis_url = \"redis://127.0.0.1:$REDIS_PORT/0\"\nredis_timeout = \"50ms\"\non_store_error = \"local\"|" "$WORK/$1.toml"
}
write_config f "$P_F" "$P_F_ADM" false true "sqlite://f.db?mode=rwc"; add_redis f
write_config g "$P_G" "$P_G_ADM" false true "sqlite://g.db?mode=rwc"
for h in 1 2 3; do
  port_var=P_H$h; adm_var=P_H${h}_ADM
  write_config "h$h" "${!port_var}" "${!adm_var}" false true "sqlite://h$h.db?mode=rwc"; add_redis "h$h"
done

GW_TOKEN=$("$BIN" token create -c "$WORK/a.toml" --user bench-user --name bench 2>/dev/null | grep -oE 'gw_[A-Za-z0-9]+' | head -1 || true)

start_gw() { # name admin_port
  local t0 t1
  t0=$(date +%s%N)
  AUTHGATE_WORKER_THREADS=${GW_THREADS:-2} "$BIN" run -c "$WORK/$1.toml" > "$WORK/$1.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 200); do
    curl -fs "http://127.0.0.1:$2/readyz" >/dev/null 2>&1 && break
    sleep 0.01
  done
  t1=$(date +%s%N)
  echo "$pid $(( (t1 - t0) / 1000000 ))"
}
read -r PID_A START_A < <(start_gw a "$P_A_ADM")
read -r PID_B _ < <(start_gw b "$P_B_ADM")
read -r PID_C _ < <(start_gw c "$P_C_ADM")
read -r PID_D _ < <(start_gw d "$P_D_ADM")
read -r PID_E _ < <(start_gw e "$P_E_ADM")
read -r PID_F _ < <(start_gw f "$P_F_ADM")
read -r PID_G _ < <(start_gw g "$P_G_ADM")
read -r PID_H1 _ < <(start_gw h1 "$P_H1_ADM")
read -r PID_H2 _ < <(start_gw h2 "$P_H2_ADM")
read -r PID_H3 _ < <(start_gw h3 "$P_H3_ADM")
# start_gw runs in a subshell: its PIDS+= is lost, so the gateways are recorded here.
PIDS+=("$PID_A" "$PID_B" "$PID_C" "$PID_D" "$PID_E" "$PID_F" "$PID_G" "$PID_H1" "$PID_H2" "$PID_H3")
sleep 0.5
IDLE_RSS_A=$(awk '/VmRSS/ {print $2}' /proc/$PID_A/status)

# name | url | header | lua | pid
ROWS=(
  "direct|http://127.0.0.1:$P_UP/rest/api/2/issue/ABC-1|||"
  "nginx floor|http://127.0.0.1:$P_FLOOR/rest/api/2/issue/ABC-1|||"
  "authgate bypass path|http://127.0.0.1:$P_A/rest/api/2/issue/BYPASS-1|||$PID_A"
  "authgate RS256 reused|http://127.0.0.1:$P_A/rest/api/2/issue/ABC-1|Authorization: Bearer $RS_TOKEN||$PID_A"
  "authgate RS256 10k rotating|http://127.0.0.1:$P_A/rest/api/2/issue/ABC-1||$WORK/rs10k.txt|$PID_A"
  "authgate ES256|http://127.0.0.1:$P_A/rest/api/2/issue/ABC-1|Authorization: Bearer $ES_TOKEN||$PID_A"
  "authgate introspection (cached)|http://127.0.0.1:$P_A/rest/api/2/issue/ABC-1|Authorization: Bearer $OPAQUE_TOKEN||$PID_A"
  "authgate gateway token|http://127.0.0.1:$P_A/rest/api/2/issue/ABC-1|Authorization: Bearer $GW_TOKEN||$PID_A"
  "authgate RS256 + rate limit + audit SQLite|http://127.0.0.1:$P_B/rest/api/2/issue/ABC-1|Authorization: Bearer $RS_TOKEN||$PID_B"
  "authgate RS256 + rate limit + audit Postgres|http://127.0.0.1:$P_C/rest/api/2/issue/ABC-1|Authorization: Bearer $RS_TOKEN||$PID_C"
  "authgate RS256 + oauth1|http://127.0.0.1:$P_D/rest/api/2/issue/ABC-1|Authorization: Bearer $RS_TOKEN||$PID_D"
  "authgate RS256 + oauth1 4096|http://127.0.0.1:$P_E/rest/api/2/issue/ABC-1|Authorization: Bearer $RS_TOKEN||$PID_E"
  "authgate RS256 + rate limit (memory)|http://127.0.0.1:$P_G/rest/api/2/issue/ABC-1|Authorization: Bearer $RS_TOKEN||$PID_G"
  "authgate RS256 + rate limit on Redis|http://127.0.0.1:$P_F/rest/api/2/issue/ABC-1|Authorization: Bearer $RS_TOKEN||$PID_F"
  "authgate x3 RS256 + rate limit on Redis|http://127.0.0.1:$P_H1/rest/api/2/issue/ABC-1|Authorization: Bearer $RS_TOKEN|replicas|$PID_H1 $PID_H2 $PID_H3"
)
# A/B against another build on the same run: BASELINE=/path/to/authgate adds its bypass and
# RS256-reused rows, interleaved with this build's, so machine drift falls on both alike.
if [ -n "${BASELINE:-}" ]; then
  P_BASE=$(free_port); P_BASE_ADM=$(free_port)
  write_config base "$P_BASE" "$P_BASE_ADM" false false "sqlite://base.db?mode=rwc"
  OWN_BIN=$BIN; BIN=$BASELINE
  read -r PID_BASE _ < <(start_gw base "$P_BASE_ADM")
  BIN=$OWN_BIN
  PIDS+=("$PID_BASE")
  ROWS+=(
    "baseline bypass path|http://127.0.0.1:$P_BASE/rest/api/2/issue/BYPASS-1|||$PID_BASE"
    "baseline RS256 reused|http://127.0.0.1:$P_BASE/rest/api/2/issue/ABC-1|Authorization: Bearer $RS_TOKEN||$PID_BASE"
  )
fi
if [ -n "${ONLY:-}" ]; then
  kept=()
  for row in "${ROWS[@]}"; do
    name=${row%%|*}
    if [ "$name" = direct ] || [ "$name" = "nginx floor" ] || [[ $name =~ $ONLY ]]; then kept+=("$row"); fi
  done
  ROWS=("${kept[@]}")
fi
FLOOR_PIDS=$(pgrep -P "$(cat "$WORK/nginx-floor.pid")" | tr '\n' ' ')
cp "$ROOT/bench/rotate.lua" "$WORK/rotate.lua"
cp "$ROOT/bench/replicas.lua" "$WORK/replicas.lua"
# The 10 000 rotating tokens are sent once before measuring? No: the first round pays the
# verifications, which is what a fleet of distinct clients costs; later rounds hit the cache.

to_ms() { # "1.23ms" / "456.00us" / "1.02s" -> ms
  awk -v v="$1" 'BEGIN { n=v+0; if (v ~ /us$/) n=n/1000; else if (v ~ /ms$/) n=n; else if (v ~ /s$/) n=n*1000; printf "%.3f", n }'
}
# user + system clock ticks of the given pids
cpu_ticks() { local t=0 p; for p in "$@"; do t=$(( t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0) )); done; echo "$t"; }
TICK=$(getconf CLK_TCK)
declare -A RPS P50 P99 CODES CPU RCPU
for round in $(seq 1 "$ROUNDS"); do
  for row in "${ROWS[@]}"; do
    IFS='|' read -r name url header lua pid <<<"$row"
    # Every row must really answer 200 before it is measured.
    if [ -n "$lua" ] && [ "$lua" != replicas ]; then h="Authorization: Bearer $(head -1 "$lua")"; else h="$header"; fi
    code=$(curl -s -o /dev/null -w '%{http_code}' ${h:+-H "$h"} "$url")
    CODES[$name]=$code
    args=(-t2 -c64 -d"$DURATION" --latency)
    # Three replicas: one wrk thread (and a third of the connections) per replica.
    [ "$lua" = replicas ] && args=(-t3 -c64 -d"$DURATION" --latency)
    perf_pid=""
    case "$name" in
      "nginx floor") cpu_pids=$FLOOR_PIDS ;;
      direct) cpu_pids="" ;;
      *) cpu_pids=$pid ;;
    esac
    # shellcheck disable=SC2086
    t0=$(cpu_ticks $cpu_pids)
    r0=$(cpu_ticks "$REDIS_PID")
    if [ "${PROFILE:-0}" = 1 ] && [ "$round" = 1 ] && [ "$name" = "authgate RS256 reused" ]; then
      command -v perf >/dev/null || { apt-get install -y -qq linux-perf >/dev/null; }
      perf record -q -e cpu-clock -F 999 -g -p "$pid" -o "$WORK/perf.data" >/dev/null 2>&1 &
      perf_pid=$!
    fi
    if [ "$lua" = replicas ]; then
      out=$(REPLICA_PORTS="$P_H1,$P_H2,$P_H3" wrk "${args[@]}" -H "$header" -s "$WORK/replicas.lua" "$url")
    elif [ -n "$lua" ]; then
      out=$(TOKENS_FILE=$lua wrk "${args[@]}" -s "$WORK/rotate.lua" "$url")
    elif [ -n "$header" ]; then
      out=$(wrk "${args[@]}" -H "$header" "$url")
    else
      out=$(wrk "${args[@]}" "$url")
    fi
    if [ -n "$perf_pid" ]; then
      kill -INT "$perf_pid"; wait "$perf_pid" 2>/dev/null || true
      perf report -i "$WORK/perf.data" --stdio --no-children --sort dso,symbol -g none --percent-limit 0.5 2>/dev/null \
        | grep -v '^$' | head -80 > "$ROOT/bench-profile.txt" || true
      echo "profile of the RS256 row: bench-profile.txt" >&2
    fi
    # shellcheck disable=SC2086
    t1=$(cpu_ticks $cpu_pids)
    r1=$(cpu_ticks "$REDIS_PID")
    reqs=$(echo "$out" | awk '/requests in/ {print $1}')
    if [[ $name == *Redis* ]]; then
      RCPU[$name]="${RCPU[$name]:-} $(awk -v d=$(( r1 - r0 )) -v n="$reqs" -v hz="$TICK" 'BEGIN { if (n > 0) printf "%.1f", d * 1e6 / hz / n; else print "-" }')"
    fi
    cpu=$(awk -v d=$(( t1 - t0 )) -v n="$reqs" -v hz="$TICK" 'BEGIN { if (n > 0 && d > 0) printf "%.1f", d * 1e6 / hz / n; else print "-" }')
    [ -z "$cpu_pids" ] && cpu="-"
    CPU[$name]="${CPU[$name]:-} $cpu"
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p50=$(to_ms "$(echo "$out" | awk '$1=="50%" {print $2}')")
    p99=$(to_ms "$(echo "$out" | awk '$1=="99%" {print $2}')")
    non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
    [ -n "$non2xx" ] && CODES[$name]="$code ($non2xx non-2xx)"
    RPS[$name]="${RPS[$name]:-} $rps"; P50[$name]="${P50[$name]:-} $p50"; P99[$name]="${P99[$name]:-} $p99"
    echo "round $round: $name: $rps req/s p50 ${p50}ms p99 ${p99}ms cpu ${cpu}us/req (status ${CODES[$name]})" >&2
  done
done

mean() { echo "$1" | awk '{s=0; n=0; for(i=1;i<=NF;i++) if ($i != "-") { s+=$i; n++ } if (n) printf "%.2f", s/n; else print "-"}'; }
peak_rss() { awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$1/status" 2>/dev/null || echo "-"; }
D=$(mean "${RPS[direct]}"); F=$(mean "${RPS[nginx floor]}")
echo
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); $(uname -r); wrk -t2 -c64 -d$DURATION, $ROUNDS rounds interleaved"
echo "authgate start to ready (local keys): ${START_A} ms; idle RSS: $(awk -v k="$IDLE_RSS_A" 'BEGIN{printf "%.1f", k/1024}') MiB"
printf '| %-46s | %10s | %8s | %8s | %8s | %8s | %11s | %9s | %s\n' target req/s "p50 ms" "p99 ms" "x direct" "x floor" "CPU µs/req" "peak RSS" status
printf '|%s|\n' "------------------------------------------------|------------|----------|----------|----------|----------|-------------|-----------|-------"
for row in "${ROWS[@]}"; do
  IFS='|' read -r name url header lua pid <<<"$row"
  r=$(mean "${RPS[$name]}"); p5=$(mean "${P50[$name]}"); p9=$(mean "${P99[$name]}")
  rd=$(awk -v a="$r" -v b="$D" 'BEGIN{printf "%.2f", a/b}'); rf=$(awk -v a="$r" -v b="$F" 'BEGIN{printf "%.2f", a/b}')
  rss="-"; [ -n "$pid" ] && rss="$(peak_rss "${pid%% *}") MiB"
  printf '| %-46s | %10s | %8s | %8s | %8s | %8s | %11s | %9s | %s\n' "$name" "$r" "$p5" "$p9" "$rd" "$rf" "$(mean "${CPU[$name]}")" "$rss" "${CODES[$name]}"
done
for name in "${!RCPU[@]}"; do
  echo "Redis's own CPU per request, $name: $(mean "${RCPU[$name]}") µs"
done
