package main

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/template"

	"github.com/chatsync/chatsync/chatapi"
)

// Labels of the phases scripts/bench.sh runs; the report picks phases by them.
const (
	labelSweep  = "sweep"
	labelHalf   = "half"
	labelE2E    = "e2e"
	labelMemory = "memory"
)

// Systems measured in the sweep.
const (
	systemChatsync = "chatsync"
	systemRaw      = "asynq"   // loadgen raw: an asynq.Client, no HTTP
	systemHandler  = "handler" // loadgen handler: net/http + asynq.Client
)

// sweepRow is one concurrency of the ingest sweep.
type sweepRow struct {
	Concurrency int
	Chatsync    *LoadResult
	Raw         *LoadResult
	Handler     *LoadResult
	Ratio       float64 // chatsync / raw req/s; NaN when either is missing
	HandlerRat  float64 // chatsync / handler req/s
	// CPURatio compares the ingest's own CPU per request: raw asynq's
	// (its asynq client in loadgen, and Redis) over chatsync's (serve and
	// Redis), leaving out loadgen's HTTP client, which plays Chat. It is
	// the throughput ratio the two would have with the cores to themselves.
	CPURatio float64
}

// ingestCPU returns the CPU µs per request of a system's own side of the
// ingest: its server process (or, for raw asynq, the enqueueing client in
// loadgen) and Redis. It returns NaN when they were not measured.
func ingestCPU(l *LoadResult) float64 {
	if l == nil {
		return math.NaN()
	}
	server := "serve"
	switch l.System {
	case systemRaw:
		server = "loadgen"
	case systemHandler:
		server = "handler"
	}
	s, ok1 := l.CPU[server]
	r, ok2 := l.CPU["redis"]
	if !ok1 || !ok2 {
		return math.NaN()
	}
	return s + r
}

// targetRow is one of the targets and what the run reached.
type targetRow struct {
	Target, Measured, Status string
}

// reportView is what the BENCHMARKS.md template renders.
type reportView struct {
	Command  string
	Machine  *Machine
	Sweep    []sweepRow
	BestCS   float64
	BestRaw  float64
	BestRat  float64
	BestHand float64
	HandRat  float64
	HasCPU   bool
	Redis    []RedisResult
	Half     *LoadResult
	E2E      *E2EResult
	E2ELoad  *LoadResult
	Burst    *BurstResult
	Fill     *BacklogResult
	Drain    *BacklogResult
	Memory   *MemoryResult
	MemRows  []RSSSample
	Targets  []targetRow
	Notes    []string
	SVGName  string
	// Overload holds the last result of each overload scenario; Below the
	// below-budget runs (chatsync and the per-event path).
	Overload map[string]*OverloadResult
	Below    []OverloadResult
	DepthSVG string // the sustained run's queue-depth chart, when there is one
	Sweeping string // the sweep's duration and mix, from the first row
}

