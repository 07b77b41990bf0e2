package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/chatsync/chatsync/internal/redistest"
	"github.com/chatsync/chatsync/tasks"
)

// redisDB is this package's database on the test Redis.
const redisDB = 5

// newTestServe builds serve's HTTP surface in-process on the test Redis,
// with env over validEnv: the public and the admin listener.
func newTestServe(t *testing.T, kv ...string) (a *app, public, admin *httptest.Server) {
	t.Helper()
	cfg, err := parseConfig(modeServe, lookupMap(with(validEnv(), kv...)))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Redis = &redisConfig{Single: redistest.Options(t, redisDB)}
	log := slog.New(slog.DiscardHandler)
	a, err = newApp(context.Background(), cfg, log, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close)
	pub, adm, closeMonitoring, err := a.newHTTP()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeMonitoring() })
	public, admin = httptest.NewServer(pub), httptest.NewServer(adm)
	t.Cleanup(public.Close)
	t.Cleanup(admin.Close)
	return a, public, admin
}

type exchange struct {
	method, path string
	user, pass   string // basic auth when user != ""
	header       map[string]string
	status       int
	contains     string // in the body
}

func (x exchange) do(t *testing.T, base string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(x.method, base+x.path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if x.user != "" {
		req.SetBasicAuth(x.user, x.pass)
	}
	for k, v := range x.header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != x.status || !strings.Contains(string(body), x.contains) {
		t.Errorf("%s %s: %d %.300s\nwant %d with %q", x.method, x.path, resp.StatusCode, body, x.status, x.contains)
	}
	if resp.StatusCode == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("%s %s: 401 without WWW-Authenticate", x.method, x.path)
	}
	return resp
}

