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

// backlogResult is a backlog filled while no worker ran, and its drain against the emulator's per-API limit.
type backlogResult struct {
	Messages         int64              `json:"messages"`
	FillSeconds      float64            `json:"fill_seconds"`
	CallbackFailures int64              `json:"callback_failures"` // fill callbacks not acknowledged: no tasks
	Queued           int                `json:"queued"`            // after the fill
	Seconds          float64            `json:"seconds"`
	Drained          bool               `json:"drained"`
	Sustained        map[string]float64 `json:"sustained,omitempty"`
	Busiest          map[string]float64 `json:"busiest,omitempty"`
	apiCalls
}

// backlogMessages is the size of the backlog (three tasks each).
const backlogMessages = 4000

// cmdBacklog fills a backlog, prints "filled", and samples its drain once the caller starts a worker.
func cmdBacklog(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("backlog", flag.ContinueOnError)
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
	if err := s.drainBacklog(ctx, &r, 3*time.Minute); err != nil {
		return err
	}
	return emit(stdout, s.out, record{Backlog: &r})
}

// fill sends real messages to the auto-read accounts, paced (the emulator fires their callbacks at once).
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
		err = s.em.setRateLimit(ctx, -1)
	}
	if err != nil {
		return backlogResult{}, err
	}
	defer s.em.setRateLimit(context.WithoutCancel(ctx), emulator.DefaultRateLimit)
	cfg := loopConfig{concurrency: 16, rate: 400, duration: 2 * time.Minute, requests: backlogMessages}
	res, err := s.sendMessages(ctx, cfg, ids, func(i int) (string, string) { return user(i), s.autoRead[i%len(s.autoRead)] })
	r := backlogResult{Messages: res.ok(), FillSeconds: res.elapsed.Seconds()}
	return r, errors.Join(err, s.waitCallbacks(ctx, before, &r))
}

// waitCallbacks waits for the fill's AfterSendMsg callbacks and records the queues then.
func (s *session) waitCallbacks(ctx context.Context, before emulator.Stats, r *backlogResult) (err error) {
	cmd, st := chatapi.CommandAfterSendMsg, emulator.Stats{}
	took := waitFor(ctx, 100*time.Millisecond, 2*time.Minute, func() bool {
		st, err = s.em.stats(ctx)
		return err != nil || st.Callbacks[cmd].Sent-before.Callbacks[cmd].Sent >= r.Messages
	})
	if err == nil && took < 0 {
		err = errors.New("the emulator did not send the fill's callbacks within 2 minutes")
	}
	if err != nil {
		return err
	}
	r.CallbackFailures = st.Callbacks[cmd].Failed - before.Callbacks[cmd].Failed
	r.Queued, err = queued(s.aq)
	return err
}

// drainBacklog samples the calls every second until the queues and the emulator are quiet.
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
	r.Seconds, r.Drained = time.Since(start).Seconds(), drained
	r.apiCalls = callsBetween(before, last)
	r.Sustained, r.Busiest = map[string]float64{}, map[string]float64{}
	for api, series := range sm.rates {
		r.Sustained[api], r.Busiest[api] = sustained(series), slices.Max(series)
	}
	return err
}

// sustained returns the mean of series' busy samples but the first and last (partial seconds).
func sustained(series []float64) float64 {
	first, last := slices.IndexFunc(series, func(v float64) bool { return v > 0 }), len(series)-1
	if first < 0 {
		return 0
	}
	for series[last] == 0 {
		last--
	}
	busy, sum := series[first:last+1], 0.0
	if len(busy) >= 3 {
		busy = busy[1 : len(busy)-1]
	}
	for _, v := range busy {
		sum += v
	}
	return sum / float64(len(busy))
}
