package main

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"sync/atomic"
)

// otlpCounts are the trace export requests and bytes the receiver got.
type otlpCounts struct {
	Requests int64 `json:"requests"`
	Bytes    int64 `json:"bytes"`
}

// otlpReceiver answers POST /v1/traces with 200 (all accepted), counting; GET /stats returns the counts.
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

// cmdOTLP serves an otlpReceiver until it is stopped (at most 30 minutes).
func cmdOTLP(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("otlp", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:4318", "listen address (loopback only)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return serveLoopback(ctx, *addr, &otlpReceiver{}, stdout)
}
