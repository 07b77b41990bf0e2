#!/usr/bin/env bash
# Measures what idle half-open connections cost chatsync serve: starts a
# redis-server and serve (the binary given, default a fresh build) on free
# loopback ports, then runs `loadgen halfopen` (N connections that send the
# headers of a 256 KiB POST /v1/events and no body) and prints serve's VmRSS
# before and after and how many /healthz probes went unanswered.
#
#   scripts/halfopen.sh [-n 1000] [-b path/to/chatsync [-old]] [-- extra loadgen flags]
# Environment: MAX_CONNECTIONS etc. pass through to serve.
set -euo pipefail
cd "$(dirname "$0")/.."
tag=halfopen
. scripts/lib.sh
need_pkg redis-server redis-server

n=1000 bin="" metrics=admin
while [ $# -gt 0 ]; do
	case "$1" in
	-n) n=$2; shift 2 ;;
	-b) bin=$2; shift 2 ;;
	-old) metrics=public; shift ;; # a binary from before ADMIN_ADDR: /metrics on HTTP_ADDR
	--) shift; break ;;
	*) echo "usage: $0 [-n N] [-b chatsync [-old]] [-- loadgen flags]" >&2; exit 2 ;;
	esac
done
tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	[ -f "$tmp/redis.pid" ] && kill "$(cat "$tmp/redis.pid")" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
if [ -z "$bin" ]; then
	go build -o "$tmp/chatsync" ./cmd/chatsync
	bin="$tmp/chatsync"
fi
go build -o "$tmp/loadgen" ./cmd/loadgen

rport=$(free_port) sport=$(free_port) aport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --dir "$tmp" --save "" --appendonly no \
	--daemonize yes --pidfile "$tmp/redis.pid" --logfile "$tmp/redis.log"
for _ in $(seq 1 100); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done

REDIS_URL="redis://127.0.0.1:$rport/0" CHAT_SDKAPPID=1400000000 CHAT_CALLBACK_TOKEN=halfopen-token \
	EVENTS_SECRET="whsec_$(printf 'halfopen-events-secret!!' | base64)" LOG_LEVEL=error \
	HTTP_ADDR="127.0.0.1:$sport" ADMIN_ADDR="127.0.0.1:$aport" "$bin" serve 2>"$tmp/serve.log" &
pids+=($!)
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$sport/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "http://127.0.0.1:$sport/healthz" >/dev/null || { cat "$tmp/serve.log" >&2; exit 1; }
sleep 1 # let serve's start-up allocations settle
mport=$aport
[ "$metrics" = public ] && mport=$sport
"$tmp/loadgen" halfopen -url "http://127.0.0.1:$sport" -metrics "http://127.0.0.1:$mport/metrics" \
	-n "$n" -rss-pid "${pids[0]}" "$@"
