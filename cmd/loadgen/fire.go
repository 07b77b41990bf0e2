package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hibiken/asynq"
)

// newHTTPClient returns a client with a keep-alive pool for n workers and
// a 5 s limit per request (Chat gives a callback 2 s).
func newHTTPClient(n int) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        n + 16,
		MaxIdleConnsPerHost: n + 16,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}}
}

// firer sends generated requests to chatsync; each worker owns one.
type firer struct {
	client *http.Client
	signer *signer
	gen    *generator
	// prepare, when set, runs before an auto-read AfterSendMsg is sent and
	// may rewrite it (the e2e probes: into a real message at the emulator).
	prepare func(ctx context.Context, r *request) error
	// sent, when set, is told of every acknowledged auto-read AfterSendMsg.
	sent func(r request, at time.Time)
	buf  bytes.Buffer
}

// fire sends r and labels the answer: "ok" for an OK callback reply or a
// 202 for an app event, else the status ("200:FAIL" for a callback reply
// that is not OK) or "net:…" for transport errors.
func (f *firer) fire(ctx context.Context, r request) outcome {
	o := outcome{kind: r.kind}
	if r.kind == kindSendAutoRead && f.prepare != nil {
		if err := f.prepare(ctx, &r); err != nil {
			o.label = "prepare"
			return o
		}
		o.start = time.Now()
	}
	now := time.Now()
	req, err := f.newRequest(ctx, r, now)
	if err != nil {
		o.label = "encode"
		return o
	}
	o.label = f.send(req, r.kind.isEvent())
	if o.label == outcomeOK && r.kind == kindSendAutoRead && f.sent != nil {
		f.sent(r, now)
	}
	return o
}

func (f *firer) newRequest(ctx context.Context, r request, now time.Time) (*http.Request, error) {
	body, err := r.body()
	if err != nil {
		return nil, err
	}
	u := f.signer.target + "/v1/events"
	if !r.kind.isEvent() {
		u = f.signer.callbackURL(r.command, now)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err == nil && r.kind.isEvent() {
		err = f.signer.signEvent(req.Header, r.id, body, now)
	}
	if err == nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, err
}

func (f *firer) send(req *http.Request, event bool) string {
	resp, err := f.client.Do(req)
	if err != nil {
		return netLabel(err)
	}
	defer resp.Body.Close()
	f.buf.Reset()
	_, err = f.buf.ReadFrom(io.LimitReader(resp.Body, 64<<10))
	switch {
	case err != nil:
		return netLabel(err)
	case event && resp.StatusCode == http.StatusAccepted:
		return outcomeOK
	case !event && resp.StatusCode == http.StatusOK:
		if bytes.Contains(f.buf.Bytes(), []byte(`"ActionStatus":"OK"`)) {
			return outcomeOK
		}
		return "200:FAIL"
	}
	return strconv.Itoa(resp.StatusCode)
}

// netLabel names a transport error without its addresses.
func netLabel(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "net:timeout"
	case errors.Is(err, context.Canceled):
		return "net:canceled"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "net:refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "net:reset"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "net:no-ports"
	}
	return "net:other"
}

// fireCommand is `loadgen fire`: the benchmark's mix at chatsync (or at
// the hand-written baseline), with the measurements asked for alongside.
type fireCommand struct {
	*options
	loop          *loopConfig
	seed          *uint64
	label, system string
	cpuPIDs       string
	rateFrom      string
	bestFrom      string
	e2e           bool
	drainTimeout  time.Duration
	rssPID        int
	otlp          string
	db            int           // of the raw baseline
	raw           *asynq.Client // the raw baseline's, with -system asynq
	tasks         atomic.Int64  // the raw baseline's enqueued
}

func cmdFire(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("fire", flag.ContinueOnError)
	f := &fireCommand{options: addOptions(fs)}
	f.loop, f.seed = addLoop(fs, loopConfig{concurrency: 8, duration: 10 * time.Second, requests: 1_000_000})
	fs.StringVar(&f.label, "label", "", "label of this phase in the results (sweep, half, memory, e2e, tracing)")
	fs.StringVar(&f.system, "system", systemChatsync, "what is measured: chatsync, chatsync+tracing, handler (the hand-written baseline at -target) or asynq (the raw baseline, into -redis's -db)")
	fs.IntVar(&f.db, "db", 1, "-system asynq: the database to enqueue into (keep it apart from chatsync's)")
	fs.StringVar(&f.cpuPIDs, "cpu-pids", "", "measure these processes' CPU time per request: name=pid,…")
	fs.StringVar(&f.rateFrom, "rate-from", "", "set -rate to half the best chatsync sweep rate in this results file")
	fs.StringVar(&f.bestFrom, "concurrency-from", "", "set -concurrency to that of the best chatsync sweep rate in this results file")
	fs.BoolVar(&f.e2e, "e2e", false, "also measure callback → Chat API latency and calls per event at the emulator")
	fs.DurationVar(&f.drainTimeout, "drain-timeout", time.Minute, "how long -e2e waits for the queues to drain")
	fs.IntVar(&f.rssPID, "rss-pid", 0, "sample this process's VmRSS every second (serve's pid)")
	fs.StringVar(&f.otlp, "otlp", "", "count the trace exports `loadgen otlp` at this URL got during the phase")
	err := f.parse(fs, args)
	if err != nil {
		return err
	}
	if f.otlp != "" {
		if f.otlp, err = loopbackURL("-otlp", f.otlp); err != nil {
			return err
		}
	}
	if _, err = newSigner(f.target, f.appID, f.token, f.eventsSecret); err != nil {
		return err
	}
	if err := f.fromResults(); err != nil {
		return err
	}
	if f.system == systemRaw {
		if f.raw, err = f.rawClient(); err != nil {
			return err
		}
		defer f.raw.Close()
	}
	return f.run(ctx, stdout)
}

