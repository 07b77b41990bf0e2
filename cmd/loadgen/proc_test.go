package main

import (
	"os"
	"testing"
	"time"
)

func TestProc(t *testing.T) {
	kib, err := vmRSS(os.Getpid())
	if err != nil || kib < 1000 {
		t.Errorf("vmRSS = %d KiB, %v", kib, err)
	}
	m, err := startCPU("")
	if err != nil {
		t.Fatal(err)
	}
	for start := time.Now(); time.Since(start) < 50*time.Millisecond; {
	}
	if cpu := m.perRequest(1); cpu["loadgen"] < 10_000 {
		t.Errorf("loadgen used %v µs in a 50 ms busy loop", cpu["loadgen"])
	}
	if _, err := startCPU("serve"); err == nil {
		t.Error("startCPU accepted a list without pids")
	}
	got := summarizeRSS(1000, []rssSample{{0, 0, 100}, {1, 200, 200}, {2, 500, 300}, {3, 1000, 250}})
	if got.WarmKiB != 200 || got.PeakAfterKiB != 300 || got.EndKiB != 250 {
		t.Errorf("summarizeRSS = %+v, want warm 200, peak 300, end 250", got)
	}
}
