#!/usr/bin/env bash
# Benchmarks one Hornbeam node against webdis (Redis over HTTP) and a no-op Kestrel app, with redis-benchmark as the
# floor, and files the figures in docs/benchmarks.md. Everything runs on loopback and stops when this script does.
#
#   bash bench/run.sh
#
# Settings (environment): BENCH_DURATION (8s), BENCH_CONNECTIONS (32), BENCH_THREADS (2), BENCH_ROUNDS (2),
# BENCH_WARMUP (2s per contender and scenario), BENCH_START_WARMUP (4s per route, once), BENCH_KEYS (1000000), BENCH_LIST_CONNECTIONS (1), BENCH_REDIS_REQUESTS (200000),
# BENCH_DOC (docs/benchmarks.md), BENCH_DATE (today), BENCH_TIMEOUT (whole run, 1800 s), BENCH_BUILD_TRIES (3),
# BENCH_SCENARIOS (which scenarios, by name, e.g. "rpc hooks"; default all: incr get put multi redis_floor list rpc
# hooks pubsub nginx cluster), BENCH_SSE_SUBSCRIBERS (1000), BENCH_SSE_MESSAGES (200), BENCH_SSE_RATE (20 per second),
# BENCH_SSE_WARMUP (400 uncounted messages first: 20 s at the default rate, long enough for the nodes' JIT to settle),
# BENCH_FRESH_WARMUP (10s: a first warm-up per contender in scenarios that start their own nodes).
#
# To add a row: write a scenario_xxx function that prepares its data and calls `compare`, and add xxx to ALL_SCENARIOS.
set -euo pipefail

# The whole run is bounded: past BENCH_TIMEOUT the script gets SIGTERM, and its trap stops what it started.
if [[ -z "${BENCH_UNDER_TIMEOUT:-}" ]]; then
  BENCH_UNDER_TIMEOUT=1 exec timeout -k 20 "${BENCH_TIMEOUT:-1800}" bash "$0" "$@"
fi

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
OUT=$BENCH/out

# The command as a reader would retype it: only the settings given explicitly.
COMMAND="bash bench/run.sh"
for v in BENCH_SCENARIOS BENCH_FRESH_WARMUP BENCH_SSE_SUBSCRIBERS BENCH_SSE_MESSAGES BENCH_SSE_RATE BENCH_SSE_WARMUP BENCH_DURATION BENCH_CONNECTIONS BENCH_THREADS BENCH_ROUNDS BENCH_WARMUP BENCH_START_WARMUP BENCH_KEYS BENCH_LIST_CONNECTIONS BENCH_REDIS_REQUESTS; do
  if [[ -n "${!v:-}" ]]; then
    if [[ ${!v} == *' '* ]]; then COMMAND="$v=\"${!v}\" $COMMAND"; else COMMAND="$v=${!v} $COMMAND"; fi
  fi
done

DURATION=${BENCH_DURATION:-8s}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
THREADS=${BENCH_THREADS:-2}
ROUNDS=${BENCH_ROUNDS:-2}
WARMUP=${BENCH_WARMUP:-2s}
START_WARMUP=${BENCH_START_WARMUP:-4s}
KEYS=${BENCH_KEYS:-1000000}
LIST_CONNECTIONS=${BENCH_LIST_CONNECTIONS:-1}
REDIS_REQUESTS=${BENCH_REDIS_REQUESTS:-200000}
DOC=${BENCH_DOC:-$ROOT/docs/benchmarks.md}
RUN_DATE=${BENCH_DATE:-$(date +%F)}
BUILD_TRIES=${BENCH_BUILD_TRIES:-3}

SSE_SUBSCRIBERS=${BENCH_SSE_SUBSCRIBERS:-1000}
SSE_MESSAGES=${BENCH_SSE_MESSAGES:-200}
SSE_RATE=${BENCH_SSE_RATE:-20}
SSE_WARMUP=${BENCH_SSE_WARMUP:-400}
FRESH_WARMUP=${BENCH_FRESH_WARMUP:-10s}
FRESH=

ALL_SCENARIOS=(incr get put multi redis_floor list rpc hooks pubsub nginx cluster)
read -r -a SCENARIOS <<<"${BENCH_SCENARIOS:-${ALL_SCENARIOS[*]}}"

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

# ---------------------------------------------------------------------------------------------------------------------
# Processes: everything started goes into PIDS and is stopped on exit, error, Ctrl-C or timeout.

PIDS=()
NAMES=()
STOPS=()   # commands that stop what was started outside PIDS (deploy/local.sh topologies)
TMP=$(mktemp -d /tmp/hornbeam-bench.XXXXXX)

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  local i
  for i in "${!STOPS[@]}"; do
    eval "${STOPS[$i]}" >/dev/null 2>&1 || log "could not stop: ${STOPS[$i]}"
  done
  for i in "${!PIDS[@]}"; do
    kill -TERM "${PIDS[$i]}" 2>/dev/null || true
  done
  for i in "${!PIDS[@]}"; do
    local pid=${PIDS[$i]} deadline=$((SECONDS + 10))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      log "${NAMES[$i]} (pid $pid) ignored SIGTERM; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$TMP"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start NAME COMMAND...: runs COMMAND in the background, its output in $RESULTS/NAME.log.
start() {
  local name=$1; shift
  "$@" >"$RESULTS/$name.log" 2>&1 &
  PIDS+=($!)
  NAMES+=("$name")
  log "started $name (pid $!)"
}

