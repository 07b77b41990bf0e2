package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/chatsync/chatsync/tasks"
)

// eventsReply decodes a /v1/events answer.
type eventsReply struct {
	TaskIDs []string     `json:"task_ids"`
	Error   string       `json:"error"`
	Details []FieldError `json:"details"`
}

func decodeReply(tb testing.TB, body []byte) eventsReply {
	tb.Helper()
	var r eventsReply
	if err := json.Unmarshal(body, &r); err != nil {
		tb.Fatalf("answer %q is not JSON: %v", body, err)
	}
	return r
}

// TestEventsAccepted posts single events and batches and checks the tasks
// and the IDs in the answer.
func TestEventsAccepted(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []queuedTask
	}{{
		name: "conversation.read",
		body: `{"type":"conversation.read","account":"a","peer":"b","read_time":1669872000}`,
		want: []queuedTask{wantTask(t, tasks.SetRead{Account: "a", Peer: "b", ReadTime: 1669872000,
			Source: "event:conversation.read"}, evID("msg_1", "0"))},
	}, {
		name: "conversation.read without read_time is stamped when accepted",
		body: ` {"account":"a","peer":"b","type":"conversation.read"} `,
		want: []queuedTask{wantTask(t, tasks.SetRead{Account: "a", Peer: "b", ReadTime: testNow().Unix(),
			Source: "event:conversation.read"}, evID("msg_1", "0"))},
	}, {
		name: "messages.read",
		body: `{"type":"messages.read","account":"a","peer":"b","msg_keys":["1_2_3","4_5_6"]}`,
		want: []queuedTask{wantTask(t, tasks.ReadReceipt{Account: "a", Peer: "b", MsgKeys: []string{"1_2_3", "4_5_6"},
			Source: "event:messages.read"}, evID("msg_1", "0"))},
	}, {
		name: "unread.refresh, all",
		body: `{"type":"unread.refresh","account":"a","peers":[]}`,
		want: []queuedTask{wantTask(t, tasks.Unread{Account: "a", RefreshTotal: true, Source: "event:unread.refresh"}, evID("msg_1", "0"))},
	}, {
		name: "unread.refresh, peers",
		body: `{"type":"unread.refresh","account":"a","peers":["b","c"]}`,
		want: []queuedTask{wantTask(t, tasks.Unread{Account: "a", Peers: []string{"b", "c"}, Source: "event:unread.refresh"}, evID("msg_1", "0"))},
	}, {
		name: "batch",
		body: `{"events":[
			{"type":"conversation.read","account":"a","peer":"b"},
			{"type":"messages.read","account":"a","peer":"b","msg_keys":["1_2_3"]},
			{"type":"unread.refresh","account":"a"}]}`,
		want: []queuedTask{
			wantTask(t, tasks.SetRead{Account: "a", Peer: "b", ReadTime: testNow().Unix(), Source: "event:conversation.read"}, evID("msg_1", "0")),
			wantTask(t, tasks.ReadReceipt{Account: "a", Peer: "b", MsgKeys: []string{"1_2_3"}, Source: "event:messages.read"}, evID("msg_1", "1")),
			wantTask(t, tasks.Unread{Account: "a", RefreshTotal: true, Source: "event:unread.refresh"}, evID("msg_1", "2")),
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t, Config{})
			rec := e.postEvents(signEvents(t, testSecret, "msg_1", testNow(), []byte(tt.body)), []byte(tt.body))
			if rec.Code != http.StatusAccepted {
				t.Fatalf("status %d %s, want 202", rec.Code, rec.Body)
			}
			// The reply names each event's task, in order: its type is the
			// wanted one, and it is queued.
			queued := map[string]bool{}
			for _, id := range e.taskIDs(t) {
				queued[id] = true
			}
			got := decodeReply(t, rec.Body.Bytes()).TaskIDs
			if len(got) != len(tt.want) {
				t.Fatalf("task IDs %q, want %d", got, len(tt.want))
			}
			for i, id := range got {
				if !strings.HasPrefix(id, tt.want[i].Type+":") || !queued[id] {
					t.Errorf("task ID %d is %q: want a queued %s task", i, id, tt.want[i].Type)
				}
			}
			e.checkTasks(t, tt.want...)
		})
	}
}

