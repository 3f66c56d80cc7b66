#!/usr/bin/env bash
# A/B of two revisions on one hot route: builds each (Release, from a git worktree), starts one redis-server and one
# node per revision side by side, then alternates wrk rounds between them so drift on a shared machine hits both, and
# prints requests/s per round and the node's CPU time per request (user and system, from /proc). Everything runs on
# loopback and stops when the script does. For hot-path work: `bash bench/ab.sh main HEAD incr`.
#
#   bash bench/ab.sh REV_A REV_B [incr|incr-keys|incr-ttl|get|put|transaction] [ROUNDS (3)] [SECONDS per round (6)]
#
# incr, get and put (1 KB) hit one key; incr-keys spreads increments over 10,000 counters at random; incr-ttl is incr
# with ?ttl_seconds=; transaction is POST /state/transaction of five operations on keys of one hash tag.
#
# AB_ROUTE_B gives side b another route, so two routes compare on one revision: `AB_ROUTE_B=incr-ttl bash bench/ab.sh
# HEAD HEAD incr`.
#
# AB_ENV_A / AB_ENV_B add environment variables to one side's node (e.g. AB_ENV_B="DOTNET_TieredPGO=0"), so a runtime
# setting can be compared on one revision: `AB_ENV_B=... bash bench/ab.sh HEAD HEAD incr`.
#
# AB_REPLICA=1 gives the redis-server one replica, for settings that need one:
# `AB_REPLICA=1 AB_ENV_B=Hornbeam__Redis__WaitReplicas=1 bash bench/ab.sh HEAD HEAD incr`.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REV_A=${1:?usage: bench/ab.sh REV_A REV_B [incr|incr-keys|get|put] [ROUNDS] [SECONDS]}
REV_B=${2:?usage: bench/ab.sh REV_A REV_B [incr|incr-keys|get|put] [ROUNDS] [SECONDS]}
ROUTE=${3:-incr}
ROUNDS=${4:-3}
SECS=${5:-6}
OUT=$ROOT/bench/out/ab
TMP=$(mktemp -d /tmp/hornbeam-ab.XXXXXX)
PIDS=()

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  for rev in a b; do git -C "$ROOT" worktree remove --force "$OUT/src-$rev" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

build() {
  local rev=$1 side=$2
  git -C "$ROOT" worktree remove --force "$OUT/src-$side" 2>/dev/null || true
  git -C "$ROOT" worktree add -q --detach "$OUT/src-$side" "$rev"
  dotnet publish "$OUT/src-$side/src/Hornbeam.Api/Hornbeam.Api.csproj" -c Release -o "$OUT/api-$side" --nologo -v quiet \
    >"$TMP/build-$side.log" 2>&1 || { tail -n 20 "$TMP/build-$side.log" >&2; exit 1; }
}

build "$REV_A" a
build "$REV_B" b

REDIS_PORT=$(free_port)
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no --daemonize no --logfile '' --dir "$TMP" \
  --repl-diskless-sync-delay 0 >/dev/null &
PIDS+=($!)
if [[ ${AB_REPLICA:-0} == 1 ]]; then
  REPLICA_PORT=$(free_port)
  redis-server --bind 127.0.0.1 --port "$REPLICA_PORT" --save '' --appendonly no --daemonize no --logfile '' --dir "$TMP" \
    --replicaof 127.0.0.1 "$REDIS_PORT" >/dev/null &
  PIDS+=($!)
  # WAIT counts a replica only once its first sync is done.
  for _ in $(seq 150); do
    redis-cli -p "$REPLICA_PORT" info replication 2>/dev/null | grep -q '^master_link_status:up' && break
    sleep 0.2
  done
fi
KEY=ab-$RANDOM$RANDOM
declare -A URL NODE
for side in a b; do
  port=$(free_port)
  URL[$side]=http://127.0.0.1:$port
  side_env=AB_ENV_${side^^}
  # shellcheck disable=SC2086 # word splitting is the point: VAR=value pairs
  env -C "$OUT/api-$side" ${!side_env:-} ConnectionStrings__Redis="127.0.0.1:$REDIS_PORT" ASPNETCORE_URLS="${URL[$side]}" \
    ASPNETCORE_ENVIRONMENT=Production Logging__LogLevel__Default=Warning Hornbeam__Prefix="ab-$side:" \
    Hornbeam__Auth__Keys__0__Name=ab Hornbeam__Auth__Keys__0__Key="$KEY" \
    Hornbeam__Auth__Keys__0__Scopes__0=state:read Hornbeam__Auth__Keys__0__Scopes__1=state:write \
    dotnet Hornbeam.Api.dll >"$TMP/node-$side.log" 2>&1 &
  NODE[$side]=$!
  PIDS+=($!)
