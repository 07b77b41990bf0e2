package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/chatsync/chatsync/chatapi"
)

// writeResults appends a run's records to a results file, as the phases do.
func writeResults(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "results.jsonl")
	lat := func(p99 float64) Latency { return Latency{N: 100, P50: p99 / 4, P95: p99 / 2, P99: p99, Max: p99 * 2} }
	recs := []struct {
		typ string
		v   any
	}{
		{recMachine, Machine{CPU: "Test CPU", NProc: 2, MemoryMB: 4096, GoVersion: "go1.26", Redis: "7.0.15", Date: "2026-01-01T00:00:00Z"}},
		{recLoad, LoadResult{System: "asynq", Label: labelSweep, Concurrency: 1, PerSecond: 2000, Latency: lat(1)}},
		{recLoad, LoadResult{System: "chatsync", Label: labelSweep, Concurrency: 1, PerSecond: 1500, Latency: lat(2), Errors: map[string]int64{"503": 2}}},
		{recLoad, LoadResult{System: "asynq", Label: labelSweep, Concurrency: 8, PerSecond: 5000, Latency: lat(3),
			CPU: map[string]float64{"loadgen": 100, "redis": 60}}},
		{recLoad, LoadResult{System: "handler", Label: labelSweep, Concurrency: 8, PerSecond: 4800, Latency: lat(4)}},
		{recLoad, LoadResult{System: "chatsync", Label: labelSweep, Concurrency: 8, PerSecond: 4200, Latency: lat(6),
			CPU: map[string]float64{"loadgen": 90, "redis": 60, "serve": 140}}},
		{recLoad, LoadResult{System: "chatsync", Label: labelHalf, Concurrency: 64, Rate: 2100, PerSecond: 2099, Latency: lat(12)}},
		{recRedis, RedisResult{Test: "LPUSH", Concurrency: 8, Requests: 1000, PerSecond: 50000, P50: 0.1, P99: 0.5}},
		{recE2E, E2EResult{Rate: 200, Events: 6000, Probes: 50, Matched: 50, CallbackToAPI: lat(120),
			Calls: map[string]int64{chatapi.APISetMsgRead: 50, chatapi.APIUnread: 100}, CallsPerEvent: map[string]float64{chatapi.APISetMsgRead: 50.0 / 6000, chatapi.APIUnread: 100.0 / 6000},
			Codes: map[string]map[string]int64{chatapi.APIUnread: {"0": 100}}, UnreadPerSendMsg: 0.02, Drained: true}},
		{recBurst, BurstResult{Targets: 20, Peers: 5, Messages: 2000, AfterSendMsg: 2000, Calls: map[string]int64{chatapi.APIUnread: 60},
			UnreadPerSendMsg: 0.03, Convergence: lat(800)}},
		{recBacklog, BacklogResult{Phase: "fill", Messages: 4000, Queued: Backlog{Pending: 12000}}},
		{recBacklog, BacklogResult{Phase: "drain", Drained: true, Seconds: 25,
			Calls:     map[string]int64{chatapi.APISetMsgRead: 4000, chatapi.APIReadReceipt: 4000},
			Sustained: map[string]float64{chatapi.APISetMsgRead: 195, chatapi.APIReadReceipt: 185},
			Busiest:   map[string]float64{chatapi.APISetMsgRead: 200, chatapi.APIReadReceipt: 200}}},
		{recMemory, summarizeRSS(1, 1000, []RSSSample{{0, 0, 20000}, {1, 200, 40000}, {2, 1000, 41000}}, 0.2)},
		{recOverload, OverloadResult{Scenario: scReads, Events: 2000, Seconds: 1, Calls: map[string]int64{chatapi.APISetMsgRead: 110},
			AppliedAfterLast: 0.8, EventToCall: lat(300)}},
		{recOverload, OverloadResult{Scenario: scReceipts, Events: 1000, Seconds: 1,
			Calls: map[string]int64{chatapi.APISetMsgRead: 50, chatapi.APIReadReceipt: 80}, AppliedAfterLast: 2}},
		{recOverload, OverloadResult{Scenario: scSustained, Events: 120000, Seconds: 60, Calls: map[string]int64{chatapi.APISetMsgRead: 11500},
			PeakPerSecond: map[string]int64{chatapi.APISetMsgRead: 193}, Depth: []int{900, 1500, 1400}, EventToCall: lat(4800)}},
		{recOverload, OverloadResult{Scenario: scBelow, Path: "chatsync", Events: 1000, Calls: map[string]int64{chatapi.APISetMsgRead: 1000},
			EventToCall: lat(40)}},
		{recOverload, OverloadResult{Scenario: scBelow, Path: "per-event", Events: 1000, Calls: map[string]int64{chatapi.APISetMsgRead: 1000},
			EventToCall: lat(30)}},
		{recOverload, OverloadResult{Scenario: scMemory, Events: 180000, Rate: 1000, MemoryBaseline: 1 << 20, MemorySamples: []int64{2 << 20, 40 << 20},
			MemoryGrowth: 39 << 20, BytesPerRate: 39 << 20 / 1000}},
		{recNote, "a note"},
	}
	for _, r := range recs {
		if err := appendRecord(path, r.typ, r.v); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

func TestReport(t *testing.T) {
	res, err := readResults(writeResults(t))
	if err != nil {
		t.Fatal(err)
	}
	v := buildView(res, "make bench", "bench.svg")
	want := []targetRow{
		{"ingest ≥ 0.8 × raw asynq enqueue rate", "4200 vs 5000 req/s = 0.84× (at equal CPU 0.80×–0.80×)", "reached"},
		{"p99 ack ≤ 10 ms at half the maximum throughput", "p99 12.00 ms at 2099 req/s", "missed"},
		{"callback → Chat API p99 ≤ 250 ms at 200 events/s", "p99 120.0 ms at 200/s (50/50 probes)", "reached"},
		{"unread API calls per AfterSendMsg ≤ 0.05 (burst)", "0.0300 (60 calls / 2000 AfterSendMsg)", "reached"},
		{"backlog: ≥ 190 calls/s per Chat API, no 60007", "admin_set_msg_read 195.0/s, c2c_msg_read_receipt 185.0/s, 60007 × 0", "missed"},
		{"serve memory flat after warm-up", "39.1 → peak 40.0 MiB (+2 %) over 1000 callbacks", "reached"},
		{"2,000 conversation.read over 40 conversations: ≤ 120 set-read calls, all applied ≤ 5 s after the last",
			"110 calls for 2000 events; applied 0.80 s after the last", "reached"},
		{"1,000 auto-read AfterSendMsg from 10 senders: ≤ 60 set-read, ≤ 70 receipt calls (batch 20), all receipted ≤ 10 s",
			"50 set-read, 80 receipt calls for 1000 callbacks; receipted 2.00 s after the last", "missed"},
		{"10× overload (2,000 events/s over 1,000 conversations): ≤ 200 calls/s per API, no 60007, p99 event → call ≤ 5 s",
			"peak 193 calls/s, 60007 × 0, p99 4800 ms (100 read points), queue depth at the end 1400", "reached"},
		{"below the budget (50 events/s): p99 event → call ≤ 200 ms", "p99 40 ms (100 events)", "reached"},
		{"Redis memory under 1,000 callbacks/s: ≤ 64 KiB per sustained callback/s", "39.9 KiB per callback/s, at 1000 callbacks/s (growth 39.0 MiB)", "reached"},
	}
	if diff := cmp.Diff(want, v.Targets); diff != "" {
		t.Errorf("targets (-want +got):\n%s", diff)
	}

	dir := t.TempDir()
	md, svg := filepath.Join(dir, "BENCHMARKS.md"), filepath.Join(dir, "bench.svg")
	if err := writeReport(res, md, svg, "make bench"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	out := string(b)
	for _, s := range []string{
		"| CPU | Test CPU |",
		"| 1 | 1500 | 0.50 | 1.00 | 2.00 | 4.0 | 503=2 | 2000 | 1.00 | 0.75× |",
		"| 8 | 4200 | 1.50 | 3.00 | 6.00 | 12.0 | - | 5000 | 3.00 | 0.84× | 4800 | 4.00 | 0.88× |",
		"| 1 | 1500 | 0.50 | 1.00 | 2.00 | 4.0 | 503=2 | 2000 | 1.00 | 0.75× | - | - | - |",
		"hand-written net/http + asynq **4800 req/s** (ratio **0.88×**)",
		"![throughput and p99 against concurrency](bench.svg)",
		"| LPUSH | 8 | 50000 |",
		"| 8 | loadgen 90 + redis 60 + serve 140 = 290 | loadgen 100 + redis 60 = 160 | - | 0.80× |",
		"| 1 | - | - | - | - |",
		"| callback → admin_set_msg_read | 30.0 | 60.0 | 120.0 | 240.0 | 50 / 50 |",
		"| openim/get_c2c_unread_msg_num | 100 | 0.0167 | 0=100 |",
		"| get_c2c_unread_msg_num per AfterSendMsg | **0.0300** |",
		"| openim/admin_set_msg_read | 4000 | 195.0 | 200.0 | - |",
		"| 2 | 1000 | 40.0 |",
		"- a note",
		"| reads | 2000 | 1.0 | 110 |",
		"| below the budget, per-event | 1000 |",
		"**40894 B per sustained callback/s**",
		"![queue depth under 10× overload](bench-overload.svg)",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("report lacks %q:\n%s", s, out)
		}
	}
	if strings.Contains(out, "<no value>") {
		t.Errorf("report has unfilled fields:\n%s", out)
	}
	for _, f := range []string{svg, filepath.Join(dir, "bench-overload.svg")} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("chart: %v", err)
		}
	}
}

// A report of a run that measured nothing still renders, marking every
// target "not measured".
func TestReportEmpty(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.jsonl")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := readResults(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range buildView(res, "x", "x.svg").Targets {
		if row.Status != "not measured" {
			t.Errorf("%s: %s, want not measured", row.Target, row.Status)
		}
	}
	dir := t.TempDir()
	if err := writeReport(res, filepath.Join(dir, "b.md"), filepath.Join(dir, "b.svg"), "x"); err != nil {
		t.Fatal(err)
	}
}

func TestReadResultsRejectsUnknown(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.jsonl")
	if err := os.WriteFile(path, []byte(`{"type":"bogus","data":{}}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readResults(path); err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Errorf("readResults = %v, want an error naming the record type", err)
	}
}
