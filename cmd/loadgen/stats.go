package main

import (
	"maps"
	"slices"
	"time"
)

// Latency summarises a set of durations, in milliseconds.
type Latency struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50_ms"`
	P95 float64 `json:"p95_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
}

// Percentile returns the p-th percentile (0 < p ≤ 100) of sorted by the
// nearest-rank method: the smallest value with at least p % of the values at
// or below it. It returns 0 for an empty slice.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	// rank = ceil(p/100 · n), computed in integers where possible so that
	// p99 of 100 values is the 99th and not the 100th.
	rank := int(p * float64(n) / 100)
	if float64(rank)*100 < p*float64(n) {
		rank++
	}
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}

// Summarize sorts ds in place and returns their percentiles.
func Summarize(ds []time.Duration) Latency {
	slices.Sort(ds)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	l := Latency{N: len(ds)}
	if len(ds) == 0 {
		return l
	}
	l.P50, l.P95, l.P99 = ms(Percentile(ds, 50)), ms(Percentile(ds, 95)), ms(Percentile(ds, 99))
	l.Max = ms(ds[len(ds)-1])
	return l
}

// recorder collects one worker's outcomes. It is owned by one goroutine.
type recorder struct {
	lat    []time.Duration
	counts map[string]int64 // by outcome label; "ok" for success
	kinds  [numKinds]int64  // successful requests by kind
}

func newRecorder(capHint int) *recorder {
	return &recorder{lat: make([]time.Duration, 0, capHint), counts: make(map[string]int64)}
}

func (r *recorder) add(k Kind, outcome string, d time.Duration) {
	r.counts[outcome]++
	if outcome == outcomeOK {
		r.lat = append(r.lat, d)
		if k >= 0 && k < numKinds {
			r.kinds[k]++
		}
	}
}

// merge returns the union of recs.
func merge(recs []*recorder) *recorder {
	n := 0
	for _, r := range recs {
		n += len(r.lat)
	}
	out := newRecorder(n)
	for _, r := range recs {
		out.lat = append(out.lat, r.lat...)
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
