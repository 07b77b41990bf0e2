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
	s := NewStore(e.rdb)
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
			s := NewStore(e.rdb)
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
