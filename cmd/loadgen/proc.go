package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// vmRSS returns process pid's resident set size in KiB, from
// /proc/<pid>/status.
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

// cpuTime returns the user plus system CPU time of process pid (0: this
// one): fields 14 and 15 of /proc/<pid>/stat, in ticks of USER_HZ (100 on
// every Linux Go supports), counted after the command name's parenthesis.
func cpuTime(pid int) (time.Duration, error) {
	path := "/proc/self/stat"
	if pid != 0 {
		path = fmt.Sprintf("/proc/%d/stat", pid)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("%s: %d fields after the name, want at least 13", path, len(f))
	}
	user, err1 := strconv.ParseInt(f[11], 10, 64)
	sys, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("%s: CPU times %q %q", path, f[11], f[12])
	}
	return time.Duration(user+sys) * time.Second / 100, nil
}

// cpuMeter measures the CPU time named processes use during a phase.
type cpuMeter struct {
	pids   map[string]int // name → pid; loadgen itself is 0
	before map[string]time.Duration
}

// startCPU reads "name=pid,…" (loadgen is always measured) and takes the
// processes' CPU times now.
func startCPU(list string) (*cpuMeter, error) {
	m := &cpuMeter{pids: map[string]int{"loadgen": 0}, before: map[string]time.Duration{}}
	for _, item := range splitList(list) {
		name, v, _ := strings.Cut(item, "=")
		pid, err := strconv.Atoi(v)
		if err != nil || pid <= 0 || name == "" {
			return nil, fmt.Errorf("-cpu-pids: %q is not name=pid", item)
		}
		m.pids[name] = pid
	}
	for name, pid := range m.pids {
		if t, err := cpuTime(pid); err == nil {
			m.before[name] = t
		}
	}
	return m, nil
}

// perRequest returns each process's CPU time since startCPU, in µs per
// one of n requests.
func (m *cpuMeter) perRequest(n int64) map[string]float64 {
	out := map[string]float64{}
	for name, pid := range m.pids {
		before, ok := m.before[name]
		if t, err := cpuTime(pid); ok && err == nil && n > 0 {
			out[name] = float64(t-before) / float64(time.Microsecond) / float64(n)
		}
	}
	return out
}

// rssSample is one reading of a process's resident memory.
type rssSample struct {
	Seconds  float64 `json:"s"`
	Requests int64   `json:"requests"`
	RSSKiB   int64   `json:"rss_kib"`
}

// sampleRSS reads pid's VmRSS and the requests done every second until ctx
// is done.
func sampleRSS(ctx context.Context, pid int, done func() int64) []rssSample {
	start := time.Now()
	var out []rssSample
	for {
		if kib, err := vmRSS(pid); err == nil {
			out = append(out, rssSample{Seconds: time.Since(start).Seconds(), Requests: done(), RSSKiB: kib})
		}
		if !sleepUntil(ctx, time.Now().Add(time.Second)) {
			return out
		}
	}
}

// warmShare is the share of a memory run's requests counted as warm-up.
const warmShare = 0.2

// memoryResult is serve's memory over a long run: the RSS once warmShare
// of the requests were done, the highest after that, and the last.
type memoryResult struct {
	Requests     int64       `json:"requests"`
	Samples      []rssSample `json:"samples"`
	WarmKiB      int64       `json:"warm_kib"`
	PeakAfterKiB int64       `json:"peak_after_kib"`
	EndKiB       int64       `json:"end_kib"`
}

func summarizeRSS(requests int64, samples []rssSample) memoryResult {
	m := memoryResult{Requests: requests, Samples: samples}
	warm := false
	for _, s := range samples {
		if !warm && float64(s.Requests) >= float64(requests)*warmShare {
			warm, m.WarmKiB = true, s.RSSKiB
		}
		if warm {
			m.PeakAfterKiB = max(m.PeakAfterKiB, s.RSSKiB)
		}
		m.EndKiB = s.RSSKiB
	}
	return m
}
