# Shared by the project's scripts; source it after setting $tag (the
# prefix of messages, e.g. "test" or "bench").

# need_pkg CMD PKG installs Debian package PKG unless command CMD exists.
# apt-get update runs once per script, before the first install.
need_pkg() {
	if command -v "$1" >/dev/null 2>&1; then return; fi
	echo "$tag: installing $2 from Debian's packages" >&2
	local sudo=""
	[ "$(id -u)" = 0 ] || sudo="sudo"
	[ -n "${apt_updated:-}" ] || { $sudo apt-get update -qq; apt_updated=1; }
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$2" >/dev/null
}

# free_port prints a loopback TCP port nothing listens on.
free_port() {
	local p
	for _ in $(seq 1 50); do
		p=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
	done
	echo "$tag: no free port found" >&2
	return 1
}
