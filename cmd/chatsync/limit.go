package main

import (
	"fmt"
	"net"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// limitListener accepts connections from its Listener and keeps at most
// cap(sem) of them open at once, like golang.org/x/net/netutil's
// LimitListener, and counts them in m.
//
// It is its own rather than a wrapper of netutil's because of the order of
// the two waits. netutil takes a free slot first and then accepts, so when
// every slot is taken its Accept waits whether or not anyone is
// connecting: from outside, a full cap with nobody held looks the same as
// clients queueing. This one accepts first and then waits for a slot, so
// every wait it counts is a client that was held. With one goroutine
// accepting, as in net/http's Serve, at most one connection waits here,
// outside the cap; the clients behind it wait in the kernel's accept
// backlog as they did with netutil.
type limitListener struct {
	net.Listener
	sem       chan struct{} // a value per open connection
	done      chan struct{} // closed by Close
	closeOnce sync.Once
	m         *connMetrics
}

// newLimitListener returns ln capped at n open connections (n > 0), and
// sets m's limit to n.
func newLimitListener(ln net.Listener, n int, m *connMetrics) *limitListener {
	m.setLimit(n)
	return &limitListener{Listener: ln, sem: make(chan struct{}, n), done: make(chan struct{}), m: m}
}

// Accept waits for a connection and then for a free slot, which the
// connection's Close gives back. It returns the Listener's error, or
// net.ErrClosed when the listener is closed while a connection waits for
// a slot (that connection is closed). Accept is safe for concurrent use.
func (l *limitListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	select {
	case l.sem <- struct{}{}:
	default:
		l.m.waited()
		select {
		case l.sem <- struct{}{}:
		case <-l.done:
			c.Close()
			return nil, net.ErrClosed
		}
	}
	l.m.opened()
	return &limitConn{Conn: c, release: l.release}, nil
}

// Close closes the Listener and stops any Accept waiting for a slot. The
// connections already accepted stay open.
func (l *limitListener) Close() error {
	err := l.Listener.Close()
	l.closeOnce.Do(func() { close(l.done) })
	return err
}

// release gives a connection's slot back. The gauge drops first, so that
// it never shows more than the cap.
func (l *limitListener) release() {
	l.m.closed()
	<-l.sem
}

// limitConn is a connection holding a slot of a limitListener.
type limitConn struct {
	net.Conn
	releaseOnce sync.Once
	release     func()
}

// Close closes the connection and gives its slot back, once however often
// it is called (net/http may close a connection twice; a hijacker closes
// it itself).
func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.releaseOnce.Do(c.release)
	return err
}

// connMetrics are the public listener's connection metrics. A nil
// *connMetrics records nothing. Its methods are safe for concurrent use.
type connMetrics struct {
	open  prometheus.Gauge
	limit prometheus.Gauge
	waits prometheus.Counter
}

// newConnMetrics registers chatsync_http_connections_open,
// chatsync_http_connections_limit and
// chatsync_http_connections_waited_total with reg, all at 0 until a
// listener uses them. It returns the registry's error.
func newConnMetrics(reg prometheus.Registerer) (*connMetrics, error) {
	m := &connMetrics{
		open: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "chatsync_http_connections_open",
			Help: "Open connections on the public listener (HTTP_ADDR); at most chatsync_http_connections_limit.",
		}),
		limit: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "chatsync_http_connections_limit",
			Help: "The public listener's cap on open connections (MAX_CONNECTIONS).",
		}),
		waits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chatsync_http_connections_waited_total",
			Help: "Connections accepted on the public listener while every slot was taken, which waited " +
				"for one (clients behind them wait in the kernel's accept backlog).",
		}),
	}
	for _, c := range []prometheus.Collector{m.open, m.limit, m.waits} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register connection metrics: %w", err)
		}
	}
	return m, nil
}

func (m *connMetrics) setLimit(n int) {
	if m != nil {
		m.limit.Set(float64(n))
	}
}

func (m *connMetrics) opened() {
	if m != nil {
		m.open.Inc()
	}
}

func (m *connMetrics) closed() {
	if m != nil {
		m.open.Dec()
	}
}

func (m *connMetrics) waited() {
	if m != nil {
		m.waits.Inc()
	}
}
