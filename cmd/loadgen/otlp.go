package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"
)

// otlpCounts are what the OTLP receiver got: trace export requests and
// their body bytes.
type otlpCounts struct {
	Requests int64 `json:"requests"`
	Bytes    int64 `json:"bytes"`
}

// otlpReceiver is the smallest OTLP/HTTP trace receiver: it answers every
// POST /v1/traces with 200 and an empty body (an empty
// ExportTraceServiceResponse, all accepted) and counts what it got; GET
// /stats returns the counts as JSON. It is safe for concurrent use.
type otlpReceiver struct{ requests, bytes atomic.Int64 }

func (o *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v1/traces":
		n, _ := io.Copy(io.Discard, r.Body)
		o.requests.Add(1)
		o.bytes.Add(n)
		w.Header().Set("Content-Type", "application/x-protobuf")
	case r.Method == http.MethodGet && r.URL.Path == "/stats":
		json.NewEncoder(w).Encode(otlpCounts{Requests: o.requests.Load(), Bytes: o.bytes.Load()})
	default:
		http.NotFound(w, r)
	}
}

// cmdOTLP serves an otlpReceiver until it is stopped or -for has passed.
func cmdOTLP(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("otlp", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:4318", "listen address (loopback only)")
	lifetime := fs.Duration("for", 30*time.Minute, "stop after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return serveLoopback(ctx, *addr, &otlpReceiver{}, *lifetime, stdout)
}

// readOTLP returns the counts of the receiver at base.
func readOTLP(ctx context.Context, base string) (otlpCounts, error) {
	var c otlpCounts
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/stats", nil)
	if err != nil {
		return c, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return c, fmt.Errorf("otlp receiver: %w", err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
		return c, fmt.Errorf("otlp receiver: %w", err)
	}
	return c, nil
}
