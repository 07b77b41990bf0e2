#!/usr/bin/env bash
# Runs chatsync's whole test suite against a real redis-server.
#
# Installs redis-server from Debian's packages when it is missing, starts it
# on a free loopback port in a temporary directory, checks formatting, runs
# go vet and go test -race with REDIS_URL pointing at it, and stops it.
# Extra arguments are passed to go test (e.g. -run TestX ./webhook).
set -euo pipefail
cd "$(dirname "$0")/.."

updated=""
need_pkg() {
	if command -v "$1" >/dev/null 2>&1; then return; fi
	echo "test: installing $2 from Debian's packages" >&2
	local sudo=""
	[ "$(id -u)" = 0 ] || sudo="sudo"
	[ -n "$updated" ] || { $sudo apt-get update -qq; updated=1; }
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$2" >/dev/null
}
need_pkg redis-server redis-server
need_pkg docker-compose docker-compose # validates docker-compose.yml (no engine needed)
need_pkg curl curl                     # runs the commands `chatsync dev` prints

free_port() {
	local p
	for _ in $(seq 1 50); do
		p=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
	done
	echo "test: no free port found" >&2
	return 1
}

tmp=$(mktemp -d)
port=$(free_port)
redis-server --port "$port" --bind 127.0.0.1 --dir "$tmp" --save "" --appendonly no \
	--daemonize yes --pidfile "$tmp/redis.pid" --logfile "$tmp/redis.log"
cleanup() {
	[ -f "$tmp/redis.pid" ] && kill "$(cat "$tmp/redis.pid")" 2>/dev/null || true
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
