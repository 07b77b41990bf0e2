package main

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestRunLoop(t *testing.T) {
	tests := []struct {
		name      string
		cfg       loopConfig
		cancelAt  int64
		wantOK    func(int64) bool
		wantAtMin time.Duration // the loop takes at least this long
	}{
		{"stops at requests", loopConfig{concurrency: 4, duration: time.Minute, requests: 1000}, 0,
			func(n int64) bool { return n == 1000 }, 0},
		{"stops at duration", loopConfig{concurrency: 2, duration: 50 * time.Millisecond, requests: maxRequests}, 0,
			func(n int64) bool { return n > 0 && n < maxRequests }, 50 * time.Millisecond},
		{"paced", loopConfig{concurrency: 4, rate: 1000, duration: time.Minute, requests: 50}, 0,
			func(n int64) bool { return n == 50 }, 49 * time.Millisecond},
		{"canceled", loopConfig{concurrency: 2, duration: time.Minute, requests: maxRequests}, 100,
			func(n int64) bool { return n >= 100 && n <= 110 }, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var done, n atomic.Int64
			tt.cfg.done = &done
			start := time.Now()
			res, err := runLoop(ctx, tt.cfg, func(int) op {
				return func(context.Context, int64) outcome {
					if n.Add(1) == tt.cancelAt {
						cancel()
					}
					time.Sleep(100 * time.Microsecond)
					return outcome{kind: kindSendMsg, label: outcomeOK}
				}
			})
			took := time.Since(start)
			if err != nil || !tt.wantOK(res.ok()) || res.total() != res.ok() || done.Load() != res.ok() || took < tt.wantAtMin || took > 5*time.Second {
				t.Errorf("runLoop = %v: %d ok of %d, done %d, in %v", err, res.ok(), res.total(), done.Load(), took)
			}
		})
	}
}

func TestLoopBounds(t *testing.T) {
	for _, cfg := range []loopConfig{
		{duration: time.Second, requests: 1},
		{concurrency: 1, requests: 1},
		{concurrency: 1, duration: 2 * time.Hour, requests: 1},
		{concurrency: 1, duration: time.Second},
		{concurrency: 1, duration: time.Second, requests: 1, rate: -1},
	} {
		if _, err := runLoop(context.Background(), cfg, nil); err == nil || !strings.HasPrefix(err.Error(), "loop: ") {
			t.Errorf("runLoop(%+v) = %v, want an error", cfg, err)
		}
	}
}

func TestSummarize(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = ms(100 - i)
	}
	tests := []struct {
		in   []time.Duration
		want latency
	}{
		{nil, latency{}},
		{[]time.Duration{ms(30), ms(10), ms(20), ms(40)}, latency{N: 4, P50: 20, P95: 40, P99: 40, Max: 40}},
		{hundred, latency{N: 100, P50: 50, P95: 95, P99: 99, Max: 100}}, // nearest rank: p99 of 100 is the 99th
		{[]time.Duration{500 * time.Microsecond}, latency{N: 1, P50: 0.5, P95: 0.5, P99: 0.5, Max: 0.5}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, summarize(tt.in)); diff != "" {
			t.Errorf("summarize (-want +got):\n%s", diff)
		}
	}
}