done
for side in a b; do
  for _ in $(seq 150); do curl -fsS --max-time 1 "${URL[$side]}/health/ready" >/dev/null 2>&1 && break; sleep 0.2; done
  curl -fsS --max-time 5 -X POST -H "X-Api-Key: $KEY" "${URL[$side]}/state/incr/ab:ctr" >/dev/null
done

# Each side's route: ROUTE, or AB_ROUTE_B on side b, to compare two routes on one revision as a ratio.
declare -A ROUTE_OF=([a]=$ROUTE [b]=${AB_ROUTE_B:-$ROUTE})
declare -A PATH_OF
for side in a b; do
  case ${ROUTE_OF[$side]} in
    get) METHOD=GET; PATH_=/state/ab:ctr ;;
    incr) METHOD=POST; PATH_=/state/incr/ab:ctr ;;
    incr-keys) METHOD=POST; PATH_=/state/incr/ab:k ;;  # each request increments one of 10,000 counters, at random
    incr-ttl) METHOD=POST; PATH_=/state/incr/ab:ttl?ttl_seconds=3600 ;;  # a counter with a lifetime (set when created)
    put) METHOD=PUT; PATH_=/state/ab:put ;;  # a 1 KB compact JSON object, as bench/run.sh's PUT row sends
    transaction) METHOD=POST; PATH_=/state/transaction ;;  # five operations on keys of one hash tag
    *) echo "unknown route ${ROUTE_OF[$side]} (incr, incr-keys, incr-ttl, get, put or transaction)" >&2; exit 2 ;;
  esac
  PATH_OF[$side]=$PATH_
  printf 'wrk.method = "%s"\nwrk.headers["X-Api-Key"] = "%s"\n' "$METHOD" "$KEY" >"$TMP/req-$side.lua"
  if [[ ${ROUTE_OF[$side]} == put ]]; then
    python3 - >>"$TMP/req-$side.lua" <<'EOF2'
import json
doc = {"id": "user:4711", "name": "alice", "roles": ["reader", "writer"], "n": 1, "active": True, "pad": ""}
doc["pad"] = "x" * (1024 - len(json.dumps(doc, separators=(",", ":"))))
print('wrk.headers["Content-Type"] = "application/json"')
print("wrk.body = " + json.dumps(json.dumps(doc, separators=(",", ":"))))
EOF2
  fi
  if [[ ${ROUTE_OF[$side]} == transaction ]]; then
    python3 - >>"$TMP/req-$side.lua" <<'EOF2'
import json
ops = [{"op": "set", "key": "{ab}:a", "value": {"n": 1}}, {"op": "incr", "key": "{ab}:b"},
       {"op": "incr", "key": "{ab}:c", "delta": 2}, {"op": "delete", "key": "{ab}:d"},
       {"op": "set", "key": "{ab}:e", "value": "x"}]
print('wrk.headers["Content-Type"] = "application/json"')
print("wrk.body = " + json.dumps(json.dumps({"operations": ops}, separators=(",", ":"))))
EOF2
  fi
  [[ ${ROUTE_OF[$side]} == incr-keys ]] &&
    printf 'request = function() return wrk.format(nil, wrk.path .. math.random(1, 10000)) end\n' >>"$TMP/req-$side.lua"
done
run() { wrk -t2 -c32 -d"$2" -s "$TMP/req-$1.lua" "${URL[$1]}${PATH_OF[$1]}" | awk '/Requests\/sec/{printf "%d", $2}'; }
cpu() { awk '{print $14 + 0, $15 + 0}' "/proc/${NODE[$1]}/stat"; }

for side in a b; do run "$side" 8s >/dev/null; run "$side" 4s >/dev/null; done  # tiering up
declare -A RPS USER SYS
for ((r = 1; r <= ROUNDS; r++)); do
  for side in a b; do
    read -r u1 s1 < <(cpu "$side")
    rps=$(run "$side" "${SECS}s")
    read -r u2 s2 < <(cpu "$side")
    RPS[$side]+=" $rps"
    USER[$side]+=" $(python3 -c "print(f'{($u2-$u1)/$(getconf CLK_TCK)/($rps*$SECS)*1e6:.1f}')")"
    SYS[$side]+=" $(python3 -c "print(f'{($s2-$s1)/$(getconf CLK_TCK)/($rps*$SECS)*1e6:.1f}')")"
  done
done
echo "route: a ${ROUTE_OF[a]} ${PATH_OF[a]}, b ${ROUTE_OF[b]} ${PATH_OF[b]}; wrk -t2 -c32 -d${SECS}s x $ROUNDS rounds, alternating"
for side in a b; do
  rev=$([[ $side == a ]] && echo "$REV_A" || echo "$REV_B")
  echo "$side ($rev, $(git -C "$ROOT" rev-parse --short "$rev")): req/s${RPS[$side]} | user us/req${USER[$side]} | sys us/req${SYS[$side]}"
done
