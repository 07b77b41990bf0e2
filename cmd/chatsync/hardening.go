package main

import (
	"log/slog"
	"net"
	"strings"
)

// Defaults of the listeners' limits and addresses.
const (
	// defaultMaxConnections caps the open connections of the public
	// listener. Measured with scripts/halfopen.sh, an idle half-open
	// connection costs serve about 20 KiB (goroutine, bufio buffers,
	// request, 1 KiB of body buffer): 1,000 of them +19.6 MiB of RSS. The
	// cap holds that bound however many strangers connect.
	defaultMaxConnections = 1024
	defaultServeAdminAddr = "127.0.0.1:9090" // serve and dev
	defaultWorkAdminAddr  = "127.0.0.1:9091"
)

// Hardening is the part of config that keeps strangers from costing
// memory or reaching admin surfaces: the admin listener, the public
// listener's connection cap and the sink's scheme rule.
type Hardening struct {
	// AdminAddr serves /metrics, /healthz, /readyz and, on serve and dev,
	// /monitoring/; it never goes behind the public proxy.
	AdminAddr string
	// MaxConnections caps the public listener's open connections; more
	// wait in the kernel's backlog.
	MaxConnections int
	// SinkAllowHTTP lets SINK_URL be plain http://.
	SinkAllowHTTP bool
}

// parseHardening reads Hardening's variables; sinkURL is SINK_URL, which
// must be https unless SINK_ALLOW_HTTP is true.
func parseHardening(e *env, m mode, sinkURL string) Hardening {
	admin := defaultServeAdminAddr
	if m == modeWork {
		admin = defaultWorkAdminAddr
	}
	if e.str("METRICS_ADDR", "") != "" {
		e.problem("METRICS_ADDR", "renamed to ADMIN_ADDR (/metrics, /healthz, /readyz and /monitoring/)")
	}
	h := Hardening{
		AdminAddr:      e.addr("ADMIN_ADDR", admin),
		MaxConnections: e.integer("MAX_CONNECTIONS", defaultMaxConnections, 1, 1000000),
		SinkAllowHTTP:  e.boolean("SINK_ALLOW_HTTP", false),
	}
	if strings.HasPrefix(strings.ToLower(sinkURL), "http://") && !h.SinkAllowHTTP {
		e.problem("SINK_URL", "http:// sends signed events in the clear; use https:// or set SINK_ALLOW_HTTP=true")
	}
	return h
}

// warnIfPublic logs a warning when ln listens on more than loopback: what
// it serves (name, e.g. "pprof") is meant for this machine only.
func warnIfPublic(log *slog.Logger, ln net.Listener, name, variable string) {
	if isLoopback(ln.Addr()) {
		return
	}
	log.Warn(name+" listens on a non-loopback address: anyone who reaches it can use it",
		"addr", ln.Addr().String(), "variable", variable)
}

// isLoopback reports whether addr is a loopback IP address (not a
// wildcard one).
func isLoopback(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}