# wait_until SECONDS NAME COMMAND...: polls COMMAND until it succeeds; fails if the deadline passes or NAME died.
wait_until() {
  local limit=$1 name=$2; shift 2
  local deadline=$((SECONDS + limit)) pid=${PIDS[-1]}
  until "$@" >/dev/null 2>&1; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 30 "$RESULTS/$name.log" >&2 || true
      die "$name exited before it answered"
    fi
    if ((SECONDS >= deadline)); then
      tail -n 30 "$RESULTS/$name.log" >&2 || true
      die "$name did not answer within ${limit}s"
    fi
    sleep 0.2
  done
  log "$name is answering"
}

# free_ports [N]: N (4) distinct free loopback ports, chosen while all N sockets are open.
free_ports() {
  python3 - "${1:-4}" <<'EOF'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
EOF
}

# free_block N: the first of N consecutive free loopback ports (deploy/local.sh puts replica i on base+i).
free_block() {
  python3 - "$1" <<'EOF'
import random, socket, sys
n = int(sys.argv[1])
for _ in range(200):
    base = random.randrange(20000, 60000 - n)
    socks = []
    try:
        for p in range(base, base + n):
            s = socket.socket()
            socks.append(s)
            s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        for s in socks:
            s.close()
    print(base)
    break
else:
    sys.exit("no block of free ports")
EOF
}

# stop_proc NAME: stops one process started with `start`, so a scenario's extra nodes do not idle through the next.
stop_proc() {
  local i
  for i in "${!NAMES[@]}"; do
    [[ ${NAMES[$i]} == "$1" ]] || continue
    kill -TERM "${PIDS[$i]}" 2>/dev/null || true
    local deadline=$((SECONDS + 10))
    while kill -0 "${PIDS[$i]}" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
    kill -KILL "${PIDS[$i]}" 2>/dev/null || true
    wait "${PIDS[$i]}" 2>/dev/null || true
    unset "PIDS[$i]" "NAMES[$i]"
  done
}

# start_api NAME URL REDIS [ENV=VALUE...]: one more Hornbeam node from the Release build, access control off unless ENV
# says otherwise; waits until it answers.
start_api() {
  local name=$1 url=$2 redis=$3; shift 3
  start "$name" env -C "$OUT/api" ConnectionStrings__Redis="$redis" ASPNETCORE_URLS="$url" \
    Logging__LogLevel__Default=Warning ASPNETCORE_ENVIRONMENT=Production Hornbeam__Auth__Enabled=false "$@" \
    dotnet Hornbeam.Api.dll
  wait_until 60 "$name" curl -fsS --max-time 2 "$url/health/ready"
}

# ---------------------------------------------------------------------------------------------------------------------
# Build: Release publishes of a snapshot of src/ (so a build here never races an editor's or a test run's obj/ files in
# the work tree), of bench/Noop and of bench/SseLatency.

snapshot_src() {
  local dest=$OUT/build
  mkdir -p "$dest"
  # Drop the previous snapshot's sources but keep its bin/ and obj/, so a rebuild is incremental.
  if [[ -d $dest/src ]]; then
    find "$dest/src" -type f -not -path '*/obj/*' -not -path '*/bin/*' -delete
  fi
  local items=(src)
  local f
  for f in Directory.Build.props Directory.Build.targets Directory.Packages.props global.json NuGet.config nuget.config .editorconfig; do
    [[ -e $ROOT/$f ]] && items+=("$f")
  done
  tar -C "$ROOT" --exclude=bin --exclude=obj -cf - "${items[@]}" | tar -C "$dest" -xf -
}

build() {
  local try
  for ((try = 1; try <= BUILD_TRIES; try++)); do
    snapshot_src
    if dotnet publish "$OUT/build/src/Hornbeam.Api/Hornbeam.Api.csproj" -c Release -o "$OUT/api" --nologo -v quiet \
        >"$RESULTS/build-api.log" 2>&1; then
      break
    fi
    grep -E 'error' "$RESULTS/build-api.log" | sort -u | head -n 10 >&2 || true
    ((try < BUILD_TRIES)) || die "Release build of src/Hornbeam.Api failed $BUILD_TRIES times (see $RESULTS/build-api.log)"
    log "build failed (src/ may be mid-edit); retrying in 60 s ($try of $BUILD_TRIES)"
    sleep 60
  done
  dotnet publish "$BENCH/Noop/Noop.csproj" -c Release -o "$OUT/noop" --nologo -v quiet >"$RESULTS/build-noop.log" 2>&1 \
    || { tail -n 20 "$RESULTS/build-noop.log" >&2; die "Release build of bench/Noop failed"; }
  dotnet publish "$BENCH/SseLatency/SseLatency.csproj" -c Release -o "$OUT/sse-latency" --nologo -v quiet \
    >"$RESULTS/build-sse-latency.log" 2>&1 \
    || { tail -n 20 "$RESULTS/build-sse-latency.log" >&2; die "Release build of bench/SseLatency failed"; }
  log "built $OUT/api, $OUT/noop and $OUT/sse-latency"
}

# ---------------------------------------------------------------------------------------------------------------------
# Servers

