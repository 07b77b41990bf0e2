package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/chatsync/chatsync/tasks"
)

func TestUnreadAPI(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	snap := &tasks.Snapshot{Account: "a@b", Total: 3, TotalKnown: true, TotalAt: at, TotalSource: tasks.SourceCallback,
		Peers: map[string]tasks.PeerCount{"p": {Count: 2, At: at, Source: tasks.SourceAPI}}}
	e := setup(t, Config{Snapshots: snapshotStore{"a@b": snap}})
	tests := []struct {
		name, path, auth string
		status           int
		body             string // the exact answer, when set
	}{
		{name: "no key", path: "/v1/users/a@b/unread", status: 401, body: `{"error":"missing or wrong API key"}`},
		{name: "wrong key", path: "/v1/users/a@b/unread", auth: "Bearer nope", status: 401},
		{name: "basic auth", path: "/v1/users/a@b/unread", auth: "Basic " + testAPIKey, status: 401},
		{name: "unknown user", path: "/v1/users/nobody/unread", auth: "Bearer " + testAPIKey, status: 404,
			body: `{"error":"no unread snapshot for this user"}`},
		{name: "store fails", path: "/v1/users/broken/unread", auth: "Bearer " + testAPIKey, status: 503},
		{name: "id too long", path: "/v1/users/" + strings.Repeat("x", 33) + "/unread", auth: "Bearer " + testAPIKey, status: 400},
		{name: "found", path: "/v1/users/a%40b/unread", auth: "bearer " + testAPIKey, status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, tt.path, nil)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			rec := e.serve(req)
			if rec.Code != tt.status {
				t.Fatalf("status %d %s, want %d", rec.Code, rec.Body, tt.status)
			}
			if tt.body != "" && strings.TrimSpace(rec.Body.String()) != tt.body {
				t.Errorf("body %s, want %s", rec.Body, tt.body)
			}
			if tt.status == 401 && rec.Header().Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if tt.status == 200 {
				var got tasks.Snapshot
				if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(*snap, got); diff != "" {
					t.Errorf("snapshot (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// TestRoutesOff: without APIKey and EventSecrets those routes answer 404.
func TestRoutesOff(t *testing.T) {
	e := setup(t, Config{EventSecrets: []string{}})
	srv, err := New(Config{SDKAppID: testAppID, CallbackToken: testToken, Intake: e.intake, Logger: e.cfg.Logger})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*http.Request{
		httptest.NewRequest(http.MethodGet, "/v1/users/a/unread", nil),
		httptest.NewRequest(http.MethodPost, "/v1/events", strings.NewReader("{}")),
	} {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, r)
		if rec.Code != http.StatusNotFound || strings.TrimSpace(rec.Body.String()) != `{"error":"not found"}` {
			t.Errorf("%s %s: %d %s, want 404 not found", r.Method, r.URL, rec.Code, rec.Body)
		}
	}
}

func TestHealth(t *testing.T) {
	var readyErr error
	e := setup(t, Config{Ready: func(context.Context) error { return readyErr }})
	get := func(path string) *httptest.ResponseRecorder {
		return e.serve(httptest.NewRequest(http.MethodGet, path, nil))
	}
	if rec := get("/healthz"); rec.Code != 200 {
		t.Errorf("healthz %d", rec.Code)
	}
	if rec := get("/readyz"); rec.Code != 200 {
		t.Errorf("readyz %d, want 200", rec.Code)
	}
	readyErr = errors.New("redis: connection refused")
	if rec := get("/readyz"); rec.Code != 503 || !strings.Contains(rec.Body.String(), "not ready") {
		t.Errorf("readyz %d %s, want 503 not ready", rec.Code, rec.Body)
	}
	if rec := get("/healthz"); rec.Code != 200 {
		t.Errorf("healthz %d while not ready, want 200", rec.Code)
	}
}

// TestRequestID: every answer has an X-Request-Id; a sane incoming one is
// kept, a bad one replaced.
func TestRequestID(t *testing.T) {
	e := setup(t, Config{})
	for _, tt := range []struct{ in, want string }{
		{"", ""}, {"abc-123", "abc-123"}, {"bad id\n", ""}, {strings.Repeat("x", 200), ""},
	} {
		req := httptest.NewRequest(http.MethodGet, "/healthz", nil)
		if tt.in != "" {
			req.Header.Set("X-Request-Id", tt.in)
		}
		got := e.serve(req).Header().Get("X-Request-Id")
		if tt.want != "" && got != tt.want || tt.want == "" && (got == "" || got == tt.in) {
			t.Errorf("X-Request-Id %q in, %q out, want %q (or a fresh one)", tt.in, got, tt.want)
		}
	}
}

// TestPanicAndMetrics: a panicking handler answers 500 JSON, the panic is
// logged once with its stack, and the metrics count routes with bounded
// labels.
func TestPanicAndMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := setup(t, Config{Registerer: reg})
	e.srv.Echo().GET("/boom", func(echo.Context) error { panic("boom") })

	rec := e.serve(httptest.NewRequest(http.MethodGet, "/boom", nil))
	if rec.Code != 500 || strings.TrimSpace(rec.Body.String()) != `{"error":"internal error"}` {
		t.Errorf("panic: %d %s, want 500 internal error", rec.Code, rec.Body)
	}
	logs := e.logs.String()
	if strings.Count(logs, "panic: boom") != 1 || !strings.Contains(logs, "stack=") {
		t.Errorf("the panic is not logged once with its stack:\n%s", logs)
	}
	e.serve(httptest.NewRequest(http.MethodGet, "/no/such/path/1", nil))
	e.serve(httptest.NewRequest(http.MethodGet, "/no/such/path/2", nil))
	e.serve(httptest.NewRequest("BREW", "/healthz", nil))

	for _, tt := range []struct {
		labels []string
		want   float64
	}{
		{[]string{"/boom", "GET", "500"}, 1},
		{[]string{"unmatched", "GET", "404"}, 2},
		{[]string{"/healthz", "other", "405"}, 1},
	} {
		if n := counter(t, reg, "chatsync_http_requests_total", tt.labels...); n != tt.want {
			t.Errorf("http_requests_total%v = %v, want %v", tt.labels, n, tt.want)
		}
	}
	if n := counter(t, reg, "chatsync_http_request_duration_seconds", "unmatched", "GET"); n != 2 {
		t.Errorf("http_request_duration_seconds{unmatched,GET} count = %v, want 2", n)
	}
	// Two servers on one registry cannot both register.
	if _, err := New(Config{SDKAppID: 1, CallbackToken: "t", Intake: e.intake, Registerer: reg}); err == nil {
		t.Error("New registered the metrics twice")
	}
}
