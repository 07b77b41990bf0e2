#!/usr/bin/env bash
# Measures what idle half-open connections cost chatsync serve: starts a
# redis-server and serve (the binary given, default a fresh build) on free
# loopback ports, then, for each of -r rounds, opens N connections that
# send the headers of a 256 KiB POST /v1/events (well-formed Standard
# Webhooks headers, a wrong signature) and no body, prints serve's VmRSS
# and Go heap in use while they are held and how many of 20 /healthz probes
# got no answer within a second (held back by the connection cap), and
# closes them. Later rounds show what the first round's garbage costs once
# the allocator reuses it.
#
#   scripts/halfopen.sh [-n 1000] [-r 2] [-b path/to/chatsync [-old]]
# Environment: MAX_CONNECTIONS etc. pass through to serve.
set -euo pipefail
cd "$(dirname "$0")/.."
tag=halfopen
. scripts/lib.sh
need_pkg redis-server redis-server

n=1000 rounds=2 bin="" metrics=admin
while [ $# -gt 0 ]; do
	case "$1" in
	-n) n=$2; shift 2 ;;
	-r) rounds=$2; shift 2 ;;
	-b) bin=$2; shift 2 ;;
	-old) metrics=public; shift ;; # a binary from before ADMIN_ADDR: /metrics on HTTP_ADDR
	*) echo "usage: $0 [-n N] [-r rounds] [-b chatsync [-old]]" >&2; exit 2 ;;
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
serve=${pids[0]}

measure() { # measure LABEL
	printf '%-28s VmRSS %6s MiB   heap in use %6s MiB\n' "$1" \
		"$(awk '/^VmRSS:/ {printf "%.1f", $2 / 1024}' "/proc/$serve/status")" \
		"$(curl -fsS "http://127.0.0.1:$mport/metrics" | awk '$1 == "go_memstats_heap_inuse_bytes" {printf "%.1f", $2 / 1048576}')"
}

ulimit -n $((n + 64))
for round in $(seq 1 "$rounds"); do
	measure "before round $round"
	fds=()
	for i in $(seq 1 "$n"); do
		exec {fd}<>"/dev/tcp/127.0.0.1/$sport" || { echo "halfopen: connection $i failed" >&2; break; }
		printf 'POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nContent-Type: application/json\r\nContent-Length: 262144\r\nwebhook-id: msg_halfopen\r\nwebhook-timestamp: %s\r\nwebhook-signature: v1,bm90IGEgc2lnbmF0dXJl\r\n\r\n' \
			"$sport" "$(date +%s)" >&"$fd"
		fds+=("$fd")
	done
	sleep 3
	measure "round $round, ${#fds[@]} held"
	unanswered=0
	for _ in $(seq 1 20); do
		curl -fsS -m 1 -o /dev/null "http://127.0.0.1:$sport/healthz" 2>/dev/null || unanswered=$((unanswered + 1))
	done
	printf '%-28s %d of 20 /healthz probes unanswered in 1 s\n' "" "$unanswered"
	for fd in "${fds[@]}"; do exec {fd}>&-; done
	sleep 1
done
measure closed