func TestServeSurface(t *testing.T) {
	a, public, srv := newTestServe(t, "MONITORING_USER", "ops", "MONITORING_PASSWORD", "pw")
	// One task, so that the queue collector has a queue to report.
	task, err := a.builder().SetRead(tasks.SetRead{Account: "bob", Peer: "alice"}, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.enq.Enqueue(task); err != nil {
		t.Fatal(err)
	}
	// The public listener has health but no admin surface.
	for _, x := range []exchange{
		{method: "GET", path: "/healthz", status: 200, contains: `"ok"`},
		{method: "GET", path: "/readyz", status: 200, contains: `"ready"`},
		{method: "GET", path: "/metrics", status: 404},
		{method: "GET", path: "/monitoring/", user: "ops", pass: "pw", status: 404},
		{method: "GET", path: "/monitoring/api/queues", user: "ops", pass: "pw", status: 404},
	} {
		x.do(t, public.URL)
	}
	for _, x := range []exchange{
		{method: "GET", path: "/healthz", status: 200, contains: `"ok"`},
		{method: "GET", path: "/readyz", status: 200, contains: `"ready"`},
		{method: "GET", path: "/monitoring/", status: 401},
		{method: "GET", path: "/monitoring", status: 401},
		{method: "GET", path: "/monitoring/", user: "ops", pass: "wrong", status: 401},
		{method: "GET", path: "/monitoring/", user: "op", pass: "pw", status: 401},
		{method: "GET", path: "/monitoring/", user: "ops", pass: "pw", status: 200, contains: "<html"},
		{method: "GET", path: "/monitoring/api/queues", user: "ops", pass: "pw", status: 200, contains: `"queue":"chat_read"`},
		// Read-only by default: asynqmon refuses every change.
		{method: "DELETE", path: "/monitoring/api/queues/chat_read", user: "ops", pass: "pw", status: 405, contains: "read-only"},
		{method: "GET", path: "/metrics", status: 200, contains: `asynq_tasks_enqueued_total{queue="chat_read",state="pending"} 1`},
	} {
		x.do(t, srv.URL)
	}
	// The metrics of every layer are in the one registry.
	x := exchange{method: "GET", path: "/metrics", status: 200}
	for _, want := range []string{"go_goroutines", "process_cpu_seconds_total",
		`chatsync_http_requests_total{`, "asynq_queue_latency_seconds"} {
		x.contains = want
		x.do(t, srv.URL)
	}
}

func TestServeMonitoringOff(t *testing.T) {
	_, _, srv := newTestServe(t)
	for _, path := range []string{"/monitoring", "/monitoring/", "/monitoring/api/queues"} {
		exchange{method: "GET", path: path, status: 404}.do(t, srv.URL)
		exchange{method: "GET", path: path, user: "admin", pass: "", status: 404}.do(t, srv.URL)
	}
	// The counter is there for the rules all the same, and a 404 is no refusal.
	exchange{method: "GET", path: "/metrics", status: 200,
		contains: `chatsync_admin_refused_total{reason="bad_credentials"} 0`}.do(t, srv.URL)
}

// TestAdminRefusedCounted: the admin listener counts what /monitoring/
// refuses, by reason: a request without credentials, wrong credentials,
// a change from another site. What it lets through is not counted.
func TestAdminRefusedCounted(t *testing.T) {
	_, _, srv := newTestServe(t, "MONITORING_USER", "ops", "MONITORING_PASSWORD", "pw")
	refused := func() map[string]int {
		t.Helper()
		n := map[string]int{}
		for _, r := range []string{"no_credentials", "bad_credentials", "cross_origin"} {
			n[r] = scrape(t, srv.URL+"/metrics", `chatsync_admin_refused_total{reason="`+r+`"}`)
		}
		return n
	}
	exchange{method: "GET", path: "/metrics", status: 200,
		contains: `chatsync_admin_refused_total{reason="no_credentials"} 0`}.do(t, srv.URL)
	evil := map[string]string{"Origin": "http://evil.example"}
	for _, x := range []exchange{
		{method: "GET", path: "/monitoring/", status: 401},
		{method: "GET", path: "/monitoring/", user: "ops", pass: "guess1", status: 401},
		{method: "GET", path: "/monitoring/api/queues", user: "root", pass: "pw", status: 401},
		{method: "GET", path: "/monitoring/", user: "ops", pass: "guess2", status: 401},
		{method: "POST", path: "/monitoring/api/queues/chat_read:pause", user: "ops", pass: "pw", header: evil, status: 403},
		{method: "POST", path: "/monitoring/api/queues/chat_read:pause", user: "ops", pass: "guess3", header: evil, status: 401},
		{method: "GET", path: "/monitoring/", user: "ops", pass: "pw", status: 200},
		{method: "GET", path: "/monitoring/api/queues", user: "ops", pass: "pw", header: evil, status: 200},
		{method: "GET", path: "/healthz", status: 200},
	} {
		x.do(t, srv.URL)
	}
	want := map[string]int{"no_credentials": 1, "bad_credentials": 4, "cross_origin": 1}
	if diff := cmp.Diff(want, refused()); diff != "" {
		t.Errorf("chatsync_admin_refused_total by reason (-want +got):\n%s", diff)
	}
}

func TestServeMonitoringWritable(t *testing.T) {
	a, _, srv := newTestServe(t, "MONITORING_USER", "ops", "MONITORING_PASSWORD", "pw", "MONITORING_READONLY", "false")
	task, err := a.builder().SetRead(tasks.SetRead{Account: "bob", Peer: "alice"}, "test")
	if err != nil {
		t.Fatal(err)
	}
	info, err := a.enq.Enqueue(task)
	if err != nil {
		t.Fatal(err)
	}
	exchange{method: "DELETE", path: "/monitoring/api/queues/chat_read/pending_tasks/" + info.ID,
		user: "ops", pass: "pw", status: 204}.do(t, srv.URL)
}

func TestCredentialsValidator(t *testing.T) {
	v := credentialsValidator("ops", "pw")
	tests := []struct {
		user, pass string
		want       bool
	}{
		{"ops", "pw", true},
		{"ops", "pw ", false},
		{"ops", "", false},
		{"", "pw", false},
		{"OPS", "pw", false},
		{"pw", "ops", false},
	}
	for _, tt := range tests {
		if got := v(tt.user, tt.pass); got != tt.want {
			t.Errorf("validator(%q, %q) = %v; want %v", tt.user, tt.pass, got, tt.want)
		}
	}
}

func TestAdminMux(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "chatsync_test_total", Help: "test"}))
	var notReady atomic.Bool
	srv := httptest.NewServer(adminMux(reg, func(context.Context) error {
		if notReady.Load() {
			return errors.New("redis: connection refused")
		}
		return nil
	}, nil))
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(body))
	}
	type answer struct {
		Status int
		Body   string
	}
	check := func(path string, want answer) {
		t.Helper()
		code, body := get(path)
		if path == "/metrics" {
			body = map[bool]string{true: "has chatsync_test_total"}[strings.Contains(body, "chatsync_test_total 0")]
		}
		if diff := cmp.Diff(want, answer{code, body}); diff != "" {
			t.Errorf("GET %s (-want +got):\n%s", path, diff)
		}
	}
	check("/healthz", answer{200, `{"status":"ok"}`})
	check("/readyz", answer{200, `{"status":"ready"}`})
	check("/metrics", answer{200, "has chatsync_test_total"})
	notReady.Store(true)
	check("/healthz", answer{200, `{"status":"ok"}`})
	check("/readyz", answer{503, `{"error":"not ready"}`})
}

