package main

import (
	"bytes"
	"context"
	_ "embed"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template"
)

// cmdReport writes BENCHMARKS.md from a results file, with the machine
// description and Redis's own rate as scripts/bench.sh wrote them
// (Markdown), and the previous report for the tracing comparison.
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
	res, err := readResults(*in)
	if err != nil {
		return err
	}
	var text [3]string
	for i, f := range files {
		if b, err := os.ReadFile(f); err == nil {
			text[i] = strings.TrimSpace(string(b))
		}
	}
	r := newReport(res, *command, text[0], text[1], text[2])
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
	"mib": func(kib int64) string { return fixed(1)(float64(kib) / 1024) }, "keys": sortedKeys[int64], "cpu": cpuBreakdown,
	"kib":     func(b int64) float64 { return float64(b) / 1024 },
	"every10": func(d []int) []int { return slices.Collect(func(y func(int) bool) { everyNth(d, 10, y) }) },
}).Parse(reportText))

func fixed(digits int) func(float64) string {
	return func(v float64) string { return strconv.FormatFloat(v, 'f', digits, 64) }
}

func everyNth(s []int, n int, yield func(int) bool) {
	for i := n - 1; i < len(s) && yield(s[i]); i += n {
	}
}

// ratio renders a ratio as "0.87×", or "-" when it is unknown.
func ratio(r float64) string {
	if math.IsNaN(r) || math.IsInf(r, 0) {
		return "-"
	}
	return fixed(2)(r) + "×"
}

// formatCounts renders counts as "k=v k=v" in key order.
func formatCounts(m map[string]int64) string {
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, k+"="+strconv.FormatInt(m[k], 10))
	}
	return orDash(strings.Join(parts, " "))
}

