package main

import (
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRSS(t *testing.T) {
	if kib, err := vmRSS(os.Getpid()); err != nil || kib < 1000 {
		t.Errorf("vmRSS of loadgen = %d KiB, %v", kib, err)
	}
	got := summarizeRSS(loadResult{Requests: 10, Seconds: 10}, []int64{10, 20, 30, 40, 50, 35, 36, 37, 38, 39})
	want := memoryResult{Requests: 10, Seconds: 10, SamplesKiB: got.SamplesKiB, WarmKiB: 30, PeakAfterKiB: 50, EndKiB: 39}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("summarizeRSS (-want +got):\n%s", diff)
	}
}