start_servers() {
  read -r REDIS_PORT API_PORT WEBDIS_PORT NOOP_PORT < <(free_ports)
  HB=http://127.0.0.1:$API_PORT
  WD=http://127.0.0.1:$WEBDIS_PORT
  NOOP=http://127.0.0.1:$NOOP_PORT

  start redis redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no --daemonize no \
    --dir "$TMP" --logfile ''
  wait_until 20 redis redis_ok

  # Production as shipped: access control on, one API key with the state scopes and no rate limit.
  HB_KEY=bench-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
  HB_AUTH="X-Api-Key: $HB_KEY"
  start hornbeam env -C "$OUT/api" ConnectionStrings__Redis="127.0.0.1:$REDIS_PORT" ASPNETCORE_URLS="$HB" \
    Logging__LogLevel__Default=Warning ASPNETCORE_ENVIRONMENT=Production \
    Hornbeam__Auth__Keys__0__Name=bench Hornbeam__Auth__Keys__0__Key="$HB_KEY" \
    Hornbeam__Auth__Keys__0__Scopes__0=state:read Hornbeam__Auth__Keys__0__Scopes__1=state:write \
    Hornbeam__Auth__Keys__0__Scopes__2=invoke Hornbeam__Auth__Keys__0__Scopes__3=admin \
    Hornbeam__Webhooks__AllowedHosts__0=127.0.0.1 \
    dotnet Hornbeam.Api.dll
  wait_until 60 hornbeam curl -fsS --max-time 2 -H "$HB_AUTH" "$HB/state?limit=1"
  note "Hornbeam runs as shipped for Production: every request carries an API key (X-Api-Key) with the state, invoke and admin scopes; no rate limit is set; telemetry is left at its defaults. Nodes started for the rpc, pubsub and cluster rows run with Hornbeam__Auth__Enabled=false."

  cat >"$TMP/webdis.json" <<EOF
{
  "redis_host": "127.0.0.1",
  "redis_port": $REDIS_PORT,
  "http_host": "127.0.0.1",
  "http_port": $WEBDIS_PORT,
  "threads": 2,
  "pool_size": 20,
  "daemonize": false,
  "database": 0,
  "verbosity": 0,
  "logfile": "$TMP/webdis.log"
}
EOF
  start webdis webdis "$TMP/webdis.json"
  wait_until 20 webdis curl -fsS --max-time 2 "$WD/PING"

  start noop env -C "$OUT/noop" ASPNETCORE_URLS="$NOOP" Logging__LogLevel__Default=Warning \
    ASPNETCORE_ENVIRONMENT=Production dotnet Noop.dll
  wait_until 60 noop curl -fsS --max-time 2 "$NOOP/noop"
}

redis_ok() { [[ $(redis-cli -p "$REDIS_PORT" PING) == PONG ]]; }
rcli() { redis-cli -p "$REDIS_PORT" "$@"; }

# http METHOD URL [BODY_FILE]: one request that must succeed; prints the response body. Hornbeam's key goes along.
http() {
  local args=(-fsS --max-time 10 -H "$HB_AUTH" -X "$1" "$2")
  if [[ -n ${3:-} ]]; then args+=(-H 'Content-Type: application/json' --data-binary "@$3"); fi
  curl "${args[@]}"
}

# ---------------------------------------------------------------------------------------------------------------------
# Measuring

# measure SCENARIO CONTENDER ROUND CONNECTIONS SPEC: one wrk run, filed in runs.tsv for report.py.
# SPEC is METHOD|URL|BODY_FILE|HEADER (BODY_FILE may be empty, a body is sent as application/json; HEADER is optional).
measure() {
  local scenario=$1 contender=$2 round=$3 conns=$4 spec=$5 duration=${6:-$DURATION}
  local method url body header threads file
  IFS='|' read -r method url body header <<<"$spec"
  threads=$((THREADS < conns ? THREADS : conns))
  file=$(printf '%s.%s.r%s.txt' "$(printf '%s' "$scenario" | tr -c 'A-Za-z0-9' '_')" "$contender" "$round")
  WRK_METHOD=$method WRK_BODY_FILE=$body WRK_CONTENT_TYPE=${body:+application/json} WRK_HEADER=$header \
    wrk -t"$threads" -c"$conns" -d"$duration" --timeout 5s --latency -s "$BENCH/lib/request.lua" "$url" \
    >"$RESULTS/$file" 2>&1 || die "wrk failed for $scenario / $contender: $(tail -n 3 "$RESULTS/$file")"
  if [[ $round != warmup ]]; then
    printf '%s\t%s\t%s\t%s\n' "$scenario" "$contender" "$round" "$file" >>"$RESULTS/runs.tsv"
    log "$scenario / $contender round $round: $(grep -E '^Requests/sec' "$RESULTS/$file" | tr -s ' ')"
  fi
}

# compare SCENARIO CONNECTIONS CONTENDER=SPEC...: a warm-up per contender, then ROUNDS rounds taking the contenders in
# turn, so that drift on a shared machine falls on all of them alike.
compare() {
  local scenario=$1 conns=$2; shift 2
  local pair round
  # Nodes started by the scenario itself get a longer first warm-up: on 2 busy cores tiering up takes a while.
  if [[ -n ${FRESH:-} ]]; then
    for pair in "$@"; do measure "$scenario" "${pair%%=*}" warmup "$conns" "${pair#*=}" "$FRESH_WARMUP"; done
  fi
  for pair in "$@"; do measure "$scenario" "${pair%%=*}" warmup "$conns" "${pair#*=}" "$WARMUP"; done
  for ((round = 1; round <= ROUNDS; round++)); do
    for pair in "$@"; do measure "$scenario" "${pair%%=*}" "$round" "$conns" "${pair#*=}"; done
  done
}

