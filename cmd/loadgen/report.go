package main

import (
	"bytes"
	"cmp"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template"

	"github.com/chatsync/chatsync/chatapi"
)

// cmdReport writes BENCHMARKS.md from a results file and bench.sh's Markdown.
func cmdReport(_ context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	in := fs.String("in", "", "the run's results file (JSON lines)")
	md := fs.String("md", "BENCHMARKS.md", "the report to write")
	command := fs.String("command", "make bench", "the command that produced the results, quoted in the report")
	var files [3]string
	fs.StringVar(&files[0], "machine", "", "a Markdown table describing the machine")
	fs.StringVar(&files[1], "redis", "", "a Markdown table of redis-benchmark's results")
	fs.StringVar(&files[2], "previous", "", "the previous report, for the tracing-off comparison")
	if err := fs.Parse(args); err != nil {
		return err
	}
	recs, err := readResults(*in)
	if err != nil {
		return err
	}
	for i := range files {
		b, _ := os.ReadFile(files[i]) // a missing file is an empty section
		files[i] = strings.TrimSpace(string(b))
	}
	r := newReport(recs, *command, files[0], files[1], files[2])
	var buf bytes.Buffer
	if err := reportTemplate.Execute(&buf, r); err != nil {
		return fmt.Errorf("render report: %w", err)
	}
	for _, t := range r.Targets {
		fmt.Fprintf(stdout, "%-12s %s: %s\n", t.Status, t.Target, t.Measured)
	}
	return os.WriteFile(*md, buf.Bytes(), 0o644)
}

//go:embed report.md.tmpl
var reportText string

var reportTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"f0": fixed(0), "f1": fixed(1), "f2": fixed(2), "f4": fixed(4), "ratio": ratio, "counts": formatCounts,
	"mib": func(kib int64) string { return fixed(1)(float64(kib) / 1024) }, "keys": func(m map[string]int64) []string { return slices.Sorted(maps.Keys(m)) },
	"every10": func(s []int64) (out []int64) {
		for i := 0; i < len(s); i += 10 {
			out = append(out, s[i])
		}
		return out
	},
}).Parse(reportText))

// fixed formats with digits decimals, "-" for NaN (not measured).
func fixed(digits int) func(float64) string {
	return func(v float64) string {
		if math.IsNaN(v) {
			return "-"
		}
		return strconv.FormatFloat(v, 'f', digits, 64)
	}
}

// ratio renders a ratio as "0.87×", or "-" when it is unknown.
func ratio(r float64) string {
	if math.IsNaN(r) || math.IsInf(r, 0) {
		return "-"
	}
	return fixed(2)(r) + "×"
}

// formatCounts renders counts as "k:v k:v" in key order (fmt sorts map keys), or "-".
func formatCounts(m map[string]int64) string {
	if len(m) == 0 {
		return "-"
	}
	return strings.TrimSuffix(strings.TrimPrefix(fmt.Sprint(m), "map["), "]")
}

// sweepRow is one concurrency of the ingest sweep.
type sweepRow struct {
	Concurrency            int
	Chatsync, Raw, Handler *loadResult
	RawRatio, HandlerRatio float64 // chatsync's rate over each baseline's
}

// report is what the template renders.
type report struct {
	Command, Machine, Redis string
	Sweep                   []sweepRow
	Best                    struct{ Chatsync, Raw, Handler, RawRatio, HandlerRatio float64 }
	Half                    *loadResult
	E2E                     *e2eResult
	Burst                   *burstResult
	Backlog                 *backlogResult
	Memory                  *memoryResult
	Overload                map[string]*overloadResult // by scenario
	Tracing                 *tracing
	Targets                 []target
	Notes                   []string
}

func newReport(recs []record, command, machine, redis, previous string) *report {
	r := &report{Command: command, Machine: machine, Redis: redis, Overload: map[string]*overloadResult{}}
	var loads []loadResult
	for _, rec := range recs {
		switch {
		case rec.Load != nil:
			loads = append(loads, *rec.Load)
			if rec.Load.Label == "half" {
				r.Half = rec.Load
			}
		case rec.Overload != nil:
			r.Overload[rec.Overload.Scenario] = rec.Overload
		case rec.Note != "":
			r.Notes = append(r.Notes, rec.Note)
		}
		r.E2E, r.Burst = cmp.Or(rec.E2E, r.E2E), cmp.Or(rec.Burst, r.Burst)
		r.Backlog, r.Memory = cmp.Or(rec.Backlog, r.Backlog), cmp.Or(rec.Memory, r.Memory)
	}
	r.sweep(loads)
	r.Tracing = newTracing(loads, previous)
	r.Targets = r.targets()
	return r
}

