package main

import (
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseVmRSS(t *testing.T) {
	tests := []struct {
		name    string
		status  string
		want    int64
		wantErr bool
	}{
		{"typical", "Name:\tchatsync\nVmPeak:\t  900 kB\nVmRSS:\t   53124 kB\nThreads:\t9\n", 53124, false},
		{"missing", "Name:\tchatsync\n", 0, true},
		{"odd unit", "VmRSS:\t12 MB\n", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseVmRSS([]byte(tt.status))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parseVmRSS = %d, %v; want %d, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// This process's own RSS is readable and plausible.
func TestVmRSSSelf(t *testing.T) {
	kb, err := VmRSS(os.Getpid())
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	if kb < 1024 || kb > 16<<20 {
		t.Errorf("VmRSS of the test process = %d KiB", kb)
	}
}

func TestSummarizeRSS(t *testing.T) {
	samples := []RSSSample{{0, 0, 1000}, {1, 100, 4000}, {2, 200, 5000}, {3, 600, 5200}, {4, 1000, 5100}}
	got := summarizeRSS(42, 1000, samples, 0.2)
	want := MemoryResult{PID: 42, Requests: 1000, Samples: samples, WarmFraction: 0.2, WarmKiB: 5000, PeakAfterKiB: 5200, EndKiB: 5100}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("summarizeRSS (-want +got):\n%s", diff)
	}
}

func TestProcField(t *testing.T) {
	cpuinfo := "processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu\n"
	if got, ok := procField([]byte(cpuinfo), "model name"); !ok || got != "AMD EPYC 7B13" {
		t.Errorf("model name = %q, %v", got, ok)
	}
	if _, ok := procField([]byte(cpuinfo), "bogus"); ok {
		t.Error("found a field that is not there")
	}
}

func TestParseRedisCSV(t *testing.T) {
	out := `"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
"LPUSH","20161.29","0.258","0.040","0.183","0.487","2.535","8.351"
`
	rps, p50, p99, err := parseRedisCSV([]byte(out))
	if err != nil || rps != 20161.29 || p50 != 0.183 || p99 != 2.535 {
		t.Errorf("parseRedisCSV = %v %v %v %v", rps, p50, p99, err)
	}
	if _, _, _, err := parseRedisCSV([]byte(`"test","rps"` + "\n")); err == nil {
		t.Error("no error without a result line")
	}
}

func TestSustained(t *testing.T) {
	tests := []struct {
		name   string
		series []float64
		want   float64
	}{
		{"idle", []float64{0, 0}, 0},
		{"partial ends left out", []float64{0, 50, 199, 201, 200, 80, 0, 0}, 200},
		{"short burst", []float64{0, 100, 50}, 75},
		{"gap inside counts", []float64{10, 200, 0, 200, 10}, 400.0 / 3},
	}
	for _, tt := range tests {
		if got := sustained(tt.series); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("%s: sustained(%v) = %v, want %v", tt.name, tt.series, got, tt.want)
		}
	}
}

func TestCheckLoopback(t *testing.T) {
	tests := []struct {
		url string
		ok  bool
	}{
		{"http://127.0.0.1:8080", true},
		{"http://localhost:8080/", true},
		{"http://[::1]:8080", true},
		{"http://127.0.0.2:8080", true},
		{"http://10.0.0.1:8080", false},
		{"http://example.com", false},
		{"https://127.0.0.1:8080", false},
		{"127.0.0.1:8080", false},
	}
	for _, tt := range tests {
		_, err := loopbackURL("-target", tt.url)
		if (err == nil) != tt.ok {
			t.Errorf("loopbackURL(%q) = %v, want ok %v", tt.url, err, tt.ok)
		}
	}
	for raw, ok := range map[string]bool{"redis://127.0.0.1:6379/0": true, "redis://redis.internal:6379": false} {
		if _, err := loopbackRedis(raw); (err == nil) != ok {
			t.Errorf("loopbackRedis(%q) = %v, want ok %v", raw, err, ok)
		}
	}
	if u, _ := loopbackURL("-target", "http://127.0.0.1:8080/"); strings.HasSuffix(u, "/") {
		t.Errorf("trailing slash kept: %q", u)
	}
}

func TestParseCPUTime(t *testing.T) {
	// Fields 14 and 15 (utime, stime) are 250 and 50 ticks; the name has
	// spaces and a parenthesis.
	stat := "4242 (chat sync) (x)) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 9 0 100 800000 5000 18446744073709551615\n"
	got, err := parseCPUTime([]byte(stat))
	if err != nil || got != 3*time.Second {
		t.Errorf("parseCPUTime = %v, %v; want 3s", got, err)
	}
	if _, err := parseCPUTime([]byte("4242 (x) S 1 2")); err == nil {
		t.Error("a short stat line: no error")
	}
	if self, err := CPUTime(0); err != nil || self <= 0 {
		t.Logf("CPUTime(self) = %v, %v (no /proc?)", self, err)
	}
}

func TestParsePIDs(t *testing.T) {
	got, err := parsePIDs("serve=12, redis=34")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]int{"loadgen": 0, "serve": 12, "redis": 34}, got); diff != "" {
		t.Errorf("parsePIDs (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"serve", "serve=x", "=12", "serve=-1"} {
		if _, err := parsePIDs(bad); err == nil {
			t.Errorf("parsePIDs(%q): no error", bad)
		}
	}
}
