package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/chatsync/chatsync/internal/redistest"
	"github.com/chatsync/chatsync/tasks"
	"github.com/chatsync/chatsync/webhook"
)

// redisDB is this package's test database.
const redisDB = 7

// setup returns an asynq client and inspector on the flushed test database.
func setup(tb testing.TB) (*asynq.Client, *asynq.Inspector, *redis.Options) {
	tb.Helper()
	opt := redistest.Options(tb, redisDB)
	ropt := asynq.RedisClientOpt{Addr: opt.Addr, Username: opt.Username, Password: opt.Password, DB: opt.DB}
	client, insp := asynq.NewClient(ropt), asynq.NewInspector(ropt)
	tb.Cleanup(func() { client.Close(); insp.Close() })
	return client, insp, opt
}

func newWebhook(t *testing.T, client *asynq.Client, opt *redis.Options, cfg webhook.Config) http.Handler {
	t.Helper()
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	intake, err := tasks.NewIntake(tasks.IntakeConfig{Redis: rdb, Enqueuer: client})
	if err != nil {
		t.Fatal(err)
	}
	cfg.SDKAppID, cfg.CallbackToken, cfg.Intake, cfg.Logger = testAppID, testToken, intake, slog.New(slog.DiscardHandler)
	srv, err := webhook.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// loadgen's requests are accepted by chatsync's real ingest and by the
// hand-written baseline, and both enqueue the tasks of rawTasks: the
// baseline exactly, chatsync the same unread tasks (payloads and IDs) and
// at most as many coalesced set-read and read-receipt tasks. So the
// baselines measure the same work.
func TestSameTasks(t *testing.T) {
	wh, err := standardwebhooks.NewWebhook(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	for _, coalesced := range []bool{true, false} {
		client, insp, opt := setup(t)
		var h http.Handler = &handler{appID: "1400000000", token: testToken, events: wh, client: client,
			autoRead: map[string]bool{"bot": true}}
		if coalesced {
			h = newWebhook(t, client, opt, webhook.Config{EventSecrets: []string{testSecret}, AutoRead: []string{"bot"}})
		}
		want, raw := fireAll(t, h, coalesced)
		got, extra := enqueued(t, insp, coalesced)
		if diff := cmp.Diff(want, got); diff != "" || extra > raw {
			t.Errorf("coalesced %v: %d set-read and receipt tasks for the baseline's %d; tasks (-baseline +got):\n%s", coalesced, extra, raw, diff)
		}
	}
}

// fireAll posts 300 generated requests at h and returns the tasks rawTasks
// makes for them ("type payload", sorted), leaving out and counting the
// set-read and read-receipt tasks when they are coalesced.
func fireAll(t *testing.T, h http.Handler, coalesced bool) (tasksWant []string, conversations int) {
	srv := httptest.NewServer(h)
	defer srv.Close()
	s, err := newSigner(srv.URL, testAppID, testToken, testSecret)
	if err != nil {
		t.Fatal(err)
	}
	f := &firer{client: newHTTPClient(1), signer: s,
		gen: newGenerator(mix{users: 100, events: 0.2, autoRead: 0.2, autoReadAccounts: []string{"bot"}}, 9, new(atomic.Uint32))}
	for range 300 {
		r := f.gen.next()
		if o := f.fire(context.Background(), r); o.label != outcomeOK {
			t.Fatalf("%v: outcome %q", r.kind, o.label)
		}
		ts, err := rawTasks(r, map[string]bool{"bot": true})
		if err != nil {
			t.Fatal(err)
		}
		for _, task := range ts {
			if coalesced && task.Type() != tasks.TypeUnread {
				conversations++
				continue
			}
			tasksWant = append(tasksWant, task.Type()+" "+string(task.Payload()))
		}
	}
	slices.Sort(tasksWant)
	return tasksWant, conversations
}

func enqueued(t *testing.T, insp *asynq.Inspector, coalesced bool) (got []string, conversations int) {
	queues, err := insp.Queues()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range queues {
		pending, err1 := insp.ListPendingTasks(q, asynq.PageSize(1000))
		scheduled, err2 := insp.ListScheduledTasks(q, asynq.PageSize(1000))
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		for _, info := range append(pending, scheduled...) {
			if coalesced && info.Type != tasks.TypeUnread {
				conversations++
				continue
			}
			got = append(got, info.Type+" "+string(info.Payload))
		}
	}
	slices.Sort(got)
	return got, conversations
}

// The baseline's tasks have chatsync's types, queues and IDs.
func TestRawTasks(t *testing.T) {
	client, _, _ := setup(t)
	send := request{kind: kindSendAutoRead, from: "a", to: "bot", msgTime: 1700000000, msgKey: "1_2_1700000000"}
	tests := []struct {
		r    request
		want []string // type and ID of each task
	}{
		{send, []string{
			tasks.TypeUnread + " " + tasks.ID(tasks.TypeUnread, tasks.ID(cmdAfterSendMsg, "a", "bot", send.msgKey)),
			tasks.TypeSetRead + " " + tasks.ID(tasks.TypeSetRead, "a", "bot", send.msgKey),
			tasks.TypeReadReceipt + " " + tasks.ID(tasks.TypeReadReceipt, "a", "bot", send.msgKey)}},
		{request{kind: kindMsgReport, from: "a", to: "b", msgTime: 1700000000},
			[]string{tasks.TypeUnread + " " + tasks.ID(tasks.TypeUnread, tasks.ID(cmdAfterMsgReport, "b", "a", "1700000000"))}},
		{request{kind: kindOther}, nil},
		{request{kind: kindConversationRead, from: "a", to: "b", id: "msg_1"},
			[]string{tasks.TypeSetRead + " " + tasks.ID(tasks.TypeSetRead, "msg_1", "0")}},
		{request{kind: kindUnreadRefresh, to: "b", id: "msg_3"},
			[]string{tasks.TypeUnread + " " + tasks.ID(tasks.TypeUnread, tasks.ID("event", "msg_3", "0"))}},
	}
	for _, tt := range tests {
		ts, err := rawTasks(tt.r, map[string]bool{"bot": true})
		var got []string
		for _, task := range ts {
			info, err := client.Enqueue(task)
			if err != nil {
				t.Fatal(err)
			}
			if wantQueue := map[bool]string{true: tasks.QueueUnread, false: tasks.QueueRead}[info.Type == tasks.TypeUnread]; info.Queue != wantQueue {
				t.Errorf("%s in queue %s, want %s", info.Type, info.Queue, wantQueue)
			}
			got = append(got, info.Type+" "+info.ID)
		}
		if diff := cmp.Diff(tt.want, got); err != nil || diff != "" {
			t.Errorf("%v: %v (-want +got):\n%s", tt.r.kind, err, diff)
		}
	}
}

func TestFireOutcomes(t *testing.T) {
	client, _, _ := setup(t)
	h := &handler{appID: "1400000000", token: testToken, client: client}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("CallbackCommand") == "503" {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "{}")
			return
		}
		h.ServeHTTP(w, r)
	}))
	good, _ := newSigner(srv.URL, testAppID, testToken, "")
	bad, _ := newSigner(srv.URL, testAppID, "wrong-token", "")
	tests := []struct {
		signer *signer
		r      request
		want   string
	}{
		{good, request{kind: kindOther, command: "State.StateChange"}, outcomeOK},
		{good, request{kind: kindOther, command: "503"}, "503"},
		{bad, request{kind: kindOther, command: "State.StateChange"}, "400"},
		{good, request{kind: kindUnreadRefresh, to: "a", id: "msg_1"}, "encode"}, // no events secret
	}
	for _, tt := range tests {
		f := &firer{client: newHTTPClient(1), signer: tt.signer}
		if got := f.fire(context.Background(), tt.r).label; got != tt.want {
			t.Errorf("fire(%v %s) = %q, want %q", tt.r.kind, tt.r.command, got, tt.want)
		}
	}
	srv.Close()
	f := &firer{client: newHTTPClient(1), signer: good}
	if got := f.fire(context.Background(), tests[0].r).label; got != "net:refused" {
		t.Errorf("server gone: %q, want net:refused", got)
	}
}

// fire -system asynq enqueues the mix's tasks straight into -db and
// records how many.
func TestFireRaw(t *testing.T) {
	_, insp, _ := setup(t)
	out := t.TempDir() + "/results.jsonl"
	err := cmdFire(context.Background(), []string{"-system", "asynq", "-redis", redistest.URL(t), "-db", "7",
		"-requests", "200", "-concurrency", "4", "-events-secret", testSecret, "-auto-read", "bot", "-out", out}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	res, err := readResults(out)
	if err != nil || len(res.loads) != 1 {
		t.Fatalf("results %+v, %v; want one load phase", res, err)
	}
	var queued int
	queues, _ := insp.Queues()
	for _, q := range queues {
		info, err := insp.GetQueueInfo(q)
		if err != nil {
			t.Fatal(err)
		}
		queued += info.Pending + info.Scheduled
	}
	if l := res.loads[0]; l.System != systemRaw || l.OK != 200 || l.Tasks < 150 || int64(queued) != l.Tasks {
		t.Errorf("%s: %d ok, %d tasks recorded, %d queued; want asynq, 200 ok, as many queued as recorded (about one a request)",
			l.System, l.OK, l.Tasks, queued)
	}
}
