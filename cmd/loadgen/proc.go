package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// vmRSS returns process pid's resident set size in KiB, from /proc/<pid>/status.
func vmRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
}

// sampleRSS reads pid's VmRSS every second until ctx is done.
func sampleRSS(ctx context.Context, pid int) []int64 {
	var out []int64
	for {
		if kib, err := vmRSS(pid); err == nil {
			out = append(out, kib)
		}
		if !sleepUntil(ctx, time.Now().Add(time.Second)) {
			return out
		}
	}
}

// memoryResult is serve's VmRSS each second: after warm-up (the first fifth), the peak after it, the last.
type memoryResult struct {
	Requests     int64   `json:"requests"`
	Seconds      float64 `json:"seconds"`
	SamplesKiB   []int64 `json:"samples_kib"`
	WarmKiB      int64   `json:"warm_kib"`
	PeakAfterKiB int64   `json:"peak_after_kib"`
	EndKiB       int64   `json:"end_kib"`
}

func summarizeRSS(lr loadResult, samples []int64) memoryResult {
	m := memoryResult{Requests: lr.Requests, Seconds: lr.Seconds, SamplesKiB: samples}
	if len(samples) > 0 {
		warm := len(samples) / 5
		m.WarmKiB, m.PeakAfterKiB, m.EndKiB = samples[warm], slices.Max(samples[warm:]), samples[len(samples)-1]
	}
	return m
}
