#!/usr/bin/env bash
# Runs chatsync's reliability and security suite (internal/reliability) in
# its long form, then every fuzz target one after another.
#
# The default suite already runs under `make test` (scripts/test.sh); this
# script is for release checks and nightly CI:
#
#   scripts/reliability.sh              long scenarios, then each fuzz target for 10 minutes
#   FUZZTIME=1m scripts/reliability.sh  shorter fuzzing
#   FUZZTIME=0 scripts/reliability.sh   no fuzzing
#
# The scenarios start their own redis-server processes (installed from
# Debian's packages when missing); logs of a failed run are kept when
# CHATSYNC_RELIABILITY_DIR names a directory. Crashers found by fuzzing are
# written to the package's testdata/fuzz/<Target>/ by go test: commit them
# with the fix.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null 2>&1; then
	echo "reliability: installing redis-server from Debian's packages" >&2
	sudo=""
	[ "$(id -u)" = 0 ] || sudo="sudo"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-server >/dev/null
fi

export CHATSYNC_REQUIRE_REDIS=1
CHATSYNC_RELIABILITY_LONG=1 go test -race -count=1 -timeout 30m -v ./internal/reliability

fuzztime=${FUZZTIME:-10m}
if [ "$fuzztime" = 0 ]; then exit 0; fi
for target in webhook:FuzzCallbackDecode webhook:FuzzEventsDecode webhook:FuzzVerifySign \
	internal/reliability:FuzzCallbackAuth internal/reliability:FuzzEventsSignature; do
	pkg=${target%%:*}
	name=${target#*:}
	echo "reliability: fuzzing $name in ./$pkg for $fuzztime" >&2
	go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -parallel 1 "./$pkg"
done