note() { echo "$*" >>"$RESULTS/notes.txt"; }

# baseline SCENARIO CONTENDER: the scenario's rows are reported with their ratio to this contender.
baseline() { printf '%s\t%s\n' "$1" "$2" >>"$RESULTS/baselines.tsv"; }

# A fresh .NET process runs unoptimised code until tiered compilation catches up; without this the first scenario
# would measure the JIT. Every Hornbeam route the scenarios use is driven for a while, and Noop too; nothing is kept.
warm_up() {
  printf '%s' '{"name":"warm","n":0}' >"$TMP/warm.json"
  printf '%s' '{"keys":["bench:warm","bench:warm2"]}' >"$TMP/warm-multi.json"
  http PUT "$HB/state/bench:warm" "$TMP/warm.json" >/dev/null
  local spec
  for spec in "POST|$HB/state/incr/bench:warm2||$HB_AUTH" "GET|$HB/state/bench:warm||$HB_AUTH" \
      "PUT|$HB/state/bench:warm|$TMP/warm.json|$HB_AUTH" "POST|$HB/state/multi|$TMP/warm-multi.json|$HB_AUTH" \
      "GET|$HB/state?prefix=bench:warm&limit=10||$HB_AUTH" "GET|$NOOP/noop||" "POST|$NOOP/noop|$TMP/warm.json|"; do
    measure start-up warm-up warmup "$CONNECTIONS" "$spec" "$START_WARMUP"
  done
  http DELETE "$HB/state/bench:warm" >/dev/null
  http DELETE "$HB/state/bench:warm2" >/dev/null
  log "warmed up Hornbeam and Noop"
}

# ---------------------------------------------------------------------------------------------------------------------
# Scenarios: one function per row group. Each prepares its data, checks every contender answers correctly, then compares.

scenario_incr() {
  http POST "$HB/state/incr/bench:ctr" >/dev/null
  [[ $(curl -fsS --max-time 5 "$WD/INCR/bench:ctr2") == '{"INCR":1}' ]] || die "webdis INCR did not answer {\"INCR\":1}"
  compare INCR "$CONNECTIONS" \
    "hornbeam=POST|$HB/state/incr/bench:ctr||$HB_AUTH" \
    "webdis=GET|$WD/INCR/bench:ctr2|" \
    "noop=POST|$NOOP/noop|"
}

scenario_get() {
  printf '%s' '{"name":"alice","n":1}' >"$TMP/small.json"
  http PUT "$HB/state/bench:get" "$TMP/small.json" >/dev/null
  rcli SET webdis:get '{"name":"alice","n":1}' >/dev/null
  [[ $(http GET "$HB/state/bench:get") == '{"key":"bench:get","value":{"name":"alice","n":1}}' ]] \
    || die "Hornbeam GET /state/bench:get did not return the value just PUT"
  http GET "$WD/GET/webdis:get" | grep -q alice || die "webdis GET did not return the value just SET"
  compare GET "$CONNECTIONS" \
    "hornbeam=GET|$HB/state/bench:get||$HB_AUTH" \
    "webdis=GET|$WD/GET/webdis:get|" \
    "noop=GET|$NOOP/noop|"
}

scenario_put() {
  # A 1024-byte JSON object, compact, as a client library would send it.
  python3 - "$TMP/1k.json" <<'EOF'
import json, sys
doc = {"id": "user:4711", "name": "alice", "roles": ["reader", "writer"], "n": 1, "active": True, "pad": ""}
doc["pad"] = "x" * (1024 - len(json.dumps(doc, separators=(",", ":"))))
body = json.dumps(doc, separators=(",", ":")).encode()
assert len(body) == 1024, len(body)
open(sys.argv[1], "wb").write(body)
EOF
  http PUT "$HB/state/bench:put" "$TMP/1k.json" >/dev/null
  [[ $(rcli STRLEN "hornbeam:{state:$(bucket bench:put)}:v:bench:put") == 1024 ]] || die "Hornbeam PUT did not store 1024 bytes"
  local webdis_spec
  # webdis takes a PUT body as the command's last argument; fall back to the value in the URL if this build does not.
  if curl -fsS --max-time 5 -X PUT --data-binary "@$TMP/1k.json" "$WD/SET/webdis:put" >/dev/null \
      && [[ $(rcli STRLEN webdis:put) == 1024 ]]; then
    webdis_spec="PUT|$WD/SET/webdis:put|$TMP/1k.json"
  else
    local value
    value=$(head -c 1024 /dev/zero | tr '\0' 'x')
    webdis_spec="GET|$WD/SET/webdis:put/$value|"
    note "webdis did not take the PUT body, so its PUT row sends GET /SET/webdis:put/<1 KB url-safe string>."
  fi
  compare "PUT 1 KB" "$CONNECTIONS" \
    "hornbeam=PUT|$HB/state/bench:put|$TMP/1k.json|$HB_AUTH" \
    "webdis=$webdis_spec" \
    "noop=POST|$NOOP/noop|$TMP/1k.json"
}

