package tasks

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/chatsync/chatsync/chatapi"
	"github.com/chatsync/chatsync/chatapi/emulator"
)

// TestErrorClasses runs set-read tasks against the emulator with injected
// faults and checks that each class of failure ends as specified.
func TestErrorClasses(t *testing.T) {
	e := setup(t, emulator.Config{})
	e.emu.ImportAccounts("alice", "bob")
	reg := prometheus.NewRegistry()
	observe, err := NewChatMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	// MaxRetry 4: rate limiting four times over must still not exhaust it.
	w := e.worker(t, Config{Chat: e.chat(t, observe), Tasks: Builder{MaxRetry: 4}, Registerer: reg})
	e.serve(t, w, 4)

	tests := []struct {
		name  string
		fault emulator.Fault
		peer  string // default bob
		// want
		state   asynq.TaskState
		calls   int64
		retried int
		lastErr string // a substring of the archived task's error
	}{
		{name: "ok", state: asynq.TaskStateCompleted, calls: 1},
		{name: "transient codes are retried", fault: emulator.Fault{Codes: []int{20004, 20005, 91000}, Count: 3},
			state: asynq.TaskStateCompleted, calls: 4, retried: 3},
		{name: "other transient codes are retried", fault: emulator.Fault{Codes: []int{90992, 70169, 60008}, Count: 3},
			state: asynq.TaskStateCompleted, calls: 4, retried: 3},
		{name: "HTTP 502 is retried", fault: emulator.Fault{HTTPStatus: 502, Count: 2},
			state: asynq.TaskStateCompleted, calls: 3, retried: 2},
		{name: "rate limiting is not a failure", fault: emulator.Fault{Codes: []int{60007, 60011, 60018, 60019, 60007}, Count: 5},
			state: asynq.TaskStateCompleted, calls: 6, retried: 0},
		{name: "transient codes exhaust the retries", fault: emulator.Fault{Codes: []int{20005}, Count: 10},
			state: asynq.TaskStateArchived, calls: 5, retried: 4, lastErr: "ErrorCode 20005"},
		{name: "permanent code is archived at once", fault: emulator.Fault{Codes: []int{70107}, Count: 1},
			state: asynq.TaskStateArchived, calls: 1, lastErr: "ErrorCode 70107"},
		{name: "missing account is archived at once", peer: "nobody",
			state: asynq.TaskStateArchived, calls: 1, lastErr: "ErrorCode 90008"},
		{name: "expired UserSig after the client's retry is archived", fault: emulator.Fault{Codes: []int{70001}, Count: 2},
			state: asynq.TaskStateArchived, calls: 2, lastErr: "ErrorCode 70001"},
	}
	readTime := time.Now().Unix()
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.emu.ClearFaults()
			if tt.fault.Count > 0 {
				e.emu.SetFault(chatapi.APISetMsgRead, tt.fault)
			}
			before := e.emu.Stats().APIs[chatapi.APISetMsgRead].Calls
			peer := tt.peer
			if peer == "" {
				peer = "bob"
			}
			// Rising read points: one already applied would cost no call.
			task, err := Builder{MaxRetry: 4}.SetRead(SetRead{Account: "alice", Peer: peer, ReadTime: readTime + int64(i)},
				"case", tt.name)
			info := e.enqueue(t, task, err)
			got := e.finished(t, QueueRead, info.ID, 10*time.Second)
			gotCalls := e.emu.Stats().APIs[chatapi.APISetMsgRead].Calls - before
			type result struct {
				State   asynq.TaskState
				Calls   int64
				Retried int
			}
			if diff := cmp.Diff(result{tt.state, tt.calls, tt.retried}, result{got.State, gotCalls, got.Retried}); diff != "" {
				t.Errorf("case %d: (-want +got)\n%s\nlast error: %s", i, diff, got.LastErr)
			}
			if tt.lastErr != "" && !strings.Contains(got.LastErr, tt.lastErr) {
				t.Errorf("archived with %q, want it to mention %q", got.LastErr, tt.lastErr)
			}
		})
	}
	e.emu.ClearFaults()

	got := scrape(t, reg)
	for _, want := range []string{
		`chatsync_task_outcomes_total{outcome="rate_limited",type="chat:set_read"} 5`,
		`chatsync_task_outcomes_total{outcome="archived",type="chat:set_read"} 4`,
		`chatsync_task_outcomes_total{outcome="retried",type="chat:set_read"} 12`,
		`chatsync_tasks_archived_total{code="20005",type="chat:set_read"} 1`,
		`chatsync_tasks_archived_total{code="70107",type="chat:set_read"} 1`,
		`chatsync_tasks_archived_total{code="90008",type="chat:set_read"} 1`,
		`chatsync_tasks_archived_total{code="70001",type="chat:set_read"} 1`,
		`chatsync_chat_api_calls_total{api="openim/admin_set_msg_read",code="60007"} 2`,
		`chatsync_chat_api_calls_total{api="openim/admin_set_msg_read",code="http_502"} 2`,
		`chatsync_chat_api_duration_seconds_count{api="openim/admin_set_msg_read"} 27`,
		// Every HTTP attempt passed the limiter: the 26 task runs and the
		// client's one retry after regenerating an expired UserSig.
		`chatsync_limiter_wait_seconds_count{api="openim/admin_set_msg_read"} 27`,
	} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("metrics lack %s", want)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", got)
	}
}