// TestEventsReplay delivers the same webhook-id twice: 202 both times, the
// same IDs, one task per event.
func TestEventsReplay(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := setup(t, Config{Registerer: reg})
	body := []byte(`{"events":[{"type":"unread.refresh","account":"a"},{"type":"unread.refresh","account":"b"}]}`)
	var ids [2][]string
	for i := range ids {
		// A redelivery is signed again, later.
		h := signEvents(t, testSecret, "msg_replay", testNow().Add(time.Duration(i)*time.Minute), body)
		rec := e.postEvents(h, body)
		if rec.Code != http.StatusAccepted {
			t.Fatalf("delivery %d: %d %s, want 202", i+1, rec.Code, rec.Body)
		}
		ids[i] = decodeReply(t, rec.Body.Bytes()).TaskIDs
	}
	if diff := cmp.Diff(ids[0], ids[1]); diff != "" || len(ids[0]) != 2 {
		t.Errorf("IDs differ between deliveries (-first +second):\n%s", diff)
	}
	if got := e.tasks(t); len(got) != 2 {
		t.Errorf("%d tasks, want 2", len(got))
	}
	for result, want := range map[string]float64{resultEnqueued: 2, resultDuplicate: 2} {
		if n := counter(t, reg, "chatsync_events_total", EventUnreadRefresh, result); n != want {
			t.Errorf("events{unread.refresh,%s} = %v, want %v", result, n, want)
		}
	}
}

// TestEventsSignature covers the Standard Webhooks checks, including
// rotation on both sides.
func TestEventsSignature(t *testing.T) {
	body := []byte(`{"type":"unread.refresh","account":"a"}`)
	now := testNow()
	sign := func(secret string, ts time.Time) http.Header { return signEvents(t, secret, "msg_sig", ts, body) }
	twoSigs := sign(testSecret, now)
	twoSigs.Set("webhook-signature", "v1,bm90IGEgc2lnbmF0dXJl "+twoSigs.Get("webhook-signature"))
	tests := []struct {
		name    string
		secrets []string
		header  http.Header
		body    []byte
		status  int
		msg     string
	}{
		{name: "valid", header: sign(testSecret, now), status: 202},
		{name: "several signatures, one valid", header: twoSigs, status: 202},
		{name: "old secret during rotation", secrets: []string{testSecretNew, testSecret}, header: sign(testSecret, now), status: 202},
		{name: "new secret during rotation", secrets: []string{testSecretNew, testSecret}, header: sign(testSecretNew, now), status: 202},
		{name: "retired secret", secrets: []string{testSecretNew}, header: sign(testSecret, now), status: 401, msg: "no matching signature"},
		{name: "wrong secret", header: sign(testSecretNew, now), status: 401, msg: "no matching signature"},
		{name: "body changed", header: sign(testSecret, now), body: []byte(`{"type":"unread.refresh","account":"b"}`), status: 401, msg: "no matching signature"},
		{name: "missing", header: http.Header{}, status: 401, msg: "are required"},
		{name: "expired", header: sign(testSecret, now.Add(-EventTolerance-time.Second)), status: 401, msg: "in the past"},
		{name: "edge of tolerance", header: sign(testSecret, now.Add(-EventTolerance)), status: 202},
		{name: "future", header: sign(testSecret, now.Add(EventTolerance+time.Second)), status: 401, msg: "in the future"},
		{name: "bad timestamp", header: func() http.Header { h := sign(testSecret, now); h.Set("webhook-timestamp", "now"); return h }(), status: 401, msg: "not unix seconds"},
		{name: "bad id", header: func() http.Header { h := sign(testSecret, now); h.Set("webhook-id", "a b"); return h }(), status: 401, msg: "webhook-id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t, Config{EventSecrets: tt.secrets})
			b := body
			if tt.body != nil {
				b = tt.body
			}
			rec := e.postEvents(tt.header, b)
			if rec.Code != tt.status {
				t.Fatalf("status %d %s, want %d", rec.Code, rec.Body, tt.status)
			}
			if tt.status == http.StatusAccepted {
				return
			}
			if r := decodeReply(t, rec.Body.Bytes()); !strings.Contains(r.Error, tt.msg) {
				t.Errorf("error %q, want it to contain %q", r.Error, tt.msg)
			}
			e.checkTasks(t)
		})
	}
}

