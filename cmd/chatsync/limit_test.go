package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// TestLimitListener: a server capped at 3 connections on a real listener.
// Five clients connect and send the start of a request: three take the
// slots (open 3) and the accept loop waits for nobody (waited 0); the
// fourth is accepted and waits for a slot (waited 1) and the fifth waits in
// the kernel's backlog. A freed slot goes to the fourth, and the fifth is
// accepted and waits (waited 2). A connection that its handler hijacks and
// closes twice gives its slot back once. When every client has gone, the
// gauge is back at 0.
func TestLimitListener(t *testing.T) {
	const limit = 3
	m, err := newConnMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := listen("127.0.0.1:0", limit, m)
	if err != nil {
		t.Fatal(err)
	}
	srv := newHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		c, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
		c.Close()
		c.Close()
	}), slog.New(slog.DiscardHandler))
	go srv.Serve(ln)
	defer func() {
		// A slot given back twice would make a later Close wait for ever.
		closed := make(chan struct{})
		go func() { srv.Close(); close(closed) }()
		select {
		case <-closed:
		case <-time.After(5 * time.Second):
			t.Error("the server's Close hangs: a slot was given back twice")
		}
	}()
	addr := ln.Addr().String()
	if got := metricValue(t, m.limit); got != limit {
		t.Errorf("chatsync_http_connections_limit %v, want %d", got, limit)
	}
	want := func(what string, open, waited int) {
		t.Helper()
		poll(t, 5*time.Second, what, func() (bool, error) {
			o, w := metricValue(t, m.open), metricValue(t, m.waits)
			return o == float64(open) && w == float64(waited),
				retryable(fmt.Errorf("open %v, waited %v; want %d, %d", o, w, open, waited))
		})
	}

	var idle []net.Conn
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	for range limit {
		idle = append(idle, dialIdle(t, addr))
	}
	want("the cap is full", limit, 0)
	// The accept loop now waits with nobody behind it, which must not
	// count: a wait counted here would show in a moment.
	time.Sleep(100 * time.Millisecond)
	want("the cap is full and nobody waits", limit, 0)
	idle = append(idle, dialIdle(t, addr), dialIdle(t, addr))
	want("one client waits for a slot", limit, 1)
	idle[0].Close()
	want("the waiting client has the freed slot, the next one waits", limit, 2)
	for _, c := range idle[1:3] {
		c.Close()
	}
	want("the last client has a slot", 2, 2)

	resp, err := http.Get("http://" + addr + "/hijack")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want("the hijacked connection gave its slot back once", 2, 2)
	for _, c := range idle {
		c.Close()
	}
	want("every client has gone", 0, 2)
}

// TestLimitListenerClose: closing the listener while a connection waits for
// a slot ends Accept with net.ErrClosed and closes that connection; the
// connection holding the slot stays open.
func TestLimitListenerClose(t *testing.T) {
	m, err := newConnMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := listen("127.0.0.1:0", 1, m)
	if err != nil {
		t.Fatal(err)
	}
	holder := dialIdle(t, ln.Addr().String())
	defer holder.Close()
	held, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	waiting := dialIdle(t, ln.Addr().String())
	defer waiting.Close()
	errc := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Close()
		}
		errc <- err
	}()
	poll(t, 5*time.Second, "a connection waits for the slot", func() (bool, error) {
		return metricValue(t, m.waits) == 1, nil
	})
	ln.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Accept after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Accept still waits for a slot after Close")
	}
	waiting.SetReadDeadline(time.Now().Add(5 * time.Second))
	// EOF, or a reset since the server did not read the request.
	if _, err := waiting.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("the waiting client reads %v, want its connection closed", err)
	}
	if _, err := held.Write([]byte("x")); err != nil {
		t.Errorf("the connection with the slot: %v", err)
	}
	if got := metricValue(t, m.open); got != 1 {
		t.Errorf("chatsync_http_connections_open %v after Close, want 1", got)
	}
}

// TestServeConnectionMetrics: a real serve with MAX_CONNECTIONS=1 has the
// connection metrics on its admin /metrics from the start, counts a client
// that waits for the slot, and is back at 0 open connections when the
// clients have gone.
func TestServeConnectionMetrics(t *testing.T) {
	t.Parallel()
	serve := startProc(t, "serve", map[string]string{"REDIS_URL": startRedis(t), "CHAT_SDKAPPID": e2eSDKAppID,
		"CHAT_CALLBACK_TOKEN": e2eToken, "HTTP_ADDR": "127.0.0.1:0", "ADMIN_ADDR": "127.0.0.1:0",
		"MAX_CONNECTIONS": "1"}, "serve")
	addr := strings.TrimPrefix(serve.url("serving", "addr"), "http://")
	admin := serve.url("serving", "admin_addr")
	metrics := admin + "/metrics"
	exchange{method: "GET", path: "/metrics", status: 200, contains: "\nchatsync_http_connections_limit 1\n"}.do(t, admin)
	want := func(what string, open, waited int) {
		t.Helper()
		poll(t, 10*time.Second, what, func() (bool, error) {
			o, w := scrape(t, metrics, "chatsync_http_connections_open"), scrape(t, metrics, "chatsync_http_connections_waited_total")
			return o == open && w == waited, retryable(fmt.Errorf("open %d, waited %d; want %d, %d", o, w, open, waited))
		})
	}
	want("no connection yet", 0, 0)
	first := dialIdle(t, addr)
	defer first.Close()
	want("the first client has the slot", 1, 0)
	second := dialIdle(t, addr)
	defer second.Close()
	want("the second client waits", 1, 1)
	first.Close()
	second.Close()
	want("both clients have gone", 0, 1)
	serve.stop(10 * time.Second)
}

// dialIdle connects to addr and sends the start of a request's headers, so
// that the server holds the connection open.
func dialIdle(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, "POST /v1/events HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	return c
}

// metricValue is the value of a gauge or a counter.
func metricValue(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		t.Fatal(err)
	}
	if d.Gauge != nil {
		return d.Gauge.GetValue()
	}
	return d.Counter.GetValue()
}