scenario_multi() {
  local i hb_keys=() wd_path=""
  for i in $(seq 0 9); do
    printf '{"name":"alice","n":%d}' "$i" >"$TMP/m.json"
    http PUT "$HB/state/bench:m:$i" "$TMP/m.json" >/dev/null
    rcli SET "webdis:m:$i" "{\"name\":\"alice\",\"n\":$i}" >/dev/null
    hb_keys+=("\"bench:m:$i\"")
    wd_path+="/webdis:m:$i"
  done
  printf '{"keys":[%s]}' "$(IFS=,; echo "${hb_keys[*]}")" >"$TMP/multi.json"
  [[ $(http POST "$HB/state/multi" "$TMP/multi.json" | grep -o '"n":' | wc -l) == 10 ]] || die "Hornbeam multi did not return 10 values"
  [[ $(http GET "$WD/MGET$wd_path" | grep -o 'alice' | wc -l) == 10 ]] || die "webdis MGET did not return 10 values"
  compare "multi (10 keys)" "$CONNECTIONS" \
    "hornbeam=POST|$HB/state/multi|$TMP/multi.json|$HB_AUTH" \
    "webdis=GET|$WD/MGET$wd_path|" \
    "noop=POST|$NOOP/noop|$TMP/multi.json"
}

scenario_redis_floor() {
  redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -t incr,get -c "$CONNECTIONS" -n "$REDIS_REQUESTS" -q --csv \
    >"$RESULTS/redis-benchmark.csv" 2>"$RESULTS/redis-benchmark.log" || die "redis-benchmark failed"
  log "redis-benchmark: $(tail -n +2 "$RESULTS/redis-benchmark.csv" | cut -d, -f1,2 | tr '\n' ' ')"
}

scenario_list() {
  if ((KEYS > 0)); then
    log "writing $KEYS filler keys in Hornbeam's layout"
    python3 "$BENCH/lib/fill_keys.py" "$KEYS" bench:fill: hornbeam: | rcli --pipe >"$RESULTS/fill.log" 2>&1 \
      || die "filling keys failed (see $RESULTS/fill.log)"
    # A filler key must read back through the API: proves the bucket hash and layout match Hornbeam's.
    [[ $(http GET "$HB/state/bench:fill:0000000") == '{"key":"bench:fill:0000000","value":1}' ]] \
      || die "a filler key is not readable through the API: fill_keys.py's layout differs from Hornbeam's"
  fi
  local i
  printf '1' >"$TMP/one.json"
  for i in $(seq -w 0 99); do http PUT "$HB/state/bench:p:0$i" "$TMP/one.json" >/dev/null; done
  local listing count
  listing=$(http GET "$HB/state?prefix=bench:p:&limit=1000")
  count=$(python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d["keys"]) if d["cursor"] is None else -1)' <<<"$listing")
  [[ $count == 100 ]] || die "GET /state?prefix=bench:p: should list exactly 100 keys on one page, got $count"
  log "listing returns the 100 matches among $(rcli DBSIZE) Redis keys"
  compare "list prefix (100 of $((KEYS + 100)) keys)" "$LIST_CONNECTIONS" \
    "hornbeam=GET|$HB/state?prefix=bench:p:&limit=1000||$HB_AUTH" \
    "noop=GET|$NOOP/noop|"
}

# Issue 3: RPC round trip between two nodes on one Redis, against the in-process call on the same node.
scenario_rpc() {
  FRESH=1
  local n1 n2
  read -r n1 n2 < <(free_ports 2)
  n1=http://127.0.0.1:$n1 n2=http://127.0.0.1:$n2
  start_api rpc-n1 "$n1" "127.0.0.1:$REDIS_PORT" Hornbeam__NodeName=n1
  start_api rpc-n2 "$n2" "127.0.0.1:$REDIS_PORT" Hornbeam__NodeName=n2
  local deadline=$((SECONDS + 20))
  until curl -fsS --max-time 2 "$n1/nodes" | grep -q '"node":"n2"'; do
    ((SECONDS < deadline)) || die "n1 does not see n2 in GET /nodes"
    sleep 0.2
  done
  printf '%s' '{"args": []}' >"$TMP/rpc.json"
  local a
  for a in "$n1/rpc/n2/hornbeam/ping" "$n1/rpc/n1/hornbeam/ping"; do
    [[ $(curl -fsS --max-time 5 -H 'Content-Type: application/json' --data-binary "@$TMP/rpc.json" "$a") == '{"result":"pong"}' ]] \
      || die "POST $a did not answer {\"result\":\"pong\"}"
  done
  local c
  for c in 8 1; do
    baseline "RPC ping -c$c" in-process
    compare "RPC ping -c$c" "$c" \
      "n1-to-n2=POST|$n1/rpc/n2/hornbeam/ping|$TMP/rpc.json|" \
      "in-process=POST|$n1/rpc/n1/hornbeam/ping|$TMP/rpc.json|"
  done
  note "RPC rows: two extra nodes n1, n2 on the run's Redis, access control off; n1-to-n2 is POST n1/rpc/n2/hornbeam/ping (XADD + doorbell, reply over pub/sub), in-process is POST n1/rpc/n1/hornbeam/ping."
  stop_proc rpc-n1
  stop_proc rpc-n2
}

