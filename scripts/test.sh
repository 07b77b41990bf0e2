#!/usr/bin/env bash
# Runs chatsync's whole test suite against a real redis-server.
#
# Installs redis-server from Debian's packages when it is missing, starts it
# on a free loopback port in a temporary directory, checks formatting, runs
# go vet and go test -race with REDIS_URL pointing at it, and stops it.
# Extra arguments are passed to go test (e.g. -run TestX ./webhook).
set -euo pipefail
cd "$(dirname "$0")/.."

tag=test
. scripts/lib.sh # the working directory is the repository root
need_pkg redis-server redis-server
need_pkg docker-compose docker-compose # validates docker-compose.yml (no engine needed)
need_pkg curl curl                     # runs the commands `chatsync dev` prints
need_pkg chromium chromium             # drives the monitoring UI (TestMonitoringBrowser)
need_pkg promtool prometheus           # checks and unit-tests deploy/prometheus/*.yml

tmp=$(mktemp -d)
port=$(free_port)
redis-server --port "$port" --bind 127.0.0.1 --dir "$tmp" --save "" --appendonly no \
	--daemonize yes --pidfile "$tmp/redis.pid" --logfile "$tmp/redis.log"
cleanup() {
	if [ -f "$tmp/redis.pid" ]; then
		local pid
		pid=$(cat "$tmp/redis.pid")
		kill "$pid" 2>/dev/null || true
		# Let it exit before its directory goes: it may still be writing there.
		for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
for _ in $(seq 1 100); do
	redis-cli -p "$port" ping >/dev/null 2>&1 && break
	sleep 0.1
done
redis-cli -p "$port" ping >/dev/null || { cat "$tmp/redis.log" >&2; exit 1; }
echo "test: redis-server $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/') on 127.0.0.1:$port" >&2

export REDIS_URL="redis://127.0.0.1:$port"
export CHATSYNC_REQUIRE_REDIS=1

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "test: gofmt would change:" $unformatted >&2
	exit 1
fi
go vet ./...
if [ $# -gt 0 ]; then
	go test -race -count=1 "$@"
else
	go test -race -count=1 ./...
fi
