package main

import (
	"bytes"
	"cmp"
	"context"
	_ "embed"
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
	var text [3]string
	for i, f := range files {
		if b, err := os.ReadFile(f); err == nil {
			text[i] = strings.TrimSpace(string(b))
		}
	}
	r := newReport(recs, *command, text[0], text[1], text[2])
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
	"kib": func(b int64) float64 { return float64(b) / 1024 },
	"every10": func(s []int64) (out []int64) {
		for i := 9; i < len(s); i += 10 {
			out = append(out, s[i])
		}
		return out
	},
}).Parse(reportText))

func fixed(digits int) func(float64) string {
	return func(v float64) string { return strconv.FormatFloat(v, 'f', digits, 64) }
}

// ratio renders a ratio as "0.87×", or "-" when it is unknown.
func ratio(r float64) string {
	if math.IsNaN(r) || math.IsInf(r, 0) {
		return "-"
	}
	return fixed(2)(r) + "×"
}

// formatCounts renders counts as "k=v k=v" in key order, or "-".
func formatCounts(m map[string]int64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+strconv.FormatInt(m[k], 10))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
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

func rate(l *loadResult) float64 {
	if l == nil {
		return 0
	}
	return l.PerSecond
}

// tracing is chatsync with tracing off and on, and the hand-written baseline.
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