# Issues 5 and 6: executing an HTTP hook (served by Noop) and an inference-cache hit, against GET /state on one node.
scenario_hooks() {
  printf '{"url": "%s/hook"}' "$NOOP" >"$TMP/hook.json"
  http PUT "$HB/hooks/benchhook" "$TMP/hook.json" >/dev/null
  printf '%s' '{"args": ["same text"], "kwargs": {}}' >"$TMP/exec.json"
  printf '%s' '{"input": "same text"}' >"$TMP/cached.json"
  printf '%s' '{"name":"alice","n":1}' >"$TMP/small.json"
  http PUT "$HB/state/bench:hookget" "$TMP/small.json" >/dev/null
  [[ $(http POST "$HB/hooks/benchhook/echo" "$TMP/exec.json") == '{"result":{"ok":1}}' ]] \
    || die "POST /hooks/benchhook/echo did not answer {\"result\":{\"ok\":1}}"
  http POST "$HB/ml/cached/benchhook/echo" "$TMP/cached.json" >/dev/null
  http POST "$HB/ml/cached/benchhook/echo" "$TMP/cached.json" | grep -q '"cached":true' \
    || die "the second POST /ml/cached/benchhook/echo was not a cache hit"
  baseline "hook / cache / GET" state-get
  compare "hook / cache / GET" "$CONNECTIONS" \
    "hook-execute=POST|$HB/hooks/benchhook/echo|$TMP/exec.json|$HB_AUTH" \
    "ml-cached-hit=POST|$HB/ml/cached/benchhook/echo|$TMP/cached.json|$HB_AUTH" \
    "state-get=GET|$HB/state/bench:hookget||$HB_AUTH"
  http POST "$HB/ml/cached/benchhook/echo" "$TMP/cached.json" | grep -q '"cached":true' \
    || die "POST /ml/cached/benchhook/echo stopped being a cache hit"
  note "Hook rows: the main node with its API key; hook-execute is POST /hooks/benchhook/echo, an HTTP hook served by Noop's POST /hook/{action} (answers {\"ok\":1} without reading the body); ml-cached-hit is POST /ml/cached/benchhook/echo with a fixed {\"input\": \"same text\"}, a hit after the first call."
  http DELETE "$HB/hooks/benchhook" >/dev/null
}

# Issue 4: publish-to-receive latency with SSE_SUBSCRIBERS streams over three nodes, and memory per stream.
scenario_pubsub() {
  local p=() urls=() i
  read -r -a p < <(free_ports 3)
  for i in 0 1 2; do
    urls+=("http://127.0.0.1:${p[$i]}")
    start_api "pubsub-p$((i + 1))" "${urls[$i]}" "127.0.0.1:$REDIS_PORT" Hornbeam__NodeName="p$((i + 1))"
  done
  # `env -C dir dotnet` execs, so p1's started pid is the node's own.
  local rss_pid=${PIDS[-3]}
  local nodes
  nodes=$(IFS=,; echo "${urls[*]}")
  local cpu_pids
  cpu_pids=$(IFS=,; echo "${PIDS[*]: -3}")
  dotnet "$OUT/sse-latency/SseLatency.dll" --nodes "$nodes" --topic bench:sse --subscribers "$SSE_SUBSCRIBERS" \
    --messages "$SSE_MESSAGES" --rate "$SSE_RATE" --warmup "$SSE_WARMUP" --rss-pid "$rss_pid" --cpu-pids "$cpu_pids" \
    --out "$RESULTS/sse.json" >"$RESULTS/sse.log" 2>&1 || die "bench/SseLatency failed: $(tail -n 5 "$RESULTS/sse.log")"
  log "pubsub: $(cat "$RESULTS/sse.json")"
  note "Pub/sub row: three extra nodes p1-p3 on the run's Redis, access control off; bench/SseLatency (C#, one HTTP/1.1 connection and async read loop per stream, so one slow stream does not hold up the others' timestamps; it shares the 2 cores with the nodes and Redis) holds the streams round-robin over the nodes and publishes round-robin too; memory is VmRSS of p1, CPU is the three nodes' utime+stime while the counted and warm-up messages flow."
  for i in 1 2 3; do stop_proc "pubsub-p$i"; done
}