// TestMonitoringCrossOrigin: a writable UI takes changes only from its own
// origin. A form POST from another site (text/plain, no body, the
// browser's remembered basic auth) gets 403 and pauses nothing; the UI's
// own requests work. Every answer forbids framing.
func TestMonitoringCrossOrigin(t *testing.T) {
	a, _, srv := newTestServe(t, "MONITORING_USER", "ops", "MONITORING_PASSWORD", "pw", "MONITORING_READONLY", "false")
	task, err := a.builder().SetRead(tasks.SetRead{Account: "bob", Peer: "alice"}, "cross-origin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.enq.Enqueue(task); err != nil {
		t.Fatal(err)
	}
	insp := asynq.NewInspectorFromRedisClient(a.rdb)
	paused := func() bool {
		t.Helper()
		info, err := insp.GetQueueInfo(tasks.QueueRead)
		if err != nil {
			t.Fatal(err)
		}
		return info.Paused
	}
	t.Cleanup(func() { _ = insp.UnpauseQueue(tasks.QueueRead) })
	pause := "/monitoring/api/queues/" + tasks.QueueRead + ":pause"
	self := srv.URL
	for _, tt := range []struct {
		name   string
		header map[string]string
		status int
	}{
		{"form from another origin", map[string]string{"Origin": "http://evil.example", "Content-Type": "text/plain"}, 403},
		{"cross-site fetch", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "http://evil.example"}, 403},
		{"same-site, other origin", map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "http://other.localhost"}, 403},
		{"origin null", map[string]string{"Origin": "null"}, 403},
	} {
		t.Run(tt.name, func(t *testing.T) {
			exchange{method: "POST", path: pause, user: "ops", pass: "pw", header: tt.header, status: tt.status}.do(t, srv.URL)
			if paused() {
				t.Fatal("a cross-origin POST paused the queue")
			}
		})
	}
	exchange{method: "POST", path: pause, user: "ops", pass: "pw", status: 204,
		header: map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": self}}.do(t, srv.URL)
	if !paused() {
		t.Fatal("the UI's own POST did not pause the queue")
	}
	for _, x := range []exchange{
		{method: "GET", path: "/monitoring/", status: 401},
		{method: "GET", path: "/monitoring/", user: "ops", pass: "pw", status: 200},
		{method: "GET", path: "/monitoring/api/queues", user: "ops", pass: "pw", status: 200},
		{method: "POST", path: pause, user: "ops", pass: "pw", header: map[string]string{"Origin": "http://evil.example"}, status: 403},
	} {
		resp := x.do(t, srv.URL)
		if got := resp.Header.Get("X-Frame-Options"); got != "DENY" {
			t.Errorf("%s %s: X-Frame-Options %q, want DENY", x.method, x.path, got)
		}
		if got := resp.Header.Get("Content-Security-Policy"); got != "frame-ancestors 'none'" {
			t.Errorf("%s %s: Content-Security-Policy %q, want frame-ancestors 'none'", x.method, x.path, got)
		}
	}
}
