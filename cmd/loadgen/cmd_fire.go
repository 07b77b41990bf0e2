package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// fireFlags are the flags of `loadgen fire`.
type fireFlags struct {
	target *targetFlags
	chat   *chatFlags
	load   *loadFlags
	mix    *mixFlags
	out    string
	label  string
	system string

	rateFrom     string
	rateFraction float64

	e2e          bool
	redisURL     string
	drainTimeout time.Duration

	rssPID     int
	warm       float64
	flushEvery int64
	cpuPIDs    string
	pids       map[string]int
}

func cmdFire(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("fire", flag.ContinueOnError)
	f := fireFlags{target: addTargetFlags(fs), chat: addChatFlags(fs), load: addLoadFlags(fs, 10*time.Second), mix: addMixFlags(fs)}
	fs.StringVar(&f.out, "out", "", "append the results to this JSON-lines file")
	fs.StringVar(&f.label, "label", "", "label of this phase in the results")
	fs.StringVar(&f.system, "system", "chatsync", "what -target is, as the results name it (chatsync, or handler for loadgen's hand-written baseline)")
	fs.StringVar(&f.rateFrom, "rate-from", "", "set -rate to -rate-fraction of the highest closed-loop chatsync rate in this results file")
	fs.Float64Var(&f.rateFraction, "rate-fraction", 0.5, "fraction for -rate-from")
	fs.BoolVar(&f.e2e, "e2e", false, "also measure callback → Chat API latency and API calls per event at the emulator")
	fs.StringVar(&f.redisURL, "redis", envOr("REDIS_URL", ""), "chatsync's Redis, to wait for its queues to drain (-e2e) or to flush (-flush-every)")
	fs.DurationVar(&f.drainTimeout, "drain-timeout", 60*time.Second, "how long -e2e waits for the queues to drain")
	fs.StringVar(&f.cpuPIDs, "cpu-pids", "", "measure the CPU time of these processes per request: name=pid,… (loadgen itself is always measured)")
	fs.IntVar(&f.rssPID, "rss-pid", 0, "sample this process's VmRSS every second (serve's pid)")
	fs.Float64Var(&f.warm, "warm", 0.2, "with -rss-pid: the share of requests counted as warm-up")
	fs.Int64Var(&f.flushEvery, "flush-every", 0, "FLUSHDB chatsync's Redis after every this many requests (keeps long memory runs from filling Redis)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := f.check(); err != nil {
		return err
	}
	return f.run(ctx, stdout)
}

func (f *fireFlags) check() error {
	if err := f.target.check(); err != nil {
		return err
	}
	var err error
	if f.pids, err = parsePIDs(f.cpuPIDs); err != nil {
		return fmt.Errorf("-cpu-pids: %w", err)
	}
	if f.rateFrom != "" {
		res, err := readResults(f.rateFrom)
		if err != nil {
			return err
		}
		best := maxClosedLoop(res.Loads, "chatsync")
		if best == 0 {
			return fmt.Errorf("-rate-from %s: no closed-loop chatsync phase", f.rateFrom)
		}
		f.load.Rate = best * f.rateFraction
	}
	if err := f.load.check(); err != nil {
		return err
	}
	if f.e2e {
		if err := f.chat.check(); err != nil {
			return err
		}
		if f.redisURL == "" {
			return errors.New("-e2e needs -redis (or $REDIS_URL) to see chatsync's queues drain")
		}
	}
	if f.flushEvery > 0 && f.redisURL == "" {
		return errors.New("-flush-every needs -redis (or $REDIS_URL)")
	}
	return nil
}

// maxClosedLoop returns the highest closed-loop rate of system in loads.
func maxClosedLoop(loads []LoadResult, system string) float64 {
	best := 0.0
	for _, l := range loads {
		if l.System == system && l.Rate == 0 && l.PerSecond > best {
			best = l.PerSecond
		}
	}
	return best
}

