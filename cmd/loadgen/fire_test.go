package main

import (
	"context"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRSS(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if kib := sampleRSS(ctx, os.Getpid()); len(kib) != 1 || kib[0] < 1000 {
		t.Errorf("VmRSS of loadgen = %v KiB, want one sample", kib)
	}
	got := summarizeRSS(loadResult{OK: 10, Seconds: 10}, []int64{10, 20, 30, 40, 50, 35, 36, 37, 38, 39})
	want := memoryResult{Requests: 10, Seconds: 10, SamplesKiB: got.SamplesKiB, WarmKiB: 30, PeakAfterKiB: 50, EndKiB: 39}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("summarizeRSS (-want +got):\n%s", diff)
	}
}
