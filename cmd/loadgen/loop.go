package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Bounds of every request loop: loadgen never runs unbounded.
const (
	maxRequests = 10_000_000
	maxDuration = time.Hour
	maxWorkers  = 4096
)

// outcomeOK labels a successful request; any other label is an error
// ("503", "net:timeout", "200:FAIL", …).
const outcomeOK = "ok"

// loopConfig bounds and paces a request loop.
type loopConfig struct {
	concurrency int
	rate        float64 // requests per second over all workers; 0 = closed loop
	duration    time.Duration
	requests    int64
	done        *atomic.Int64 // when set, counts finished requests for observers
}

func (c loopConfig) validate() error {
	var errs []error
	if c.concurrency < 1 || c.concurrency > maxWorkers {
		errs = append(errs, fmt.Errorf("concurrency %d is not from 1 to %d", c.concurrency, maxWorkers))
	}
	if c.rate < 0 {
		errs = append(errs, errors.New("rate is negative"))
	}
	if c.duration <= 0 || c.duration > maxDuration {
		errs = append(errs, fmt.Errorf("duration %v is not from 1ns to %v", c.duration, maxDuration))
	}
	if c.requests < 1 || c.requests > maxRequests {
		errs = append(errs, fmt.Errorf("requests %d is not from 1 to %d", c.requests, maxRequests))
	}
	return errors.Join(errs...)
}

// outcome is what one request came to. start, when set, replaces the
// scheduled time as the start of its latency.
type outcome struct {
	kind  kind
	label string
	start time.Time
}

// op makes request i; each worker has its own.
type op func(ctx context.Context, i int64) outcome

// loopResult is what a loop did.
type loopResult struct {
	elapsed time.Duration
	rec     *recorder
}

func (r loopResult) ok() int64 { return r.rec.counts[outcomeOK] }

func (r loopResult) total() (n int64) {
	for _, v := range r.rec.counts {
		n += v
	}
	return n
}

// runLoop runs cfg.concurrency workers, each with an op from newOp, until
// cfg.requests were started, cfg.duration passed or ctx is done. With a
// rate, request i is due at start + i/rate and its latency counts from
// then, so a slow server cannot hide queueing (coordinated omission).
func runLoop(ctx context.Context, cfg loopConfig, newOp func(worker int) op) (loopResult, error) {
	if err := cfg.validate(); err != nil {
		return loopResult{}, fmt.Errorf("loop: %w", err)
	}
	l := &loop{cfg: cfg, start: time.Now()}
	if cfg.rate > 0 {
		l.interval = time.Duration(float64(time.Second) / cfg.rate)
	}
	recs := make([]*recorder, cfg.concurrency)
	var wg sync.WaitGroup
	for w := range cfg.concurrency {
		recs[w] = &recorder{counts: map[string]int64{}}
		o := newOp(w)
		wg.Go(func() { l.work(ctx, o, recs[w]) })
	}
	wg.Wait()
	return loopResult{elapsed: time.Since(l.start), rec: merge(recs)}, nil
}

type loop struct {
	cfg      loopConfig
	start    time.Time
	interval time.Duration
	next     atomic.Int64
}

func (l *loop) work(ctx context.Context, o op, rec *recorder) {
	deadline := l.start.Add(l.cfg.duration)
	for ctx.Err() == nil {
		i := l.next.Add(1) - 1
		at := time.Now()
		if l.interval > 0 {
			at = l.start.Add(time.Duration(i) * l.interval)
		}
		if i >= l.cfg.requests || at.After(deadline) || !sleepUntil(ctx, at) {
			return
		}
		out := o(ctx, i)
		if !out.start.IsZero() {
			at = out.start
		}
		rec.add(out, time.Since(at))
		if l.cfg.done != nil {
			l.cfg.done.Add(1)
		}
	}
}

// sleepUntil waits until t; it reports false when ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// recorder collects one worker's outcomes.
type recorder struct {
	latencies []time.Duration // of successes
	counts    map[string]int64
	kinds     [numKinds]int64 // successes by kind
}

func (r *recorder) add(o outcome, d time.Duration) {
	r.counts[o.label]++
	if o.label == outcomeOK {
		r.latencies = append(r.latencies, d)
		r.kinds[o.kind]++
	}
}

func merge(recs []*recorder) *recorder {
	out := &recorder{counts: map[string]int64{}}
	for _, r := range recs {
		out.latencies = append(out.latencies, r.latencies...)
		for k, v := range r.counts {
			out.counts[k] += v
		}
		for k := range r.kinds {
			out.kinds[k] += r.kinds[k]
		}
	}
	return out
}

// errorsOf returns the counts of every outcome but success, or nil.
func errorsOf(counts map[string]int64) map[string]int64 {
	out := maps.Clone(counts)
	delete(out, outcomeOK)
	if len(out) == 0 {
		return nil
	}
	return out
}

// latency summarises durations, in milliseconds.
type latency struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50_ms"`
	P95 float64 `json:"p95_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
}

// summarize sorts ds and returns their nearest-rank percentiles: the
// smallest value with at least p % of the values at or below it.
func summarize(ds []time.Duration) latency {
	slices.Sort(ds)
	n := len(ds)
	if n == 0 {
		return latency{}
	}
	at := func(p int) float64 {
		rank := min(max((p*n+99)/100, 1), n) // ceil(p·n/100)
		return float64(ds[rank-1]) / float64(time.Millisecond)
	}
	return latency{N: n, P50: at(50), P95: at(95), P99: at(99), Max: at(100)}
}

// loadResult is one measured load phase, as stored in the results file.
type loadResult struct {
	System      string           `json:"system"` // chatsync, asynq (raw) or handler
	Label       string           `json:"label,omitempty"`
	Concurrency int              `json:"concurrency"`
	Rate        float64          `json:"rate,omitempty"` // target; 0 = closed loop
	Seconds     float64          `json:"seconds"`
	Requests    int64            `json:"requests"` // finished
	OK          int64            `json:"ok"`
	PerSecond   float64          `json:"per_second"` // successes per second
	Tasks       int64            `json:"tasks,omitempty"`
	Latency     latency          `json:"latency"`
	Errors      map[string]int64 `json:"errors,omitempty"`
	Kinds       map[string]int64 `json:"kinds,omitempty"` // successes by kind
	// CPU is each measured process's CPU time per success, in µs.
	CPU map[string]float64 `json:"cpu_us_per_request,omitempty"`
	// Tracing, the OTLP trace export requests and bytes the receiver got
	// during the phase (-otlp).
	Tracing       bool  `json:"tracing,omitempty"`
	TraceRequests int64 `json:"trace_requests,omitempty"`
	TraceBytes    int64 `json:"trace_bytes,omitempty"`
}

func newLoadResult(system, label string, cfg loopConfig, r loopResult) loadResult {
	out := loadResult{System: system, Label: label, Concurrency: cfg.concurrency, Rate: cfg.rate,
		Seconds: r.elapsed.Seconds(), Requests: r.total(), OK: r.ok(),
		Latency: summarize(r.rec.latencies), Errors: errorsOf(r.rec.counts), Kinds: map[string]int64{}}
	out.PerSecond = float64(out.OK) / max(out.Seconds, 1e-9)
	for k, n := range r.rec.kinds {
		if n > 0 {
			out.Kinds[kind(k).String()] = n
		}
	}
	return out
}