// sweep arranges the sweep's phases by concurrency.
func (r *report) sweep(loads []loadResult) {
	rows := map[int]*sweepRow{}
	for i, l := range loads {
		if l.Label != "sweep" {
			continue
		}
		if rows[l.Concurrency] == nil {
			rows[l.Concurrency] = &sweepRow{Concurrency: l.Concurrency}
		}
		switch row := rows[l.Concurrency]; l.System {
		case systemRaw:
			row.Raw = &loads[i]
		case systemHandler:
			row.Handler = &loads[i]
		default:
			row.Chatsync = &loads[i]
		}
	}
	for _, c := range slices.Sorted(maps.Keys(rows)) {
		row := rows[c]
		row.RawRatio, row.HandlerRatio = rate(row.Chatsync)/rate(row.Raw), rate(row.Chatsync)/rate(row.Handler)
		r.Best.Chatsync, r.Best.Raw = max(r.Best.Chatsync, rate(row.Chatsync)), max(r.Best.Raw, rate(row.Raw))
		r.Best.Handler = max(r.Best.Handler, rate(row.Handler))
		r.Sweep = append(r.Sweep, *row)
	}
	r.Best.RawRatio = r.Best.Chatsync / r.Best.Raw
	r.Best.HandlerRatio = r.Best.Chatsync / r.Best.Handler
}

// rate returns l's successes per second, 0 for no phase.
func rate(l *loadResult) float64 { return cmp.Or(l, &loadResult{}).PerSecond }

// tracing is chatsync with tracing off, on with every request sampled and
// on with 10 % sampled, and the hand-written baseline.
type tracing struct {
	Phases                    []loadResult
	Concurrency               int
	Off, On, Sampled          struct{ PerSecond, P99 float64 }
	RateRatio, P99Ratio       float64 // on over off
	SampledRate, SampledP99   float64 // sampled over off (NaN: not measured)
	OffToHandler, Previous    float64 // chatsync (tracing off) / handler, now and in the previous report
	ExportRequests, ExportKiB float64 // with tracing on: the receiver got them, so tracing was in effect
}

func newTracing(loads []loadResult, previous string) *tracing {
	t, phases := &tracing{}, map[string][]loadResult{}
	for _, l := range loads {
		if l.Label == "tracing" {
			t.Phases, t.Concurrency, phases[l.System] = append(t.Phases, l), l.Concurrency, append(phases[l.System], l)
			t.ExportRequests, t.ExportKiB = t.ExportRequests+float64(l.TraceRequests), t.ExportKiB+float64(l.TraceBytes)/1024
		}
	}
	if len(t.Phases) == 0 {
		return nil
	}
	t.Off.PerSecond, t.Off.P99 = means(phases[systemChatsync])
	t.On.PerSecond, t.On.P99 = means(phases[systemTraced])
	t.Sampled.PerSecond, t.Sampled.P99 = means(phases[systemSampled])
	handler, _ := means(phases[systemHandler])
	t.RateRatio, t.P99Ratio = t.On.PerSecond/t.Off.PerSecond, t.On.P99/t.Off.P99
	t.SampledRate, t.SampledP99 = t.Sampled.PerSecond/t.Off.PerSecond, t.Sampled.P99/t.Off.P99
	t.OffToHandler, t.Previous = t.Off.PerSecond/handler, previousRatio(previous, t.Concurrency)
	return t
}

// means returns the mean rate and p99 of phases (NaN for none).
func means(phases []loadResult) (perSecond, p99 float64) {
	if len(phases) == 0 {
		return math.NaN(), math.NaN()
	}
	for _, l := range phases {
		perSecond, p99 = perSecond+l.PerSecond/float64(len(phases)), p99+l.Latency.P99/float64(len(phases))
	}
	return perSecond, p99
}

var previousTracing = regexp.MustCompile(`net/http \+ asynq baseline at concurrency (\d+): \*\*([0-9.]+)×\*\*`)

// previousRatio finds chatsync / handler at c in a previous report (NaN: not there).
func previousRatio(md string, c int) float64 {
	if m := previousTracing.FindStringSubmatch(md); m != nil && m[1] == strconv.Itoa(c) {
		v, _ := strconv.ParseFloat(m[2], 64)
		return v
	}
	for line := range strings.Lines(md) {
		cells := strings.Split(strings.TrimSpace(line), "|")
		if len(cells) == 15 && strings.TrimSpace(cells[1]) == strconv.Itoa(c) {
			if v, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(cells[13]), "×"), 64); err == nil {
				return v
			}
		}
	}
	return math.NaN()
}

