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
	var c otlpCounts
	if err := getJSON(context.Background(), srv.URL+"/stats", &c); err != nil || c != (otlpCounts{2, 20}) {
		t.Errorf("counts %+v, %v; want 2 requests and 20 bytes", c, err)
	}
}
