package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"sort"
	"time"

	"github.com/hibiken/asynq"

	"github.com/chatsync/chatsync/chatapi"
	"github.com/chatsync/chatsync/chatapi/emulator"
)

// BacklogResult is a backlog of auto-read messages and how chatsync's
// workers worked it off against the emulator's per-API limit.
type BacklogResult struct {
	Phase       string  `json:"phase"` // "fill" or "drain"
	Messages    int64   `json:"messages,omitempty"`
	FillSeconds float64 `json:"fill_seconds,omitempty"`
	// CallbackFailures counts the fill's AfterSendMsg callbacks chatsync
	// did not acknowledge: their messages left no tasks.
	CallbackFailures int64   `json:"callback_failures,omitempty"`
	Queued           Backlog `json:"queued"` // after the fill, or left after the drain
	// Drain: per-second calls of each API, the sustained rate (the mean
	// over the busy seconds but the first and last), the busiest second,
	// and the answers by ErrorCode.
	Seconds     float64                     `json:"seconds,omitempty"`
	Drained     bool                        `json:"drained,omitempty"`
	PerSecond   map[string][]float64        `json:"per_second,omitempty"`
	Sustained   map[string]float64          `json:"sustained,omitempty"`
	Busiest     map[string]float64          `json:"busiest,omitempty"`
	Calls       map[string]int64            `json:"calls,omitempty"`
	Codes       map[string]map[string]int64 `json:"codes,omitempty"`
	RateLimited int64                       `json:"rate_limited"`
}

// backlogFlags are the flags of backlog-fill and backlog-drain.
type backlogFlags struct {
	target   *targetFlags
	chat     *chatFlags
	redisURL string
	out      string
}

func addBacklogFlags(fs *flag.FlagSet) *backlogFlags {
	b := &backlogFlags{target: addTargetFlags(fs), chat: addChatFlags(fs)}
	fs.StringVar(&b.redisURL, "redis", envOr("REDIS_URL", ""), "chatsync's Redis (default $REDIS_URL)")
	fs.StringVar(&b.out, "out", "", "append the results to this JSON-lines file")
	return b
}

func (b *backlogFlags) check() error {
	if err := errors.Join(b.target.check(), b.chat.check()); err != nil {
		return err
	}
	if b.redisURL == "" {
		return errors.New("-redis (or $REDIS_URL) is required")
	}
	return nil
}

// cmdBacklogFill sends real messages from distinct users to the auto-read
// accounts while no worker runs, with the emulator's limit lifted for the
// fill: every message leaves a set-read, a read-receipt and an unread task.
func cmdBacklogFill(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("backlog-fill", flag.ContinueOnError)
	b := addBacklogFlags(fs)
	load := addLoadFlags(fs, 2*time.Minute)
	autoRead := fs.String("auto-read", envOr("AUTO_READ_ACCOUNTS", ""), "auto-read accounts (default $AUTO_READ_ACCOUNTS)")
	limit := fs.Int("restore-limit", 200, "the emulator's per-API limit to restore after the fill")
	fs.Lookup("requests").DefValue = "4000"
	load.Requests = 4000
	fs.Lookup("concurrency").DefValue = "16"
	load.Concurrency = 16
	// The emulator posts the callbacks of distinct conversations all at
	// once; unpaced, thousands of them would reach serve together.
	fs.Lookup("rate").DefValue = "400"
	load.Rate = 400
	if err := fs.Parse(args); err != nil {
		return err
	}
	bots := splitList(*autoRead)
	if err := errors.Join(b.check(), load.check()); err != nil {
		return err
	}
	if len(bots) == 0 {
		return errors.New("-auto-read (or $AUTO_READ_ACCOUNTS) is required")
	}
	em := NewInspector(b.chat.emulator, newHTTPClient(4))
	ids := slices.Clone(bots)
	for i := range load.Requests {
		ids = append(ids, User(int(i)))
	}
	if err := em.ImportAccounts(ctx, ids); err != nil {
		return err
	}
	client, err := chatapi.New(chatapi.Config{SDKAppID: b.target.appID, SecretKey: b.chat.secretKey,
		Admin: b.chat.admin, BaseURL: b.chat.emulator})
	if err != nil {
		return fmt.Errorf("chat client: %w", err)
	}
	before, err := em.Stats(ctx)
	if err != nil {
		return err
	}
	if err := em.SetRateLimit(ctx, -1); err != nil {
		return err
	}
	defer em.SetRateLimit(context.WithoutCancel(ctx), *limit)
	res, err := RunLoop(ctx, load.LoopConfig, func(int) Op {
		return func(ctx context.Context, i int64) Outcome {
			_, err := client.SendMsg(ctx, chatapi.SendMsgRequest{FromAccount: User(int(i)), ToAccount: bots[int(i)%len(bots)],
				MsgBody: []chatapi.MsgElem{chatapi.TextElem(text)}})
			if err != nil {
				return Outcome{Kind: KindSendAutoRead, Label: chatErrLabel(err)}
			}
			return Outcome{Kind: KindSendAutoRead, Label: outcomeOK}
		}
	})
	if err != nil {
		return err
	}
	r := BacklogResult{Phase: "fill", Messages: res.OK(), FillSeconds: res.Elapsed.Seconds()}
	if r.Queued, r.CallbackFailures, err = waitCallbacks(ctx, em, b.redisURL, before, r.Messages); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backlog fill: %d messages in %.1f s, %d callbacks not acknowledged; queued %s\n",
		r.Messages, r.FillSeconds, r.CallbackFailures, r.Queued)
	return appendRecord(b.out, recBacklog, r)
}

