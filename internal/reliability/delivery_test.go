package reliability

import (
	"context"
	"testing"
	"time"
)

// TestDeliveryBaseline: with no fault, every acknowledged callback and
// event causes its Chat call exactly once, nothing is archived and the
// unread snapshots converge to Chat's own counts. The other scenarios are
// measured against this.
func TestDeliveryBaseline(t *testing.T) {
	t.Parallel()
	m := mix{readers: 10, peers: 5, conversationReads: 100, receipts: 50, botMessages: 30, readerMessages: 50}
	h := New(t, Config{Binary: binary(t), AutoRead: []string{bot}, Accounts: m.accounts()})
	ctx := context.Background()
	items, unread := m.build(t, h, "base")

	l := NewLedger()
	start := time.Now()
	outs := post(ctx, h.Sender, l, items, 4, 0)
	if c := count(outs); c.acked != len(items) {
		t.Fatalf("posted %d requests: %s", len(items), c)
	}
	res, err := h.WaitLedger(ctx, l, 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("all %d effects of %d inputs seen in %v: %s", res.Expected, res.Inputs, time.Since(start).Round(time.Millisecond), res)
	if res.Duplicates != 0 || res.Unexpected != 0 {
		t.Errorf("without faults: %d duplicates, %d unexpected calls; want none", res.Duplicates, res.Unexpected)
	}
	if err := h.WaitUnread(ctx, unread, 30*time.Second); err != nil {
		t.Error(err)
	}
	q, err := h.WaitIdle(ctx, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if q.Archived != 0 {
		t.Errorf("%d tasks archived without any fault", q.Archived)
	}
}
