package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Limits of every listener.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 15 * time.Second // headers and body together
	// writeTimeout bounds a request from the end of its headers to the end
	// of its answer: a client that stops reading must not hold a goroutine.
	writeTimeout = 30 * time.Second
	// maxHeaderBytes is far above what Chat, an app or a browser sends,
	// and far below Go's default of 1 MiB.
	maxHeaderBytes = 16 << 10
)

// newHTTPServer returns a server for h with the timeouts and limits every
// listener uses; net/http's own complaints (TLS handshakes, panics) go to
// log.
func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		// A client that sends headers and then withholds the body must not
		// hold a connection and its goroutine: bodies are at most 256 KiB
		// and Chat gives up on a callback after 2 s.
		ReadTimeout:    readTimeout,
		WriteTimeout:   writeTimeout,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: maxHeaderBytes,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// listen listens on addr. With maxConns > 0 at most that many connections
// are open at once; more wait in the kernel's accept backlog (and time out
// there) instead of each costing a goroutine and buffers. m, when not nil,
// counts them (see limitListener).
func listen(addr string, maxConns int, m *connMetrics) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if maxConns > 0 {
		ln = newLimitListener(ln, maxConns, m)
	}
	return ln, nil
}

// startHTTP serves srv on ln in the background. The channel receives the
// error that stopped it unexpectedly; it stays silent after Shutdown.
func startHTTP(srv *http.Server, ln net.Listener) <-chan error {
	errc := make(chan error, 1)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("http server %s: %w", ln.Addr(), err)
		}
	}()
	return errc
}

// shutdownHTTP stops srv from accepting connections and waits up to
// timeout for the requests in flight.
func shutdownHTTP(srv *http.Server, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("http shutdown: %w", err)
	}
	return nil
}

// serveUntilDone serves srv on ln until ctx is done (a signal), then shuts
// it down gracefully within timeout.
func serveUntilDone(ctx context.Context, srv *http.Server, ln net.Listener, log *slog.Logger, timeout time.Duration) error {
	errc := startHTTP(srv, ln)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", timeout.String())
	return shutdownHTTP(srv, timeout)
}

// listener is an HTTP server started on its own listener.
type listener struct {
	ln   net.Listener
	srv  *http.Server
	errc <-chan error // the error that stopped it unexpectedly
}

// startListener listens on addr (named by the variable env in errors) and
// serves h there in the background; see listen for maxConns and m.
func startListener(addr, env string, maxConns int, m *connMetrics, h http.Handler, log *slog.Logger) (*listener, error) {
	ln, err := listen(addr, maxConns, m)
	if err != nil {
		return nil, fmt.Errorf("listen (%s): %w", env, err)
	}
	srv := newHTTPServer(h, log)
	return &listener{ln: ln, srv: srv, errc: startHTTP(srv, ln)}, nil
}

// stop shuts the server down gracefully within timeout.
func (l *listener) stop(timeout time.Duration) error { return shutdownHTTP(l.srv, timeout) }
