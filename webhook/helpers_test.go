package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/chatsync/chatsync/internal/redistest"
	"github.com/chatsync/chatsync/tasks"
)

// Test values. The token and time are the official Sign test vector's
// (tencent-chat.md §5.1).
const (
	testAppID     = 1400000000
	testToken     = "xxxxyyyy"
	testTime      = 1669872112
	testSign      = "17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061"
	testSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	testSecretNew = "whsec_c2VjcmV0LWtleS1mb3Itcm90YXRpb24tdGVzdHM="
	testAPIKey    = "api-key-for-tests-0123456789"
	redisDB       = 1 // this package's test database
)

func testNow() time.Time { return time.Unix(testTime, 0) }

// testEnv is a Server on a flushed Redis database, with what a test needs
// to drive it and look at the result.
type testEnv struct {
	srv    *Server
	cfg    Config
	insp   *asynq.Inspector
	client *asynq.Client
	rdb    *redis.Client
	intake *tasks.Intake
	logs   *syncBuffer
}

// setup returns a Server for cfg with the test defaults filled in: the app
// ID, the token, the clock, an asynq client on Redis DB 1, one event
// secret and the API key with an empty snapshot store. At the end of the
// test it checks that no secret or signature reached the logs.
func setup(tb testing.TB, cfg Config) *testEnv {
	tb.Helper()
	rdb := redis.NewClient(redistest.Options(tb, redisDB))
	client := asynq.NewClientFromRedisClient(rdb)
	insp := asynq.NewInspectorFromRedisClient(rdb)
	tb.Cleanup(func() { rdb.Close() })

	logs := &syncBuffer{}
	if cfg.SDKAppID == 0 {
		cfg.SDKAppID = testAppID
	}
	if cfg.CallbackToken == "" && !cfg.AllowInsecureCallbacks {
		cfg.CallbackToken = testToken
	}
	intake, err := tasks.NewIntake(tasks.IntakeConfig{Redis: rdb, Enqueuer: client})
	if err != nil {
		tb.Fatal(err)
	}
	if cfg.Intake == nil {
		cfg.Intake = intake
	}
	if cfg.Now == nil {
		cfg.Now = testNow
	}
	if cfg.EventSecrets == nil {
		cfg.EventSecrets = []string{testSecret}
	}
	if cfg.APIKey == "" {
		cfg.APIKey = testAPIKey
	}
	if cfg.Snapshots == nil {
		cfg.Snapshots = snapshotStore{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	srv, err := New(cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	tb.Cleanup(func() {
		out := logs.String()
		for _, secret := range []string{testToken, testSign, testSecret[len("whsec_"):], testAPIKey, "v1,"} {
			if strings.Contains(out, secret) {
				tb.Errorf("logs contain the secret or signature %q:\n%s", secret, out)
			}
		}
	})
	return &testEnv{srv: srv, cfg: cfg, insp: insp, client: client, rdb: rdb, intake: intake, logs: logs}
}

// syncBuffer is a bytes.Buffer safe for concurrent writes (the logger).
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// serve runs one request through the server.
func (e *testEnv) serve(req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, req)
	return rec
}

// signedQuery returns the query Chat sends with a callback, signed with
// the test token at the test time.
func signedQuery(command string) url.Values {
	return url.Values{
		"SdkAppid":        {strconv.Itoa(testAppID)},
		"CallbackCommand": {command},
		"contenttype":     {"json"},
		"ClientIP":        {"127.0.0.1"},
		"OptPlatform":     {"RESTAPI"},
		"Sign":            {testSign},
		"RequestTime":     {strconv.Itoa(testTime)},
	}
}

// signedAt sets Sign and RequestTime in q for another request time.
func signedAt(q url.Values, requestTime int64) url.Values {
	sum := sha256Hex(testToken + strconv.FormatInt(requestTime, 10))
	q.Set("Sign", sum)
	q.Set("RequestTime", strconv.FormatInt(requestTime, 10))
	return q
}

// postCallback posts body to /callback with query q.
func (e *testEnv) postCallback(q url.Values, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/callback?"+q.Encode(), bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	return e.serve(req)
}

// chatReply decodes a /callback answer.
func chatReply(tb testing.TB, rec *httptest.ResponseRecorder) chatFail {
	tb.Helper()
	var r chatFail
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
		tb.Fatalf("reply %q is not JSON: %v", rec.Body.String(), err)
	}
	return r
}

// signEvents returns the Standard Webhooks headers for body, signed with
// secret at time ts under webhook-id id.
func signEvents(tb testing.TB, secret, id string, ts time.Time, body []byte) http.Header {
	tb.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		tb.Fatal(err)
	}
	sig, err := wh.Sign(id, ts, body)
	if err != nil {
		tb.Fatal(err)
	}
	h := http.Header{}
	h.Set("webhook-id", id)
	h.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	h.Set("webhook-signature", sig)
	h.Set("Content-Type", "application/json")
	return h
}

