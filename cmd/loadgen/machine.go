package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Machine describes where the benchmark ran.
type Machine struct {
	CPU        string `json:"cpu"`
	NProc      int    `json:"nproc"`
	MemoryMB   int64  `json:"memory_mb"`
	Kernel     string `json:"kernel"`
	GoVersion  string `json:"go_version"`
	Redis      string `json:"redis"`
	Date       string `json:"date"`
	Background string `json:"background,omitempty"` // load average at the start
}

// describeMachine reads /proc and asks Redis for its version.
func describeMachine(ctx context.Context, rdb *redis.Client) Machine {
	m := Machine{
		NProc:     runtime.NumCPU(),
		GoVersion: runtime.Version(),
		Date:      time.Now().UTC().Format(time.RFC3339),
		CPU:       "unknown",
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		if v, ok := procField(b, "model name"); ok {
			m.CPU = v
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if v, ok := procField(b, "MemTotal"); ok {
			kb, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			m.MemoryMB = kb / 1024
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			m.Background = "load average " + strings.Join(f[:3], " ")
		}
	}
	if rdb != nil {
		if info, err := rdb.Info(ctx, "server").Result(); err == nil {
			if v, ok := procField([]byte(strings.ReplaceAll(info, ":", ": ")), "redis_version"); ok {
				m.Redis = v
			}
		}
	}
	return m
}

// procField returns the value of the first "name: value" (or "name\t: value")
// line of a /proc-style file.
func procField(b []byte, name string) (string, bool) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == name {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

// VmRSS returns the resident set size of process pid in KiB, from
// /proc/<pid>/status.
func VmRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read status of %d: %w", pid, err)
	}
	return parseVmRSS(b)
}

func parseVmRSS(status []byte) (int64, error) {
	v, ok := procField(status, "VmRSS")
	if !ok {
		return 0, fmt.Errorf("no VmRSS line")
	}
	f := strings.Fields(v)
	if len(f) != 2 || f[1] != "kB" {
		return 0, fmt.Errorf("VmRSS %q is not <n> kB", v)
	}
	n, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("VmRSS %q: %w", v, err)
	}
	return n, nil
}

// RSSSample is one reading of a process's resident memory.
type RSSSample struct {
	Seconds  float64 `json:"s"`
	Requests int64   `json:"requests"`
	RSSKiB   int64   `json:"rss_kib"`
}

// sampleRSS reads pid's VmRSS every interval until ctx is done, along with
// the requests done so far.
func sampleRSS(ctx context.Context, pid int, interval time.Duration, done func() int64) []RSSSample {
	start := time.Now()
	var out []RSSSample
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if kb, err := VmRSS(pid); err == nil {
			out = append(out, RSSSample{Seconds: time.Since(start).Seconds(), Requests: done(), RSSKiB: kb})
		}
		select {
		case <-ctx.Done():
			return out
		case <-t.C:
		}
	}
}

// MemoryResult is serve's memory over a long run.
type MemoryResult struct {
	PID      int         `json:"pid"`
	Requests int64       `json:"requests"`
	Samples  []RSSSample `json:"samples"`
	// WarmKiB is the RSS once WarmFraction of the requests were done;
	// PeakAfterKiB the highest RSS after that; EndKiB the last reading.
	WarmFraction float64 `json:"warm_fraction"`
	WarmKiB      int64   `json:"warm_kib"`
	PeakAfterKiB int64   `json:"peak_after_kib"`
	EndKiB       int64   `json:"end_kib"`
}

// summarizeRSS fills the warm-up, peak and end readings of samples.
func summarizeRSS(pid int, requests int64, samples []RSSSample, warmFraction float64) MemoryResult {
	m := MemoryResult{PID: pid, Requests: requests, Samples: samples, WarmFraction: warmFraction}
	warmAt := int64(float64(requests) * warmFraction)
	warm := -1
	for i, s := range samples {
		if warm < 0 && s.Requests >= warmAt {
			warm, m.WarmKiB = i, s.RSSKiB
		}
		if warm >= 0 {
			m.PeakAfterKiB = max(m.PeakAfterKiB, s.RSSKiB)
		}
		m.EndKiB = s.RSSKiB
	}
	return m
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's CPU times: 100 on
// every Linux platform Go supports.
const clockTicks = 100

// CPUTime returns the user plus system CPU time process pid has used, from
// /proc/<pid>/stat; pid 0 means this process.
func CPUTime(pid int) (time.Duration, error) {
	path := "/proc/self/stat"
	if pid != 0 {
		path = fmt.Sprintf("/proc/%d/stat", pid)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", path, err)
	}
	return parseCPUTime(b)
}

// parseCPUTime reads utime and stime (fields 14 and 15) of a stat line. The
// command name (field 2) is in parentheses and may hold spaces, so fields
// are counted after its closing parenthesis.
func parseCPUTime(stat []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("stat %q has no command name", stat)
	}
	f := strings.Fields(string(stat[i+1:])) // f[0] is field 3, the state
	if len(f) < 13 {
		return 0, fmt.Errorf("stat has %d fields after the name, want at least 13", len(f))
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("stat CPU time %q: %w", s, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// cpuMeter measures the CPU time named processes use during a phase.
type cpuMeter struct {
	pids   map[string]int // name → pid; 0 is loadgen itself
	before map[string]time.Duration
}

// parsePIDs reads "name=pid,name=pid" and adds loadgen itself.
func parsePIDs(s string) (map[string]int, error) {
	pids := map[string]int{"loadgen": 0}
	for _, item := range splitList(s) {
		name, v, ok := strings.Cut(item, "=")
		pid, err := strconv.Atoi(v)
		if !ok || err != nil || pid <= 0 || name == "" {
			return nil, fmt.Errorf("%q is not name=pid", item)
		}
		pids[name] = pid
	}
	return pids, nil
}

func startCPU(pids map[string]int) *cpuMeter {
	m := &cpuMeter{pids: pids, before: make(map[string]time.Duration)}
	for name, pid := range pids {
		if t, err := CPUTime(pid); err == nil {
			m.before[name] = t
		}
	}
	return m
}

// perRequest returns each process's CPU time since start, in microseconds
// per one of n requests.
func (m *cpuMeter) perRequest(n int64) map[string]float64 {
	if n <= 0 {
		return nil
	}
	out := make(map[string]float64)
	for name, pid := range m.pids {
		before, ok := m.before[name]
		if t, err := CPUTime(pid); ok && err == nil {
			out[name] = float64(t-before) / float64(time.Microsecond) / float64(n)
		}
	}
	return out
}
