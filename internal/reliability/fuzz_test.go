package reliability

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/chatsync/chatsync/chatapi"
	"github.com/chatsync/chatsync/tasks"
	"github.com/chatsync/chatsync/webhook"
)

// The fuzz targets drive the whole webhook.Server handler (verification,
// decoding, routing, error handling and logging) in process, with an
// enqueuer that only counts. They check the security properties end to
// end: nothing is acknowledged or enqueued without valid credentials, and
// no log line carries a credential. Seeds are in testdata/fuzz/<name>/.

const (
	fuzzAppID = 1400000001
	fuzzToken = "fuzz-callback-token"
	fuzzNow   = 1700000000
)

// fuzzSecret is the events secret of the fuzz targets (32 bytes of 0x01).
var fuzzSecret = "whsec_" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))

// countingEnqueuer takes every input and counts it.
type countingEnqueuer struct {
	mu sync.Mutex
	n  int
}

func (c *countingEnqueuer) Accept(_ context.Context, x tasks.Input) (tasks.Accepted, error) {
	if err := x.Validate(); err != nil {
		return tasks.Accepted{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	return tasks.Accepted{}, nil
}

func (c *countingEnqueuer) take() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.n
	c.n = 0
	return n
}

// fuzzServer returns a webhook server at fuzzNow with the fuzz
// credentials, its enqueuer and its log.
func fuzzServer(tb testing.TB) (*webhook.Server, *countingEnqueuer, *bytes.Buffer) {
	enq := &countingEnqueuer{}
	var log bytes.Buffer
	srv, err := webhook.New(webhook.Config{
		SDKAppID:      fuzzAppID,
		CallbackToken: fuzzToken,
		EventSecrets:  []string{fuzzSecret},
		AutoRead:      []string{"bot"},
		Intake:        enq,
		Now:           func() time.Time { return time.Unix(fuzzNow, 0) },
		Logger:        slog.New(slog.NewJSONHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		tb.Fatal(err)
	}
	return srv, enq, &log
}

func fuzzSign(rt string) string {
	sum := sha256.Sum256([]byte(fuzzToken + rt))
	return hex.EncodeToString(sum[:])
}

// FuzzCallbackAuth: whatever the query and body, POST /callback answers
// 200 only for a request with the app's SdkAppid and a Sign of the token
// and a RequestTime within 60 s; any other answer enqueues nothing; the
// log never holds the token.
func FuzzCallbackAuth(f *testing.F) {
	rt := strconv.Itoa(fuzzNow)
	body := AfterSendMsgBody(Message{From: "alice", To: "bot", Seq: 1, Random: 2, Time: fuzzNow, Key: "1_2_1700000000", Text: "hi"}, nil)
	f.Add(CallbackQuery(strconv.Itoa(fuzzAppID), chatapi.CommandAfterSendMsg, fuzzSign(rt), rt), body)
	f.Add(CallbackQuery(strconv.Itoa(fuzzAppID), chatapi.CommandAfterSendMsg, fuzzSign("1699999941"), "1699999941"), body)
	f.Add(CallbackQuery(strconv.Itoa(fuzzAppID), "C2C.CallbackBeforeSendMsg", fuzzSign(rt), rt), []byte(`{"CallbackCommand":"C2C.CallbackBeforeSendMsg"}`))
	f.Add("SdkAppid=1400000001&CallbackCommand=C2C.CallbackAfterSendMsg&Sign=%30&RequestTime=+1700000000", body)
	f.Add("SdkAppid=1400000001&SdkAppid=1&CallbackCommand=x&Sign=&RequestTime=", []byte(`{}`))
	srv, enq, log := fuzzServer(f)
	f.Fuzz(func(t *testing.T, rawQuery string, body []byte) {
		log.Reset()
		req := httptest.NewRequest(http.MethodPost, "/callback", bytes.NewReader(body))
		req.URL.RawQuery = rawQuery
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		n := enq.take()
		if rec.Code == http.StatusOK && !callbackAuthentic(rawQuery) {
			t.Fatalf("answered 200 (%d tasks) to an unauthenticated callback ?%s", n, rawQuery)
		}
		if rec.Code != http.StatusOK && n > 0 {
			t.Fatalf("answered %d but enqueued %d tasks", rec.Code, n)
		}
		if strings.Contains(log.String(), fuzzToken) {
			t.Fatalf("the log holds the token: %s", log)
		}
	})
}

// callbackAuthentic reports whether a raw query carries the app's SdkAppid
// and a valid Sign for a RequestTime within 60 s of fuzzNow, reading each
// parameter's last value, unescaped.
func callbackAuthentic(rawQuery string) bool {
	vals := map[string]string{}
	for _, kv := range strings.Split(rawQuery, "&") {
		k, v, _ := strings.Cut(kv, "=")
		if u, err := url.QueryUnescape(v); err == nil {
			vals[k] = u
		}
	}
	rt, err := strconv.ParseInt(vals["RequestTime"], 10, 64)
	return err == nil && vals["SdkAppid"] == strconv.Itoa(fuzzAppID) &&
		rt >= fuzzNow-60 && rt <= fuzzNow+60 && vals["Sign"] == fuzzSign(vals["RequestTime"])
}

// FuzzEventsSignature: whatever the Standard Webhooks headers and body,
// POST /v1/events answers 2xx only when webhook-signature holds the v1
// HMAC of id.timestamp.body under the secret and the timestamp is within 5
// minutes; any other answer enqueues nothing; the log never holds the
// secret or the valid signature.
func FuzzEventsSignature(f *testing.F) {
	wh, err := standardwebhooks.NewWebhook(fuzzSecret)
	if err != nil {
		f.Fatal(err)
	}
	body := EventsBody(ConversationRead("alice", "bob", fuzzNow), MessagesRead("alice", "bob", "1_2_3"))
	good, _ := wh.Sign("evt_1", time.Unix(fuzzNow, 0), body)
	f.Add("evt_1", strconv.Itoa(fuzzNow), good, body)
	f.Add("evt_1", strconv.Itoa(fuzzNow), "v1,bogus "+good, body)
	f.Add("evt_1", "+"+strconv.Itoa(fuzzNow), good, body)
	f.Add("evt_1", strconv.Itoa(fuzzNow-301), good, body)
	f.Add("evt_2", strconv.Itoa(fuzzNow), good, body)
	f.Add("", "", "", []byte(`{"type":"unread.refresh","account":"a"}`))
	srv, enq, log := fuzzServer(f)
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		log.Reset()
		req := httptest.NewRequest(http.MethodPost, "/v1/events", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for k, v := range map[string]string{"webhook-id": id, "webhook-timestamp": ts, "webhook-signature": sig} {
			if v != "" {
				req.Header.Set(k, v)
			}
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		n := enq.take()
		want := validEventSignature(wh, id, ts, sig, body)
		if rec.Code/100 == 2 && want == "" {
			t.Fatalf("answered %d (%d tasks) to id %q ts %q sig %q", rec.Code, n, id, ts, sig)
		}
		if rec.Code/100 != 2 && n > 0 {
			t.Fatalf("answered %d but enqueued %d tasks", rec.Code, n)
		}
		out := log.String()
		if strings.Contains(out, strings.TrimPrefix(fuzzSecret, "whsec_")) || (want != "" && strings.Contains(out, want)) {
			t.Fatalf("the log holds the secret or a valid signature: %s", out)
		}
	})
}

// validEventSignature returns the valid v1 signature that sig holds for
// (id, ts, body), or "" when it holds none or ts is not a unix time within
// 5 minutes of fuzzNow.
func validEventSignature(wh *standardwebhooks.Webhook, id, ts, sig string, body []byte) string {
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || id == "" || sec < fuzzNow-300 || sec > fuzzNow+300 {
		return ""
	}
	want, _ := wh.Sign(id, time.Unix(sec, 0), body)
	_, b64, _ := strings.Cut(want, ",")
	for _, s := range strings.Split(sig, " ") {
		parts := strings.Split(s, ",")
		if len(parts) >= 2 && parts[0] == "v1" && parts[1] == b64 {
			return b64
		}
	}
	return ""
}

// TestFuzzServerAccepts keeps the fuzz properties from being vacuous: the
// fuzz server acknowledges and enqueues a valid callback and valid events.
func TestFuzzServerAccepts(t *testing.T) {
	srv, enq, _ := fuzzServer(t)
	rt := strconv.Itoa(fuzzNow)
	cb := httptest.NewRequest(http.MethodPost, "/callback?"+CallbackQuery(strconv.Itoa(fuzzAppID), chatapi.CommandAfterSendMsg, fuzzSign(rt), rt),
		bytes.NewReader(AfterSendMsgBody(Message{From: "alice", To: "bot", Seq: 1, Random: 2, Time: fuzzNow, Key: "1_2_1700000000", Text: "hi"}, nil)))
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, cb)
	if n := enq.take(); rec.Code != http.StatusOK || n != 1 || !callbackAuthentic(cb.URL.RawQuery) {
		t.Errorf("valid callback to an auto-read account: %d with %d inputs taken in, want 200 with 1", rec.Code, n)
	}

	wh, _ := standardwebhooks.NewWebhook(fuzzSecret)
	body := EventsBody(ConversationRead("alice", "bob", fuzzNow), MessagesRead("alice", "bob", "1_2_3"))
	sig, _ := wh.Sign("evt_1", time.Unix(fuzzNow, 0), body)
	ev := httptest.NewRequest(http.MethodPost, "/v1/events", bytes.NewReader(body))
	ev.Header.Set("webhook-id", "evt_1")
	ev.Header.Set("webhook-timestamp", rt)
	ev.Header.Set("webhook-signature", sig)
	rec = httptest.NewRecorder()
	srv.ServeHTTP(rec, ev)
	if n := enq.take(); rec.Code != http.StatusAccepted || n != 2 || validEventSignature(wh, "evt_1", rt, sig, body) == "" {
		t.Errorf("valid events: %d with %d inputs taken in, want 202 with 2", rec.Code, n)
	}
}