# Issue 7: POST /state/incr through deploy/local.sh's nginx with 1 and 3 replicas, and 1 replica with access control off.
scenario_nginx() {
  FRESH=1
  local dll=$OUT/api/Hornbeam.Api.dll key=bench-local-$RANDOM$RANDOM topo lb redis base
  local specs=()
  for topo in 1:keys 3:keys 1:off; do
    local n=${topo%%:*} auth=${topo#*:} dir=$TMP/local-${topo/:/-}
    read -r lb redis < <(free_ports 2)
    base=$(free_block 4)
    STOPS+=("HORNBEAM_LOCAL_DIR=$dir bash $ROOT/deploy/local.sh stop")
    local auth_env=()
    [[ $auth == off ]] && auth_env=(Hornbeam__Auth__Enabled=false)
    env "${auth_env[@]}" HORNBEAM_LOCAL_DIR="$dir" HORNBEAM_LB_PORT="$lb" HORNBEAM_REDIS_PORT="$redis" \
      HORNBEAM_API_PORT_BASE="$base" HORNBEAM_REPLICAS="$n" HORNBEAM_API_KEY="$key" HORNBEAM_API_DLL="$dll" \
      bash "$ROOT/deploy/local.sh" start >"$RESULTS/local-${topo/:/-}.log" 2>&1 \
      || die "deploy/local.sh start ($topo) failed: $(tail -n 5 "$RESULTS/local-${topo/:/-}.log")"
    local header="X-Api-Key: $key"
    [[ $auth == off ]] && header=""
    local hdr=()
    [[ -n $header ]] && hdr=(-H "$header")
    curl -fsS --max-time 5 -X POST "${hdr[@]}" "http://127.0.0.1:$lb/state/incr/bench:lb" | grep -q '"value":1' \
      || die "POST /state/incr through nginx ($topo) did not answer value 1"
    if [[ $auth == off ]]; then
      [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST "http://127.0.0.1:$lb/state/incr/bench:lb") == 200 ]] \
        || die "access control is not off on the $topo topology"
    else
      [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST "http://127.0.0.1:$lb/state/incr/bench:lb") == 401 ]] \
        || die "access control is not on for the $topo topology"
    fi
    specs+=("nginx-$n-replica$([[ $n == 1 ]] || echo s)-auth-$auth=POST|http://127.0.0.1:$lb/state/incr/bench:lb||$header")
  done
  baseline "incr via nginx" nginx-1-replica-auth-keys
  compare "incr via nginx" "$CONNECTIONS" "${specs[@]}"
  note "nginx rows: three deploy/local.sh topologies up at once (each its own redis-server, append-only with appendfsync always as shipped, and nginx with least_conn): 1 replica with an API key, 3 replicas with an API key, 1 replica with Hornbeam__Auth__Enabled=false; all on the same 2 cores, so 3 replicas share the CPU that 1 replica has alone."
  local s
  for s in "${STOPS[@]}"; do eval "$s" >/dev/null 2>&1 || true; done
  STOPS=()

  # The same question without nginx or an fsync per write: two nodes on the run's Redis, with a key and without.
  local on off
  read -r on off < <(free_ports 2)
  on=http://127.0.0.1:$on off=http://127.0.0.1:$off
  start_api auth-on "$on" "127.0.0.1:$REDIS_PORT" Hornbeam__Auth__Enabled=true Hornbeam__Auth__Keys__0__Name=bench \
    Hornbeam__Auth__Keys__0__Key="$key" Hornbeam__Auth__Keys__0__Scopes__0=state:write
  start_api auth-off "$off" "127.0.0.1:$REDIS_PORT"
  [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST "$on/state/incr/bench:auth") == 401 ]] \
    || die "access control is not on for the auth-on node"
  curl -fsS --max-time 5 -X POST -H "X-Api-Key: $key" "$on/state/incr/bench:auth" >/dev/null
  curl -fsS --max-time 5 -X POST "$off/state/incr/bench:auth" >/dev/null
  baseline "incr direct (auth)" auth-keys
  compare "incr direct (auth)" "$CONNECTIONS" \
    "auth-keys=POST|$on/state/incr/bench:auth||X-Api-Key: $key" \
    "auth-off=POST|$off/state/incr/bench:auth||"
  note "incr direct (auth) rows: two extra nodes on the run's Redis (no AOF), no nginx: one with an API key (state:write) sent as X-Api-Key, one with Hornbeam__Auth__Enabled=false."
  stop_proc auth-on
  stop_proc auth-off
}

# Issue 9: POST /state/incr and POST /state/multi (10 keys) on a 3-master Redis Cluster against one redis-server.
scenario_cluster() {
  FRESH=1
  local cp=() i api_cl api_sg
  # Cluster bus ports are the data port + 10000, so the data ports come from below 45000 with that port free too.
  read -r -a cp < <(python3 - <<'EOF'
import random, socket
ports = []
while len(ports) < 5:
    p = random.randrange(20000, 45000)
    if p in ports or p + 10000 in ports:
        continue
    try:
        for q in (p, p + 10000):
            with socket.socket() as s:
                s.bind(("127.0.0.1", q))
    except OSError:
        continue
    ports.append(p)
print(" ".join(map(str, ports)))
EOF
)
  for i in 0 1 2; do
    mkdir -p "$TMP/cluster/${cp[$i]}"
    start "cluster-redis-$i" redis-server --bind 127.0.0.1 --port "${cp[$i]}" --cluster-enabled yes \
      --cluster-config-file "$TMP/cluster/${cp[$i]}/nodes.conf" --dir "$TMP/cluster/${cp[$i]}" --save '' --appendonly no \
      --daemonize no --logfile ''
    wait_until 20 "cluster-redis-$i" redis-cli -p "${cp[$i]}" PING
  done
  redis-cli --cluster create "127.0.0.1:${cp[0]}" "127.0.0.1:${cp[1]}" "127.0.0.1:${cp[2]}" --cluster-replicas 0 \
    --cluster-yes >"$RESULTS/cluster-create.log" 2>&1 || die "redis-cli --cluster create failed (see cluster-create.log)"
  local deadline=$((SECONDS + 30))
  for i in 0 1 2; do
    until redis-cli -p "${cp[$i]}" CLUSTER INFO | grep -q 'cluster_state:ok'; do
      ((SECONDS < deadline)) || die "the Redis Cluster did not reach cluster_state:ok"
      sleep 0.2
    done
  done
  api_cl=http://127.0.0.1:${cp[3]} api_sg=http://127.0.0.1:${cp[4]}
  start_api cluster-api "$api_cl" "127.0.0.1:${cp[0]},127.0.0.1:${cp[1]},127.0.0.1:${cp[2]}" Hornbeam__NodeName=cl
  start_api single-api "$api_sg" "127.0.0.1:$REDIS_PORT" Hornbeam__NodeName=sg
  local keys=() api
  for i in $(seq 0 9); do keys+=("\"bench:cm:$i\""); done
  printf '{"keys":[%s]}' "$(IFS=,; echo "${keys[*]}")" >"$TMP/cmulti.json"
  printf '{"name":"alice","n":1}' >"$TMP/cm.json"
  for api in "$api_cl" "$api_sg"; do
    for i in $(seq 0 9); do
      curl -fsS --max-time 5 -X PUT -H 'Content-Type: application/json' --data-binary "@$TMP/cm.json" "$api/state/bench:cm:$i" >/dev/null
    done
    [[ $(curl -fsS --max-time 5 -X POST -H 'Content-Type: application/json' --data-binary "@$TMP/cmulti.json" "$api/state/multi" \
      | grep -o '"n":' | wc -l) == 10 ]] || die "POST /state/multi on $api did not return 10 values"
    curl -fsS --max-time 5 -X POST "$api/state/incr/bench:cctr" | grep -q '"value":1' || die "incr on $api did not answer 1"
  done
  # The keys really are spread: the ten multi keys must not all live on one master.
  local masters=0
  for i in 0 1 2; do
    (($(redis-cli -p "${cp[$i]}" DBSIZE) > 0)) && masters=$((masters + 1))
  done
  ((masters >= 2)) || die "every key landed on one cluster master"
  baseline "incr (cluster vs single)" single-redis
  compare "incr (cluster vs single)" "$CONNECTIONS" \
    "cluster-3-masters=POST|$api_cl/state/incr/bench:cctr||" \
    "single-redis=POST|$api_sg/state/incr/bench:cctr||"
  baseline "multi 10 keys (cluster vs single)" single-redis
  compare "multi 10 keys (cluster vs single)" "$CONNECTIONS" \
    "cluster-3-masters=POST|$api_cl/state/multi|$TMP/cmulti.json|" \
    "single-redis=POST|$api_sg/state/multi|$TMP/cmulti.json|"
  note "Cluster rows: two extra nodes with access control off, one on a local 3-master Redis Cluster (redis-cli --cluster create, no replicas), one on the run's single redis-server; keys held on $masters of 3 masters."
  stop_proc cluster-api
  stop_proc single-api
  for i in 0 1 2; do stop_proc "cluster-redis-$i"; done
}

