package tasks

import (
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"

	"github.com/chatsync/chatsync/chatapi"
	"github.com/chatsync/chatsync/chatapi/emulator"
)

func TestGCRALimit(t *testing.T) {
	tests := []struct {
		perSecond int
		headroom  float64
		want      redis_rate.Limit
	}{
		{200, DefaultHeadroom, redis_rate.Limit{Rate: 191, Burst: 2, Period: time.Second}}, // cap 192
		{200, 0.03, redis_rate.Limit{Rate: 193, Burst: 2, Period: time.Second}},
		{200, 0, redis_rate.Limit{Rate: 198, Burst: 3, Period: time.Second}},
		{1000, 0.03, redis_rate.Limit{Rate: 961, Burst: 10, Period: time.Second}},
		{50, 0.03, redis_rate.Limit{Rate: 48, Burst: 1, Period: time.Second}},
		{1, 0.5, redis_rate.Limit{Rate: 1, Burst: 1, Period: time.Second}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, gcraLimit(tt.perSecond, tt.headroom)); diff != "" {
			t.Errorf("gcraLimit(%d, %v) (-want +got)\n%s", tt.perSecond, tt.headroom, diff)
		}
	}
}

// TestLimiterWait checks that a short wait is waited out and a long one
// comes back as a *RateLimitError.
func TestLimiterWait(t *testing.T) {
	e := setup(t, emulator.Config{})
	limit := gcraLimit(5, 0) // one call every 200 ms
	tests := []struct {
		name    string
		maxWait time.Duration
		wantErr bool
	}{
		{"long wait is handed back", 50 * time.Millisecond, true},
		{"short wait is waited out", time.Second, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLimiter(e.rdb, limit, tt.maxWait, nil)
			api := "test/" + tt.name
			if err := l.wait(t.Context(), api); err != nil {
				t.Fatalf("first call: %v", err)
			}
			start := time.Now()
			err := l.wait(t.Context(), api)
			waited := time.Since(start)
			var rl *RateLimitError
			switch {
			case tt.wantErr && !errors.As(err, &rl):
				t.Fatalf("second call: %v, want a *RateLimitError", err)
			case tt.wantErr && (rl.RetryAfter <= 100*time.Millisecond || rl.RetryAfter > 200*time.Millisecond):
				t.Errorf("RetryAfter = %v, want about 200ms", rl.RetryAfter)
			case !tt.wantErr && err != nil:
				t.Fatalf("second call: %v", err)
			case !tt.wantErr && waited < 150*time.Millisecond:
				t.Errorf("second call waited %v, want about 200ms", waited)
			}
		})
	}
}

// TestRateLimitAcrossWorkers runs two worker servers, each with its own
// limiter and Chat client, through a backlog of set-read tasks and checks
// that the emulator's strict sliding-window limit of 200 calls/s is never
// exceeded.
func TestRateLimitAcrossWorkers(t *testing.T) {
	const (
		limit = 200
		tasks = 600
	)
	e := setup(t, emulator.Config{RateLimit: limit, KeepRequests: 2 * tasks})
	users := make([]string, 10)
	for i := range users {
		users[i] = fmt.Sprintf("user%d", i)
	}
	peers := make([]string, tasks)
	for i := range peers {
		peers[i] = fmt.Sprintf("peer%d", i)
	}
	e.emu.ImportAccounts(append(users, peers...)...)
	// Enqueue the backlog before the workers start, so that both push it.
	// Each task is its own conversation: calls for one would coalesce.
	var ids []string
	for i := range tasks {
		task, err := Builder{}.SetRead(SetRead{Account: users[i%10], Peer: peers[i]}, "backlog", fmt.Sprint(i))
		ids = append(ids, e.enqueue(t, task, err).ID)
	}
	start := time.Now()
	for range 2 {
		e.serve(t, e.worker(t, Config{RateLimit: limit}), 20)
	}
	waitFor(t, 20*time.Second, "the backlog to be done", func() bool {
		q, err := e.insp.GetQueueInfo(QueueRead)
		if err != nil {
			t.Fatal(err)
		}
		return q.Completed+q.Archived == tasks
	})
	elapsed := time.Since(start)

	got := calls(e.emu, chatapi.APISetMsgRead)
	if diff := cmp.Diff(map[int]int64{0: tasks}, got); diff != "" {
		t.Errorf("emulator answers by ErrorCode (-want +got)\n%s", diff)
	}
	reqs := e.emu.Requests(chatapi.APISetMsgRead)
	peak := peakPerSecond(reqs)
	span := reqs[len(reqs)-1].Time.Sub(reqs[0].Time)
	t.Logf("%d calls in %v (%.1f/s from first to last call), at most %d in any sliding second",
		len(reqs), elapsed.Round(time.Millisecond), float64(len(reqs)-1)/span.Seconds(), peak)
	if peak > limit {
		t.Errorf("%d calls in one sliding second, limit %d", peak, limit)
	}
	if rl := retriedTasks(t, e.insp, ids); rl != 0 {
		t.Errorf("%d tasks were retried", rl)
	}
}

// peakPerSecond returns the most requests accepted within any window
// (t−1s, t].
func peakPerSecond(reqs []emulator.Request) int {
	var times []time.Time
	for _, r := range reqs {
		if r.ErrorCode == 0 && r.HTTPStatus == 200 {
			times = append(times, r.Time)
		}
	}
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	peak, lo := 0, 0
	for hi := range times {
		for times[hi].Sub(times[lo]) >= time.Second {
			lo++
		}
		peak = max(peak, hi-lo+1)
	}
	return peak
}

func retriedTasks(t *testing.T, insp *asynq.Inspector, ids []string) int {
	t.Helper()
	n := 0
	for _, id := range ids {
		info, err := insp.GetTaskInfo(QueueRead, id)
		if err != nil {
			t.Fatal(err)
		}
		if info.Retried > 0 {
			n++
		}
	}
	return n
}
