package main

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func countingOp(n *atomic.Int64) func(int) Op {
	return func(int) Op {
		return func(context.Context, int64) Outcome {
			n.Add(1)
			return Outcome{Kind: KindSendMsg, Label: outcomeOK}
		}
	}
}

func TestRunLoopStopsAtRequests(t *testing.T) {
	var n, done atomic.Int64
	res, err := RunLoop(context.Background(), LoopConfig{Concurrency: 4, Duration: time.Minute, Requests: 1000, Done: &done}, countingOp(&n))
	if err != nil {
		t.Fatal(err)
	}
	if n.Load() != 1000 || res.OK() != 1000 || res.Total() != 1000 || done.Load() != 1000 {
		t.Errorf("ops %d, ok %d, total %d, done %d; want 1000 each", n.Load(), res.OK(), res.Total(), done.Load())
	}
}

func TestRunLoopStopsAtDuration(t *testing.T) {
	var n atomic.Int64
	start := time.Now()
	_, err := RunLoop(context.Background(), LoopConfig{Concurrency: 2, Duration: 50 * time.Millisecond, Requests: MaxRequests},
		func(w int) Op {
			return func(ctx context.Context, i int64) Outcome {
				n.Add(1)
				time.Sleep(time.Millisecond) // a request takes time
				return Outcome{Label: outcomeOK}
			}
		})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("the loop ran %v, want about 50ms", took)
	}
	if n.Load() == 0 || n.Load() >= MaxRequests {
		t.Errorf("%d requests", n.Load())
	}
}

// With a rate, request i is not sent before start + i/rate, and the latency
// counts from when it was due.
func TestRunLoopPaced(t *testing.T) {
	var n atomic.Int64
	start := time.Now()
	res, err := RunLoop(context.Background(), LoopConfig{Concurrency: 4, Rate: 1000, Duration: time.Minute, Requests: 50}, countingOp(&n))
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 49*time.Millisecond {
		t.Errorf("50 requests at 1000/s took %v, want at least 49ms", took)
	}
	if res.OK() != 50 {
		t.Errorf("ok %d, want 50", res.OK())
	}
}

func TestRunLoopCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var n atomic.Int64
	_, err := RunLoop(ctx, LoopConfig{Concurrency: 2, Duration: time.Minute, Requests: MaxRequests}, func(int) Op {
		return func(context.Context, int64) Outcome {
			if n.Add(1) == 100 {
				cancel()
			}
			return Outcome{Label: outcomeOK}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := n.Load(); got < 100 || got > 110 {
		t.Errorf("%d requests after cancel at 100", got)
	}
}

func TestLoopConfigBounds(t *testing.T) {
	tests := []struct {
		name string
		cfg  LoopConfig
		want string
	}{
		{"no workers", LoopConfig{Duration: time.Second, Requests: 1}, "concurrency"},
		{"unbounded time", LoopConfig{Concurrency: 1, Requests: 1}, "duration"},
		{"over an hour", LoopConfig{Concurrency: 1, Duration: 2 * time.Hour, Requests: 1}, "duration"},
		{"unbounded count", LoopConfig{Concurrency: 1, Duration: time.Second}, "requests"},
		{"too many", LoopConfig{Concurrency: 1, Duration: time.Second, Requests: MaxRequests + 1}, "requests"},
		{"negative rate", LoopConfig{Concurrency: 1, Duration: time.Second, Requests: 1, Rate: -1}, "rate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := RunLoop(context.Background(), tt.cfg, func(int) Op { return nil })
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("RunLoop(%+v) = %v, want an error about %s", tt.cfg, err, tt.want)
			}
		})
	}
}
