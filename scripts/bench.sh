#!/usr/bin/env bash
# Runs chatsync's benchmark and writes BENCHMARKS.md.
#
# Starts redis-server (no persistence), `chatsync emulator` (as Chat, 200
# calls/s per API) and `chatsync serve` on free loopback ports, describes
# the machine, runs redis-benchmark, then cmd/loadgen's phases: the ingest
# sweep (at each concurrency: the raw asynq baseline, loadgen's
# hand-written net/http + asynq handler, and chatsync), tracing off, on and
# on with 10 % sampled (OpenTelemetry, exporting to `loadgen otlp`) at the sweep's best
# concurrency, the acknowledgement latency at half the best rate, serve's
# memory over a long run, then with `chatsync work` running the end-to-end
# run at 200 events/s, the unread burst, and a backlog drained against the
# emulator's limit. Everything is stopped at the end.
#
# Last, the overload phase (the Chat-API budget): set-read and receipt
# bursts, 10× Chat's budget for a minute, 50 events/s (below the budget),
# and Redis memory under 1,000 callbacks/s.
#
# Usage: scripts/bench.sh [--full] [--quick] [--overload-only]
#   --full           the memory run takes 1,000,000 callbacks (default 200,000)
#   --quick          a short smoke run (2 s phases, 3 concurrencies, 20,000 callbacks)
#   --overload-only  only the overload phase
# Environment: BENCH_CONCURRENCY ("1 2 4 8 16 32 64"), BENCH_SECONDS (8),
# BENCH_MEMORY_REQUESTS, BENCH_OUT (BENCHMARKS.md), BENCH_RESULTS (a path to
# keep the raw JSON-lines results at; default: not kept), BENCH_OVERLOAD (the
# overload scenarios: "reads receipts below sustained memory"),
# BENCH_MEMORY_RATE (callbacks/s of the Redis memory scenario, 1000).
set -euo pipefail
cd "$(dirname "$0")/.."

conc=${BENCH_CONCURRENCY:-"1 2 4 8 16 32 64"}
secs=${BENCH_SECONDS:-8}
mem=${BENCH_MEMORY_REQUESTS:-200000}
e2e_secs=40
overload_secs=60  # the sustained 10× overload
memory_secs=180   # callbacks at BENCH_MEMORY_RATE: the 2-min de-duplication window and TASK_RETENTION fill up
memory_rate=${BENCH_MEMORY_RATE:-1000}
only_overload=
for arg in "$@"; do
	case "$arg" in
	--full) mem=1000000 ;;
	--quick) conc="1 8 64"; secs=2; mem=20000; e2e_secs=10; overload_secs=10; memory_secs=30 ;;
	--overload-only) only_overload=1 ;;
	*) echo "usage: $0 [--full] [--quick] [--overload-only]" >&2; exit 2 ;;
	esac
done
out=${BENCH_OUT:-BENCHMARKS.md}
command="make bench${*:+ ARGS=\"$*\"}"

tag=bench
. scripts/lib.sh # the working directory is the repository root
need_pkg redis-server redis-server


rand_hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }

tmp=$(mktemp -d)
pids=()
cleanup() {
	local pid
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	[ -f "$tmp/redis.pid" ] && kill "$(cat "$tmp/redis.pid")" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

echo "bench: building chatsync and loadgen" >&2
go build -o "$tmp/chatsync" ./cmd/chatsync
go build -o "$tmp/loadgen" ./cmd/loadgen
lg="$tmp/loadgen"
[ -f "$out" ] && cp "$out" "$tmp/previous.md" # for the tracing-off comparison

rport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --dir "$tmp" --save "" --appendonly no \
	--maxmemory-policy noeviction --daemonize yes --pidfile "$tmp/redis.pid" --logfile "$tmp/redis.log"
for _ in $(seq 1 100); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done

# flush [DB] empties a database (default chatsync's, 0, whose queues it
# registers again: a running serve's asynq.Client registers a queue only on
# its first enqueue, and the Inspector lists registered queues only).
flush() {
	redis-cli -p "$rport" -n "${1:-0}" flushdb >/dev/null
	[ -n "${1:-}" ] || redis-cli -p "$rport" sadd asynq:queues chat_read chat_unread sink >/dev/null
}

sport=$(free_port)
eport=$(free_port)
mport=$(free_port)
aport=$(free_port)
hport=$(free_port)
oport=$(free_port)
export REDIS_URL="redis://127.0.0.1:$rport/0"
export CHAT_SDKAPPID=1400000000
export CHAT_SECRET_KEY=$(rand_hex 32)
export CHAT_ADMIN=administrator
export CHAT_CALLBACK_TOKEN=$(rand_hex 16)
export EVENTS_SECRET="whsec_$(head -c 32 /dev/urandom | base64 | tr -d '\n')"
export API_KEY=$(rand_hex 16)
export AUTO_READ_ACCOUNTS=bot000,bot001
export LOG_LEVEL=warn
export LOG_FORMAT=text

# start NAME ARGS... runs a process in the background, logging to $tmp/NAME.log.
start() {
	local name=$1
	shift
	"$@" >"$tmp/$name.log" 2>&1 &
	pids+=($!)
	eval "${name}_pid=$!"
}

# wait_http URL NAME waits until URL answers 200.
wait_http() {
	for _ in $(seq 1 100); do
		curl -fsS -o /dev/null "$1" 2>/dev/null && return
		sleep 0.1
	done
	echo "bench: $2 did not come up; its log:" >&2
	cat "$tmp/$2.log" >&2
	exit 1
}

# stop NAME stops a process started with start and waits for it.
stop() {
	local pid
	eval "pid=\$${1}_pid"
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

start emulator env EMULATOR_ADDR="127.0.0.1:$eport" EMULATOR_RATE_LIMIT=200 \
	EMULATOR_CALLBACK_URL="http://127.0.0.1:$sport/callback" EMULATOR_ACCOUNTS="$AUTO_READ_ACCOUNTS" \
	"$tmp/chatsync" emulator
start serve env HTTP_ADDR="127.0.0.1:$sport" ADMIN_ADDR="127.0.0.1:$aport" "$tmp/chatsync" serve
start handler env REDIS_URL="redis://127.0.0.1:$rport/3" "$lg" handler -addr "127.0.0.1:$hport"
wait_http "http://127.0.0.1:$eport/emulator/stats" emulator
wait_http "http://127.0.0.1:$sport/readyz" serve
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$hport") 2>/dev/null && break; sleep 0.1; done

# For the tracing phase, three more serve processes, the same but for
# OpenTelemetry's variables: off, on with every request sampled and on
# with 10 % sampled, the last two exporting to loadgen's OTLP receiver. They
# start now, while ports are free: after the sweep, loopback client ports
# crowd the range free_port picks from.
start otlp "$lg" otlp -addr "127.0.0.1:$oport"
toff=$(free_port)
ton=$(free_port)
tsampled=$(free_port)
start serve_off env HTTP_ADDR="127.0.0.1:$toff" ADMIN_ADDR="127.0.0.1:$(free_port)" "$tmp/chatsync" serve
wait_http "http://127.0.0.1:$toff/readyz" serve_off
start serve_on env HTTP_ADDR="127.0.0.1:$ton" ADMIN_ADDR="127.0.0.1:$(free_port)" \
	OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$oport" OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf \
	OTEL_TRACES_SAMPLER=always_on OTEL_SERVICE_NAME=chatsync "$tmp/chatsync" serve
wait_http "http://127.0.0.1:$ton/readyz" serve_on
start serve_sampled env HTTP_ADDR="127.0.0.1:$tsampled" ADMIN_ADDR="127.0.0.1:$(free_port)" \
	OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$oport" OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf \
	OTEL_TRACES_SAMPLER=parentbased_traceidratio OTEL_TRACES_SAMPLER_ARG=0.1 OTEL_SERVICE_NAME=chatsync \
	"$tmp/chatsync" serve
wait_http "http://127.0.0.1:$tsampled/readyz" serve_sampled
wait_http "http://127.0.0.1:$oport/stats" otlp

res="$tmp/results.jsonl"
target="http://127.0.0.1:$sport"
emu="http://127.0.0.1:$eport"
begin=$(date +%s)

# The machine, as a Markdown table for the report.
{
	echo "| | |"
	echo "|---|---|"
	echo "| CPU | $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1) |"
	echo "| cores (nproc) | $(nproc) |"
	echo "| memory | $(free -m | awk '/^Mem:/ {print $2}') MiB |"
	echo "| kernel | $(uname -r) |"
	echo "| Go | $(go env GOVERSION) |"
	echo "| Redis | $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p') |"
	echo "| date (UTC) | $(date -u +%Y-%m-%dT%H:%M:%SZ) |"
	echo "| at start | load average $(cut -d' ' -f1-3 /proc/loadavg) |"
} >"$tmp/machine.md"

# redis_benchmark runs redis-benchmark's LPUSH and EVALSHA of a one-LPUSH
# script (asynq enqueues with scripts) in database 2, as a Markdown table.
redis_benchmark() {
	local sha c
	sha=$(redis-cli -p "$rport" script load "return redis.call('LPUSH', KEYS[1], ARGV[1])")
	echo "| test | clients | req/s | p50 ms | p99 ms |"
	echo "|---|---:|---:|---:|---:|"
	for c in 1 8 64; do
		for t in LPUSH EVALSHA; do
			if [ "$t" = LPUSH ]; then set -- -t lpush; else set -- evalsha "$sha" 1 loadgen:bench x; fi
			redis-benchmark -p "$rport" --dbnum 2 -c "$c" -n 50000 -q --csv "$@" |
				awk -F'"' -v t="$t" -v c="$c" 'NR == 2 {printf "| %s | %s | %.0f | %.2f | %.2f |\n", t, c, $4, $10, $14}'
		done
	done
	flush 2
}

worker() {
	start work env CHAT_BASE_URL="$emu" ADMIN_ADDR="127.0.0.1:$mport" "$tmp/chatsync" work
	wait_http "http://127.0.0.1:$mport/healthz" work
}
if [ -z "$only_overload" ]; then
redis_benchmark >"$tmp/redis.md"

echo "bench: ingest sweep, ${secs}s per phase: raw asynq, net/http + asynq, chatsync" >&2
for c in $conc; do
	REDIS_URL="redis://127.0.0.1:$rport/1" "$lg" fire -out "$res" -label sweep -system asynq -concurrency "$c" -duration "${secs}s"
	flush 1
	"$lg" fire -out "$res" -label sweep -system handler -target "http://127.0.0.1:$hport" \
		-concurrency "$c" -duration "${secs}s"
	flush 3
	"$lg" fire -out "$res" -label sweep -target "$target" -concurrency "$c" -duration "${secs}s"
	flush
done

echo "bench: tracing off and on at the sweep's best concurrency" >&2
tracing() { # tracing SYSTEM PORT
	"$lg" fire -out "$res" -label tracing -system "$1" -target "http://127.0.0.1:$2" -concurrency-from "$res" \
		-duration "${secs}s" -otlp "http://127.0.0.1:$oport"
	flush "$([ "$1" = handler ] && echo 3)"
}
tracing handler "$hport"
for _ in 1 2; do
	tracing chatsync "$toff"
	tracing chatsync+tracing "$ton"
	tracing chatsync+tracing@0.1 "$tsampled"
done
stop serve_off
stop serve_on
stop serve_sampled
stop otlp
stop handler

echo "bench: acknowledgement latency at half the best rate" >&2
"$lg" fire -out "$res" -label half -target "$target" -rate-from "$res" -concurrency 16 -duration "${secs}s"
flush

echo "bench: serve's memory over $mem callbacks" >&2
(while sleep 10; do flush; done) & # Redis would fill up: no worker runs
flusher=$!
"$lg" fire -out "$res" -label memory -target "$target" -concurrency 16 -requests "$mem" \
	-duration 30m -rss-pid "$serve_pid"
kill "$flusher"
wait "$flusher" 2>/dev/null || true
flush

worker

echo "bench: end to end at 200 events/s for ${e2e_secs}s" >&2
"$lg" fire -out "$res" -label e2e -e2e -emulator "$emu" -target "$target" -rate 200 \
	-concurrency 32 -duration "${e2e_secs}s"

echo "bench: unread burst and snapshot convergence" >&2
"$lg" burst -out "$res" -emulator "$emu" -target "$target"

echo "bench: backlog" >&2
stop work
flush
"$lg" backlog -out "$res" -emulator "$emu" -target "$target" >"$tmp/backlog.out" &
backlog=$!
until grep -q '^filled' "$tmp/backlog.out"; do
	kill -0 "$backlog" 2>/dev/null || break # failed: wait reports it
	sleep 0.5
done
worker
wait "$backlog"
cat "$tmp/backlog.out"
stop work
fi

echo "bench: overload (the Chat-API budget)" >&2
flush
worker
for sc in ${BENCH_OVERLOAD:-reads receipts below sustained memory}; do
	"$lg" overload -out "$res" -scenario "$sc" -emulator "$emu" -target "$target" \
		-duration "$([ "$sc" = memory ] && echo "$memory_secs" || echo "$overload_secs")s" -rate "$memory_rate"
	flush
done
stop work

took=$(($(date +%s) - begin))
echo "{\"note\":\"The phases took $took s; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg).\"}" >>"$res"
echo "bench: done in $took s; writing $out" >&2
"$lg" report -in "$res" -md "$out" -command "$command" -machine "$tmp/machine.md" -redis "$tmp/redis.md" \
	-previous "$tmp/previous.md"
if [ -n "${BENCH_RESULTS:-}" ]; then cp "$res" "$BENCH_RESULTS"; fi