func (f *fireFlags) run(ctx context.Context, stdout io.Writer) error {
	mix, err := f.mix.mix(f.target.secret != "")
	if err != nil {
		return err
	}
	var e2e *e2eState
	if f.e2e {
		// Generated messages.read events name MsgKeys the emulator never
		// stored: their receipts would fail with 20001 and blur the
		// per-API error counts.
		mix.NoMessagesRead = true
		if e2e, err = f.startE2E(ctx, mix); err != nil {
			return err
		}
		defer e2e.close()
	}
	lr, samples, err := f.measure(ctx, mix, e2e)
	if err != nil {
		return err
	}
	printLoad(stdout, lr)
	if err := appendRecord(f.out, recLoad, lr); err != nil {
		return err
	}
	if e2e != nil {
		er, err := e2e.finish(ctx, f, lr)
		if err != nil {
			return err
		}
		printE2E(stdout, er)
		if err := appendRecord(f.out, recE2E, er); err != nil {
			return err
		}
	}
	if f.rssPID > 0 {
		m := summarizeRSS(f.rssPID, lr.Requests, samples, f.warm)
		printMemory(stdout, m)
		return appendRecord(f.out, recMemory, m)
	}
	return nil
}

// measure runs the request loop, with the RSS sampler and the periodic
// flush alongside when asked for.
func (f *fireFlags) measure(ctx context.Context, mix Mix, e2e *e2eState) (LoadResult, []RSSSample, error) {
	client := newHTTPClient(f.load.Concurrency)
	var seq atomic.Uint32
	var done atomic.Int64
	cfg := f.load.LoopConfig
	cfg.Done = &done
	bg, stopBG := context.WithCancel(ctx)
	defer stopBG()
	var wg sync.WaitGroup
	var samples []RSSSample
	if f.rssPID > 0 {
		wg.Go(func() { samples = sampleRSS(bg, f.rssPID, time.Second, done.Load) })
	}
	if f.flushEvery > 0 {
		wg.Go(func() { f.flushLoop(bg, done.Load) })
	}
	cpu := startCPU(f.pids)
	var setupErr error // newOp runs before the workers start: no lock
	res, err := RunLoop(ctx, cfg, func(w int) Op {
		fr, err := f.firer(w, mix, client, &seq, e2e)
		if err != nil {
			setupErr = err
			return func(context.Context, int64) Outcome { return Outcome{Label: "setup"} }
		}
		return fr.Op()
	})
	stopBG()
	wg.Wait()
	if err = errors.Join(err, setupErr); err != nil {
		return LoadResult{}, nil, err
	}
	lr := loadResult(f.system, f.label, cfg, res)
	lr.CPU = cpu.perRequest(lr.OK)
	return lr, samples, nil
}

// firer returns worker w's Firer.
func (f *fireFlags) firer(w int, mix Mix, client *http.Client, seq *atomic.Uint32, e2e *e2eState) (*Firer, error) {
	signer, err := NewSigner(f.target.url, f.target.appID, f.target.token, f.target.secret)
	if err != nil {
		return nil, err
	}
	gen, err := NewGenerator(mix, f.load.seed+uint64(w)*7919, seq, nil)
	if err != nil {
		return nil, err
	}
	fr := &Firer{Client: client, Signer: signer, Gen: gen}
	if e2e != nil {
		fr.Prepare, fr.Sent = e2e.prepare, e2e.probes.Sent
	}
	return fr, nil
}

// flushLoop empties chatsync's Redis database every f.flushEvery requests,
// so that a long memory run measures serve and not a growing Redis.
func (f *fireFlags) flushLoop(ctx context.Context, done func() int64) {
	opt, err := loopbackRedis(f.redisURL)
	if err != nil {
		return
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	var last int64
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n := done(); n-last >= f.flushEvery {
			last = n
			_ = flushChatsync(ctx, rdb) // best effort: a failed flush only leaves Redis larger
		}
	}
}
