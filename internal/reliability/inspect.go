package reliability

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/chatsync/chatsync/tasks"
)

// queueNames are chatsync's asynq queues.
func queueNames() []string { return []string{tasks.QueueRead, tasks.QueueUnread, tasks.QueueSink} }

// QueueCounts sums asynq's queue sizes over chatsync's queues.
type QueueCounts struct {
	Pending, Active, Scheduled, Retry, Aggregating, Archived, Completed int
}

// Unfinished returns the tasks still to run: pending, active, scheduled,
// retry and aggregating.
func (q QueueCounts) Unfinished() int {
	return q.Pending + q.Active + q.Scheduled + q.Retry + q.Aggregating
}

// All returns every task asynq holds, completed and archived included.
func (q QueueCounts) All() int { return q.Unfinished() + q.Archived + q.Completed }

// Queues returns the task counts of chatsync's queues; a queue that does
// not exist yet counts as empty.
func (h *Harness) Queues() (QueueCounts, error) {
	var c QueueCounts
	qs, err := h.existingQueues()
	if err != nil {
		return c, err
	}
	for _, q := range qs {
		info, err := h.Inspector.GetQueueInfo(q)
		if err != nil {
			return c, fmt.Errorf("queue %s: %w", q, err)
		}
		c.Pending += info.Pending
		c.Active += info.Active
		c.Scheduled += info.Scheduled
		c.Retry += info.Retry
		c.Aggregating += info.Aggregating
		c.Archived += info.Archived
		c.Completed += info.Completed
	}
	return c, nil
}

// existingQueues returns those of chatsync's queues that exist in Redis.
func (h *Harness) existingQueues() ([]string, error) {
	all, err := h.Inspector.Queues()
	if err != nil {
		return nil, fmt.Errorf("list queues: %w", err)
	}
	var out []string
	for _, q := range queueNames() {
		if slices.Contains(all, q) {
			out = append(out, q)
		}
	}
	return out, nil
}

// Tasks returns the tasks of every queue in one state: "active",
// "archived", "completed", "pending", "retry" or "scheduled".
func (h *Harness) Tasks(state string) ([]*asynq.TaskInfo, error) {
	var out []*asynq.TaskInfo
	qs, err := h.existingQueues()
	if err != nil {
		return nil, err
	}
	for _, q := range qs {
		var (
			ts  []*asynq.TaskInfo
			err error
		)
		opt := asynq.PageSize(100000)
		switch state {
		case "active":
			ts, err = h.Inspector.ListActiveTasks(q, opt)
		case "archived":
			ts, err = h.Inspector.ListArchivedTasks(q, opt)
		case "completed":
			ts, err = h.Inspector.ListCompletedTasks(q, opt)
		case "pending":
			ts, err = h.Inspector.ListPendingTasks(q, opt)
		case "retry":
			ts, err = h.Inspector.ListRetryTasks(q, opt)
		case "scheduled":
			ts, err = h.Inspector.ListScheduledTasks(q, opt)
		default:
			return nil, fmt.Errorf("unknown task state %q", state)
		}
		if err != nil {
			return nil, fmt.Errorf("list %s tasks of %s: %w", state, q, err)
		}
		out = append(out, ts...)
	}
	return out, nil
}

// ActiveConversations counts the set-read tasks that are active (leased by
// a worker) by conversation ("account\x00peer", as in an Effect's Key).
// After a Redis failover some stay active until asynq's recoverer finds
// their lease expired, 60 to 120 s later, and retries them. A task names
// its conversation, not a read point: it applies whatever is pending
// there.
func (h *Harness) ActiveConversations() (map[string]int, error) {
	ts, err := h.Tasks("active")
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, t := range ts {
		var p struct{ Account, Peer string }
		if t.Type != tasks.TypeSetRead || json.Unmarshal(t.Payload, &p) != nil {
			continue
		}
		out[p.Account+"\x00"+p.Peer]++
	}
	return out, nil
}

// WaitLedger polls until every effect l expects has been seen at the
// emulator, or timeout passes, and returns the last check.
func (h *Harness) WaitLedger(ctx context.Context, l *Ledger, timeout time.Duration) (Result, error) {
	var r Result
	err := Poll(ctx, timeout, 200*time.Millisecond, func() (bool, error) {
		r = l.Check(h.Emulator.Requests(""))
		return r.Complete(), nil
	})
	if err != nil {
		return r, fmt.Errorf("ledger incomplete after %v: %s", timeout, r)
	}
	return r, nil
}

// WaitIdle polls until no task is left to run, or timeout passes.
func (h *Harness) WaitIdle(ctx context.Context, timeout time.Duration) (QueueCounts, error) {
	var c QueueCounts
	err := Poll(ctx, timeout, 200*time.Millisecond, func() (bool, error) {
		var err error
		c, err = h.Queues()
		return err == nil && c.Unfinished() == 0, err
	})
	if err != nil {
		return c, fmt.Errorf("queues not idle after %v: %+v: %w", timeout, c, err)
	}
	return c, nil
}

// Snapshot reads GET /v1/users/{account}/unread with the API key.
func (h *Harness) Snapshot(ctx context.Context, account string) (*tasks.Snapshot, Reply) {
	r := h.Sender.Do(ctx, http.MethodGet, "/v1/users/"+url.PathEscape(account)+"/unread",
		http.Header{"Authorization": {"Bearer " + h.Secrets.APIKey}}, nil)
	if r.Err != nil || r.Status != http.StatusOK {
		return nil, r
	}
	var s tasks.Snapshot
	if err := json.Unmarshal(r.Body, &s); err != nil {
		r.Err = fmt.Errorf("decode snapshot: %w", err)
		return nil, r
	}
	return &s, r
}

// UnreadMismatch compares account's snapshot with the emulator's own
// counts for peers (every peer either knows of, when peers is nil) and
// describes the differences, or returns "".
func (h *Harness) UnreadMismatch(ctx context.Context, account string, peers []string) string {
	snap, r := h.Snapshot(ctx, account)
	if snap == nil {
		return fmt.Sprintf("%s: snapshot: %s", account, r)
	}
	_, want := h.Emulator.Unread(account)
	if peers == nil {
		seen := map[string]bool{}
		for p := range want {
			seen[p] = true
		}
		for p := range snap.Peers {
			seen[p] = true
		}
		for p := range seen {
			peers = append(peers, p)
		}
	}
	sort.Strings(peers)
	var diffs []string
	for _, p := range peers {
		if got := snap.Peers[p].Count; got != want[p] {
			diffs = append(diffs, fmt.Sprintf("%s: snapshot %d, chat %d", p, got, want[p]))
		}
	}
	if len(diffs) > 0 {
		return account + ": " + strings.Join(diffs, "; ")
	}
	return ""
}

// WaitUnread polls until the snapshot of every account in peers equals the
// emulator's counts for the peers listed, or timeout passes.
func (h *Harness) WaitUnread(ctx context.Context, peers map[string][]string, timeout time.Duration) error {
	var last string
	err := Poll(ctx, timeout, 250*time.Millisecond, func() (bool, error) {
		for a, ps := range peers {
			if last = h.UnreadMismatch(ctx, a, ps); last != "" {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("unread snapshots did not converge in %v: %s", timeout, last)
	}
	return nil
}
