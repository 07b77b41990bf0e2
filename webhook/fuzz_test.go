package webhook

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/chatsync/chatsync/chatapi"
)

// The fuzz targets run the decoders and verifiers as pure functions, with
// no Redis. Their seed corpus is in testdata/fuzz/<FuzzName>/; run one with
// e.g. go test -run '^$' -fuzz FuzzCallbackDecode -fuzztime 30s ./webhook

// FuzzCallbackDecode: decodeCallback never panics, and what it accepts
// survives a round trip (encode the decoded body, decode again: the same)
// and routes to tasks without panicking.
func FuzzCallbackDecode(f *testing.F) {
	srv := &Server{now: testNow, autoRead: map[string]struct{}{"Jonh": {}}}
	f.Fuzz(func(t *testing.T, command string, body []byte) {
		cb, err := decodeCallback(command, body)
		if err != nil {
			return
		}
		var v any = otherCallback{CallbackCommand: command}
		switch {
		case cb.Send != nil:
			v = cb.Send
		case cb.Report != nil:
			v = cb.Report
		case cb.Withdraw != nil:
			v = cb.Withdraw
		case cb.Alert != nil:
			v = cb.Alert
		}
		again, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("encode %+v: %v", v, err)
		}
		cb2, err := decodeCallback(command, again)
		if err != nil {
			t.Fatalf("decoded %s from %q but rejected it re-encoded: %v", again, body, err)
		}
		if diff := cmp.Diff(cb, cb2); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
		// Routing may refuse (e.g. an account over 32 bytes: a 400) but
		// must not panic.
		_, _, _ = srv.callbackInput(cb)
	})
}

// FuzzEventsDecode: decodeEvents never panics and leaves the body as it
// was; what it accepts makes tasks and survives a round trip as a batch.
func FuzzEventsDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		orig := string(body)
		events, problems, err := decodeEvents(body, testNow())
		if string(body) != orig {
			t.Fatalf("decodeEvents changed the body %q to %q", orig, body)
		}
		if err != nil || len(problems) > 0 {
			for _, p := range problems {
				if p.Index < 0 || p.Index >= max(len(events), 1) || p.Field == "" || p.Message == "" {
					t.Fatalf("malformed problem %+v for %d events", p, len(events))
				}
			}
			return
		}
		if len(events) == 0 || len(events) > MaxEvents {
			t.Fatalf("accepted %d events", len(events))
		}
		for i, ev := range events {
			if ev.Type == EventConversationRead && ev.ReadTime == 0 {
				ev.ReadTime = testNow().Unix() // as postEvents stamps it
			}
			if err := eventInput(ev, "msg_fuzz", i).Validate(); err != nil {
				t.Fatalf("accepted event %d %+v makes no input: %v", i, ev, err)
			}
		}
		again, err := json.Marshal(struct {
			Events []Event `json:"events"`
		}{events})
		if err != nil {
			t.Fatal(err)
		}
		events2, problems2, err := decodeEvents(again, testNow())
		if err != nil || len(problems2) > 0 {
			t.Fatalf("accepted %q but not re-encoded as %s: %v %+v", body, again, err, problems2)
		}
		if diff := cmp.Diff(events, events2); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}

// FuzzVerifySign: parseCallbackQuery and verifySign never panic; a Sign is
// accepted only when it is the hex SHA-256 of token+RequestTime with
// RequestTime within the window, and the right Sign always is.
func FuzzVerifySign(f *testing.F) {
	f.Fuzz(func(t *testing.T, rawQuery, token string, now int64) {
		q, err := parseCallbackQuery(rawQuery)
		if err != nil {
			return
		}
		now = min(max(now, 0), maxUnixSeconds) // a clock, not any integer
		clock := time.Unix(now, 0)
		rt, perr := strconv.ParseInt(q.RequestTime, 10, 64)
		inWindow := perr == nil && rt >= now-60 && rt <= now+60
		right := sha256Hex(token + q.RequestTime)

		if err := chatapi.VerifyCallbackSign(token, q.Sign, q.RequestTime, clock); err == nil && (q.Sign != right || !inWindow) {
			t.Fatalf("accepted Sign %q RequestTime %q at %d; want Sign %q within 60 s", q.Sign, q.RequestTime, now, right)
		}
		err = chatapi.VerifyCallbackSign(token, right, q.RequestTime, clock)
		if (err == nil) != (inWindow && q.RequestTime != "") {
			t.Fatalf("right Sign, RequestTime %q at %d: %v (in window: %v)", q.RequestTime, now, err, inWindow)
		}
	})
}