// postEvents posts body to /v1/events with headers h.
func (e *testEnv) postEvents(h http.Header, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/v1/events", bytes.NewReader(body))
	req.Header = h
	return e.serve(req)
}

// queuedTask is a task as the tests compare it.
type queuedTask struct {
	Queue, Type, ID string
	Payload         string
}

// pending returns every pending task.
func (e *testEnv) pending(tb testing.TB) []*asynq.TaskInfo {
	tb.Helper()
	var all []*asynq.TaskInfo
	for _, q := range []string{tasks.QueueRead, tasks.QueueUnread, tasks.QueueSink} {
		infos, err := e.insp.ListPendingTasks(q, asynq.PageSize(1000))
		if err != nil && !strings.Contains(err.Error(), "not found") {
			tb.Fatalf("list %s: %v", q, err)
		}
		all = append(all, infos...)
	}
	return all
}

// tasks returns every pending task, sorted, conversation tasks without ID
// and gen (see conversationGenless).
func (e *testEnv) tasks(tb testing.TB) []queuedTask {
	tb.Helper()
	var got []queuedTask
	for _, ti := range e.pending(tb) {
		got = append(got, conversationGenless(tb, queuedTask{Queue: ti.Queue, Type: ti.Type, ID: ti.ID, Payload: string(ti.Payload)}))
	}
	return sortTasks(got)
}

// taskIDs returns the IDs of every pending task.
func (e *testEnv) taskIDs(tb testing.TB) []string {
	tb.Helper()
	var ids []string
	for _, ti := range e.pending(tb) {
		ids = append(ids, ti.ID)
	}
	return ids
}

// cbID and evID are the input IDs of a callback and of an app event.
func cbID(command string, parts ...string) string { return tasks.ID(command, parts...) }
func evID(webhookID, index string) string         { return tasks.ID("event", webhookID, index) }

// wantTask is the task the intake queues for payload, an input's part, of
// the input with ID inputID: the input's own unread task, or the
// conversation task it queues, without ID and gen (see conversationGenless).
func wantTask(tb testing.TB, payload any, inputID string) queuedTask {
	tb.Helper()
	var typ, queue, account, peer string
	switch p := payload.(type) {
	case tasks.SetRead:
		typ, queue, account, peer = tasks.TypeSetRead, tasks.QueueRead, p.Account, p.Peer
	case tasks.ReadReceipt:
		typ, queue, account, peer = tasks.TypeReadReceipt, tasks.QueueRead, p.Account, p.Peer
	case tasks.Unread:
		b, err := json.Marshal(payload)
		if err != nil {
			tb.Fatal(err)
		}
		return queuedTask{Queue: tasks.QueueUnread, Type: tasks.TypeUnread, ID: tasks.ID(tasks.TypeUnread, inputID), Payload: string(b)}
	default:
		tb.Fatalf("no task for %T", payload)
	}
	b, err := json.Marshal(conversationPayload{Account: account, Peer: peer})
	if err != nil {
		tb.Fatal(err)
	}
	return queuedTask{Queue: queue, Type: typ, Payload: string(b)}
}

