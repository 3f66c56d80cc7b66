#!/usr/bin/env bash
# The docker-compose topology from local processes: redis-server (append-only), N Hornbeam replicas, nginx in front.
#   deploy/local.sh start | stop | status | kill N
# Settings (environment): HORNBEAM_LOCAL_DIR (state, logs, pids; default /tmp/hornbeam-local), HORNBEAM_LB_PORT (8080),
# HORNBEAM_REDIS_PORT (6390), HORNBEAM_API_PORT_BASE (5100: replica i listens on base+i), HORNBEAM_REPLICAS (3),
# HORNBEAM_API_KEY (local-key, holds every scope), HORNBEAM_API_DLL (default: a Release build made on first start).
# Replicas inherit the environment, so any Hornbeam__* setting given to this script reaches all of them
# (e.g. Hornbeam__RateLimit__PermitsPerSecond=20). nginx is on 127.0.0.1, the replicas' one known proxy.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir=${HORNBEAM_LOCAL_DIR:-/tmp/hornbeam-local}
lb_port=${HORNBEAM_LB_PORT:-8080}
redis_port=${HORNBEAM_REDIS_PORT:-6390}
api_base=${HORNBEAM_API_PORT_BASE:-5100}
replicas=${HORNBEAM_REPLICAS:-3}
api_key=${HORNBEAM_API_KEY:-local-key}

wait_for() { # url, seconds
  local deadline=$((SECONDS + $2))
  until curl -fsS -o /dev/null "$1" 2>/dev/null; do
    if ((SECONDS > deadline)); then echo "local.sh: $1 did not answer within $2 s" >&2; return 1; fi
    sleep 0.2
  done
}

start_replica() { # i
  local i=$1
  ASPNETCORE_URLS="http://127.0.0.1:$((api_base + i))" \
  ASPNETCORE_ENVIRONMENT=Production \
  ConnectionStrings__Redis="127.0.0.1:$redis_port" \
  Hornbeam__NodeName="api$i" \
  Hornbeam__KnownProxies__0=127.0.0.1 \
  Hornbeam__Auth__Keys__0__Name=local \
  Hornbeam__Auth__Keys__0__Key="$api_key" \
  Hornbeam__Auth__Keys__0__Scopes__0=state:read \
  Hornbeam__Auth__Keys__0__Scopes__1=state:write \
  Hornbeam__Auth__Keys__0__Scopes__2=pubsub \
  Hornbeam__Auth__Keys__0__Scopes__3=invoke \
  Hornbeam__Auth__Keys__0__Scopes__4=admin \
  Logging__LogLevel__Default=Warning \
    setsid dotnet "$api_dll" >"$dir/api$i.log" 2>&1 &
  echo $! >"$dir/api$i.pid"
}

render_nginx() {
  local servers=""
  for i in $(seq 1 "$replicas"); do servers+="        server 127.0.0.1:$((api_base + i)) max_fails=1 fail_timeout=2s;"$'\n'; done
  mkdir -p "$dir/nginx"
  # The same settings as deploy/nginx.conf, with local addresses and paths.
  sed -e "/server api[0-9]*:8080/d" \
      -e "s|least_conn;|least_conn;\n$(printf '%s' "$servers" | sed ':a;N;$!ba;s/\n/\\n/g')|" \
      -e "s|listen 80;|listen 127.0.0.1:$lb_port;\n        access_log off;|" \
      -e "s|^events|pid $dir/nginx.pid;\nerror_log $dir/nginx-error.log;\ndaemon off;\nevents|" \
      -e "s|^http {|http {\n    client_body_temp_path $dir/nginx/body;\n    proxy_temp_path $dir/nginx/proxy;\n    fastcgi_temp_path $dir/nginx/fastcgi;\n    uwsgi_temp_path $dir/nginx/uwsgi;\n    scgi_temp_path $dir/nginx/scgi;|" \
      "$root/deploy/nginx.conf" >"$dir/nginx.conf"
}

start() {
  command -v redis-server >/dev/null || { echo "local.sh: redis-server is missing (apt-get install -y redis-server)" >&2; exit 1; }
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { echo "local.sh: nginx is missing (apt-get install -y nginx)" >&2; exit 1; }
  mkdir -p "$dir/redis"
  api_dll=${HORNBEAM_API_DLL:-}
  if [ -z "$api_dll" ]; then
    dotnet publish "$root/src/Hornbeam.Api" -c Release -o "$dir/api" --nologo -v quiet >/dev/null
    api_dll="$dir/api/Hornbeam.Api.dll"
  fi
  echo "$api_dll" >"$dir/api.dll"

  setsid redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$dir/redis" --appendonly yes --appendfsync always \
    --save "" >"$dir/redis.log" 2>&1 &
  echo $! >"$dir/redis.pid"
  for i in $(seq 1 "$replicas"); do start_replica "$i"; done
  render_nginx
  setsid "$(command -v nginx || echo /usr/sbin/nginx)" -c "$dir/nginx.conf" -p "$dir/nginx" >"$dir/nginx.log" 2>&1 &
  echo $! >"$dir/nginx.pid.launcher"

  for i in $(seq 1 "$replicas"); do wait_for "http://127.0.0.1:$((api_base + i))/health/ready" 120; done
  wait_for "http://127.0.0.1:$lb_port/health/ready" 20
  echo "Hornbeam: http://127.0.0.1:$lb_port (nginx) -> $replicas replicas on ports $((api_base + 1))..$((api_base + replicas)), Redis on $redis_port; API key '$api_key'"
}

stop_pids() { # pidfile... : asked to stop together, so their graceful shutdowns overlap; killed after 5 s
  local pids=() f
  for f in "$@"; do [ -f "$f" ] && pids+=("$(cat "$f")"); done
  [ ${#pids[@]} -gt 0 ] || return 0
  kill "${pids[@]}" 2>/dev/null || true
  local alive pid
  for _ in $(seq 1 50); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" -eq 1 ] || break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  rm -f "$@"
}

stop() {
  # The load balancer first, so no request reaches a replica that is stopping; Redis last, which they need until then.
  stop_pids "$dir/nginx.pid" "$dir/nginx.pid.launcher"
  stop_pids "$dir"/api*.pid
  stop_pids "$dir/redis.pid"
  echo "Hornbeam local topology stopped"
}

status() {
  for f in "$dir"/*.pid; do
    [ -e "$f" ] || continue
    if kill -0 "$(cat "$f")" 2>/dev/null; then echo "$(basename "$f" .pid): running"; else echo "$(basename "$f" .pid): stopped"; fi
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  kill) kill -9 "$(cat "$dir/api${2:?replica number}.pid")"; rm -f "$dir/api$2.pid" ;;
  restart-replica) api_dll=$(cat "$dir/api.dll"); start_replica "${2:?replica number}"; wait_for "http://127.0.0.1:$((api_base + $2))/health/ready" 60 ;;
  *) echo "usage: deploy/local.sh start|stop|status|kill N|restart-replica N" >&2; exit 2 ;;
esac
