#!/usr/bin/env bash
# Measures what REDIS_WAIT_REPLICAS=1 costs ingest: starts a Redis primary
# with one replica, or -r N (AOF everysec, as in production; serve then
# waits for every one of them), and two chatsync serve
# processes on it, one with REDIS_WAIT_REPLICAS=0 and one with 1; then, at
# each concurrency, loadgen fires the benchmark's callback mix at each in
# turn (closed loop) and prints req/s and acknowledgement latency side by
# side. Everything runs on loopback and is stopped at the end.
#
#   scripts/waitbench.sh [-s seconds] [-r replicas] [concurrency…]   (default: 8 s; 1; 1 8 32)
set -euo pipefail
cd "$(dirname "$0")/.."
tag=waitbench
. scripts/lib.sh
need_pkg redis-server redis-server

secs=8
replicas=1
if [ "${1:-}" = -s ]; then secs=$2; shift 2; fi
if [ "${1:-}" = -r ]; then replicas=$2; shift 2; fi
conc=${*:-1 8 32}

tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	for f in "$tmp"/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
	sleep 0.2
	rm -rf "$tmp"
}
trap cleanup EXIT

go build -o "$tmp/chatsync" ./cmd/chatsync
go build -o "$tmp/loadgen" ./cmd/loadgen

primary=$(free_port)
nodes=("$primary")
for _ in $(seq 1 "$replicas"); do nodes+=("$(free_port)"); done
for p in "${nodes[@]}"; do
	args=(--port "$p" --bind 127.0.0.1 --dir "$tmp" --dbfilename "dump-$p.rdb" --save ""
		--appendonly yes --appendfilename "aof-$p" --appenddirname "aof-$p" --appendfsync everysec
		--maxmemory-policy noeviction --daemonize yes --pidfile "$tmp/redis-$p.pid" --logfile "$tmp/redis-$p.log")
	[ "$p" != "$primary" ] && args+=(--replicaof 127.0.0.1 "$primary")
	redis-server "${args[@]}"
done
for p in "${nodes[@]:1}"; do
	for _ in $(seq 1 100); do
		redis-cli -p "$p" info replication 2>/dev/null | grep -q 'master_link_status:up' && break
		sleep 0.1
	done
done

rand_hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }
export REDIS_URL="redis://127.0.0.1:$primary/0"
export CHAT_SDKAPPID=1400000000 CHAT_CALLBACK_TOKEN=$(rand_hex 16)
export EVENTS_SECRET="whsec_$(head -c 32 /dev/urandom | base64 | tr -d '\n')"
export AUTO_READ_ACCOUNTS=bot000,bot001 LOG_LEVEL=warn LOG_FORMAT=text

ports=()
for w in 0 1; do
	port=$(free_port)
	REDIS_WAIT_REPLICAS=$w HTTP_ADDR="127.0.0.1:$port" ADMIN_ADDR="127.0.0.1:$(free_port)" \
		"$tmp/chatsync" serve >"$tmp/serve$w.log" 2>&1 &
	pids+=($!)
	ports+=("$port")
done
for port in "${ports[@]}"; do
	for _ in $(seq 1 100); do curl -fsS -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null && break; sleep 0.1; done
done

echo "waitbench: primary + $replicas replica(s) (AOF everysec), $secs s per phase, $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"
for c in $conc; do
	for w in 0 1; do
		printf 'REDIS_WAIT_REPLICAS=%s ' "$w"
		"$tmp/loadgen" fire -target "http://127.0.0.1:${ports[$w]}" -concurrency "$c" -duration "${secs}s" |
			sed -nE 's/.*"concurrency":([0-9]+).*"per_second":([0-9.]+).*"p50_ms":([0-9.]+).*"p99_ms":([0-9.]+).*/c=\1 \2 req\/s, ack p50 \3 p99 \4 ms/p'
		redis-cli -p "$primary" flushdb >/dev/null
		redis-cli -p "$primary" sadd asynq:queues chat_read chat_unread sink >/dev/null
	done
done
