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
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hibiken/asynq"
)

// newHTTPClient returns a client with a keep-alive pool for n workers and a 5 s limit per request.
func newHTTPClient(n int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns, t.MaxIdleConnsPerHost, t.DisableCompression = n+16, n+16, true
	return &http.Client{Timeout: 5 * time.Second, Transport: t}
}

// firer sends generated requests to chatsync; each worker owns one.
type firer struct {
	client *http.Client
	signer *signer
	gen    *generator
	// prepare, when set, may rewrite an auto-read AfterSendMsg before it is sent (e2e probes).
	prepare func(ctx context.Context, r *request) error
	sent    func(r request, at time.Time) // when set, told of every acknowledged auto-read AfterSendMsg
	buf     bytes.Buffer
}

// fire sends r and labels the answer: ok, the status, or net:….
func (f *firer) fire(ctx context.Context, r request) (o outcome) {
	if r.kind == kindSendAutoRead && f.prepare != nil {
		if err := f.prepare(ctx, &r); err != nil {
			return outcome{label: "prepare"}
		}
		o.start = time.Now()
	}
	now, event := time.Now(), r.kind.isEvent()
	body, err := r.body()
	u := f.signer.target + "/v1/events"
	if !event {
		u = f.signer.callbackURL(r.command, now)
	}
	req, err2 := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err = errors.Join(err, err2); err == nil && event {
		err = f.signer.signEvent(req.Header, r.id, body, now)
	}
	if err != nil {
		return outcome{label: "encode"}
	}
	req.Header.Set("Content-Type", "application/json")
	if o.label = f.send(req, event); o.label == outcomeOK && r.kind == kindSendAutoRead && f.sent != nil {
		f.sent(r, now)
	}
	return o
}

func (f *firer) send(req *http.Request, event bool) string {
	resp, err := f.client.Do(req)
	if err == nil {
		f.buf.Reset()
		_, err = f.buf.ReadFrom(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
	}
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return "net:timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "net:refused"
	case err != nil:
		return "net:other"
	case event && resp.StatusCode == http.StatusAccepted:
		return outcomeOK
	case !event && resp.StatusCode == http.StatusOK && bytes.Contains(f.buf.Bytes(), []byte(`"ActionStatus":"OK"`)):
		return outcomeOK
	}
	return strconv.Itoa(resp.StatusCode)
}

// fireCommand is `loadgen fire`: the benchmark's mix at chatsync or a baseline.
type fireCommand struct {
	*options
	loop               loopConfig
	label, system      string
	rateFrom, bestFrom string
	e2e                bool
	rssPID             int
	otlp               string
	raw                *asynq.Client // the raw baseline's, with -system asynq
}

func cmdFire(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("fire", flag.ContinueOnError)
	f := &fireCommand{options: addOptions(fs)}
	fs.IntVar(&f.loop.concurrency, "concurrency", 8, "concurrent requests (workers)")
	fs.Float64Var(&f.loop.rate, "rate", 0, "target requests per second over all workers; 0 = closed loop")
	fs.DurationVar(&f.loop.duration, "duration", 10*time.Second, "stop starting requests after this long (at most 1h)")
	fs.Int64Var(&f.loop.requests, "requests", 1_000_000, "stop after this many requests")
	fs.StringVar(&f.label, "label", "", "label of this phase in the results (sweep, half, memory, e2e, tracing)")
	fs.StringVar(&f.system, "system", systemChatsync, "chatsync, chatsync+tracing, chatsync+tracing@0.1, handler (the hand-written baseline at -target) or asynq (the raw baseline, into $REDIS_URL's database)")
	fs.StringVar(&f.rateFrom, "rate-from", "", "set -rate to half the best chatsync sweep rate in this results file")
	fs.StringVar(&f.bestFrom, "concurrency-from", "", "set -concurrency to that of the best chatsync sweep rate in this results file")
	fs.BoolVar(&f.e2e, "e2e", false, "also measure callback → Chat API latency and calls per event at the emulator")
	fs.IntVar(&f.rssPID, "rss-pid", 0, "sample this process's VmRSS every second (serve's pid)")
	fs.StringVar(&f.otlp, "otlp", "", "count the trace exports `loadgen otlp` at this URL got during the phase")
	err := f.parse(fs, args)
	if err == nil && f.otlp != "" {
		f.otlp, err = loopbackURL("-otlp", f.otlp)
	}
	if err == nil {
		_, err = newSigner(f.target, f.appID, f.token, f.eventsSecret)
	}
	if err == nil {
		err = errors.Join(f.fromResults(f.rateFrom, true), f.fromResults(f.bestFrom, false))
	}
	if err == nil && f.system == systemRaw {
		f.raw, err = f.rawClient()
	}
	if err != nil {
		return err
	}
	if f.raw != nil {
		defer f.raw.Close()
	}
	return f.run(ctx, stdout)
}

