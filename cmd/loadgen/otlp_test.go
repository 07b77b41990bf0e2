package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The receiver answers an export with 200 and an empty body (all spans
// accepted) and counts it; fire's -otlp reads the counts around a phase.
func TestOTLPReceiver(t *testing.T) {
	srv := httptest.NewServer(&otlpReceiver{})
	defer srv.Close()
	for range 2 {
		resp, err := http.Post(srv.URL+"/v1/traces", "application/x-protobuf", strings.NewReader("0123456789"))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || len(body) != 0 || resp.Header.Get("Content-Type") != "application/x-protobuf" {
			t.Errorf("export: %d %q %s, want 200, empty, protobuf", resp.StatusCode, body, resp.Header.Get("Content-Type"))
		}
	}
	f := &fireCommand{otlp: srv.URL}
	lr := &loadResult{}
	if err := f.countTraces(context.Background(), lr, otlpCounts{Requests: 1, Bytes: 10}); err != nil {
		t.Fatal(err)
	}
	if !lr.Tracing || lr.TraceRequests != 1 || lr.TraceBytes != 10 {
		t.Errorf("counted %+v, want 1 request and 10 bytes since the phase began", lr)
	}
}
