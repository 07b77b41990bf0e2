package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/chatsync/chatsync/tasks"
)

// allQueuesKey is the Redis set in which asynq lists its queues.
const allQueuesKey = "asynq:queues"

// flushChatsync empties chatsync's Redis database between phases. An
// asynq.Client registers a queue in allQueuesKey only on its first enqueue,
// so a running serve would not register chatsync's queues again: flushing
// re-registers them, or the Inspector (and asynqmon) would not see them.
func flushChatsync(ctx context.Context, rdb *redis.Client) error {
	if err := rdb.FlushDB(ctx).Err(); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	qs := slices.Sorted(maps.Keys(tasks.DefaultQueues()))
	if err := rdb.SAdd(ctx, allQueuesKey, qs).Err(); err != nil {
		return fmt.Errorf("register queues: %w", err)
	}
	return nil
}

// Backlog is the work left in chatsync's queues.
type Backlog struct {
	Pending, Active, Scheduled, Retry, Aggregating int
	Archived                                       int // failed for good; not work left
}

// Left returns the number of tasks still to run.
func (b Backlog) Left() int { return b.Pending + b.Active + b.Scheduled + b.Retry + b.Aggregating }

// String describes the backlog for progress lines.
func (b Backlog) String() string {
	return fmt.Sprintf("pending %d, active %d, scheduled %d, retry %d, archived %d",
		b.Pending, b.Active, b.Scheduled, b.Retry, b.Archived)
}

// QueueBacklog sums the state of every asynq queue in the inspected Redis.
func QueueBacklog(in *asynq.Inspector) (Backlog, error) {
	qs, err := in.Queues()
	if err != nil {
		return Backlog{}, fmt.Errorf("list queues: %w", err)
	}
	var b Backlog
	for _, q := range qs {
		qi, err := in.GetQueueInfo(q)
		if err != nil {
			return Backlog{}, fmt.Errorf("queue %s: %w", q, err)
		}
		b.Pending += qi.Pending
		b.Active += qi.Active
		b.Scheduled += qi.Scheduled
		b.Retry += qi.Retry
		b.Aggregating += qi.Aggregating
		b.Archived += qi.Archived
	}
	return b, nil
}

// WaitDrained polls until no task is left and the emulator saw no new call
// for quiet, or until timeout. It reports whether the queues drained and
// how long that took.
func WaitDrained(ctx context.Context, aq *asynq.Inspector, em *Inspector, quiet, timeout time.Duration) (bool, time.Duration, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var lastCalls int64 = -1
	var quietSince time.Time
	for {
		b, err := QueueBacklog(aq)
		if err != nil {
			return false, time.Since(start), err
		}
		calls := int64(-1)
		if st, err := em.Stats(ctx); err == nil {
			calls = 0
			for _, a := range st.APIs {
				calls += a.Calls
			}
		}
		switch {
		case b.Left() > 0 || calls != lastCalls:
			quietSince = time.Time{}
		case quietSince.IsZero():
			quietSince = time.Now()
		case time.Since(quietSince) >= quiet:
			return true, quietSince.Sub(start), nil
		}
		lastCalls = calls
		if !sleepUntil(ctx, time.Now().Add(100*time.Millisecond)) {
			return false, time.Since(start), nil
		}
	}
}