// fromResults applies -rate-from and -concurrency-from.
func (f *fireCommand) fromResults() error {
	for _, path := range []string{f.rateFrom, f.bestFrom} {
		if path == "" {
			continue
		}
		res, err := readResults(path)
		if err != nil {
			return err
		}
		best := res.bestSweep()
		if best == nil {
			return fmt.Errorf("%s: no chatsync sweep phase", path)
		}
		if path == f.rateFrom {
			f.loop.rate = best.PerSecond / 2
		} else {
			f.loop.concurrency = best.Concurrency
		}
	}
	return nil
}

func (f *fireCommand) run(ctx context.Context, stdout io.Writer) error {
	m := f.benchMix(f.eventsSecret != "")
	var e2e *e2eRun
	if f.e2e {
		m.noMessagesRead = true // generated MsgKeys are unknown to the emulator: 20001 answers
		var err error
		if e2e, err = startE2E(ctx, f.options, m); err != nil {
			return err
		}
		defer e2e.close()
	}
	lr, rss, err := f.measure(ctx, m, e2e)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, lr)
	if err := appendRecord(f.out, record{Load: &lr}); err != nil {
		return err
	}
	if e2e != nil {
		r, err := e2e.finish(ctx, f, lr)
		if err != nil {
			return err
		}
		return emit(stdout, f.out, record{E2E: &r})
	}
	if f.rssPID > 0 {
		mr := summarizeRSS(lr.Requests, rss)
		return emit(stdout, f.out, record{Memory: &mr})
	}
	return nil
}

// measure runs the request loop, with the RSS sampler and the CPU and
// trace-export counters around it.
func (f *fireCommand) measure(ctx context.Context, m mix, e2e *e2eRun) (loadResult, []rssSample, error) {
	cpu, err := startCPU(f.cpuPIDs)
	if err != nil {
		return loadResult{}, nil, err
	}
	traces := otlpCounts{}
	if f.otlp != "" {
		if traces, err = readOTLP(ctx, f.otlp); err != nil {
			return loadResult{}, nil, err
		}
	}
	var done atomic.Int64
	f.loop.done = &done
	bg, stop := context.WithCancel(ctx)
	var rss []rssSample
	var wg sync.WaitGroup
	if f.rssPID > 0 {
		wg.Go(func() { rss = sampleRSS(bg, f.rssPID, done.Load) })
	}
	res, err := runLoop(ctx, *f.loop, f.newOp(m, e2e))
	stop()
	wg.Wait()
	if err != nil {
		return loadResult{}, nil, err
	}
	lr := newLoadResult(f.system, f.label, *f.loop, res)
	lr.CPU, lr.Tasks = cpu.perRequest(lr.OK), f.tasks.Load()
	if f.otlp != "" {
		err = f.countTraces(ctx, &lr, traces)
	}
	return lr, rss, err
}

func (f *fireCommand) countTraces(ctx context.Context, lr *loadResult, before otlpCounts) error {
	after, err := readOTLP(ctx, f.otlp)
	lr.Tracing = true
	lr.TraceRequests, lr.TraceBytes = after.Requests-before.Requests, after.Bytes-before.Bytes
	return err
}

// newOp returns the factory of the workers' ops: each its own signer and
// generator, all one HTTP client (or raw asynq.Client) and one MsgSeq.
func (f *fireCommand) newOp(m mix, e2e *e2eRun) func(int) op {
	client, seq := newHTTPClient(f.loop.concurrency), new(atomic.Uint32)
	return func(w int) op {
		s, err := newSigner(f.target, f.appID, f.token, f.eventsSecret)
		if err != nil { // checked in cmdFire
			panic(err)
		}
		fr := &firer{client: client, signer: s, gen: newGenerator(m, *f.seed+uint64(w)*7919, seq)}
		if f.raw != nil {
			return f.rawOp(f.raw, fr.gen)
		}
		if e2e != nil {
			fr.prepare, fr.sent = e2e.prepare, e2e.probes.sent
		}
		return func(ctx context.Context, _ int64) outcome { return fr.fire(ctx, fr.gen.next()) }
	}
}

// String is the progress line of a load phase (scripts/waitbench.sh shows it).
func (r loadResult) String() string {
	mode := "closed loop"
	if r.Rate > 0 {
		mode = fmt.Sprintf("%.0f/s target", r.Rate)
	}
	s := fmt.Sprintf("%-8s c=%-4d %-14s %9.0f req/s  ack p50 %6.2f  p95 %6.2f  p99 %7.2f  max %7.2f ms  (%d ok in %.1f s)",
		r.System, r.Concurrency, mode, r.PerSecond, r.Latency.P50, r.Latency.P95, r.Latency.P99, r.Latency.Max, r.OK, r.Seconds)
	if len(r.Errors) > 0 {
		s += "  errors " + formatCounts(r.Errors)
	}
	if r.Tracing {
		s += fmt.Sprintf("  trace exports %d (%d B)", r.TraceRequests, r.TraceBytes)
	}
	return s
}
