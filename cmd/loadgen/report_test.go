package main

import (
	"bytes"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/chatsync/chatsync/chatapi"
)

// writeResults writes a run's records to a results file, as the phases do.
func writeResults(t *testing.T, tracing bool) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "results.jsonl")
	lat := func(p99 float64) latency { return latency{N: 100, P50: p99 / 4, P95: p99 / 2, P99: p99, Max: p99 * 2} }
	load := func(system, label string, c int, perSecond, p99 float64) record {
		return record{Load: &loadResult{System: system, Label: label, Concurrency: c, PerSecond: perSecond, Latency: lat(p99),
			Tracing: label == "tracing", TraceRequests: map[bool]int64{true: 3}[tracing && system != systemChatsync && system != systemHandler]}}
	}
	recs := []record{
		load(systemRaw, "sweep", 1, 2000, 1),
		load(systemChatsync, "sweep", 1, 1500, 2),
		load(systemRaw, "sweep", 8, 5000, 3),
		load(systemHandler, "sweep", 8, 4800, 4),
		load(systemChatsync, "sweep", 8, 4200, 6),
		load(systemHandler, "tracing", 8, 5000, 4),
		load(systemChatsync, "tracing", 8, 4400, 6),
		load(systemTraced, "tracing", 8, 4000, 6.5),
		load(systemChatsync, "tracing", 8, 4600, 6),
		load(systemTraced, "tracing", 8, 4200, 6.5),
		load(systemSampled, "tracing", 8, 4400, 6.1),
		load(systemSampled, "tracing", 8, 4450, 6.2),
		{Load: &loadResult{System: systemChatsync, Label: "half", Concurrency: 16, Rate: 2100, PerSecond: 2099, Latency: lat(12)}},
		{E2E: &e2eResult{Load: loadResult{Rate: 200, OK: 6000}, Probes: 50, Matched: 50, CallbackToAPI: lat(120), apiCalls: apiCalls{
			Calls: map[string]int64{chatapi.APIUnread: 100}, Codes: map[string]map[string]int64{chatapi.APIUnread: {"0": 100}}},
			CallsPerEvent: map[string]float64{chatapi.APIUnread: 100.0 / 6000}}},
		{Burst: &burstResult{Users: 20, Peers: 5, Messages: 2000, AfterSendMsg: 2000, UnreadPerSendMsg: 0.03,
			apiCalls: apiCalls{Calls: map[string]int64{chatapi.APIUnread: 60}}}},
		{Backlog: &backlogResult{Messages: 4000, Queued: 12000, Drained: true, Seconds: 25,
			apiCalls:  apiCalls{Calls: map[string]int64{chatapi.APISetMsgRead: 4000, chatapi.APIReadReceipt: 4000}},
			Sustained: map[string]float64{chatapi.APISetMsgRead: 195, chatapi.APIReadReceipt: 185},
			Busiest:   map[string]float64{chatapi.APISetMsgRead: 200, chatapi.APIReadReceipt: 200}}},
		{Memory: &memoryResult{Requests: 1000, Seconds: 10, WarmKiB: 40000, PeakAfterKiB: 41000, EndKiB: 41000,
			SamplesKiB: []int64{39000, 39500, 40000, 40000, 40000, 40000, 40000, 40000, 40000, 41000, 41000}}},
		{Overload: &overloadResult{Scenario: "reads", Events: 2000, Seconds: 1, AppliedAfterLast: 0.8, EventToCall: lat(300),
			apiCalls: apiCalls{Calls: map[string]int64{chatapi.APISetMsgRead: 110}}}},
		{Overload: &overloadResult{Scenario: "sustained", Events: 120000, Seconds: 60, Depth: []int64{900, 1500, 1400},
			PeakPerSecond: map[string]int64{chatapi.APISetMsgRead: 193}, EventToCall: lat(4800)}},
		{Overload: &overloadResult{Scenario: "below", Events: 1000, EventToCall: lat(40)}},
		{Overload: &overloadResult{Scenario: "memory", Rate: 1000, MemoryBaseline: 1 << 20, MemoryGrowth: 39 << 20, BytesPerRate: 39 << 20 / 1000}},
		{Note: "a note"},
	}
	for _, r := range recs {
		if err := emit(io.Discard, path, r); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

const previousReport = `| concurrency | chatsync req/s | p50 ms | p95 ms | p99 ms | max ms | errors | raw asynq req/s | raw p99 ms | chatsync / raw | net/http+asynq req/s | its p99 ms | chatsync / net/http+asynq |
| 8 | 6736 | 0.99 | 2.58 | 3.96 | 11.8 | - | 23377 | 1.55 | 0.29× | 7333 | 4.15 | 0.95× |
| 8 | loadgen 75 + redis 56 + serve 130 = 261 | loadgen 41 + redis 31 = 72 | handler 114 = 237 | 0.39× |
`

func TestReport(t *testing.T) {
	res, err := readResults(writeResults(t, true))
	if err != nil {
		t.Fatal(err)
	}
	r := newReport(res, "make bench", "| CPU | Test CPU |", "| LPUSH | 8 | 50000 |", previousReport)
	want := []target{
		{"ingest ≥ 0.8 × raw asynq enqueue rate", "4200 vs 5000 req/s = 0.84×", "reached"},
		{"p99 ack ≤ 10 ms at half the maximum throughput", "p99 12.00 ms at 2099 req/s", "missed"},
		{"callback → Chat API p99 ≤ 250 ms at 200 events/s", "p99 120.0 ms at 200/s (50/50 probes)", "reached"},
		{"unread API calls per AfterSendMsg ≤ 0.05 (burst)", "0.0300 (60 calls / 2000 AfterSendMsg)", "reached"},
		{"backlog: ≥ 190 calls/s per Chat API, no 60007", "admin_set_msg_read 195.0/s, c2c_msg_read_receipt 185.0/s, 60007 × 0", "missed"},
		{"serve memory flat after warm-up", "39.1 → peak 40.0 MiB (+2 %) over 1000 callbacks", "reached"},
		{"2,000 conversation.read over 40 conversations: ≤ 120 set-read calls, all applied ≤ 5 s after the last",
			"110 calls for 2000 events; applied 0.80 s after the last", "reached"},
		{"1,000 auto-read AfterSendMsg from 10 senders: ≤ 60 set-read, ≤ 70 receipt calls (batch 20), all receipted ≤ 10 s", "-", "not measured"},
		{"10× overload (2,000 events/s over 1,000 conversations): ≤ 200 calls/s per API, no 60007, p99 event → call ≤ 5 s",
			"peak 193 calls/s, 60007 × 0, p99 4800 ms (100 read points), queue depth at the end 1400", "reached"},
		{"below the budget (50 events/s): p99 event → call ≤ 200 ms", "p99 40 ms (100 events)", "reached"},
		{"Redis memory under 1,000 callbacks/s: ≤ 64 KiB per sustained callback/s", "39.9 KiB per callback/s, at 1000 callbacks/s (growth 39.0 MiB)", "reached"},
		{"tracing on costs ≤ 10 % (ingest req/s and p99 ack, on vs off)", "4100 vs 4500 req/s = 0.91×, p99 6.50 vs 6.00 ms = 1.08×", "reached"},
		{"tracing on, 10 % sampled, costs ≤ 10 % (ingest req/s and p99 ack, vs off)", "4425 vs 4500 req/s = 0.98×, p99 6.15 vs 6.00 ms = 1.03×", "reached"},
		{"tracing off costs ≤ 1 % (chatsync / net/http + asynq against the previous report's)", "0.90× now vs 0.95× in the previous report, at concurrency 8", "missed"},
	}
	if diff := cmp.Diff(want, r.Targets); diff != "" {
		t.Errorf("targets (-want +got):\n%s", diff)
	}
	var md bytes.Buffer
	if err := reportTemplate.Execute(&md, r); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		"| CPU | Test CPU |", "| LPUSH | 8 | 50000 |", "- a note",
		"| 1 | 1500 | 0.50 | 1.00 | 2.00 | 4.0 | - | 2000 | 1.00 | 0.75× | - | - | - |",
		"| 8 | 4200 | 1.50 | 3.00 | 6.00 | 12.0 | - | 5000 | 3.00 | 0.84× | 4800 | 4.00 | 0.88× |",
		"VmRSS every 10 s, KiB: 39000 41000 ", "queued then: 12000 tasks", "| openim/admin_set_msg_read | 4000 | 195.0 | 200.0 | - |",
		"| chatsync+tracing | 4000 | 1.62 | 6.50 | - | 3 | 0 |",
		"| ingest req/s (mean) | 4500 | 4100 | 0.91× | 4425 | 0.98× |",
		"| p99 acknowledgement ms (mean) | 6.00 | 6.50 | 1.08× | 6.15 | 1.03× |",
		"The receiver got 12 trace export requests",
		"net/http + asynq baseline at concurrency 8: **0.90×** (previous report: 0.95×)",
		"| reads | 2000 | 1.0 | 110 |", "**40894 B per sustained callback/s**",
	} {
		if !strings.Contains(md.String(), s) {
			t.Errorf("report lacks %q:\n%s", s, md.String())
		}
	}
	if strings.Contains(md.String(), "<no value>") {
		t.Errorf("report has unfilled fields:\n%s", md.String())
	}
	if got := previousRatio(md.String(), 8); got != 0.90 {
		t.Errorf("previousRatio of this report = %v, want its tracing line's 0.90", got)
	}
}