// record is one line of the results file: exactly one of its fields set.
type record struct {
	Load     *loadResult     `json:"load,omitempty"`
	E2E      *e2eResult      `json:"e2e,omitempty"`
	Burst    *burstResult    `json:"burst,omitempty"`
	Backlog  *backlogResult  `json:"backlog,omitempty"`
	Memory   *memoryResult   `json:"memory,omitempty"`
	Overload *overloadResult `json:"overload,omitempty"`
	Note     string          `json:"note,omitempty"`
}

// emit prints rec as the progress line of a phase and appends it to the results file at path, if any.
func emit(w io.Writer, path string, rec record) error {
	line, err := json.Marshal(rec)
	fmt.Fprintf(w, "%.2000s\n", line)
	if err != nil || path == "" {
		return err
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("results file: %w", err)
	}
	_, err = f.Write(append(line, '\n'))
	return errors.Join(err, f.Close())
}

// readResults reads the records of the results file at path.
func readResults(path string) (recs []record, err error) {
	b, err := os.ReadFile(path)
	for dec := json.NewDecoder(bytes.NewReader(b)); err == nil && dec.More(); {
		var rec record
		if err = dec.Decode(&rec); err == nil {
			recs = append(recs, rec)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("results file: %w", err)
	}
	return recs, nil
}

// bestSweep returns the sweep's chatsync phase with the highest rate.
func bestSweep(recs []record) *loadResult {
	var best *loadResult
	for _, rec := range recs {
		l := rec.Load
		if l != nil && l.Label == "sweep" && l.System == systemChatsync && (best == nil || l.PerSecond > best.PerSecond) {
			best = l
		}
	}
	return best
}

// target is one of the targets and what the run reached.
type target struct{ Target, Measured, Status string }

// check returns a target row: not measured, reached or missed.
func check(name string, measured bool, ok func() (string, bool)) target {
	if !measured {
		return target{name, "-", "not measured"}
	}
	m, reached := ok()
	return target{name, m, map[bool]string{true: "reached", false: "missed"}[reached]}
}

func (r *report) targets() []target {
	return []target{
		check("ingest ≥ 0.8 × raw asynq enqueue rate", r.Best.Chatsync > 0 && r.Best.Raw > 0, r.ingestTarget),
		check("p99 ack ≤ 10 ms at half the maximum throughput", r.Half != nil, func() (string, bool) {
			return fmt.Sprintf("p99 %.2f ms at %.0f req/s", r.Half.Latency.P99, r.Half.PerSecond), r.Half.Latency.P99 <= 10
		}),
		check("callback → Chat API p99 ≤ 250 ms at 200 events/s", r.E2E != nil && r.E2E.Matched > 0, func() (string, bool) {
			e := r.E2E
			return fmt.Sprintf("p99 %.1f ms at %.0f/s (%d/%d probes)", e.CallbackToAPI.P99, e.Load.Rate, e.Matched, e.Probes),
				e.CallbackToAPI.P99 <= 250 && e.Matched == e.Probes
		}),
		check("unread API calls per AfterSendMsg ≤ 0.05 (burst)", r.Burst != nil && r.Burst.AfterSendMsg > 0, func() (string, bool) {
			b := r.Burst
			return fmt.Sprintf("%.4f (%d calls / %d AfterSendMsg)", b.UnreadPerSendMsg, b.Calls[chatapi.APIUnread], b.AfterSendMsg),
				b.UnreadPerSendMsg <= 0.05
		}),
		check("backlog: ≥ 190 calls/s per Chat API, no 60007", r.Backlog != nil, func() (string, bool) {
			d := r.Backlog
			s, rr := d.Sustained[chatapi.APISetMsgRead], d.Sustained[chatapi.APIReadReceipt]
			return fmt.Sprintf("admin_set_msg_read %.1f/s, c2c_msg_read_receipt %.1f/s, 60007 × %d", s, rr, d.RateLimited),
				s >= 190 && rr >= 190 && d.RateLimited == 0
		}),
		check("serve memory flat after warm-up", r.Memory != nil && r.Memory.WarmKiB > 0, func() (string, bool) {
			m := r.Memory
			growth := float64(m.PeakAfterKiB-m.WarmKiB) / float64(m.WarmKiB)
			return fmt.Sprintf("%.1f → peak %.1f MiB (%+.0f %%) over %d callbacks", float64(m.WarmKiB)/1024,
				float64(m.PeakAfterKiB)/1024, growth*100, m.Requests), growth <= 0.10
		}),
		overloadCheck("2,000 conversation.read over 40 conversations: ≤ 120 set-read calls, all applied ≤ 5 s after the last",
			r.Overload["reads"], readsTarget),
		overloadCheck("1,000 auto-read AfterSendMsg from 10 senders: ≤ 60 set-read, ≤ 70 receipt calls (batch 20), all receipted ≤ 10 s",
			r.Overload["receipts"], receiptsTarget),
		overloadCheck("10× overload (2,000 events/s over 1,000 conversations): ≤ 200 calls/s per API, no 60007, p99 event → call ≤ 5 s",
			r.Overload["sustained"], sustainedTarget),
		overloadCheck("below the budget (50 events/s): p99 event → call ≤ 200 ms", r.Overload["below"], belowTarget),
		overloadCheck("Redis memory under 1,000 callbacks/s: ≤ 64 KiB per sustained callback/s", r.Overload["memory"], memoryTarget),
		check("tracing on costs ≤ 10 % (ingest req/s and p99 ack, on vs off)", r.Tracing != nil && r.Tracing.ExportRequests > 0, r.tracingTarget),
		check("tracing on, 10 % sampled, costs ≤ 10 % (ingest req/s and p99 ack, vs off)",
			r.Tracing != nil && r.Tracing.ExportRequests > 0 && !math.IsNaN(r.Tracing.SampledRate), r.sampledTarget),
		check("tracing off costs ≤ 1 % (chatsync / net/http + asynq against the previous report's)",
			r.Tracing != nil && !math.IsNaN(r.Tracing.Previous), r.tracingOffTarget),
	}
}

func overloadCheck(name string, o *overloadResult, t func(*overloadResult) (string, bool)) target {
	return check(name, o != nil, func() (string, bool) { return t(o) })
}

func (r *report) ingestTarget() (string, bool) {
	return fmt.Sprintf("%.0f vs %.0f req/s = %s", r.Best.Chatsync, r.Best.Raw, ratio(r.Best.RawRatio)), r.Best.RawRatio >= 0.8
}

func readsTarget(o *overloadResult) (string, bool) {
	n, a := o.Calls[chatapi.APISetMsgRead], o.AppliedAfterLast
	return fmt.Sprintf("%d calls for %d events; applied %.2f s after the last", n, o.Events, a), n <= 120 && a >= 0 && a <= 5
}

func receiptsTarget(o *overloadResult) (string, bool) {
	s, rr, a := o.Calls[chatapi.APISetMsgRead], o.Calls[chatapi.APIReadReceipt], o.AppliedAfterLast
	return fmt.Sprintf("%d set-read, %d receipt calls for %d callbacks; receipted %.2f s after the last", s, rr, o.Events, a),
		s <= 60 && rr <= 70 && a >= 0 && a <= 10
}

func sustainedTarget(o *overloadResult) (string, bool) {
	peak, depth := o.PeakPerSecond[chatapi.APISetMsgRead], append([]int64{0}, o.Depth...)
	return fmt.Sprintf("peak %d calls/s, 60007 × %d, p99 %.0f ms (%d read points), queue depth at the end %d",
		peak, o.RateLimited, o.EventToCall.P99, o.EventToCall.N, depth[len(depth)-1]), peak <= 200 && o.RateLimited == 0 && o.EventToCall.P99 <= 5000
}

func belowTarget(o *overloadResult) (string, bool) {
	return fmt.Sprintf("p99 %.0f ms (%d events)", o.EventToCall.P99, o.EventToCall.N), o.EventToCall.P99 <= 200
}

func memoryTarget(o *overloadResult) (string, bool) {
	return fmt.Sprintf("%.1f KiB per callback/s, at %.0f callbacks/s (growth %.1f MiB)", o.BytesPerRate/1024, o.Rate,
		float64(o.MemoryGrowth)/(1<<20)), o.MemoryGrowth > 0 && o.BytesPerRate <= 64*1024
}

func (r *report) tracingTarget() (string, bool) {
	t := r.Tracing
	return fmt.Sprintf("%.0f vs %.0f req/s = %s, p99 %.2f vs %.2f ms = %s", t.On.PerSecond, t.Off.PerSecond, ratio(t.RateRatio),
		t.On.P99, t.Off.P99, ratio(t.P99Ratio)), t.RateRatio >= 0.9 && t.P99Ratio <= 1.1
}

func (r *report) sampledTarget() (string, bool) {
	t := r.Tracing
	return fmt.Sprintf("%.0f vs %.0f req/s = %s, p99 %.2f vs %.2f ms = %s", t.Sampled.PerSecond, t.Off.PerSecond,
		ratio(t.SampledRate), t.Sampled.P99, t.Off.P99, ratio(t.SampledP99)), t.SampledRate >= 0.9 && t.SampledP99 <= 1.1
}

func (r *report) tracingOffTarget() (string, bool) {
	t := r.Tracing
	return fmt.Sprintf("%s now vs %s in the previous report, at concurrency %d", ratio(t.OffToHandler), ratio(t.Previous),
		t.Concurrency), t.OffToHandler >= 0.99*t.Previous
}
