package webhook

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// stallingBody yields its bytes and then blocks until closed, like a
// client that sends part of a body and then nothing.
type stallingBody struct {
	data string
	done chan struct{}
}

func (b *stallingBody) Read(p []byte) (int, error) {
	if b.data != "" {
		n := copy(p, b.data)
		b.data = b.data[n:]
		return n, nil
	}
	<-b.done
	return 0, io.ErrUnexpectedEOF
}

func (b *stallingBody) Close() error { return nil }

// TestEventsHeadersBeforeBody: a POST /v1/events without well-formed
// Standard Webhooks headers is refused before a byte of its body is read.
func TestEventsHeadersBeforeBody(t *testing.T) {
	now := testNow()
	tests := []struct {
		name   string
		header http.Header
	}{
		{"no headers", http.Header{}},
		{"bad id", http.Header{"Webhook-Id": {"a b"}, "Webhook-Timestamp": {strconv.FormatInt(now.Unix(), 10)}, "Webhook-Signature": {"v1,x"}}},
		{"old timestamp", http.Header{"Webhook-Id": {"msg_1"}, "Webhook-Timestamp": {strconv.FormatInt(now.Add(-time.Hour).Unix(), 10)}, "Webhook-Signature": {"v1,x"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t, Config{})
			body := &stallingBody{done: make(chan struct{})}
			defer close(body.done)
			req := httptest.NewRequest(http.MethodPost, "/v1/events", nil)
			req.Body, req.ContentLength, req.Header = body, DefaultMaxBody, tt.header
			got := make(chan int, 1)
			go func() { got <- e.serve(req).Code }()
			select {
			case code := <-got:
				if code != http.StatusUnauthorized {
					t.Errorf("status %d, want 401", code)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the server waited for the body of a request whose headers were bad")
			}
		})
	}
}

// TestBodyGrowsAsBytesArrive: a Content-Length is a claim, not a
// reservation. A callback that announces 256 KiB and sends 10 bytes costs
// a few KiB of buffer, not 256 KiB.
func TestBodyGrowsAsBytesArrive(t *testing.T) {
	e := setup(t, Config{})
	const rounds = 20
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range rounds {
		body := &stallingBody{data: `{"Callback`, done: make(chan struct{})}
		close(body.done) // the client hangs up after 10 bytes
		req := httptest.NewRequest(http.MethodPost, "/callback?"+signedQuery("C2C.CallbackAfterSendMsg").Encode(), nil)
		req.Body, req.ContentLength = body, DefaultMaxBody
		if rec := e.serve(req); rec.Code != http.StatusBadRequest {
			t.Fatalf("status %d %s, want 400", rec.Code, rec.Body)
		}
	}
	runtime.ReadMemStats(&after)
	if perRequest := (after.TotalAlloc - before.TotalAlloc) / rounds; perRequest > 64<<10 {
		t.Errorf("%d bytes allocated per request that sent 10 bytes, want well under Content-Length %d", perRequest, DefaultMaxBody)
	}
}

// TestReadBodyExact: bodies of every size around the buffer steps read
// back exactly, with and without a Content-Length, and a short body is
// an error.
func TestReadBodyExact(t *testing.T) {
	e := setup(t, Config{})
	for _, n := range []int{1, 511, 512, 1023, 1024, 1025, 4097, 70000, DefaultMaxBody} {
		want := strings.Repeat("x", n)
		for _, cl := range []int64{int64(n), -1} {
			req := httptest.NewRequest(http.MethodPost, "/", io.NopCloser(strings.NewReader(want)))
			req.ContentLength = cl
			bd, err := e.srv.readBody(req)
			if err != nil {
				t.Fatalf("%d bytes, Content-Length %d: %v", n, cl, err)
			}
			if string(bd.b) != want {
				t.Errorf("%d bytes, Content-Length %d: read %d bytes", n, cl, len(bd.b))
			}
			e.srv.release(bd)
		}
	}
	req := httptest.NewRequest(http.MethodPost, "/", io.NopCloser(strings.NewReader("short")))
	req.ContentLength = 10
	if _, err := e.srv.readBody(req); err == nil {
		t.Error("a body shorter than its Content-Length was read without error")
	}
}

// TestRejectedRequestsLogging: rejected requests are counted in the
// metrics always but logged only at DEBUG, with at most one WARN summary a
// minute, so an unauthenticated client does not control the log volume.
func TestRejectedRequestsLogging(t *testing.T) {
	reg := prometheus.NewRegistry()
	logs := &syncBuffer{}
	var clock atomic.Int64
	clock.Store(testNow().UnixNano())
	e := setup(t, Config{
		Registerer: reg,
		Logger:     slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
		Now:        func() time.Time { return time.Unix(0, clock.Load()) },
	})
	const rounds = 50
	reject := func() {
		t.Helper()
		for range rounds {
			if rec := e.postEvents(http.Header{}, []byte(`{}`)); rec.Code != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", rec.Code)
			}
			q := signedQuery("C2C.CallbackAfterSendMsg")
			q.Set("SdkAppid", "1")
			if rec := e.postCallback(q, []byte(`{}`)); rec.Code != http.StatusForbidden {
				t.Fatalf("status %d, want 403", rec.Code)
			}
			if rec := e.serve(httptest.NewRequest(http.MethodGet, "/nowhere", nil)); rec.Code != http.StatusNotFound {
				t.Fatalf("status %d, want 404", rec.Code)
			}
		}
	}
	reject()
	for _, tt := range []struct{ route, method, code string }{
		{routeEvents, "POST", "401"}, {routeCallback, "POST", "403"}, {"unmatched", "GET", "404"},
	} {
		if n := counter(t, reg, "chatsync_http_requests_total", tt.route, tt.method, tt.code); n != rounds {
			t.Errorf("chatsync_http_requests_total{route=%q,code=%q} = %v, want %d", tt.route, tt.code, n, rounds)
		}
	}
	out := logs.String()
	if strings.Contains(out, "request failed") || strings.Count(out, "level=WARN") != 1 {
		t.Fatalf("%d rejected requests logged, want one WARN summary and nothing else:\n%s", 3*rounds, out)
	}

	// A minute later the next rejection brings one more summary, counting
	// the rejections since the last one.
	clock.Add(int64(rejectedSummaryEvery))
	reject()
	if out := logs.String(); strings.Count(out, "level=WARN") != 2 || !strings.Contains(out, "count=150") {
		t.Errorf("want a second summary with count=150:\n%s", out)
	}
}
