package tasks

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/chatsync/chatsync/chatapi/emulator"
)

func TestSnapshotOfUnknownUser(t *testing.T) {
	e := setup(t, emulator.Config{})
	s := NewStore(e.rdb, 0)
	if _, err := s.Snapshot(t.Context(), "stranger"); !errors.Is(err, ErrNoSnapshot) {
		t.Fatalf("Snapshot of a user never seen: %v, want ErrNoSnapshot", err)
	}
	// A request without a total still makes the user known.
	c := unreadChange{claimTimes: claimTimes{now: 1_000, token: "t", stale: time.Minute}, p: Unread{Account: "stranger"}}
	if _, err := s.change(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	got, err := s.Snapshot(t.Context(), "stranger")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&Snapshot{Account: "stranger", Peers: map[string]PeerCount{}}, got); diff != "" {
		t.Errorf("snapshot (-want +got)\n%s", diff)
	}
}

// TestTotalOrdering applies callback totals in the order given and checks
// which ones the snapshot keeps, and when the store asks for the total to
// be measured.
func TestTotalOrdering(t *testing.T) {
	const sec = 1_700_000_000_000 // a whole second, in ms
	type step struct {
		total int
		at    int64
		// want
		applied, changed, refreshTotal bool
	}
	tests := []struct {
		name  string
		steps []step
		want  int
	}{
		{"later wins", []step{
			{total: 5, at: sec, applied: true, changed: true},
			{total: 2, at: sec + 1000, applied: true, changed: true},
		}, 2},
		{"earlier is ignored", []step{
			{total: 5, at: sec + 1000, applied: true, changed: true},
			{total: 9, at: sec},
		}, 5},
		{"same second: the larger wins", []step{
			{total: 7, at: sec, applied: true, changed: true},
			{total: 6, at: sec},
			{total: 8, at: sec, applied: true, changed: true},
			{total: 8, at: sec},
		}, 8},
		{"same value later: applied, unchanged", []step{
			{total: 3, at: sec, applied: true, changed: true},
			{total: 3, at: sec + 2000, applied: true},
		}, 3},
		{"a whole second against a precise time in it: order unknown, measure", []step{
			{total: 0, at: sec + 400, applied: true, changed: true},
			{total: 1, at: sec, refreshTotal: true},
		}, 0},
		{"a precise time after a whole second: applied, and measured", []step{
			{total: 1, at: sec, applied: true, changed: true},
			{total: 0, at: sec + 400, applied: true, changed: true, refreshTotal: true},
		}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t, emulator.Config{})
			s := NewStore(e.rdb, 0)
			for i, st := range tt.steps {
				total := st.total
				c := unreadChange{claimTimes: claimTimes{now: sec + 5000, token: "t", stale: time.Minute},
					p: Unread{Account: "u", Total: &total, TotalAt: st.at}}
				res, err := s.change(t.Context(), c)
				if err != nil {
					t.Fatal(err)
				}
				wantTotalFlag := "0"
				if st.refreshTotal {
					wantTotalFlag = "1"
				}
				gotTotalFlag := e.rdb.HGet(t.Context(), userKey("u", "refresh"), "total").Val()
				if gotTotalFlag == "" {
					gotTotalFlag = "0"
				}
				type result struct {
					Applied, Changed bool
					RefreshTotal     string
				}
				want := result{st.applied, st.changed, wantTotalFlag}
				got := result{res.applied, res.changed, gotTotalFlag}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("step %d (%d at %d) (-want +got)\n%s", i, st.total, st.at, diff)
				}
				e.rdb.Del(t.Context(), userKey("u", "refresh"))
			}
			snap, err := s.Snapshot(t.Context(), "u")
			if err != nil {
				t.Fatal(err)
			}
			if snap.Total != tt.want || snap.TotalSource != SourceCallback {
				t.Errorf("total %d from %q, want %d from %q", snap.Total, snap.TotalSource, tt.want, SourceCallback)
			}
		})
	}
}

// TestCallbackTotalMovesPeers: a callback's total never leaves the
// snapshot contradicting a peer's count. A total of 0 zeroes every peer; a
// non-zero total drops the named peer's count until its refresh measures
// it. The snapshot gets a sliding TTL.
func TestCallbackTotalMovesPeers(t *testing.T) {
	const sec = 1_700_000_000_000
	e := setup(t, emulator.Config{})
	s := NewStore(e.rdb, time.Hour)
	ctx := t.Context()
	snap := userKey("bob", "snap")
	e.rdb.HSet(ctx, snap, "total", 3, "total_at", sec, "total_src", "api", "p:alice", "1 1700000000000 api",
		"p:carol", "2 1700000000000 api")
	change := func(total int, peer string, at int64) {
		t.Helper()
		c := unreadChange{claimTimes: claimTimes{now: sec + 9000, token: "t", stale: time.Minute},
			p: Unread{Account: "bob", Peers: []string{peer}, Total: &total, TotalAt: at, Source: SourceCallback}}
		if _, err := s.change(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	peers := func() map[string]int {
		t.Helper()
		got, err := s.Snapshot(ctx, "bob")
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]int{}
		for p, pc := range got.Peers {
			m[p] = pc.Count
		}
		return m
	}

	change(2, "alice", sec+1000) // AfterSendMsg-like: alice's count is stale now
	if diff := cmp.Diff(map[string]int{"carol": 2}, peers()); diff != "" {
		t.Errorf("after a total of 2 naming alice (-want +got)\n%s", diff)
	}
	if ttl := e.rdb.PTTL(ctx, snap).Val(); ttl <= 59*time.Minute || ttl > time.Hour {
		t.Errorf("snapshot TTL %v, want about an hour", ttl)
	}
	e.rdb.HSet(ctx, snap, "p:alice", "1 1700000000000 api")
	change(0, "alice", sec+2000) // AfterMsgReport with UnreadMsgNum 0
	if diff := cmp.Diff(map[string]int{"alice": 0, "carol": 0}, peers()); diff != "" {
		t.Errorf("after a total of 0 (-want +got)\n%s", diff)
	}
}
