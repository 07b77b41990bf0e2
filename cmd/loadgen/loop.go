package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Bounds of every request loop: loadgen never runs unbounded.
const (
	MaxRequests = 10_000_000
	MaxDuration = time.Hour
	MaxWorkers  = 4096
)

// outcomeOK labels a successful request; every other label is an error
// ("503", "net:timeout", "200:FAIL", …).
const outcomeOK = "ok"

// LoopConfig bounds and paces a request loop.
type LoopConfig struct {
	Concurrency int           // workers (1 to MaxWorkers)
	Rate        float64       // requests per second over all workers; 0 = closed loop, as fast as possible
	Duration    time.Duration // stop starting requests after this (up to MaxDuration)
	Requests    int64         // and after this many (1 to MaxRequests)
	// Done, when set, counts finished requests, for observers (RSS sampler,
	// periodic flush).
	Done *atomic.Int64
}

func (c LoopConfig) validate() error {
	var errs []error
	if c.Concurrency < 1 || c.Concurrency > MaxWorkers {
		errs = append(errs, fmt.Errorf("concurrency %d is not from 1 to %d", c.Concurrency, MaxWorkers))
	}
	if c.Rate < 0 {
		errs = append(errs, errors.New("rate is negative"))
	}
	if c.Duration <= 0 || c.Duration > MaxDuration {
		errs = append(errs, fmt.Errorf("duration %v is not from 1ns to %v", c.Duration, MaxDuration))
	}
	if c.Requests < 1 || c.Requests > MaxRequests {
		errs = append(errs, fmt.Errorf("requests %d is not from 1 to %d", c.Requests, MaxRequests))
	}
	return errors.Join(errs...)
}

// Outcome is what one request came to. Start, when set, replaces the
// scheduled time as the start of its latency (e.g. to leave out the setup
// of an e2e probe).
type Outcome struct {
	Kind  Kind
	Label string
	Start time.Time
}

// Op makes request i. It is called by one worker at a time; each worker
// gets its own Op from the factory given to RunLoop.
type Op func(ctx context.Context, i int64) Outcome

// LoopResult is what a loop did.
type LoopResult struct {
	Elapsed time.Duration
	rec     *recorder
}

// OK returns the number of successful requests.
func (r LoopResult) OK() int64 { return r.rec.counts[outcomeOK] }

// Total returns the number of finished requests.
func (r LoopResult) Total() int64 {
	var n int64
	for _, v := range r.rec.counts {
		n += v
	}
	return n
}

// RunLoop runs cfg.Concurrency workers, each with an Op from newOp (called
// in the caller's goroutine, before any worker starts), until
// cfg.Requests requests were started, cfg.Duration has passed or ctx is
// done. With a Rate, request i is due at start + i/Rate and its latency is
// counted from then, so that a slow server cannot hide queueing delay
// (coordinated omission); without one, from when it is sent.
func RunLoop(ctx context.Context, cfg LoopConfig, newOp func(worker int) Op) (LoopResult, error) {
	if err := cfg.validate(); err != nil {
		return LoopResult{}, fmt.Errorf("loop: %w", err)
	}
	var next atomic.Int64
	start := time.Now()
	deadline := start.Add(cfg.Duration)
	var interval time.Duration
	if cfg.Rate > 0 {
		interval = time.Duration(float64(time.Second) / cfg.Rate)
	}
	capHint := int(min(cfg.Requests/int64(cfg.Concurrency)+1, 1<<16))
	recs := make([]*recorder, cfg.Concurrency)
	var wg sync.WaitGroup
	for w := range cfg.Concurrency {
		recs[w] = newRecorder(capHint)
		op := newOp(w)
		wg.Go(func() {
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= cfg.Requests {
					return
				}
				at := time.Now()
				if interval > 0 {
					at = start.Add(time.Duration(i) * interval)
				}
				if at.After(deadline) || !sleepUntil(ctx, at) {
					return
				}
				o := op(ctx, i)
				if !o.Start.IsZero() {
					at = o.Start
				}
				recs[w].add(o.Kind, o.Label, time.Since(at))
				if cfg.Done != nil {
					cfg.Done.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return LoopResult{Elapsed: time.Since(start), rec: merge(recs)}, nil
}

// sleepUntil waits until t; it reports false when ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// LoadResult is one measured load phase, as stored in the results file.
type LoadResult struct {
	System      string           `json:"system"` // "chatsync" or "asynq" (the raw baseline)
	Label       string           `json:"label,omitempty"`
	Concurrency int              `json:"concurrency"`
	Rate        float64          `json:"rate,omitempty"` // target; 0 = closed loop
	Seconds     float64          `json:"seconds"`
	Requests    int64            `json:"requests"` // finished
	OK          int64            `json:"ok"`
	PerSecond   float64          `json:"per_second"` // successful requests per second
	Tasks       int64            `json:"tasks,omitempty"`
	Latency     Latency          `json:"latency"`
	Errors      map[string]int64 `json:"errors,omitempty"`
	Kinds       map[string]int64 `json:"kinds,omitempty"` // successful requests by kind
	// CPU is the CPU time each measured process (serve, redis, loadgen, …)
	// used per successful request, in microseconds.
	CPU map[string]float64 `json:"cpu_us_per_request,omitempty"`
}

// loadResult summarises a loop.
func loadResult(system, label string, cfg LoopConfig, r LoopResult) LoadResult {
	secs := r.Elapsed.Seconds()
	out := LoadResult{
		System: system, Label: label, Concurrency: cfg.Concurrency, Rate: cfg.Rate,
		Seconds: secs, Requests: r.Total(), OK: r.OK(),
		Latency: Summarize(r.rec.lat), Errors: errorsOf(r.rec.counts),
	}
	if secs > 0 {
		out.PerSecond = float64(out.OK) / secs
	}
	for k, n := range r.rec.kinds {
		if n > 0 {
			if out.Kinds == nil {
				out.Kinds = make(map[string]int64)
			}
			out.Kinds[Kind(k).String()] = n
		}
	}
	return out
}