bucket() {
  python3 -c 'import sys
h = 2166136261
for b in sys.argv[1].encode(): h = ((h ^ b) * 16777619) & 0xFFFFFFFF
print(format(h % 16, "x"))' "$1"
}

# ---------------------------------------------------------------------------------------------------------------------

write_meta() {
  local mem_kib cpu source dirty
  mem_kib=$(awk '/^MemTotal/ {print $2}' /proc/meminfo)
  cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
  if source=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null); then
    dirty=$(git -C "$ROOT" --no-optional-locks status --porcelain -- src | wc -l)
    source="commit $source"
    if ((dirty > 0)); then source+=", with $dirty uncommitted change(s) under src/"; fi
  else
    source="uncommitted work tree (no commit yet)"
  fi
  cat >"$RESULTS/meta.env" <<EOF
date=$RUN_DATE
command=$COMMAND
settings=scenarios ${SCENARIOS[*]}; wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency, $ROUNDS alternating rounds after a $WARMUP warm-up each (and $START_WARMUP per route once after start-up); listing at -c$LIST_CONNECTIONS; redis-benchmark -c$CONNECTIONS -n$REDIS_REQUESTS; $KEYS filler keys; nodes started by a scenario first get $FRESH_WARMUP per contender; SSE $SSE_SUBSCRIBERS subscribers, $SSE_MESSAGES messages at $SSE_RATE/s after $SSE_WARMUP uncounted ones
machine=$(nproc) cores ($cpu), $(awk -v k="$mem_kib" 'BEGIN {printf "%.1f GiB", k / 1048576}') memory, Linux $(uname -r); load average at start $(cut -d' ' -f1-3 /proc/loadavg)
software=.NET $(dotnet --list-runtimes | awk '/AspNetCore/ {v=$2} END {print v}') (ASP.NET Core; Server GC, thread-pool hill climbing off, as the runtimeconfigs ship), redis-server $(redis-server --version | grep -o 'v=[0-9.]*' | cut -d= -f2), webdis $(dpkg-query -W -f='${Version}' webdis 2>/dev/null || echo '?'), $(wrk --version 2>&1 | head -n 1 | cut -d' ' -f1-2)
source=$source
EOF
}

main() {
  for tool in dotnet redis-server redis-cli redis-benchmark webdis wrk curl python3; do
    command -v "$tool" >/dev/null || die "$tool is not installed (apt-get install redis-server webdis wrk curl python3)"
  done
  local scenario
  for scenario in "${SCENARIOS[@]}"; do
    declare -F "scenario_$scenario" >/dev/null || die "unknown scenario '$scenario' (known: ${ALL_SCENARIOS[*]})"
  done
  RESULTS=$OUT/results/$(date +%Y%m%dT%H%M%S)
  mkdir -p "$RESULTS"
  : >"$RESULTS/runs.tsv"
  : >"$RESULTS/baselines.tsv"
  log "results go to $RESULTS"
  write_meta
  build
  start_servers
  warm_up
  local scenario
  for scenario in "${SCENARIOS[@]}"; do
    log "--- $scenario"
    FRESH=
    "scenario_$scenario"
  done
  python3 "$BENCH/lib/report.py" "$RESULTS" "$DOC"
  log "wrote $DOC"
}

main "$@"
