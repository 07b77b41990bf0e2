package main

import (
	"context"
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

// outcomeOK labels a successful request; any other label is an error.
const outcomeOK = "ok"

// loopConfig bounds and paces a request loop; rate 0 is a closed loop.
type loopConfig struct {
	concurrency int
	rate        float64 // requests per second over all workers
	duration    time.Duration
	requests    int64
}

func (c loopConfig) validate() error {
	if c.concurrency < 1 || c.concurrency > maxWorkers || c.rate < 0 || c.duration <= 0 || c.duration > maxDuration ||
		c.requests < 1 || c.requests > maxRequests {
		return fmt.Errorf("loop: want 1 to %d workers, a rate ≥ 0, up to %v and 1 to %d requests, got %+v",
			maxWorkers, maxDuration, maxRequests, c)
	}
	return nil
}

// outcome is what one request came to; start, when set, starts its latency.
type outcome struct {
	label string
	start time.Time
}

// op makes request i; each worker has its own.
type op func(ctx context.Context, i int64) outcome

// loopResult is what a loop did: the latencies of successes and the count of each outcome.
type loopResult struct {
	elapsed   time.Duration
	latencies []time.Duration
	counts    map[string]int64
}

func (r loopResult) ok() int64 { return r.counts[outcomeOK] }

// runLoop runs the workers until cfg's bounds or ctx; paced latency counts from when a request was due.
func runLoop(ctx context.Context, cfg loopConfig, newOp func(worker int) op) (loopResult, error) {
	if err := cfg.validate(); err != nil {
		return loopResult{}, err
	}
	start, next := time.Now(), atomic.Int64{}
	var mu sync.Mutex
	res := loopResult{counts: map[string]int64{}}
	var wg sync.WaitGroup
	for w := range cfg.concurrency {
		o := newOp(w)
		wg.Go(func() {
			r := work(ctx, cfg, start, &next, o)
			mu.Lock()
			defer mu.Unlock()
			res.latencies = append(res.latencies, r.latencies...)
			for k, v := range r.counts {
				res.counts[k] += v
			}
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	return res, nil
}

// work is one worker of runLoop.
func work(ctx context.Context, cfg loopConfig, start time.Time, next *atomic.Int64, o op) loopResult {
	r := loopResult{counts: map[string]int64{}}
	for ctx.Err() == nil {
		i, at := next.Add(1)-1, time.Now()
		if cfg.rate > 0 {
			at = start.Add(time.Duration(float64(i) * float64(time.Second) / cfg.rate))
		}
		if i >= cfg.requests || at.After(start.Add(cfg.duration)) || !sleepUntil(ctx, at) {
			break
		}
		out := o(ctx, i)
		if !out.start.IsZero() {
			at = out.start
		}
		if r.counts[out.label]++; out.label == outcomeOK {
			r.latencies = append(r.latencies, time.Since(at))
		}
	}
	return r
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

// waitFor checks done every interval and returns the seconds until it held (-1: not within limit).
func waitFor(ctx context.Context, interval, limit time.Duration, done func() bool) float64 {
	start := time.Now()
	for time.Since(start) < limit && sleepUntil(ctx, time.Now().Add(interval)) {
		if done() {
			return time.Since(start).Seconds()
		}
	}
	return -1
}

// errorsOf returns the counts of every outcome but success.
func errorsOf(counts map[string]int64) map[string]int64 {
	out := maps.Clone(counts)
	delete(out, outcomeOK)
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

// summarize sorts ds and returns their nearest-rank percentiles.
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
	System      string           `json:"system"` // chatsync, chatsync+tracing, asynq (raw) or handler
	Label       string           `json:"label,omitempty"`
	Concurrency int              `json:"concurrency"`
	Rate        float64          `json:"rate,omitempty"` // target; 0 = closed loop
	Seconds     float64          `json:"seconds"`
	OK          int64            `json:"ok"`
	PerSecond   float64          `json:"per_second"` // successes per second
	Latency     latency          `json:"latency"`
	Errors      map[string]int64 `json:"errors,omitempty"`
	// Tracing: the OTLP trace export requests and bytes the receiver got during the phase.
	Tracing       bool  `json:"tracing,omitempty"`
	TraceRequests int64 `json:"trace_requests,omitempty"`
	TraceBytes    int64 `json:"trace_bytes,omitempty"`
}

func newLoadResult(system, label string, cfg loopConfig, r loopResult) loadResult {
	return loadResult{System: system, Label: label, Concurrency: cfg.concurrency, Rate: cfg.rate,
		Seconds: r.elapsed.Seconds(), OK: r.ok(), PerSecond: float64(r.ok()) / max(r.elapsed.Seconds(), 1e-9),
		Latency: summarize(r.latencies), Errors: errorsOf(r.counts)}
}
