package tasks

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/chatsync/chatsync/chatapi/emulator"
)

// delivery is one event the sink accepted.
type delivery struct {
	ID    string
	Total int
}

// TestSink checks that a snapshot change reaches the sink as a signed
// unread.updated event, retried under the same webhook-id after a failure.
func TestSink(t *testing.T) {
	secret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("a sink secret of 32 bytes length"))
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu       sync.Mutex
		attempts []string // webhook-ids, failed ones included
		got      []delivery
	)
	sinkSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := wh.Verify(body, r.Header); err != nil {
			t.Errorf("sink: %v", err)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var ev SinkEvent
		if err := json.Unmarshal(body, &ev); err != nil || ev.Type != EventUnreadUpdated || ev.Data == nil {
			t.Errorf("sink: event %s: %v", body, err)
		}
		mu.Lock()
		defer mu.Unlock()
		attempts = append(attempts, r.Header.Get("webhook-id"))
		if len(attempts) == 1 {
			http.Error(w, "not now", http.StatusServiceUnavailable)
			return
		}
		got = append(got, delivery{ID: r.Header.Get("webhook-id"), Total: ev.Data.Total})
	}))
	t.Cleanup(sinkSrv.Close)

	e := setup(t, emulator.Config{})
	w := e.worker(t, Config{Debounce: 50 * time.Millisecond, SinkURL: sinkSrv.URL + "/hook?token=x", SinkSecret: secret,
		SinkAllowHTTP: true})
	e.serve(t, w, 2)

	deliveries := func() []delivery {
		mu.Lock()
		defer mu.Unlock()
		return append([]delivery(nil), got...)
	}
	for i, total := range []int{3, 4} {
		task, err := Builder{}.Unread(Unread{Account: "u", Total: &total, TotalAt: time.Now().UnixMilli()}, "sink", fmt.Sprint(i))
		e.enqueue(t, task, err)
		waitFor(t, 10*time.Second, "a delivery", func() bool { return len(deliveries()) == i+1 })
	}
	d := deliveries()
	if diff := cmp.Diff([]delivery{{ID: attempts[0], Total: 3}, {ID: d[1].ID, Total: 4}}, d); diff != "" {
		t.Errorf("deliveries (-want +got)\n%s", diff)
	}
	if d[0].ID == d[1].ID {
		t.Errorf("two notifications share the webhook-id %s", d[0].ID)
	}
}

// testSinkSecret is the sink secret of the tests below.
var testSinkSecret = "whsec_" + base64.StdEncoding.EncodeToString([]byte("a sink secret of 32 bytes length"))

// TestSinkRedirect: a redirect is not followed. The signed body never
// reaches the host the answer names, and the task is archived with the
// reason.
func TestSinkRedirect(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { elsewhere.Add(1) }))
	t.Cleanup(other.Close)
	for _, code := range []int{http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, other.URL+"/steal", code)
		}))
		t.Cleanup(srv.Close)
		sk, err := newSink(srv.URL, testSinkSecret, true, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = sk.post(context.Background(), "msg_1", SinkEvent{Type: EventUnreadUpdated, Timestamp: time.Now()})
		if !errors.Is(err, asynq.SkipRetry) || !strings.Contains(err.Error(), "redirect not followed") {
			t.Errorf("HTTP %d: %v, want a permanent error about the redirect", code, err)
		}
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the redirect target got %d requests, want 0", n)
	}
}

// TestSinkScheme: a plain http:// sink is refused unless allowed.
func TestSinkScheme(t *testing.T) {
	for _, tt := range []struct {
		url       string
		allowHTTP bool
		problem   string
	}{
		{"https://app.example/hook", false, ""},
		{"http://app.example/hook", false, "in the clear"},
		{"HTTP://app.example/hook", false, "in the clear"},
		{"http://app.example/hook", true, ""},
		{"ftp://app.example/hook", true, "absolute http(s)"},
	} {
		_, err := newSink(tt.url, testSinkSecret, tt.allowHTTP, nil)
		if (err == nil) != (tt.problem == "") || (err != nil && !strings.Contains(err.Error(), tt.problem)) {
			t.Errorf("newSink(%q, allowHTTP %v): %v, want %q", tt.url, tt.allowHTTP, err, tt.problem)
		}
	}
}

// TestSinkRetryAfter: a 429 or 503 with Retry-After is retried after that
// long (never sooner than the backoff, never past its cap).
func TestSinkRetryAfter(t *testing.T) {
	e := setup(t, emulator.Config{})
	backoff := Backoff{Base: time.Second, Cap: 10 * time.Minute}
	w := e.worker(t, Config{Backoff: backoff})
	now := time.Now()
	for _, tt := range []struct {
		status     int
		retryAfter string
		min, max   time.Duration
	}{
		{http.StatusServiceUnavailable, "120", 120 * time.Second, 120 * time.Second},
		{http.StatusTooManyRequests, "30", 30 * time.Second, 30 * time.Second},
		{http.StatusTooManyRequests, now.Add(time.Hour).UTC().Format(http.TimeFormat), 10 * time.Minute, 10 * time.Minute},
		{http.StatusServiceUnavailable, "86400", 10 * time.Minute, 10 * time.Minute},
		{http.StatusServiceUnavailable, "soon", 0, time.Second},
		{http.StatusServiceUnavailable, "", 0, time.Second},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
			if tt.retryAfter != "" {
				rw.Header().Set("Retry-After", tt.retryAfter)
			}
			rw.WriteHeader(tt.status)
		}))
		sk, err := newSink(srv.URL, testSinkSecret, true, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = sk.post(context.Background(), "msg_1", SinkEvent{Type: EventUnreadUpdated, Timestamp: now})
		srv.Close()
		if err == nil || errors.Is(err, asynq.SkipRetry) {
			t.Fatalf("HTTP %d: %v, want a transient error", tt.status, err)
		}
		if d := w.RetryDelay(0, err, nil); d < tt.min || d > tt.max {
			t.Errorf("HTTP %d Retry-After %q: retry in %v, want %v to %v", tt.status, tt.retryAfter, d, tt.min, tt.max)
		}
	}
}