// buildView organises res for the report.
func buildView(res *Results, command, svgName string) reportView {
	v := reportView{Command: command, Machine: res.Machine, Redis: res.Redis, Notes: res.Notes, SVGName: svgName}
	byConc := map[int]*sweepRow{}
	for i := range res.Loads {
		l := &res.Loads[i]
		switch {
		case l.Label == labelSweep && l.Rate == 0:
			row := byConc[l.Concurrency]
			if row == nil {
				row = &sweepRow{Concurrency: l.Concurrency}
				byConc[l.Concurrency] = row
			}
			switch l.System {
			case systemRaw:
				row.Raw = l
			case systemHandler:
				row.Handler = l
			default:
				row.Chatsync = l
			}
		case l.Label == labelHalf:
			v.Half = l
		case l.Label == labelE2E:
			v.E2ELoad = l
		}
	}
	for _, c := range slices.Sorted(mapsKeys(byConc)) {
		row := byConc[c]
		row.Ratio, row.HandlerRat = rateRatio(row.Chatsync, row.Raw), rateRatio(row.Chatsync, row.Handler)
		row.CPURatio = ingestCPU(row.Raw) / ingestCPU(row.Chatsync)
		v.HasCPU = v.HasCPU || row.Chatsync != nil && len(row.Chatsync.CPU) > 0
		v.BestCS = max(v.BestCS, rate(row.Chatsync))
		v.BestRaw = max(v.BestRaw, rate(row.Raw))
		v.BestHand = max(v.BestHand, rate(row.Handler))
		v.Sweep = append(v.Sweep, *row)
	}
	v.BestRat, v.HandRat = math.NaN(), math.NaN()
	if v.BestRaw > 0 {
		v.BestRat = v.BestCS / v.BestRaw
	}
	if v.BestHand > 0 {
		v.HandRat = v.BestCS / v.BestHand
	}
	if len(v.Sweep) > 0 && v.Sweep[0].Chatsync != nil {
		v.Sweeping = fmt.Sprintf("%.0f s", v.Sweep[0].Chatsync.Seconds)
	}
	if n := len(res.E2E); n > 0 {
		v.E2E = &res.E2E[n-1]
	}
	if n := len(res.Bursts); n > 0 {
		v.Burst = &res.Bursts[n-1]
	}
	for i := range res.Backlogs {
		if res.Backlogs[i].Phase == "fill" {
			v.Fill = &res.Backlogs[i]
		} else {
			v.Drain = &res.Backlogs[i]
		}
	}
	if n := len(res.Memory); n > 0 {
		v.Memory = &res.Memory[n-1]
		v.MemRows = thin(v.Memory.Samples, 12)
	}
	v.Overload = map[string]*OverloadResult{}
	for i := range res.Overload {
		o := &res.Overload[i]
		if o.Scenario == scBelow {
			v.Below = append(v.Below, *o)
			continue
		}
		v.Overload[o.Scenario] = o
	}
	if o := v.Overload[scSustained]; o != nil && len(o.Depth) > 0 {
		v.DepthSVG = strings.TrimSuffix(svgName, ".svg") + "-overload.svg"
	}
	v.Targets = append(v.targets(), v.overloadTargets()...)
	return v
}

// overloadTargets checks the Chat-API budget targets against the run.
func (v reportView) overloadTargets() []targetRow {
	var rows []targetRow
	row := func(target string, o *OverloadResult, measured func(*OverloadResult) (string, bool)) {
		if o == nil {
			rows = append(rows, targetRow{target, "-", status(false, false)})
			return
		}
		m, ok := measured(o)
		rows = append(rows, targetRow{target, m, status(true, ok)})
	}
	row("2,000 conversation.read over 40 conversations: ≤ 120 set-read calls, all applied ≤ 5 s after the last",
		v.Overload[scReads], func(o *OverloadResult) (string, bool) {
			n := o.Calls[chatapi.APISetMsgRead]
			return fmt.Sprintf("%d calls for %d events; applied %.2f s after the last", n, o.Events, o.AppliedAfterLast),
				n <= 120 && o.AppliedAfterLast >= 0 && o.AppliedAfterLast <= 5
		})
	row("1,000 auto-read AfterSendMsg from 10 senders: ≤ 60 set-read, ≤ 70 receipt calls (batch 20), all receipted ≤ 10 s",
		v.Overload[scReceipts], func(o *OverloadResult) (string, bool) {
			sr, rr := o.Calls[chatapi.APISetMsgRead], o.Calls[chatapi.APIReadReceipt]
			return fmt.Sprintf("%d set-read, %d receipt calls for %d callbacks; receipted %.2f s after the last", sr, rr, o.Events, o.AppliedAfterLast),
				sr <= 60 && rr <= 70 && o.AppliedAfterLast >= 0 && o.AppliedAfterLast <= 10
		})
	row("10× overload (2,000 events/s over 1,000 conversations): ≤ 200 calls/s per API, no 60007, p99 event → call ≤ 5 s",
		v.Overload[scSustained], func(o *OverloadResult) (string, bool) {
			peak := o.PeakPerSecond[chatapi.APISetMsgRead]
			return fmt.Sprintf("peak %d calls/s, 60007 × %d, p99 %.0f ms (%d read points), queue depth at the end %d",
					peak, o.RateLimited, o.EventToCall.P99, o.EventToCall.N, lastInt(o.Depth)),
				peak <= 200 && o.RateLimited == 0 && o.EventToCall.P99 <= 5000
		})
	var below *OverloadResult
	for i := range v.Below {
		if v.Below[i].Path == "chatsync" {
			below = &v.Below[i]
		}
	}
	row("below the budget (50 events/s): p99 event → call ≤ 200 ms", below, func(o *OverloadResult) (string, bool) {
		return fmt.Sprintf("p99 %.0f ms (%d events)", o.EventToCall.P99, o.EventToCall.N), o.EventToCall.P99 <= 200
	})
	row("Redis memory under 1,000 callbacks/s: ≤ 64 KiB per sustained callback/s", v.Overload[scMemory],
		func(o *OverloadResult) (string, bool) {
			return fmt.Sprintf("%.1f KiB per callback/s, at %.0f callbacks/s (growth %.1f MiB)", o.BytesPerRate/1024, o.Rate,
					float64(o.MemoryGrowth)/(1<<20)),
				o.MemoryGrowth > 0 && o.BytesPerRate <= 64*1024
		})
	return rows
}

