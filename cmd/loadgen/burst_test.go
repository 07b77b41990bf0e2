package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/chatsync/chatsync/chatapi"
	"github.com/chatsync/chatsync/tasks"
	"github.com/chatsync/chatsync/webhook"
)

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

func (s *snapshots) set(snap *tasks.Snapshot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[snap.Account] = snap
}

// A target agrees when chatsync's snapshot, read through the real unread
// API, has the emulator's total and every peer's count.
func TestBurstAgrees(t *testing.T) {
	ctx := context.Background()
	in, chat := newEmulator(t)
	client, _ := asynqSetup(t)
	store := &snapshots{m: map[string]*tasks.Snapshot{}}
	srv, err := webhook.New(webhook.Config{SDKAppID: testAppID, CallbackToken: testToken, APIKey: "key-for-tests",
		Snapshots: store, Intake: newIntake(t, client), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()

	b := &burst{target: &targetFlags{url: ts.URL, apiKey: "key-for-tests"}, targets: 1, peers: 2, em: in,
		http: newHTTPClient(1), nonce: "t"}
	user, p0, p1 := b.targetID(0), b.peerID(0, 0), b.peerID(0, 1)
	if err := in.ImportAccounts(ctx, []string{user, p0, p1}); err != nil {
		t.Fatal(err)
	}
	for _, from := range []string{p0, p0, p1} {
		if _, err := chat.SendMsg(ctx, chatapi.SendMsgRequest{FromAccount: from, ToAccount: user,
			MsgBody: []chatapi.MsgElem{chatapi.TextElem("hi")}}); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	count := func(n int) tasks.PeerCount { return tasks.PeerCount{Count: n, At: now, Source: tasks.SourceAPI} }
	tests := []struct {
		name string
		snap *tasks.Snapshot
		want bool
	}{
		{"no snapshot yet", nil, false},
		{"total unknown", &tasks.Snapshot{Account: user, Peers: map[string]tasks.PeerCount{p0: count(2), p1: count(1)}}, false},
		{"a peer behind", &tasks.Snapshot{Account: user, Total: 3, TotalKnown: true, Peers: map[string]tasks.PeerCount{p0: count(2)}}, false},
		{"total behind", &tasks.Snapshot{Account: user, Total: 2, TotalKnown: true, Peers: map[string]tasks.PeerCount{p0: count(2), p1: count(1)}}, false},
		{"agrees", &tasks.Snapshot{Account: user, Total: 3, TotalKnown: true, Peers: map[string]tasks.PeerCount{p0: count(2), p1: count(1)}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.snap != nil {
				store.set(tt.snap)
			}
			got, err := b.agrees(ctx, 0)
			if err != nil || got != tt.want {
				t.Errorf("agrees = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
	b.target.apiKey = "wrong"
	if _, err := b.agrees(ctx, 0); err == nil {
		t.Error("a wrong API key: no error")
	}
}