// cpuBreakdown renders CPU µs per request by process: "redis 40 + serve
// 180 = 220".
func cpuBreakdown(cpu map[string]float64) string {
	var parts []string
	total := 0.0
	for _, name := range sortedKeys(cpu) {
		parts = append(parts, fmt.Sprintf("%s %.0f", name, cpu[name]))
		total += cpu[name]
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " + ") + fmt.Sprintf(" = %.0f", total)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// sweepRow is one concurrency of the ingest sweep.
type sweepRow struct {
	Concurrency            int
	Chatsync, Raw, Handler *loadResult
	RawRatio, HandlerRatio float64 // chatsync's rate over each baseline's
	CPURatio               float64 // raw's ingest CPU over chatsync's (see ingestCPU)
}

// report is what the template renders.
type report struct {
	Command, Machine, Redis string
	Sweep                   []sweepRow
	Best                    struct{ Chatsync, Raw, Handler, RawRatio, HandlerRatio float64 }
	Half                    *loadResult
	E2E                     *e2eResult
	Burst                   *burstResult
	Fill, Drain             *backlogResult
	Memory                  *memoryResult
	MemoryRows              []rssSample
	Overload                map[string]*overloadResult // by scenario, but below
	Below                   []overloadResult
	Tracing                 *tracing
	Charts                  struct{ Throughput, Latency, Depth, SetRead string }
	Targets                 []target
	Notes                   []string
}

func newReport(res *results, command, machine, redis, previous string) *report {
	r := &report{Command: command, Machine: machine, Redis: redis, Notes: res.notes, Overload: map[string]*overloadResult{}}
	r.sweep(res.loads)
	for i, l := range res.loads {
		if l.Label == "half" {
			r.Half = &res.loads[i]
		}
	}
	r.Tracing = newTracing(res.loads, previous)
	r.E2E, r.Burst, r.Memory = last(res.e2e), last(res.bursts), last(res.memory)
	for i, b := range res.backlogs {
		if b.Phase == "fill" {
			r.Fill = &res.backlogs[i]
		} else {
			r.Drain = &res.backlogs[i]
		}
	}
	if r.Memory != nil {
		r.MemoryRows = thin(r.Memory.Samples, 12)
	}
	for i, o := range res.overload {
		if o.Scenario == "below" {
			r.Below = append(r.Below, o)
		} else {
			r.Overload[o.Scenario] = &res.overload[i]
		}
	}
	r.charts()
	r.Targets = r.targets()
	return r
}

func last[T any](s []T) *T {
	if len(s) == 0 {
		return nil
	}
	return &s[len(s)-1]
}

// sweep arranges the sweep's phases by concurrency.
func (r *report) sweep(loads []loadResult) {
	rows := map[int]*sweepRow{}
	for i, l := range loads {
		if l.Label != "sweep" || l.Rate != 0 {
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
	for _, c := range slices.Sorted(func(y func(int) bool) {
		for c := range rows {
			y(c)
		}
	}) {
		row := rows[c]
		row.RawRatio, row.HandlerRatio = rateRatio(row.Chatsync, row.Raw), rateRatio(row.Chatsync, row.Handler)
		row.CPURatio = ingestCPU(row.Raw) / ingestCPU(row.Chatsync)
		r.Best.Chatsync, r.Best.Raw = max(r.Best.Chatsync, rate(row.Chatsync)), max(r.Best.Raw, rate(row.Raw))
		r.Best.Handler = max(r.Best.Handler, rate(row.Handler))
		r.Sweep = append(r.Sweep, *row)
	}
	r.Best.RawRatio = r.Best.Chatsync / r.Best.Raw
	r.Best.HandlerRatio = r.Best.Chatsync / r.Best.Handler
}

func rate(l *loadResult) float64 {
	if l == nil {
		return 0
	}
	return l.PerSecond
}

func rateRatio(a, b *loadResult) float64 { return rate(a) / rate(b) }

// ingestCPU returns the CPU µs per request of a system's own side of the
// ingest: its server (for raw asynq, the enqueueing client in loadgen) and
// Redis, leaving out loadgen's HTTP client, which plays Chat. Their ratio
// is the throughput ratio with the cores to themselves.
func ingestCPU(l *loadResult) float64 {
	if l == nil {
		return math.NaN()
	}
	server := map[string]string{systemRaw: "loadgen", systemHandler: "handler", systemChatsync: "serve"}[l.System]
	s, ok1 := l.CPU[server]
	redis, ok2 := l.CPU["redis"]
	if !ok1 || !ok2 {
		return math.NaN()
	}
	return s + redis
}

// thin returns at most n samples spread evenly over s, with the last.
func thin(s []rssSample, n int) []rssSample {
	if len(s) <= n {
		return s
	}
	out := make([]rssSample, 0, n)
	for i := range n - 1 {
		out = append(out, s[i*(len(s)-1)/(n-1)])
	}
	return append(out, s[len(s)-1])
}

// charts draws the sweep and the sustained overload as Mermaid xychart
// blocks, which GitHub renders where BENCHMARKS.md is read.
func (r *report) charts() {
	var x []string
	var lines [6][]float64 // req/s then p99 of chatsync, raw, handler
	for _, row := range r.Sweep {
		x = append(x, strconv.Itoa(row.Concurrency))
		for i, l := range []*loadResult{row.Chatsync, row.Raw, row.Handler} {
			lines[i] = append(lines[i], rate(l))
			lines[i+3] = append(lines[i+3], p99(l))
		}
	}
	r.Charts.Throughput = xyChart("Ingest requests/s by concurrency", "concurrency", "requests/s", x, lines[:3]...)
	r.Charts.Latency = xyChart("p99 acknowledgement (ms) by concurrency", "concurrency", "p99 ms", x, lines[3:]...)
	o := r.Overload["sustained"]
	if o == nil || len(o.Depth) == 0 {
		return
	}
	x, lines[0], lines[1], lines[2] = nil, nil, nil, nil
	for i, d := range o.Depth {
		x = append(x, strconv.Itoa(i+1))
		lines[0] = append(lines[0], float64(d))
		lines[1] = append(lines[1], float64(at(o.SetReadPerSecond, i)))
		lines[2] = append(lines[2], 200)
	}
	r.Charts.Depth = xyChart("10× overload: tasks queued, each second", "seconds", "tasks", x, lines[0])
	r.Charts.SetRead = xyChart("10× overload: admin_set_msg_read calls/s and Chat's 200/s", "seconds", "calls/s", x, lines[1:3]...)
}

func p99(l *loadResult) float64 {
	if l == nil {
		return 0
	}
	return l.Latency.P99
}

// at returns s[i], or the zero value when i is out of range.
func at[T any](s []T, i int) (v T) {
	if i >= 0 && i < len(s) {
		v = s[i]
	}
	return v
}

// xyChart returns a Mermaid xychart-beta block of lines over categories x.
func xyChart(title, xLabel, yLabel string, x []string, lines ...[]float64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "```mermaid\nxychart-beta\n    title %q\n    x-axis %q [%s]\n    y-axis %q\n",
		title, xLabel, strings.Join(x, ", "), yLabel)
	for _, l := range lines {
		vs := make([]string, len(l))
		for i, v := range l {
			vs[i] = strconv.FormatFloat(v, 'f', 2, 64)
		}
		fmt.Fprintf(&b, "    line [%s]\n", strings.Join(vs, ", "))
	}
	return b.String() + "```"
}

// tracing is the tracing phase: chatsync with tracing off and on,
// interleaved at the sweep's best concurrency, and the hand-written
// baseline in the same run.
type tracing struct {
	Phases                    []loadResult
	Concurrency               int
	Off, On, Handler          struct{ PerSecond, P99 float64 }
	RateRatio, P99Ratio       float64 // on over off
	OffToHandler, Previous    float64 // chatsync (tracing off) / handler, now and in the previous report
	ExportRequests, ExportKiB float64
	InEffect                  bool // the receiver got trace exports while tracing was on
}

func newTracing(loads []loadResult, previous string) *tracing {
	t := &tracing{}
	var off, on, hand []loadResult
	for _, l := range loads {
		switch {
		case l.Label != "tracing":
			continue
		case l.System == systemHandler:
			hand = append(hand, l)
		case l.System == systemTraced:
			on = append(on, l)
			t.ExportRequests, t.ExportKiB = t.ExportRequests+float64(l.TraceRequests), t.ExportKiB+float64(l.TraceBytes)/1024
		default:
			off = append(off, l)
		}
		t.Phases, t.Concurrency = append(t.Phases, l), l.Concurrency
	}
	if len(t.Phases) == 0 {
		return nil
	}
	t.Off.PerSecond, t.Off.P99 = means(off)
	t.On.PerSecond, t.On.P99 = means(on)
	t.Handler.PerSecond, t.Handler.P99 = means(hand)
	t.RateRatio, t.P99Ratio = t.On.PerSecond/t.Off.PerSecond, t.On.P99/t.Off.P99
	t.OffToHandler, t.Previous = t.Off.PerSecond/t.Handler.PerSecond, previousRatio(previous, t.Concurrency)
	t.InEffect = t.ExportRequests > 0
	return t
}

// means returns the mean rate and p99 of phases (NaN for none).
func means(phases []loadResult) (perSecond, p99 float64) {
	for _, l := range phases {
		perSecond, p99 = perSecond+l.PerSecond/float64(len(phases)), p99+l.Latency.P99/float64(len(phases))
	}
	if len(phases) == 0 {
		return math.NaN(), math.NaN()
	}
	return perSecond, p99
}

var previousTracing = regexp.MustCompile(`net/http \+ asynq baseline at concurrency (\d+): \*\*([0-9.]+)×\*\*`)

// previousRatio finds chatsync's rate over the hand-written baseline's at
// concurrency c in a previous report: its tracing-off line, or else the
// sweep table's row (NaN when neither is there).
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
