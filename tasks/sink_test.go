package tasks

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
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
	w := e.worker(t, Config{Debounce: 50 * time.Millisecond, SinkURL: sinkSrv.URL + "/hook?token=x", SinkSecret: secret})
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