// TestEventsInvalid: every bad field of every event is named, and a batch
// with one bad event enqueues nothing.
func TestEventsInvalid(t *testing.T) {
	long := strings.Repeat("x", 33)
	many := func(n int, ev string) string {
		return `{"events":[` + strings.TrimSuffix(strings.Repeat(ev+",", n), ",") + `]}`
	}
	tests := []struct {
		name    string
		body    string
		status  int
		err     string
		details []FieldError
	}{{
		name:    "one bad event in a batch",
		body:    `{"events":[{"type":"unread.refresh","account":"a"},{"type":"conversation.read","account":"","peer":"b"}]}`,
		details: []FieldError{{Index: 1, Field: "account", Message: "is empty"}},
	}, {
		name: "every bad field",
		body: `{"events":[
			{"type":"conversation.read","account":"` + long + `","peer":"","read_time":-1,"extra":1},
			{"type":"messages.read","account":"a","peer":"b","msg_keys":["", "k"],"peers":["c"]},
			{"type":"messages.read","account":"a","peer":"b"},
			{"type":"party","account":7},
			{"account":"a"},
			"event",
			{"type":"unread.refresh","account":"a","peers":["b",null]},
			{"type":"unread.refresh","account":"a","account":"b"},
			{"type":"conversation.read","account":"a","peer":"b","read_time":1.5},
			{"type":"conversation.read","account":"a","peer":"b","read_time":1669872112000}]}`,
		details: []FieldError{
			{Index: 0, Field: "extra", Message: "is unknown"},
			{Index: 1, Field: "peers", Message: "is not a field of messages.read"},
			{Index: 2, Field: "msg_keys", Message: "is missing"},
			{Index: 3, Field: "account", Message: "is not a string"},
			{Index: 3, Field: "type", Message: "is not one of conversation.read, messages.read, unread.refresh"},
			{Index: 4, Field: "type", Message: "is missing"},
			{Index: 5, Field: "event", Message: "is not a JSON object"},
			{Index: 6, Field: "peers", Message: "is not an array of strings"},
			{Index: 7, Field: "account", Message: "is given twice"},
			{Index: 8, Field: "read_time", Message: "is not an integer (unix seconds)"},
			{Index: 9, Field: "read_time", Message: "is more than a day in the future (unix seconds, not milliseconds)"},
		},
	}, {
		name: "every bad value",
		body: `{"events":[
			{"type":"conversation.read","account":"` + long + `","peer":"","read_time":-1},
			{"type":"messages.read","account":"a","peer":"b","msg_keys":["", "k", "` + strings.Repeat("k", 129) + `"]},
			{"type":"unread.refresh","account":"a","peers":["b","","` + long + `"]}]}`,
		details: []FieldError{
			{Index: 0, Field: "account", Message: "is longer than 32 bytes"},
			{Index: 0, Field: "peer", Message: "is empty"},
			{Index: 0, Field: "read_time", Message: "is negative"},
			{Index: 1, Field: "msg_keys[0]", Message: "is empty"},
			{Index: 1, Field: "msg_keys[2]", Message: "is longer than 128 bytes"},
			{Index: 2, Field: "peers[1]", Message: "is empty"},
			{Index: 2, Field: "peers[2]", Message: "is longer than 32 bytes"},
		},
	}, {
		name:    "empty msg_keys",
		body:    `{"type":"messages.read","account":"a","peer":"b","msg_keys":[]}`,
		details: []FieldError{{Index: 0, Field: "msg_keys", Message: "is empty"}},
	}, {
		name:    "too many peers",
		body:    `{"type":"unread.refresh","account":"a","peers":[` + strings.TrimSuffix(strings.Repeat(`"p",`, 101), ",") + `]}`,
		details: []FieldError{{Index: 0, Field: "peers", Message: "has 101 entries, more than 100"}},
	},
		{name: "101 events", body: many(101, `{"type":"unread.refresh","account":"a"}`), err: "events has 101 entries, more than 100"},
		{name: "no events", body: `{"events":[]}`, err: "events is empty"},
		{name: "events not an array", body: `{"events":{}}`, err: "events is not an array"},
		{name: "batch with more", body: `{"events":[],"type":"x"}`, err: `a batch has only the field "events"`},
		{name: "not an object", body: `[{"type":"unread.refresh","account":"a"}]`, err: "body is not a JSON object"},
		{name: "malformed", body: `{"type":"unread.refresh","account":"a"`, err: "malformed JSON"},
		{name: "trailing data", body: `{"type":"unread.refresh","account":"a"} {}`, err: "data after the object"},
		{name: "invalid UTF-8", body: "{\"type\":\"unread.refresh\",\"account\":\"a\xff\"}", err: "not valid UTF-8"},
		{name: "too deep", body: `{"type":"unread.refresh","account":"a","x":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`, err: "nested deeper than 32"},
		{name: "too large", body: `{"type":"unread.refresh","account":"` + strings.Repeat("a", DefaultMaxBody) + `"}`, status: 413, err: "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t, Config{})
			rec := e.postEvents(signEvents(t, testSecret, "msg_bad", testNow(), []byte(tt.body)), []byte(tt.body))
			want := tt.status
			if want == 0 {
				want = http.StatusBadRequest
			}
			if rec.Code != want {
				t.Fatalf("status %d %s, want %d", rec.Code, rec.Body, want)
			}
			r := decodeReply(t, rec.Body.Bytes())
			if tt.details != nil {
				if r.Error != "invalid events" {
					t.Errorf("error %q, want invalid events", r.Error)
				}
				if diff := cmp.Diff(tt.details, r.Details); diff != "" {
					t.Errorf("details (-want +got):\n%s", diff)
				}
			} else if !strings.Contains(r.Error, tt.err) {
				t.Errorf("error %q, want it to contain %q", r.Error, tt.err)
			}
			e.checkTasks(t)
		})
	}
}

