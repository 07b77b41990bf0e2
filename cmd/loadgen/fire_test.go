package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/chatsync/chatsync/chatapi/emulator"
	"github.com/chatsync/chatsync/internal/redistest"
	"github.com/chatsync/chatsync/tasks"
	"github.com/chatsync/chatsync/webhook"
)

const (
	testAppID = 1400000000
	testToken = "token-for-tests"
)

// chatStub answers like chatsync: it checks the Sign of callbacks and the
// signature of app events, and answers per the To_Account/account of the
// body: "u000000" gets a 503, everyone else an OK.
func chatStub(t *testing.T) *httptest.Server {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var b struct {
			To      string `json:"To_Account"`
			Account string `json:"account"`
		}
		_ = json.Unmarshal(body, &b)
		q := r.URL.Query()
		switch {
		case b.To == "u000000" || b.Account == "u000000":
			w.WriteHeader(http.StatusServiceUnavailable)
		case r.URL.Path == "/v1/events":
			if wh.Verify(body, r.Header) != nil {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			w.WriteHeader(http.StatusAccepted)
		case r.URL.Path == "/callback":
			rt, _ := strconv.ParseInt(q.Get("RequestTime"), 10, 64)
			if q.Get("SdkAppid") != "1400000000" || q.Get("Sign") != emulator.CallbackSign(testToken, rt) {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			io.WriteString(w, `{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}`)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
}

func TestFireOutcomes(t *testing.T) {
	srv := chatStub(t)
	defer srv.Close()
	signer, err := NewSigner(srv.URL, testAppID, testToken, testSecret)
	if err != nil {
		t.Fatal(err)
	}
	var probes []Request
	f := &Firer{Client: newHTTPClient(1), Signer: signer,
		Prepare: func(_ context.Context, r *Request) error { r.MsgKey = "prepared"; return nil },
		Sent:    func(r Request, _ time.Time) { probes = append(probes, r) }}
	tests := []struct {
		name string
		r    Request
		want string
	}{
		{"callback", Request{Kind: KindSendMsg, Command: cmdAfterSendMsg, From: "u000001", To: "u000002"}, outcomeOK},
		{"callback refused", Request{Kind: KindSendMsg, Command: cmdAfterSendMsg, From: "u000001", To: "u000000"}, "503"},
		{"app event", Request{Kind: KindUnreadRefresh, To: "u000002", ID: "msg_1"}, outcomeOK},
		{"auto-read probe", Request{Kind: KindSendAutoRead, Command: cmdAfterSendMsg, From: "u000001", To: "bot"}, outcomeOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := f.Fire(context.Background(), tt.r); got.Label != tt.want || got.Kind != tt.r.Kind {
				t.Errorf("Fire = %+v, want kind %v outcome %q", got, tt.r.Kind, tt.want)
			}
		})
	}
	if len(probes) != 1 || probes[0].MsgKey != "prepared" {
		t.Errorf("probes %+v, want the one prepared auto-read callback", probes)
	}

	bad, _ := NewSigner(srv.URL, testAppID, "wrong-token", "")
	f.Signer = bad
	if got := f.Fire(context.Background(), tests[0].r).Label; got != "401" {
		t.Errorf("with a wrong token: %q, want 401", got)
	}
	srv.Close()
	f.Client = newHTTPClient(1) // no kept-alive connection to the closed server
	if got := f.Fire(context.Background(), tests[0].r).Label; got != "net:refused" {
		t.Errorf("server gone: %q, want net:refused", got)
	}
}

// loadgen's requests against chatsync's real ingest: every one is accepted,
// and chatsync enqueues exactly the tasks (IDs and payloads) the raw
// baseline enqueues for them, so the two measure the same work.
func TestFireAgainstWebhook(t *testing.T) {
	client, insp := asynqSetup(t)
	srv, err := webhook.New(webhook.Config{SDKAppID: testAppID, CallbackToken: testToken, EventSecrets: []string{testSecret},
		AutoRead: []string{"bot"}, Intake: newIntake(t, client), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	checkSameTasks(t, srv, client, insp, true)
}

// The hand-written baseline accepts the same requests and makes the same
// tasks too.
func TestHandlerBaseline(t *testing.T) {
	client, insp := asynqSetup(t)
	wh, err := standardwebhooks.NewWebhook(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	h := &Handler{AppID: "1400000000", Token: testToken, Events: wh, Client: client, AutoRead: map[string]bool{"bot": true}}
	checkSameTasks(t, h, client, insp, false)

	ts := httptest.NewServer(h)
	defer ts.Close()
	bad, _ := NewSigner(ts.URL, testAppID, "wrong-token", "")
	f := &Firer{Client: newHTTPClient(1), Signer: bad}
	if got := f.Fire(context.Background(), Request{Kind: KindSendMsg, Command: cmdAfterSendMsg, From: "a", To: "b"}).Label; got != "400" {
		t.Errorf("wrong Sign: %q, want 400", got)
	}
}

func asynqSetup(t *testing.T) (*asynq.Client, *asynq.Inspector) {
	t.Helper()
	opt := redistest.Options(t, redisDB)
	ropt := asynq.RedisClientOpt{Addr: opt.Addr, Username: opt.Username, Password: opt.Password, DB: opt.DB}
	client, insp := asynq.NewClient(ropt), asynq.NewInspector(ropt)
	t.Cleanup(func() { client.Close(); insp.Close() })
	return client, insp
}

// newIntake returns an intake on the test database, enqueueing with client.
func newIntake(t *testing.T, client *asynq.Client) *tasks.Intake {
	t.Helper()
	rdb := redis.NewClient(redistest.Options(t, redisDB))
	t.Cleanup(func() { rdb.Close() })
	in, err := tasks.NewIntake(tasks.IntakeConfig{Redis: rdb, Enqueuer: client})
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// checkSameTasks fires 300 generated requests at h and checks that it
// enqueued exactly RawTasks of them; or, when h coalesces (chatsync),
// exactly their unread tasks and at most as many set-read and read-receipt
// tasks.
func checkSameTasks(t *testing.T, h http.Handler, client *asynq.Client, insp *asynq.Inspector, coalesced bool) {
	t.Helper()
	ts := httptest.NewServer(h)
	defer ts.Close()
	signer, err := NewSigner(ts.URL, testAppID, testToken, testSecret)
	if err != nil {
		t.Fatal(err)
	}
	gen, err := NewGenerator(Mix{Users: 100, Events: 0.2, AutoRead: 0.2, AutoReadAccounts: []string{"bot"}}, 9, new(atomic.Uint32), nil)
	if err != nil {
		t.Fatal(err)
	}
	f := &Firer{Client: newHTTPClient(1), Signer: signer, Gen: gen}
	var want []string // type and payload of every raw task compared
	var raw []*asynq.Task
	conversations := 0 // raw set-read and read-receipt tasks not compared
	for range 300 {
		r := gen.Next()
		if o := f.Fire(context.Background(), r); o.Label != outcomeOK {
			t.Fatalf("%v: outcome %q", r.Kind, o.Label)
		}
		ts, err := RawTasks(tasks.Builder{}, r, map[string]bool{"bot": true})
		if err != nil {
			t.Fatal(err)
		}
		for _, task := range ts {
			if coalesced && task.Type() != tasks.TypeUnread {
				conversations++
				continue
			}
			want = append(want, task.Type()+" "+string(task.Payload()))
			raw = append(raw, task)
		}
	}
	var got []string
	queues, err := insp.Queues()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range queues {
		pending, err := insp.ListPendingTasks(q, asynq.PageSize(1000))
		if err != nil {
			t.Fatal(err)
		}
		scheduled, err := insp.ListScheduledTasks(q, asynq.PageSize(1000))
		if err != nil {
			t.Fatal(err)
		}
		for _, info := range append(pending, scheduled...) {
			if coalesced && info.Type != tasks.TypeUnread {
				conversations--
				continue
			}
			got = append(got, info.Type+" "+string(info.Payload))
		}
	}
	if conversations < 0 {
		t.Errorf("%d more set-read and read-receipt tasks than the baseline's", -conversations)
	}
	slices.Sort(want)
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the tasks differ from the baseline's (-baseline +got):\n%s", diff)
	}
	// Same IDs: every baseline task is a duplicate of one already there.
	for _, task := range raw {
		if _, err := client.Enqueue(task); !tasks.IsDuplicate(err) {
			t.Fatalf("baseline %s task: enqueue error %v, want a duplicate", task.Type(), err)
		}
	}
}
