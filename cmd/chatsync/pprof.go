package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"time"
)

// pprofWriteTimeout lets /debug/pprof/profile and /trace run their
// default 30 s (pprof refuses a duration past the server's WriteTimeout).
const pprofWriteTimeout = 2 * time.Minute

// startPprof serves Go's profiling endpoints under /debug/pprof/ on addr,
// on a listener of their own so they are never exposed on the public
// HTTP_ADDR, and warns when addr is not loopback. An empty addr serves
// nothing. The returned func stops it. A listen failure is logged, not
// fatal: profiling is a diagnostic aid.
func startPprof(addr string, log *slog.Logger) (stop func()) {
	if addr == "" {
		return func() {}
	}
	ln, err := listen(addr, 0, nil)
	if err != nil {
		log.Error("pprof listen failed", "addr", addr, "err", err)
		return func() {}
	}
	warnIfPublic(log, ln, "pprof", "PPROF_ADDR")
	srv := newPprofServer(log)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("pprof server stopped", "err", err)
		}
	}()
	log.Info("pprof serving", "addr", ln.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}
}

// newPprofServer returns the pprof server, with every listener's limits
// but a WriteTimeout long enough for a profile.
func newPprofServer(log *slog.Logger) *http.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := newHTTPServer(mux, log)
	srv.WriteTimeout = pprofWriteTimeout
	return srv
}