// TestEventsMax accepts exactly MaxEvents events.
func TestEventsMax(t *testing.T) {
	e := setup(t, Config{})
	evs := make([]string, MaxEvents)
	for i := range evs {
		evs[i] = fmt.Sprintf(`{"type":"unread.refresh","account":"u%d"}`, i)
	}
	body := []byte(`{"events":[` + strings.Join(evs, ",") + `]}`)
	rec := e.postEvents(signEvents(t, testSecret, "msg_max", testNow(), body), body)
	if rec.Code != http.StatusAccepted {
		t.Fatalf("status %d %s, want 202", rec.Code, rec.Body)
	}
	if got := e.tasks(t); len(got) != MaxEvents {
		t.Errorf("%d tasks, want %d", len(got), MaxEvents)
	}
}

// TestEventsRedisDown answers 503 when Redis is unreachable.
func TestEventsRedisDown(t *testing.T) {
	e := setup(t, Config{Intake: downIntake(t)})
	body := []byte(`{"type":"unread.refresh","account":"a"}`)
	rec := e.postEvents(signEvents(t, testSecret, "msg_down", testNow(), body), body)
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("status %d %s, want 503", rec.Code, rec.Body)
	}
}

// TestEventsDisabled: without secrets the route does not exist.
func TestEventsDisabled(t *testing.T) {
	e := setup(t, Config{EventSecrets: []string{}})
	body := []byte(`{"type":"unread.refresh","account":"a"}`)
	rec := e.postEvents(signEvents(t, testSecret, "msg_off", testNow(), body), body)
	if rec.Code != http.StatusNotFound {
		t.Errorf("status %d %s, want 404", rec.Code, rec.Body)
	}
}

// failingEnqueuer fails the tasks of one type and passes the others to
// Redis: a Redis failure in the middle of a batch, which a real server
// cannot be made to produce on cue.
type failingEnqueuer struct {
	tasks.Enqueuer
	failType string
}

func (f failingEnqueuer) EnqueueContext(ctx context.Context, t *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error) {
	if t.Type() == f.failType {
		return nil, errors.New("redis: i/o timeout")
	}
	return f.Enqueuer.EnqueueContext(ctx, t, opts...)
}

// TestEventsPartialFailure: when one task of a batch does not get into
// Redis the answer is 503, and the sender's redelivery under the same
// webhook-id completes the batch without duplicating what got in.
func TestEventsPartialFailure(t *testing.T) {
	e := setup(t, Config{})
	in, err := tasks.NewIntake(tasks.IntakeConfig{Redis: e.rdb, Enqueuer: failingEnqueuer{e.client, tasks.TypeReadReceipt}})
	if err != nil {
		t.Fatal(err)
	}
	broken, err := New(Config{SDKAppID: testAppID, CallbackToken: testToken, Now: testNow, Logger: e.cfg.Logger,
		EventSecrets: []string{testSecret}, Intake: in})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"events":[{"type":"unread.refresh","account":"a"},{"type":"messages.read","account":"a","peer":"b","msg_keys":["k"]},{"type":"conversation.read","account":"a","peer":"b"}]}`)
	h := signEvents(t, testSecret, "msg_partial", testNow(), body)

	req := httptest.NewRequest(http.MethodPost, "/v1/events", bytes.NewReader(body))
	req.Header = h.Clone()
	rec := httptest.NewRecorder()
	broken.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("with a failing enqueue: %d %s, want 503", rec.Code, rec.Body)
	}
	// The first failure cancels the enqueues still in flight, so 0 to 2
	// of the other tasks got in.
	if n := len(e.tasks(t)); n > 2 {
		t.Fatalf("%d tasks after the failure, want at most 2", n)
	}

	rec = e.postEvents(h, body)
	if rec.Code != http.StatusAccepted {
		t.Fatalf("redelivery: %d %s, want 202", rec.Code, rec.Body)
	}
	if n := len(e.tasks(t)); n != 3 {
		t.Errorf("%d tasks after the redelivery, want 3", n)
	}
}
