package main

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/chatsync/chatsync/chatapi"
	"github.com/chatsync/chatsync/chatapi/emulator"
)

const testKey = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"

// newEmulator serves a Chat emulator over real HTTP and returns an
// Inspector of it and a Chat client for it.
func newEmulator(t *testing.T) (*Inspector, *chatapi.Client) {
	t.Helper()
	e, err := emulator.New(emulator.Config{SDKAppID: testAppID, SecretKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e.Handler())
	t.Cleanup(func() { srv.Close(); e.Close() })
	c, err := chatapi.New(chatapi.Config{SDKAppID: testAppID, SecretKey: testKey, Admin: emulator.DefaultAdmin, BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return NewInspector(srv.URL, newHTTPClient(2)), c
}

func TestInspector(t *testing.T) {
	ctx := context.Background()
	in, chat := newEmulator(t)
	ids := make([]string, 1500) // two import requests
	for i := range ids {
		ids[i] = User(i)
	}
	if err := in.ImportAccounts(ctx, ids); err != nil {
		t.Fatal(err)
	}
	before, err := in.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sent, err := chat.SendMsg(ctx, chatapi.SendMsgRequest{FromAccount: User(1499), ToAccount: User(0), MsgBody: []chatapi.MsgElem{chatapi.TextElem("hi")}})
	if err != nil {
		t.Fatalf("sendmsg between imported users: %v", err)
	}
	u, err := in.Unread(ctx, User(0))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(EmulatorUnread{User: User(0), Total: 1, PerPeer: map[string]int{User(1499): 1}}, u); diff != "" {
		t.Errorf("unread (-want +got):\n%s", diff)
	}
	if err := chat.SetMsgRead(ctx, chatapi.SetMsgReadRequest{ReportAccount: User(0), PeerAccount: User(1499), MsgReadTime: sent.MsgTime}); err != nil {
		t.Fatal(err)
	}
	if err := in.SetRateLimit(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := chat.GetUnread(ctx, User(0)); err != nil {
		t.Fatal(err)
	}
	if _, limited := chat.GetUnread(ctx, User(0)); chatErrLabel(limited) != "chat:60007" {
		t.Errorf("second call in a second at 1/s: %v, want 60007", limited)
	}

	reqs, err := in.Requests(ctx, apiSetMsgRead, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(reqs) != 1 || reqs[0].ErrorCode != 0 || time.Since(reqs[0].Time) > time.Minute {
		t.Fatalf("requests %+v, want the one admin_set_msg_read", reqs)
	}
	p := NewProbes()
	p.Sent(Request{From: User(1499), To: User(0), MsgTime: sent.MsgTime}, reqs[0].Time.Add(-5*time.Millisecond))
	if n := p.Observe(reqs); n != 1 {
		t.Errorf("the probe did not match the emulator's record of the call (body %s)", reqs[0].Body)
	}

	after, err := in.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	calls, codes := CallsDiff(before, after)
	wantCalls := map[string]int64{chatapi.APISendMsg: 1, chatapi.APISetMsgRead: 1, chatapi.APIUnread: 2}
	if diff := cmp.Diff(wantCalls, calls); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int64{"0": 1, "60007": 1}, codes[chatapi.APIUnread]); diff != "" {
		t.Errorf("get_c2c_unread_msg_num answers (-want +got):\n%s", diff)
	}
}

func TestInspectorErrors(t *testing.T) {
	in, _ := newEmulator(t)
	err := in.ImportAccounts(context.Background(), []string{fmt.Sprintf("%040d", 1)}) // longer than 32 bytes
	if err == nil {
		t.Error("importing a 40-byte UserID: no error")
	}
	if _, err := NewInspector("http://127.0.0.1:1", newHTTPClient(1)).Stats(context.Background()); err == nil {
		t.Error("Stats of nothing: no error")
	}
}

// drainSeries waits for calls to start, samples them, and ends once the
// (empty) queues and the emulator are quiet.
func TestDrainSeries(t *testing.T) {
	ctx := context.Background()
	in, chat := newEmulator(t)
	_, aq := asynqSetup(t)
	if err := in.ImportAccounts(ctx, []string{"a"}); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(100 * time.Millisecond) // "the worker starts" after the drain does
		for range 30 {
			chat.GetUnread(ctx, "a")
			time.Sleep(10 * time.Millisecond)
		}
	}()
	r, err := drainSeries(ctx, in, aq, 50*time.Millisecond, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Drained || r.Calls[chatapi.APIUnread] != 30 || r.RateLimited != 0 {
		t.Errorf("drained %v, calls %v, 60007 × %d; want drained, 30 unread calls, none", r.Drained, r.Calls, r.RateLimited)
	}
	if s := r.Sustained[chatapi.APIUnread]; s <= 0 || s > 1000 {
		t.Errorf("sustained %.1f calls/s, want about 30 in 0.3 s", s)
	}
}