// fromResults applies -rate-from (rate) or -concurrency-from.
func (f *fireCommand) fromResults(path string, rate bool) error {
	if path == "" {
		return nil
	}
	recs, err := readResults(path)
	if best := bestSweep(recs); err == nil && best == nil {
		err = fmt.Errorf("%s: no chatsync sweep phase", path)
	} else if err == nil && rate {
		f.loop.rate = best.PerSecond / 2
	} else if err == nil {
		f.loop.concurrency = best.Concurrency
	}
	return err
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
		defer e2e.session.close()
		defer e2e.stopPoll()
	}
	lr, rss, err := f.measure(ctx, m, e2e)
	if err != nil {
		return err
	}
	if err := emit(stdout, f.out, record{Load: &lr}); err != nil {
		return err
	}
	switch {
	case e2e != nil:
		r, err := e2e.finish(ctx, lr)
		if err != nil {
			return err
		}
		return emit(stdout, f.out, record{E2E: &r})
	case f.rssPID > 0:
		mr := summarizeRSS(lr, rss)
		return emit(stdout, f.out, record{Memory: &mr})
	}
	return nil
}

// measure runs the request loop, with the RSS sampler and the trace-export counter around it.
func (f *fireCommand) measure(ctx context.Context, m mix, e2e *e2eRun) (loadResult, []int64, error) {
	var before, after map[string]int64 // the OTLP receiver's counts
	if f.otlp != "" {
		if err := getJSON(ctx, f.otlp+"/stats", &before); err != nil {
			return loadResult{}, nil, err
		}
	}
	bg, stop := context.WithCancel(ctx)
	var rss []int64
	var wg sync.WaitGroup
	if f.rssPID > 0 {
		wg.Go(func() { rss = sampleRSS(bg, f.rssPID) })
	}
	res, err := runLoop(ctx, f.loop, f.newOp(m, e2e))
	stop()
	wg.Wait()
	lr := newLoadResult(f.system, f.label, f.loop, res)
	if f.otlp != "" && err == nil {
		err = getJSON(ctx, f.otlp+"/stats", &after)
		lr.Tracing, lr.TraceRequests, lr.TraceBytes = true, after["requests"]-before["requests"], after["bytes"]-before["bytes"]
	}
	return lr, rss, err
}

// newOp returns the workers' ops: one HTTP client (or asynq.Client) and MsgSeq for all.
func (f *fireCommand) newOp(m mix, e2e *e2eRun) func(int) op {
	client, seq, seed := newHTTPClient(f.loop.concurrency), new(atomic.Uint32), uint64(time.Now().UnixNano())
	return func(w int) op {
		s, _ := newSigner(f.target, f.appID, f.token, f.eventsSecret) // checked in cmdFire
		fr := &firer{client: client, signer: s, gen: newGenerator(m, seed+uint64(w)*7919, seq)}
		if f.raw != nil {
			return f.rawOp(f.raw, fr.gen)
		}
		if e2e != nil {
			fr.prepare, fr.sent = e2e.prepare, e2e.probes.sent
		}
		return func(ctx context.Context, _ int64) outcome { return fr.fire(ctx, fr.gen.next()) }
	}
}

// sampleRSS reads pid's VmRSS (KiB, from /proc/<pid>/status) now and every second until ctx is done.
func sampleRSS(ctx context.Context, pid int) (out []int64) {
	for ok := true; ok; ok = sleepUntil(ctx, time.Now().Add(time.Second)) {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		for line := range strings.Lines(string(b)) {
			v, found := strings.CutPrefix(line, "VmRSS:")
			if kib, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64); found && err == nil {
				out = append(out, kib)
			}
		}
	}
	return out
}

// memoryResult is serve's VmRSS each second: after warm-up (the first fifth), the peak after it, the last.
type memoryResult struct {
	Requests     int64   `json:"requests"`
	Seconds      float64 `json:"seconds"`
	SamplesKiB   []int64 `json:"samples_kib"`
	WarmKiB      int64   `json:"warm_kib"`
	PeakAfterKiB int64   `json:"peak_after_kib"`
	EndKiB       int64   `json:"end_kib"`
}

func summarizeRSS(lr loadResult, samples []int64) memoryResult {
	m := memoryResult{Requests: lr.OK, Seconds: lr.Seconds, SamplesKiB: samples}
	if len(samples) > 0 {
		warm := len(samples) / 5
		m.WarmKiB, m.PeakAfterKiB, m.EndKiB = samples[warm], slices.Max(samples[warm:]), samples[len(samples)-1]
	}
	return m
}