func lastInt(s []int) int {
	if len(s) == 0 {
		return 0
	}
	return s[len(s)-1]
}

// depthChart returns the chart of the sustained overload: the tasks left
// in chatsync's queues and the set-read calls, each second.
func (v reportView) depthChart() Chart {
	o := v.Overload[scSustained]
	c := Chart{Title: "10× overload: queued tasks and set-read calls, each second", XLabel: "seconds since the overload began",
		LeftLabel: "tasks queued (blue)", RightLabel: "admin_set_msg_read calls/s (red; dashed: Chat's 200/s)"}
	depth := Series{Name: "tasks queued", Color: "#1f77b4"}
	calls := Series{Name: "set-read calls/s", Color: "#d62728"}
	limit := Series{Name: "Chat's budget, 200 calls/s", Color: "#d62728", Dashed: true}
	for i, d := range o.Depth {
		c.X = append(c.X, i+1)
		depth.Values = append(depth.Values, float64(d))
		n := math.NaN()
		if i < len(o.SetReadPerSecond) {
			n = float64(o.SetReadPerSecond[i])
		}
		calls.Values = append(calls.Values, n)
		limit.Values = append(limit.Values, 200)
	}
	c.Left, c.Right = []Series{depth}, []Series{calls, limit}
	return c
}

// rate returns l's successful requests per second, 0 for nil.
func rate(l *LoadResult) float64 {
	if l == nil {
		return 0
	}
	return l.PerSecond
}

// rateRatio returns a's rate over b's, NaN when either is missing.
func rateRatio(a, b *LoadResult) float64 {
	if a == nil || b == nil || b.PerSecond <= 0 {
		return math.NaN()
	}
	return a.PerSecond / b.PerSecond
}

