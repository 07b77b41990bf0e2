package main

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/chatsync/chatsync/chatapi"
	"github.com/chatsync/chatsync/chatapi/emulator"
	"github.com/chatsync/chatsync/tasks"
	"github.com/chatsync/chatsync/webhook"
)

const testKey = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"

// newEmulator serves a Chat emulator over real HTTP and returns a client
// of its inspection surface and a Chat client for it.
func newEmulator(t *testing.T) (*emulatorClient, *chatapi.Client) {
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
	return newEmulatorClient(srv.URL), c
}

// The emulator client reads what Chat's side saw: unread counts, recorded
// calls (which match a probe) and counters (calls and answers by API).
func TestEmulatorClient(t *testing.T) {
	ctx := context.Background()
	em, chat := newEmulator(t)
	ids := make([]string, 600) // two import requests
	for i := range ids {
		ids[i] = user(i)
	}
	if err := em.importAccounts(ctx, ids); err != nil {
		t.Fatal(err)
	}
	before, err := em.stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sent, err := chat.SendMsg(ctx, chatapi.SendMsgRequest{FromAccount: user(599), ToAccount: user(0), MsgBody: []chatapi.MsgElem{chatapi.TextElem("hi")}})
	if err != nil {
		t.Fatal(err)
	}
	if u, err := em.unread(ctx, user(0)); err != nil || u.Total != 1 || u.PerPeer[user(599)] != 1 {
		t.Errorf("unread = %+v, %v; want 1 from %s", u, err, user(599))
	}
	if err := chat.SetMsgRead(ctx, chatapi.SetMsgReadRequest{ReportAccount: user(0), PeerAccount: user(599), MsgReadTime: sent.MsgTime}); err != nil {
		t.Fatal(err)
	}
	if err := em.setRateLimit(ctx, 1); err != nil {
		t.Fatal(err)
	}
	chat.GetUnread(ctx, user(0))
	if _, err := chat.GetUnread(ctx, user(0)); sendOutcome(chatapi.SentMsg{}, err).label != "chat:60007" {
		t.Errorf("second call in a second at 1/s: %v, want 60007", err)
	}
	p := newProbes()
	p.sent(request{from: user(599), to: user(0), msgTime: sent.MsgTime}, time.Now().Add(-time.Minute))
	p.poll(ctx, em)()
	if lat, n := p.result(); n != 1 || lat.N != 1 {
		t.Errorf("the probe did not match the emulator's record of its set-read call: %d of %d", lat.N, n)
	}
	after, err := em.stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := apiCalls{Calls: map[string]int64{chatapi.APISetMsgRead: 1, chatapi.APIUnread: 2},
		Codes: map[string]map[string]int64{chatapi.APISetMsgRead: {"0": 1}, chatapi.APIUnread: {"0": 1, "60007": 1}}}
	if diff := cmp.Diff(want, callsBetween(before, after)); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	if err := em.importAccounts(ctx, []string{fmt.Sprintf("%040d", 1)}); err == nil {
		t.Error("importing a 40-byte UserID: no error")
	}
}

// drainSeries waits for calls to start, samples them, and ends once the
// (empty) queues and the emulator are quiet.
func TestDrainSeries(t *testing.T) {
	ctx := context.Background()
	em, chat := newEmulator(t)
	_, aq, _ := setup(t)
	if err := em.importAccounts(ctx, []string{"a"}); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(100 * time.Millisecond) // the worker starts after the drain does
		for range 30 {
			chat.GetUnread(ctx, "a")
			time.Sleep(10 * time.Millisecond)
		}
	}()
	r, err := drainSeries(ctx, em, aq, 50*time.Millisecond, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if s := r.Sustained[chatapi.APIUnread]; !r.Drained || r.Calls[chatapi.APIUnread] != 30 || r.RateLimited != 0 || s <= 0 || s > 1000 {
		t.Errorf("drained %v, calls %v, 60007 × %d, sustained %.0f/s; want drained, 30 unread calls, none, about 100/s",
			r.Drained, r.Calls, r.RateLimited, s)
	}
}

// snapshots is an in-memory webhook.SnapshotReader.
type snapshots struct {
	mu sync.Mutex
	m  map[string]*tasks.Snapshot
}

func (s *snapshots) Snapshot(_ context.Context, account string) (*tasks.Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if snap, ok := s.m[account]; ok {
		return snap, nil
	}
	return nil, fmt.Errorf("%s: %w", account, tasks.ErrNoSnapshot)
}

// A burst's user agrees when chatsync's snapshot, read through the real
// unread API, has the emulator's total and every peer's count.
func TestBurstAgrees(t *testing.T) {
	ctx := context.Background()
	em, chat := newEmulator(t)
	client, _, opt := setup(t)
	store := &snapshots{m: map[string]*tasks.Snapshot{}}
	srv := httptest.NewServer(newWebhook(t, client, opt, webhook.Config{APIKey: "key-for-tests", Snapshots: store}))
	defer srv.Close()
	b := &burst{session: &session{options: &options{target: srv.URL, apiKey: "key-for-tests"}, em: em}, users: 1, peers: 2,
		http: newHTTPClient(1), nonce: "t"}
	u, p0, p1 := b.userID(0), b.peerID(0, 0), b.peerID(0, 1)
	if err := em.importAccounts(ctx, []string{u, p0, p1}); err != nil {
		t.Fatal(err)
	}
	for _, from := range []string{p0, p0, p1} {
		if _, err := chat.SendMsg(ctx, chatapi.SendMsgRequest{FromAccount: from, ToAccount: u, MsgBody: []chatapi.MsgElem{chatapi.TextElem("hi")}}); err != nil {
			t.Fatal(err)
		}
	}
	count := func(n int) tasks.PeerCount { return tasks.PeerCount{Count: n, At: time.Now(), Source: tasks.SourceAPI} }
	tests := []struct {
		name string
		snap *tasks.Snapshot
		want bool
	}{
		{"no snapshot yet", nil, false},
		{"total unknown", &tasks.Snapshot{Account: u, Peers: map[string]tasks.PeerCount{p0: count(2), p1: count(1)}}, false},
		{"a peer behind", &tasks.Snapshot{Account: u, Total: 3, TotalKnown: true, Peers: map[string]tasks.PeerCount{p0: count(2)}}, false},
		{"agrees", &tasks.Snapshot{Account: u, Total: 3, TotalKnown: true, Peers: map[string]tasks.PeerCount{p0: count(2), p1: count(1)}}, true},
	}
	for _, tt := range tests {
		if tt.snap != nil {
			store.mu.Lock()
			store.m[u] = tt.snap
			store.mu.Unlock()
		}
		if got, err := b.agrees(ctx, 0); err != nil || got != tt.want {
			t.Errorf("%s: agrees = %v, %v; want %v", tt.name, got, err, tt.want)
		}
	}
	b.apiKey = "wrong"
	if _, err := b.agrees(ctx, 0); err == nil {
		t.Error("a wrong API key: no error")
	}
}
