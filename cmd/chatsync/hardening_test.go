package main

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestListenerLimits: every listener, pprof's included, bounds the time
// to write an answer and the size of the headers.
func TestListenerLimits(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	for name, srv := range map[string]*http.Server{
		"public, admin, emulator": newHTTPServer(http.NotFoundHandler(), log),
		"pprof":                   newPprofServer(log),
	} {
		if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.WriteTimeout <= 0 || srv.IdleTimeout <= 0 {
			t.Errorf("%s: timeouts header %v read %v write %v idle %v, want all set", name,
				srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout)
		}
		if srv.MaxHeaderBytes != 16<<10 {
			t.Errorf("%s: MaxHeaderBytes %d, want 16 KiB", name, srv.MaxHeaderBytes)
		}
	}

	// Headers of 64 KiB are refused with 431.
	ln, err := listen("127.0.0.1:0", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := newHTTPServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), log)
	go srv.Serve(ln)
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, "http://"+ln.Addr().String()+"/", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 64<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("64 KiB of headers: status %d, want 431", resp.StatusCode)
	}
}

// TestConnectionCap: the public listener holds at most MAX_CONNECTIONS
// connections; idle half-open ones beyond it cost nothing until one closes.
func TestConnectionCap(t *testing.T) {
	const limit = 3
	ln, err := listen("127.0.0.1:0", limit, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := newHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }),
		slog.New(slog.DiscardHandler))
	go srv.Serve(ln)
	defer srv.Close()
	addr := ln.Addr().String()
	get := func() error {
		c := &http.Client{Timeout: 300 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Get("http://" + addr + "/")
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := get(); err != nil {
		t.Fatalf("below the cap: %v", err)
	}
	var idle []net.Conn
	for range limit {
		idle = append(idle, dialIdle(t, addr))
	}
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	time.Sleep(100 * time.Millisecond) // let the server accept them
	if err := get(); err == nil {
		t.Fatalf("a request was served with %d connections open, cap %d", limit+1, limit)
	}
	idle[0].Close()
	deadline := time.Now().Add(5 * time.Second)
	for err := get(); err != nil; err = get() {
		if time.Now().After(deadline) {
			t.Fatalf("a connection closed, and still no room: %v", err)
		}
	}
}

// TestWarnIfPublic: pprof and the emulator warn when they listen beyond
// loopback, and their defaults are loopback.
func TestWarnIfPublic(t *testing.T) {
	for _, tt := range []struct {
		addr string
		warn bool
	}{
		{"127.0.0.1:0", false},
		{"[::1]:0", false},
		{":0", true},
		{"0.0.0.0:0", true},
	} {
		ln, err := net.Listen("tcp", tt.addr)
		if err != nil {
			t.Logf("%s: %v (skipped)", tt.addr, err)
			continue
		}
		var buf bytes.Buffer
		warnIfPublic(slog.New(slog.NewTextHandler(&buf, nil)), ln, "pprof", "PPROF_ADDR")
		ln.Close()
		if got := strings.Contains(buf.String(), "level=WARN"); got != tt.warn {
			t.Errorf("%s: warned %v, want %v: %s", tt.addr, got, tt.warn, buf.String())
		}
	}

	emu, err := parseEmulatorConfig(lookupMap(map[string]string{"CHAT_SDKAPPID": "1", "CHAT_SECRET_KEY": "k"}), nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := parseConfig(modeServe, lookupMap(validEnv()))
	if err != nil {
		t.Fatal(err)
	}
	for name, addr := range map[string]string{"emulator": emu.Addr, "serve's admin": cfg.AdminAddr} {
		if host, _, _ := net.SplitHostPort(addr); host != "127.0.0.1" {
			t.Errorf("%s listens on %s by default, want 127.0.0.1", name, addr)
		}
	}
}