// Without trace exports the tracing section says tracing was not in
// effect, and its target is not measured rather than passed.
func TestReportTracingNotInEffect(t *testing.T) {
	res, err := readResults(writeResults(t, false))
	if err != nil {
		t.Fatal(err)
	}
	r := newReport(res, "make bench", "", "", "")
	var md bytes.Buffer
	if err := reportTemplate.Execute(&md, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "**Tracing was not in effect**") {
		t.Errorf("report does not say tracing was not in effect:\n%s", md.String())
	}
	for _, tg := range r.Targets[len(r.Targets)-3:] {
		if tg.Status != "not measured" {
			t.Errorf("%s: %s, want not measured", tg.Target, tg.Status)
		}
	}
	if !math.IsNaN(previousRatio("", 8)) {
		t.Error("previousRatio of nothing is not NaN")
	}
}

// The command writes the report of an empty run, every target not measured.
func TestReportCommand(t *testing.T) {
	dir := t.TempDir()
	in, md := filepath.Join(dir, "results.jsonl"), filepath.Join(dir, "BENCHMARKS.md")
	if err := os.WriteFile(in, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := cmdReport(t.Context(), []string{"-in", in, "-md", md}, &out); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "not measured"); n != 14 {
		t.Errorf("%d targets not measured, want all 14:\n%s", n, out.String())
	}
	if _, err := os.Stat(md); err != nil {
		t.Error(err)
	}
}