func mapsKeys[V any](m map[int]V) func(func(int) bool) {
	return func(yield func(int) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// thin returns at most n samples spread evenly over s, always with the last.
func thin(s []RSSSample, n int) []RSSSample {
	if len(s) <= n {
		return s
	}
	out := make([]RSSSample, 0, n)
	for i := range n - 1 {
		out = append(out, s[i*(len(s)-1)/(n-1)])
	}
	return append(out, s[len(s)-1])
}

// status names whether a measured value met a goal.
func status(measured bool, ok bool) string {
	switch {
	case !measured:
		return "not measured"
	case ok:
		return "reached"
	}
	return "missed"
}

// targets checks the targets against the run.
func (v reportView) targets() []targetRow {
	var rows []targetRow
	ok := v.BestCS > 0 && v.BestRaw > 0
	measured := fmt.Sprintf("%.0f vs %.0f req/s = %s", v.BestCS, v.BestRaw, ratio(v.BestRat))
	if lo, hi := v.cpuRatioRange(); !math.IsNaN(lo) {
		measured += fmt.Sprintf(" (at equal CPU %s–%s)", ratio(lo), ratio(hi))
	}
	rows = append(rows, targetRow{"ingest ≥ 0.8 × raw asynq enqueue rate", measured, status(ok, ok && v.BestRat >= 0.8)})
	if h := v.Half; h != nil {
		rows = append(rows, targetRow{"p99 ack ≤ 10 ms at half the maximum throughput",
			fmt.Sprintf("p99 %.2f ms at %.0f req/s", h.Latency.P99, h.PerSecond), status(true, h.Latency.P99 <= 10)})
	} else {
		rows = append(rows, targetRow{"p99 ack ≤ 10 ms at half the maximum throughput", "-", status(false, false)})
	}
	if e := v.E2E; e != nil {
		rows = append(rows, targetRow{"callback → Chat API p99 ≤ 250 ms at 200 events/s",
			fmt.Sprintf("p99 %.1f ms at %.0f/s (%d/%d probes)", e.CallbackToAPI.P99, e.Rate, e.Matched, e.Probes),
			status(e.Matched > 0, e.CallbackToAPI.P99 <= 250 && e.Matched == e.Probes)})
	} else {
		rows = append(rows, targetRow{"callback → Chat API p99 ≤ 250 ms at 200 events/s", "-", status(false, false)})
	}
	if b := v.Burst; b != nil {
		rows = append(rows, targetRow{"unread API calls per AfterSendMsg ≤ 0.05 (burst)",
			fmt.Sprintf("%.4f (%d calls / %d AfterSendMsg)", b.UnreadPerSendMsg, b.Calls[chatapi.APIUnread], b.AfterSendMsg),
			status(b.AfterSendMsg > 0, b.UnreadPerSendMsg <= 0.05)})
	} else {
		rows = append(rows, targetRow{"unread API calls per AfterSendMsg ≤ 0.05 (burst)", "-", status(false, false)})
	}
	if d := v.Drain; d != nil {
		var parts []string
		good := true
		for _, api := range []string{chatapi.APISetMsgRead, chatapi.APIReadReceipt} {
			parts = append(parts, fmt.Sprintf("%s %.1f/s", strings.TrimPrefix(api, "openim/"), d.Sustained[api]))
			good = good && d.Sustained[api] >= 190
		}
		parts = append(parts, fmt.Sprintf("60007 × %d", d.RateLimited))
		rows = append(rows, targetRow{"backlog: ≥ 190 calls/s per Chat API, no 60007",
			strings.Join(parts, ", "), status(true, good && d.RateLimited == 0)})
	} else {
		rows = append(rows, targetRow{"backlog: ≥ 190 calls/s per Chat API, no 60007", "-", status(false, false)})
	}
	if m := v.Memory; m != nil && m.WarmKiB > 0 {
		growth := float64(m.PeakAfterKiB-m.WarmKiB) / float64(m.WarmKiB)
		rows = append(rows, targetRow{"serve memory flat after warm-up",
			fmt.Sprintf("%.1f → peak %.1f MiB (%+.0f %%) over %d callbacks", mib(m.WarmKiB), mib(m.PeakAfterKiB), growth*100, m.Requests),
			status(true, growth <= 0.10)})
	} else {
		rows = append(rows, targetRow{"serve memory flat after warm-up", "-", status(false, false)})
	}
	return rows
}

// cpuRatioRange returns the lowest and highest CPU ratio of the sweep, NaN
// when none was measured.
func (v reportView) cpuRatioRange() (lo, hi float64) {
	lo, hi = math.NaN(), math.NaN()
	for _, row := range v.Sweep {
		r := row.CPURatio
		if math.IsNaN(r) || math.IsInf(r, 0) {
			continue
		}
		if math.IsNaN(lo) || r < lo {
			lo = r
		}
		if math.IsNaN(hi) || r > hi {
			hi = r
		}
	}
	return lo, hi
}

func ratio(r float64) string {
	if math.IsNaN(r) || math.IsInf(r, 0) {
		return "-"
	}
	return strconv.FormatFloat(r, 'f', 2, 64) + "×"
}

// chart returns the throughput and p99 chart of the sweep.
func (v reportView) chart() Chart {
	c := Chart{Title: "chatsync ingest against the baselines, by concurrency", XLabel: "concurrency (closed loop)",
		LeftLabel: "requests/s (blue)", RightLabel: "p99 acknowledgement, ms (red)"}
	cs := Series{Name: "chatsync req/s", Color: "#1f77b4"}
	raw := Series{Name: "raw asynq req/s", Color: "#1f77b4", Dashed: true}
	hand := Series{Name: "net/http+asynq req/s", Color: "#7fb2dc", Dashed: true}
	csP := Series{Name: "chatsync p99 ms", Color: "#d62728"}
	rawP := Series{Name: "raw asynq p99 ms", Color: "#d62728", Dashed: true}
	handP := Series{Name: "net/http+asynq p99 ms", Color: "#ec9a9b", Dashed: true}
	val := func(l *LoadResult, f func(*LoadResult) float64) float64 {
		if l == nil {
			return math.NaN()
		}
		return f(l)
	}
	perSecond := func(l *LoadResult) float64 { return l.PerSecond }
	p99 := func(l *LoadResult) float64 { return l.Latency.P99 }
	handlers := false
	for _, row := range v.Sweep {
		c.X = append(c.X, row.Concurrency)
		cs.Values = append(cs.Values, val(row.Chatsync, perSecond))
		raw.Values = append(raw.Values, val(row.Raw, perSecond))
		hand.Values = append(hand.Values, val(row.Handler, perSecond))
		csP.Values = append(csP.Values, val(row.Chatsync, p99))
		rawP.Values = append(rawP.Values, val(row.Raw, p99))
		handP.Values = append(handP.Values, val(row.Handler, p99))
		handlers = handlers || row.Handler != nil
	}
	c.Left, c.Right = []Series{cs, raw}, []Series{csP, rawP}
	if handlers {
		c.Left, c.Right = append(c.Left, hand), append(c.Right, handP)
	}
	return c
}

// writeReport writes the Markdown report to mdPath and the chart next to it.
func writeReport(res *Results, mdPath, svgPath, command string) error {
	v := buildView(res, command, filepath.Base(svgPath))
	var svg bytes.Buffer
	if err := v.chart().WriteSVG(&svg); err != nil {
		return err
	}
	if err := os.WriteFile(svgPath, svg.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write chart: %w", err)
	}
	if v.DepthSVG != "" {
		svg.Reset()
		if err := v.depthChart().WriteSVG(&svg); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(filepath.Dir(svgPath), v.DepthSVG), svg.Bytes(), 0o644); err != nil {
			return fmt.Errorf("write chart: %w", err)
		}
	}
	var md bytes.Buffer
	if err := reportTemplate.Execute(&md, v); err != nil {
		return fmt.Errorf("render report: %w", err)
	}
	if err := os.WriteFile(mdPath, md.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

var reportFuncs = template.FuncMap{
	"f0":     func(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) },
	"f1":     func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) },
	"f2":     func(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) },
	"f4":     func(v float64) string { return strconv.FormatFloat(v, 'f', 4, 64) },
	"ratio":  ratio,
	"counts": formatCounts,
	"mib":    func(kib int64) string { return strconv.FormatFloat(mib(kib), 'f', 1, 64) },
	"keys":   sortedKeys[int64],
	"pct":    func(f float64) float64 { return f * 100 },
	"mod":    func(a, b int) int { return a % b },
	"cpu": func(l *LoadResult) string {
		if l == nil {
			return "-"
		}
		return cpuBreakdown(l.CPU)
	},
}