// scrape returns reg's metrics in the text exposition format.
func scrape(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

// TestOwnRateLimitIsNotAFailure pushes tasks through a limiter of 4 calls/s
// that never waits in the handler: the tasks over the limit come back
// later, and none counts a retry even with a retry budget of 1.
func TestOwnRateLimitIsNotAFailure(t *testing.T) {
	e := setup(t, emulator.Config{})
	e.emu.ImportAccounts("alice", "bob")
	reg := prometheus.NewRegistry()
	e.serve(t, e.worker(t, Config{RateLimit: 5, MaxWait: -1, Registerer: reg}), 8)
	var ids []string
	for i := range 8 {
		task, err := Builder{MaxRetry: 1}.SetRead(SetRead{Account: "alice", Peer: "bob"}, "own", fmt.Sprint(i))
		ids = append(ids, e.enqueue(t, task, err).ID)
	}
	for _, id := range ids {
		got := e.finished(t, QueueRead, id, 10*time.Second)
		if got.State != asynq.TaskStateCompleted || got.Retried != 0 {
			t.Errorf("task %s: %v after %d retries (%s), want completed without retries", id, got.State, got.Retried, got.LastErr)
		}
	}
	if m := scrape(t, reg); !strings.Contains(m, `chatsync_task_outcomes_total{outcome="rate_limited",type="chat:set_read"}`) {
		t.Errorf("no rate_limited outcome counted:\n%s", m)
	}
}

// TestBadPayloadIsArchived checks that a task whose payload cannot be read
// is archived on its first run.
func TestBadPayloadIsArchived(t *testing.T) {
	e := setup(t, emulator.Config{})
	e.serve(t, e.worker(t, Config{}), 2)
	tests := []struct {
		typ, queue, payload, lastErr string
	}{
		{TypeSetRead, QueueRead, `{`, "decode payload"},
		{TypeReadReceipt, QueueRead, `{"account":"a","gen":"g"}`, "peer is empty"},
		{TypeUnread, QueueUnread, `{"peers":["b"]}`, "account is empty"},
		{TypeRefresh, QueueUnread, `{"account":"a"}`, "token is empty"},
	}
	for _, tt := range tests {
		info, err := e.client.Enqueue(asynq.NewTask(tt.typ, []byte(tt.payload), asynq.Queue(tt.queue), asynq.MaxRetry(5)))
		if err != nil {
			t.Fatal(err)
		}
		got := e.finished(t, tt.queue, info.ID, 5*time.Second)
		if got.State != asynq.TaskStateArchived || got.Retried != 0 || !strings.Contains(got.LastErr, tt.lastErr) {
			t.Errorf("%s %s: state %v after %d retries with %q, want archived at once with %q",
				tt.typ, tt.payload, got.State, got.Retried, got.LastErr, tt.lastErr)
		}
	}
}

func TestNewWorkerConfig(t *testing.T) {
	e := setup(t, emulator.Config{})
	chat := e.chat(t, nil)
	tests := []struct {
		name string
		cfg  Config
		want string // substring of the error; "" for none
	}{
		{"required", Config{}, "Chat is required; Redis is required; Enqueuer is required"},
		{"ok", Config{Chat: chat, Redis: e.rdb, Enqueuer: e.client}, ""},
		{"sink without secret", Config{Chat: chat, Redis: e.rdb, Enqueuer: e.client, SinkURL: "http://x"}, "SinkSecret must be"},
		{"bad sink url", Config{Chat: chat, Redis: e.rdb, Enqueuer: e.client, SinkURL: "x", SinkSecret: "whsec_c2VjcmV0"}, "SinkURL must be"},
		{"headroom", Config{Chat: chat, Redis: e.rdb, Enqueuer: e.client, Headroom: 1}, "Headroom must be less than 1"},
	}
	for _, tt := range tests {
		_, err := NewWorker(tt.cfg)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("%s: NewWorker error %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestArchivedCode checks the code label of chatsync_tasks_archived_total
// for each kind of failure.
func TestArchivedCode(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{permanent(&chatapi.Error{API: chatapi.APISetMsgRead, Code: 90008}), "90008"},
		{fmt.Errorf("set read: %w", &chatapi.Error{HTTPStatus: 502}), "http_502"},
		{&chatapi.Error{Err: fmt.Errorf("bad: %w", chatapi.ErrInvalidRequest)}, "invalid_request"},
		{&chatapi.Error{Err: context.DeadlineExceeded}, "network"},
		{permanent(fmt.Errorf("decode payload")), "none"},
	}
	for _, tt := range tests {
		if got := archivedCode(tt.err); got != tt.want {
			t.Errorf("archivedCode(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

// TestServerConfigKeepsWhatIsSet checks that ServerConfig fills in only the
// fields its caller left unset.
func TestServerConfigKeepsWhatIsSet(t *testing.T) {
	e := setup(t, emulator.Config{})
	w := e.worker(t, Config{})

	filled := w.ServerConfig(asynq.Config{})
	if filled.RetryDelayFunc == nil || filled.IsFailure == nil || filled.ErrorHandler == nil || filled.Logger == nil ||
		len(filled.Queues) == 0 || filled.TaskCheckInterval != DefaultTaskCheckInterval {
		t.Errorf("ServerConfig(zero) left a field unset: %+v", filled)
	}

	const delay = 42 * time.Second
	handled := false
	own := w.ServerConfig(asynq.Config{
		Queues:            map[string]int{"q": 1},
		RetryDelayFunc:    func(int, error, *asynq.Task) time.Duration { return delay },
		IsFailure:         func(error) bool { return false },
		ErrorHandler:      asynq.ErrorHandlerFunc(func(context.Context, *asynq.Task, error) { handled = true }),
		TaskCheckInterval: time.Second,
	})
	own.ErrorHandler.HandleError(context.Background(), nil, fmt.Errorf("boom"))
	if got := own.RetryDelayFunc(1, fmt.Errorf("boom"), nil); got != delay {
		t.Errorf("RetryDelayFunc was replaced: it gave %v, want %v", got, delay)
	}
	if own.IsFailure(fmt.Errorf("boom")) || !handled {
		t.Errorf("IsFailure or ErrorHandler was replaced (handled %v)", handled)
	}
	if diff := cmp.Diff(map[string]int{"q": 1}, own.Queues); diff != "" || own.TaskCheckInterval != time.Second {
		t.Errorf("Queues or TaskCheckInterval was replaced: %s %v", diff, own.TaskCheckInterval)
	}
}