// waitCallbacks waits until the emulator has sent the fill's n AfterSendMsg
// callbacks, and returns the queues then and how many callbacks failed.
func waitCallbacks(ctx context.Context, em *Inspector, redisURL string, before emulator.Stats, n int64) (Backlog, int64, error) {
	aq, err := newAsynqInspector(redisURL)
	if err != nil {
		return Backlog{}, 0, err
	}
	defer aq.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := emulator.CommandAfterSendMsg
	for {
		st, err := em.Stats(ctx)
		if err != nil {
			return Backlog{}, 0, err
		}
		if st.Callbacks[cmd].Sent-before.Callbacks[cmd].Sent >= n {
			b, err := QueueBacklog(aq)
			return b, st.Callbacks[cmd].Failed - before.Callbacks[cmd].Failed, err
		}
		if !sleepUntil(ctx, time.Now().Add(100*time.Millisecond)) {
			return Backlog{}, 0, fmt.Errorf("emulator callbacks: %w", ctx.Err())
		}
	}
}

// cmdBacklogDrain watches the workers drain the backlog: it reads the
// emulator's counters every second until the queues are empty.
func cmdBacklogDrain(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("backlog-drain", flag.ContinueOnError)
	b := addBacklogFlags(fs)
	timeout := fs.Duration("timeout", 3*time.Minute, "give up after this long (at most 1h)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := b.check(); err != nil {
		return err
	}
	if *timeout <= 0 || *timeout > MaxDuration {
		return fmt.Errorf("-timeout %v is not from 1ns to %v", *timeout, MaxDuration)
	}
	em := NewInspector(b.chat.emulator, newHTTPClient(4))
	aq, err := newAsynqInspector(b.redisURL)
	if err != nil {
		return err
	}
	defer aq.Close()
	r, err := drainSeries(ctx, em, aq, time.Second, *timeout)
	if err != nil {
		return err
	}
	printBacklog(stdout, r)
	return appendRecord(b.out, recBacklog, r)
}

// drainSeries samples the emulator's calls every interval (a second in
// the report) until the workers have started and the queues are empty with
// no call for two samples in a row, or until timeout. The series are in
// calls per second whatever the interval.
func drainSeries(ctx context.Context, em *Inspector, aq *asynq.Inspector, interval, timeout time.Duration) (BacklogResult, error) {
	r := BacklogResult{Phase: "drain", PerSecond: make(map[string][]float64)}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	before, err := em.Stats(ctx)
	if err != nil {
		return r, err
	}
	prev, prevAt := before, start
	t := time.NewTicker(interval)
	defer t.Stop()
	started, idle := false, 0
	for n := 0; !r.Drained; n++ {
		select {
		case <-ctx.Done():
			return r.finish(before, prev, start), nil
		case <-t.C:
		}
		st, err := em.Stats(ctx)
		if err != nil {
			continue // the next second will cover this one
		}
		now := time.Now()
		moved := addSample(r.PerSecond, n, prev, st, now.Sub(prevAt).Seconds())
		prev, prevAt = st, now
		if r.Queued, err = QueueBacklog(aq); err != nil {
			return r, err
		}
		started = started || moved
		if r.Queued.Left() == 0 && !moved {
			idle++
		} else {
			idle = 0
		}
		r.Drained = started && idle >= 2
	}
	return r.finish(before, prev, start), nil
}

// addSample appends sample n (calls per second since prev) of every API to
// series, and reports whether any call was made.
func addSample(series map[string][]float64, n int, prev, cur emulator.Stats, dt float64) bool {
	moved := false
	for api, a := range cur.APIs {
		d := a.Calls - prev.APIs[api].Calls
		if d > 0 && api != chatapi.APISendMsg {
			moved = true
		}
		s := series[api]
		for len(s) < n {
			s = append(s, 0)
		}
		series[api] = append(s, float64(d)/dt)
	}
	return moved
}

// finish sums up a drain that ended with the counters last.
func (r BacklogResult) finish(before, last emulator.Stats, start time.Time) BacklogResult {
	r.Seconds = time.Since(start).Seconds()
	r.Calls, r.Codes = CallsDiff(before, last)
	r.Sustained, r.Busiest = make(map[string]float64), make(map[string]float64)
	for api, s := range r.PerSecond {
		r.Sustained[api] = sustained(s)
		r.Busiest[api] = slices.Max(s)
	}
	for _, c := range r.Codes {
		r.RateLimited += c["60007"]
	}
	return r
}

// sustained returns the mean of series over its busy samples (non-zero)
// without the first and the last, which are partial seconds; with fewer
// than three busy samples, the mean of those there are.
func sustained(series []float64) float64 {
	first, last := -1, -1
	for i, v := range series {
		if v > 0 {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first < 0 {
		return 0
	}
	busy := series[first : last+1]
	if len(busy) >= 3 {
		busy = busy[1 : len(busy)-1]
	}
	sum := 0.0
	for _, v := range busy {
		sum += v
	}
	return sum / float64(len(busy))
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
