package main

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"

	"github.com/chatsync/chatsync/internal/redistest"
	"github.com/chatsync/chatsync/tasks"
)

// redisDB is this package's test database.
const redisDB = 7

// setup returns an asynq client on the flushed test database.
func setup(tb testing.TB) *asynq.Client {
	tb.Helper()
	opt := redistest.Options(tb, redisDB)
	c := asynq.NewClient(asynq.RedisClientOpt{Addr: opt.Addr, Username: opt.Username, Password: opt.Password, DB: opt.DB})
	tb.Cleanup(func() { c.Close() })
	return c
}

// The baseline's tasks are chatsync's: same types, queues and IDs. They are
// enqueued for real so that asynq reports the options it applied.
func TestRawTasks(t *testing.T) {
	client := setup(t)
	send := Request{Kind: KindSendMsg, Command: cmdAfterSendMsg, From: "a", To: "b", MsgTime: 1700000000,
		MsgKey: "1_2_1700000000", UnreadMsgNum: 4}
	bot := send
	bot.Kind, bot.To = KindSendAutoRead, "bot"
	tests := []struct {
		name      string
		r         Request
		wantTypes []string
		wantIDs   []string
	}{
		{"AfterSendMsg", send, []string{tasks.TypeUnread},
			[]string{tasks.ID(tasks.TypeUnread, tasks.ID(cmdAfterSendMsg, "a", "b", send.MsgKey))}},
		{"AfterSendMsg to an auto-read account", bot, []string{tasks.TypeUnread, tasks.TypeSetRead, tasks.TypeReadReceipt},
			[]string{tasks.ID(tasks.TypeUnread, tasks.ID(cmdAfterSendMsg, "a", "bot", send.MsgKey)),
				tasks.ID(tasks.TypeSetRead, "a", "bot", send.MsgKey), tasks.ID(tasks.TypeReadReceipt, "a", "bot", send.MsgKey)}},
		{"AfterMsgReport", Request{Kind: KindMsgReport, From: "a", To: "b", MsgTime: 1700000000}, []string{tasks.TypeUnread},
			[]string{tasks.ID(tasks.TypeUnread, tasks.ID(cmdAfterMsgReport, "b", "a", "1700000000"))}},
		{"other", Request{Kind: KindOther, From: "a", To: "b"}, nil, nil},
		{"conversation.read", Request{Kind: KindConversationRead, From: "a", To: "b", ID: "msg_1"},
			[]string{tasks.TypeSetRead}, []string{tasks.ID(tasks.TypeSetRead, "msg_1", "0")}},
		{"messages.read", Request{Kind: KindMessagesRead, From: "a", To: "b", ID: "msg_2", MsgKeys: []string{"k"}},
			[]string{tasks.TypeReadReceipt}, []string{tasks.ID(tasks.TypeReadReceipt, "msg_2", "0")}},
		{"unread.refresh", Request{Kind: KindUnreadRefresh, To: "b", ID: "msg_3"},
			[]string{tasks.TypeUnread}, []string{tasks.ID(tasks.TypeUnread, tasks.ID("event", "msg_3", "0"))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts, err := RawTasks(tasks.Builder{}, tt.r, map[string]bool{"bot": true})
			if err != nil {
				t.Fatal(err)
			}
			var types, ids []string
			for _, task := range ts {
				info, err := client.Enqueue(task)
				if err != nil {
					t.Fatal(err)
				}
				types = append(types, info.Type)
				ids = append(ids, info.ID)
				wantQueue := tasks.QueueUnread
				if info.Type != tasks.TypeUnread {
					wantQueue = tasks.QueueRead
				}
				wantRetention := tasks.DefaultRetention
				if info.Type == tasks.TypeUnread {
					wantRetention = 0 // bookkeeping, one per callback: not retained
				}
				if info.Queue != wantQueue || info.MaxRetry != tasks.DefaultMaxRetry || info.Retention != wantRetention {
					t.Errorf("%s: queue %s, max retry %d, retention %v; want %s, %d, %v", info.Type, info.Queue,
						info.MaxRetry, info.Retention, wantQueue, tasks.DefaultMaxRetry, wantRetention)
				}
			}
			if diff := cmp.Diff(tt.wantTypes, types); diff != "" {
				t.Errorf("types (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantIDs, ids); diff != "" {
				t.Errorf("IDs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRawTasksPayload(t *testing.T) {
	r := Request{Kind: KindSendMsg, From: "a", To: "b", MsgTime: 1700000000, MsgKey: "k", UnreadMsgNum: 4}
	ts, err := RawTasks(tasks.Builder{}, r, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got tasks.Unread
	if err := json.Unmarshal(ts[0].Payload(), &got); err != nil {
		t.Fatal(err)
	}
	four := 4
	want := tasks.Unread{Account: "b", Peers: []string{"a"}, Total: &four, TotalAt: 1700000000000,
		Source: "callback:" + cmdAfterSendMsg}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("payload (-want +got):\n%s", diff)
	}
}

// With Redis unreachable (a closed port) every request fails as "enqueue".
func TestRawOpFailure(t *testing.T) {
	client := asynq.NewClient(asynq.RedisClientOpt{Addr: "127.0.0.1:1", DialTimeout: 100 * time.Millisecond})
	defer client.Close()
	g := newTestGenerator(t, Mix{SendMsg: 1}, 1)
	var done int64
	op := RawOp(client, tasks.Builder{}, g, nil, &done)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if got := op(ctx, 0).Label; got != "enqueue" {
		t.Errorf("outcome %q, want enqueue", got)
	}
	if done != 0 {
		t.Errorf("tasks done = %d, want 0", done)
	}
}

// A redelivered request (same task IDs) counts as success, as in chatsync.
func TestRawOpDuplicate(t *testing.T) {
	client := setup(t)
	seq := new(atomic.Uint32)
	var done int64
	for range 2 {
		seq.Store(0)
		g, err := NewGenerator(Mix{SendMsg: 1}, 5, seq, fixedNow)
		if err != nil {
			t.Fatal(err)
		}
		if got := RawOp(client, tasks.Builder{}, g, nil, &done)(context.Background(), 0).Label; got != outcomeOK {
			t.Errorf("outcome %q, want ok", got)
		}
	}
	if done != 2 {
		t.Errorf("tasks done = %d, want 2", done)
	}
}
