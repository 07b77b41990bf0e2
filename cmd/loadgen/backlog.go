package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/hibiken/asynq"

	"github.com/chatsync/chatsync/chatapi"
	"github.com/chatsync/chatsync/chatapi/emulator"
)

// backlogResult is a backlog of auto-read messages (Phase "fill") or how
// chatsync's workers worked it off against the emulator's per-API limit
// (Phase "drain"): per API the calls each second, the sustained rate (the
// mean over the busy seconds but the first and last), the busiest second
// and the answers by ErrorCode.
type backlogResult struct {
	Phase       string  `json:"phase"`
	Messages    int64   `json:"messages,omitempty"`
	FillSeconds float64 `json:"fill_seconds,omitempty"`
	// CallbackFailures counts the fill's callbacks chatsync did not
	// acknowledge: their messages left no tasks.
	CallbackFailures int64                `json:"callback_failures,omitempty"`
	Queued           queued               `json:"queued"` // after the fill
	Seconds          float64              `json:"seconds,omitempty"`
	Drained          bool                 `json:"drained,omitempty"`
	PerSecond        map[string][]float64 `json:"per_second,omitempty"`
	Sustained        map[string]float64   `json:"sustained,omitempty"`
	Busiest          map[string]float64   `json:"busiest,omitempty"`
	apiCalls
	RateLimited int64 `json:"rate_limited"`
}

// cmdBacklogFill sends real messages from distinct users to the auto-read
// accounts while no worker runs, with the emulator's limit lifted for the
// fill: each leaves a set-read, a read-receipt and an unread task.
func cmdBacklogFill(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("backlog-fill", flag.ContinueOnError)
	// Paced: the emulator posts the callbacks of distinct conversations at
	// once, and thousands would reach serve together.
	cfg, _ := addLoop(fs, loopConfig{concurrency: 16, rate: 400, duration: 2 * time.Minute, requests: 4000})
	s, err := addOptions(fs).parseOpen(fs, args)
	if err != nil {
		return err
	}
	defer s.close()
	if len(s.autoRead) == 0 {
		return errors.New("-auto-read (or $AUTO_READ_ACCOUNTS) is required")
	}
	ids := slices.Clone(s.autoRead)
	for i := range cfg.requests {
		ids = append(ids, user(int(i)))
	}
	before, err := s.em.stats(ctx)
	if err == nil {
		err = errors.Join(s.em.importAccounts(ctx, ids), s.em.setRateLimit(ctx, -1))
	}
	if err != nil {
		return err
	}
	defer s.em.setRateLimit(context.WithoutCancel(ctx), emulator.DefaultRateLimit)
	res, err := runLoop(ctx, *cfg, func(int) op {
		return func(ctx context.Context, i int64) outcome {
			return sendOutcome(s.chat.SendMsg(ctx, chatapi.SendMsgRequest{FromAccount: user(int(i)),
				ToAccount: s.autoRead[int(i)%len(s.autoRead)], MsgBody: []chatapi.MsgElem{chatapi.TextElem(text)}}))
		}
	})
	r := backlogResult{Phase: "fill", Messages: res.ok(), FillSeconds: res.elapsed.Seconds()}
	if err = errors.Join(err, s.waitCallbacks(ctx, before, &r)); err != nil {
		return err
	}
	return emit(stdout, s.out, record{Backlog: &r})
}

// waitCallbacks waits until the emulator has sent the fill's AfterSendMsg
// callbacks, and records the queues then and the failed callbacks.
func (s *session) waitCallbacks(ctx context.Context, before emulator.Stats, r *backlogResult) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := emulator.CommandAfterSendMsg
	for sleepUntil(ctx, time.Now().Add(100*time.Millisecond)) {
		st, err := s.em.stats(ctx)
		if err != nil {
			return err
		}
		if st.Callbacks[cmd].Sent-before.Callbacks[cmd].Sent >= r.Messages {
			r.CallbackFailures = st.Callbacks[cmd].Failed - before.Callbacks[cmd].Failed
			r.Queued, err = queueState(s.aq)
			return err
		}
	}
	return fmt.Errorf("emulator callbacks: %w", ctx.Err())
}

// cmdBacklogDrain watches the workers drain the backlog: it reads the
// emulator's counters every second until the queues are empty.
func cmdBacklogDrain(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("backlog-drain", flag.ContinueOnError)
	timeout := fs.Duration("timeout", 3*time.Minute, "give up after this long")
	s, err := addOptions(fs).parseOpen(fs, args)
	if err != nil {
		return err
	}
	defer s.close()
	r, err := drainSeries(ctx, s.em, s.aq, time.Second, min(*timeout, maxDuration))
	if err != nil {
		return err
	}
	return emit(stdout, s.out, record{Backlog: &r})
}

// drainSeries samples the emulator's calls every interval until the
// workers have started and the queues are empty with no call for two
// samples in a row, or until timeout.
func drainSeries(ctx context.Context, em *emulatorClient, aq *asynq.Inspector, interval, timeout time.Duration) (backlogResult, error) {
	r := backlogResult{Phase: "drain"}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	before, err := em.stats(ctx)
	if err != nil {
		return r, err
	}
	started, idle := false, 0
	s, err := sample(ctx, em, aq, interval, func(s *sampler) bool {
		moved := false
		for api, rates := range s.rates {
			moved = moved || api != chatapi.APISendMsg && rates[len(rates)-1] > 0
		}
		started, idle = started || moved, idle+1
		if s.depth[len(s.depth)-1] > 0 || moved {
			idle = 0
		}
		r.Drained = started && idle >= 2
		return !r.Drained
	})
	if err != nil {
		return r, err
	}
	last, err := em.stats(context.WithoutCancel(ctx))
	r.PerSecond = s.rates
	r.finish(before, last, start)
	return r, err
}

// finish sums up a drain that ended with the counters last.
func (r *backlogResult) finish(before, last emulator.Stats, start time.Time) {
	r.Seconds = time.Since(start).Seconds()
	r.apiCalls = callsBetween(before, last)
	r.RateLimited = r.rateLimited()
	r.Sustained, r.Busiest = map[string]float64{}, map[string]float64{}
	for api, s := range r.PerSecond {
		r.Sustained[api], r.Busiest[api] = sustained(s), slices.Max(s)
	}
}

// sustained returns the mean of series over its busy (non-zero) samples
// without the first and the last, which are partial seconds; with fewer
// than three busy samples, the mean of those there are.
func sustained(series []float64) float64 {
	first := slices.IndexFunc(series, func(v float64) bool { return v > 0 })
	if first < 0 {
		return 0
	}
	last := first
	for i, v := range series {
		if v > 0 {
			last = i
		}
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