// conversationPayload is a set-read or read-receipt task's payload: the
// conversation and the gen token with which the task claims its pending
// work.
type conversationPayload struct {
	Account string `json:"account"`
	Peer    string `json:"peer"`
	Gen     string `json:"gen"`
}

// conversationGenless checks that a conversation task's ID derives from its
// conversation and gen, as the intake's re-enqueue of a duplicate needs,
// and returns the task without ID and gen (which are the tasks package's
// own business) for comparison with wantTask's.
func conversationGenless(tb testing.TB, t queuedTask) queuedTask {
	tb.Helper()
	if t.Type != tasks.TypeSetRead && t.Type != tasks.TypeReadReceipt {
		return t
	}
	var p conversationPayload
	if err := json.Unmarshal([]byte(t.Payload), &p); err != nil {
		tb.Fatalf("task %s: %v", t.ID, err)
	}
	if want := tasks.ID(t.Type, p.Account, p.Peer, p.Gen); p.Gen == "" || t.ID != want {
		tb.Errorf("task %s %s: ID is not the ID of its conversation and gen %q (%s)", t.Type, t.ID, p.Gen, want)
	}
	p.Gen, t.ID = "", ""
	b, err := json.Marshal(p)
	if err != nil {
		tb.Fatal(err)
	}
	t.Payload = string(b)
	return t
}

func sortTasks(ts []queuedTask) []queuedTask {
	sort.Slice(ts, func(i, j int) bool {
		a, b := ts[i], ts[j]
		return a.ID < b.ID || a.ID == b.ID && (a.Type < b.Type || a.Type == b.Type && a.Payload < b.Payload)
	})
	return ts
}

// checkTasks compares the pending tasks with want.
func (e *testEnv) checkTasks(tb testing.TB, want ...queuedTask) {
	tb.Helper()
	if want == nil {
		want = []queuedTask{}
	}
	got := e.tasks(tb)
	if got == nil {
		got = []queuedTask{}
	}
	if diff := cmp.Diff(sortTasks(want), got); diff != "" {
		tb.Errorf("tasks (-want +got):\n%s", diff)
	}
}

// downIntake is an intake on a closed port: Redis is unreachable.
func downIntake(tb testing.TB) *tasks.Intake {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialerRetries: 1})
	tb.Cleanup(func() { rdb.Close() })
	in, err := tasks.NewIntake(tasks.IntakeConfig{Redis: rdb, Enqueuer: asynq.NewClientFromRedisClient(rdb)})
	if err != nil {
		tb.Fatal(err)
	}
	return in
}

// snapshotStore is a SnapshotReader over a map; "broken" fails.
type snapshotStore map[string]*tasks.Snapshot

func (s snapshotStore) Snapshot(_ context.Context, account string) (*tasks.Snapshot, error) {
	if account == "broken" {
		return nil, fmt.Errorf("redis: connection refused")
	}
	snap, ok := s[account]
	if !ok {
		return nil, fmt.Errorf("snapshot %s: %w", account, tasks.ErrNoSnapshot)
	}
	return snap, nil
}

// counter returns the value of the counter name whose label values, in
// label order, are values; 0 when there is none.
func counter(tb testing.TB, reg *prometheus.Registry, name string, values ...string) float64 {
	tb.Helper()
	families, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			if len(m.GetLabel()) != len(values) {
				continue
			}
			// Gather sorts labels by name; compare as sets of values.
			got := map[string]int{}
			for _, l := range m.GetLabel() {
				got[l.GetValue()]++
			}
			for _, v := range values {
				if got[v]--; got[v] < 0 {
					continue next
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	return 0
}
