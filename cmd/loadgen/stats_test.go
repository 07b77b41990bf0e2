package main

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func ms(n ...int) []time.Duration {
	out := make([]time.Duration, len(n))
	for i, v := range n {
		out[i] = time.Duration(v) * time.Millisecond
	}
	return out
}

func TestPercentile(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one value", ms(7), 99, 7 * time.Millisecond},
		{"p50 of two is the first", ms(1, 2), 50, time.Millisecond},
		{"p50 of three is the middle", ms(1, 2, 3), 50, 2 * time.Millisecond},
		{"p99 of 100 is the 99th", hundred, 99, 99 * time.Millisecond},
		{"p95 of 100 is the 95th", hundred, 95, 95 * time.Millisecond},
		{"p100 is the max", hundred, 100, 100 * time.Millisecond},
		{"p99 of 10 is the max", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
		{"tiny p is the min", ms(4, 5, 6), 0.001, 4 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("Percentile(%v, %v) = %v, want %v", tt.sorted, tt.p, got, tt.want)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	tests := []struct {
		name string
		in   []time.Duration
		want Latency
	}{
		{"none", nil, Latency{}},
		{"unsorted", ms(30, 10, 20, 40), Latency{N: 4, P50: 20, P95: 40, P99: 40, Max: 40}},
		{"sub-millisecond", []time.Duration{500 * time.Microsecond, 1500 * time.Microsecond},
			Latency{N: 2, P50: 0.5, P95: 1.5, P99: 1.5, Max: 1.5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, Summarize(tt.in)); diff != "" {
				t.Errorf("Summarize (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMergeAndErrors(t *testing.T) {
	a, b := newRecorder(0), newRecorder(0)
	a.add(KindSendMsg, outcomeOK, time.Millisecond)
	a.add(KindSendMsg, "503", 2*time.Millisecond)
	b.add(KindMsgReport, outcomeOK, 3*time.Millisecond)
	b.add(KindOther, "net:timeout", time.Second)
	m := merge([]*recorder{a, b})
	if diff := cmp.Diff(ms(1, 3), m.lat); diff != "" {
		t.Errorf("latencies of successes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int64{"503": 1, "net:timeout": 1}, errorsOf(m.counts)); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
	if m.kinds[KindSendMsg] != 1 || m.kinds[KindMsgReport] != 1 || m.kinds[KindOther] != 0 {
		t.Errorf("kinds = %v, want one AfterSendMsg and one AfterMsgReport", m.kinds)
	}
	if got := errorsOf(map[string]int64{outcomeOK: 5}); got != nil {
		t.Errorf("errorsOf(only ok) = %v, want nil", got)
	}
}
