package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/chatsync/chatsync/chatapi"
	"github.com/chatsync/chatsync/chatapi/emulator"
)

// backlogResult is a backlog of auto-read messages filled while no worker
// ran, and how chatsync's workers then worked it off against the
// emulator's per-API limit: per API the calls each second, the sustained
// rate (the mean over the busy seconds but the first and last), the
// busiest second and the answers by ErrorCode.
type backlogResult struct {
	Messages    int64   `json:"messages"`
	FillSeconds float64 `json:"fill_seconds"`
	// CallbackFailures counts the fill's callbacks chatsync did not
	// acknowledge: their messages left no tasks.
	CallbackFailures int64                `json:"callback_failures"`
	Queued           int                  `json:"queued"` // after the fill
	Seconds          float64              `json:"seconds"`
	Drained          bool                 `json:"drained"`
	PerSecond        map[string][]float64 `json:"per_second,omitempty"`
	Sustained        map[string]float64   `json:"sustained,omitempty"`
	Busiest          map[string]float64   `json:"busiest,omitempty"`
	apiCalls
	RateLimited int64 `json:"rate_limited"`
}

// backlogMessages is the size of the backlog: each message leaves a
// set-read, a read-receipt and an unread task.
const backlogMessages = 4000

// cmdBacklog sends real messages from distinct users to the auto-read
// accounts while no worker runs (the emulator's limit lifted), prints
// "filled", then reads the emulator's counters every second while the
// workers (started by the caller) drain the queues.
func cmdBacklog(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("backlog", flag.ContinueOnError)
	timeout := fs.Duration("timeout", 3*time.Minute, "give up the drain after this long")
	s, err := addOptions(fs).parseOpen(fs, args)
	if err != nil {
		return err
	}
	defer s.close()
	r, err := s.fill(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "filled: %d messages, %d tasks queued\n", r.Messages, r.Queued)
	if err := s.drainBacklog(ctx, &r, min(*timeout, maxDuration)); err != nil {
		return err
	}
	return emit(stdout, s.out, record{Backlog: &r})
}

// fill sends the messages, paced: the emulator posts the callbacks of
// distinct conversations at once, and thousands would reach serve together.
func (s *session) fill(ctx context.Context) (backlogResult, error) {
	if len(s.autoRead) == 0 {
		return backlogResult{}, errors.New("$AUTO_READ_ACCOUNTS is required")
	}
	ids := slices.Clone(s.autoRead)
	for i := range backlogMessages {
		ids = append(ids, user(i))
	}
	before, err := s.em.stats(ctx)
	if err == nil {
		err = errors.Join(s.em.importAccounts(ctx, ids), s.em.setRateLimit(ctx, -1))
	}
	if err != nil {
		return backlogResult{}, err
	}
	defer s.em.setRateLimit(context.WithoutCancel(ctx), emulator.DefaultRateLimit)
	cfg := loopConfig{concurrency: 16, rate: 400, duration: 2 * time.Minute, requests: backlogMessages}
	res, err := runLoop(ctx, cfg, func(int) op {
		return func(ctx context.Context, i int64) outcome {
			return sendOutcome(s.chat.SendMsg(ctx, chatapi.SendMsgRequest{FromAccount: user(int(i)),
				ToAccount: s.autoRead[int(i)%len(s.autoRead)], MsgBody: []chatapi.MsgElem{chatapi.TextElem(text)}}))
		}
	})
	r := backlogResult{Messages: res.ok(), FillSeconds: res.elapsed.Seconds()}
	return r, errors.Join(err, s.waitCallbacks(ctx, before, &r))
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
			r.Queued, err = queued(s.aq)
			return err
		}
	}
	return fmt.Errorf("emulator callbacks: %w", ctx.Err())
}

// drainBacklog samples the emulator's calls every second until the queues
// are empty with no call for two samples in a row, or until timeout.
func (s *session) drainBacklog(ctx context.Context, r *backlogResult, timeout time.Duration) error {
	start := time.Now()
	before, err := s.em.stats(ctx)
	if err != nil {
		return err
	}
	sm, drained, _, err := s.drain(ctx, time.Second, 2, timeout)
	if err != nil {
		return err
	}
	last, err := s.em.stats(ctx)
	r.Seconds, r.Drained, r.PerSecond = time.Since(start).Seconds(), drained, sm.rates
	r.apiCalls = callsBetween(before, last)
	r.RateLimited = r.rateLimited()
	r.Sustained, r.Busiest = map[string]float64{}, map[string]float64{}
	for api, series := range sm.rates {
		r.Sustained[api], r.Busiest[api] = sustained(series), slices.Max(series)
	}
	return err
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
