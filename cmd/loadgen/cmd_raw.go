package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/exec"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/chatsync/chatsync/tasks"
)

// cmdRaw runs the raw asynq baseline: the tasks chatsync would make for
// the same mix, enqueued by an asynq.Client at the same concurrency into
// its own Redis database, flushed before and after.
func cmdRaw(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("raw", flag.ContinueOnError)
	load := addLoadFlags(fs, 10*time.Second)
	mixf := addMixFlags(fs)
	redisURL := fs.String("redis", envOr("REDIS_URL", ""), "the Redis to enqueue into (loopback only; default $REDIS_URL)")
	db := fs.Int("db", 1, "database of the baseline (flushed before and after; keep it apart from chatsync's)")
	withEvents := fs.Bool("with-events", true, "include the app events of the mix (as chatsync would with an events secret)")
	out := fs.String("out", "", "append the results to this JSON-lines file")
	label := fs.String("label", "", "label of this phase in the results")
	cpuPIDs := fs.String("cpu-pids", "", "measure the CPU time of these processes per request: name=pid,… (loadgen itself is always measured)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := load.check(); err != nil {
		return err
	}
	pids, err := parsePIDs(*cpuPIDs)
	if err != nil {
		return fmt.Errorf("-cpu-pids: %w", err)
	}
	mix, err := mixf.mix(*withEvents)
	if err != nil {
		return err
	}
	if *redisURL == "" {
		return errors.New("-redis (or $REDIS_URL) is required")
	}
	opt, err := loopbackRedis(*redisURL)
	if err != nil {
		return err
	}
	opt.DB = *db
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	if err := rdb.FlushDB(ctx).Err(); err != nil {
		return fmt.Errorf("flush baseline db %d: %w", *db, err)
	}
	defer rdb.FlushDB(context.WithoutCancel(ctx))

	// One client, shared by the workers, as an application would: its
	// go-redis pool is sized for them.
	copt := asynq.RedisClientOpt{Addr: opt.Addr, Username: opt.Username, Password: opt.Password, DB: *db,
		PoolSize: load.Concurrency + 10}
	client := asynq.NewClient(copt)
	defer client.Close()

	autoRead := make(map[string]bool)
	for _, a := range mix.AutoReadAccounts {
		autoRead[a] = true
	}
	var seq atomic.Uint32
	counts := make([]int64, load.Concurrency)
	var setupErr error
	cpu := startCPU(pids)
	res, err := RunLoop(ctx, load.LoopConfig, func(w int) Op {
		gen, err := NewGenerator(mix, load.seed+uint64(w)*7919, &seq, nil)
		if err != nil {
			setupErr = err
			return func(context.Context, int64) Outcome { return Outcome{Label: "setup"} }
		}
		return RawOp(client, tasks.Builder{}, gen, autoRead, &counts[w])
	})
	if err != nil {
		return err
	}
	if setupErr != nil {
		return setupErr
	}
	lr := loadResult(systemRaw, *label, load.LoopConfig, res)
	lr.CPU = cpu.perRequest(lr.OK)
	for _, n := range counts {
		lr.Tasks += n
	}
	printLoad(stdout, lr)
	return appendRecord(*out, recLoad, lr)
}

// cmdRedis runs redis-benchmark (LPUSH and EVALSHA of an LPUSH script) at
// each concurrency, into its own database.
func cmdRedis(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("redis", flag.ContinueOnError)
	redisURL := fs.String("redis", envOr("REDIS_URL", ""), "the Redis to benchmark (loopback only; default $REDIS_URL)")
	db := fs.Int("db", 2, "database used (flushed after)")
	conc := fs.String("concurrency", "1,8,32", "client counts, comma-separated")
	n := fs.Int("n", 100000, "requests per run")
	bin := fs.String("redis-benchmark", "redis-benchmark", "the redis-benchmark binary")
	out := fs.String("out", "", "append the results to this JSON-lines file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cs, err := intList(*conc)
	if err != nil {
		return fmt.Errorf("-concurrency: %w", err)
	}
	if *n < 1 || *n > MaxRequests {
		return fmt.Errorf("-n %d is not from 1 to %d", *n, MaxRequests)
	}
	if _, err := exec.LookPath(*bin); err != nil {
		fmt.Fprintf(stdout, "redis-benchmark not installed: skipping Redis's own rate\n")
		return appendRecord(*out, recNote, "redis-benchmark was not installed: no Redis baseline")
	}
	opt, err := loopbackRedis(*redisURL)
	if err != nil {
		return err
	}
	opt.DB = *db
	defer func() {
		rdb := redis.NewClient(opt)
		defer rdb.Close()
		rdb.FlushDB(context.WithoutCancel(ctx))
	}()
	for _, c := range cs {
		for _, test := range []string{"LPUSH", "EVALSHA"} {
			r, err := redisBenchmark(ctx, *bin, opt, test, c, *n)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "redis-benchmark %-7s c=%-4d %10.0f req/s  p50 %.3f ms  p99 %.3f ms\n",
				r.Test, r.Concurrency, r.PerSecond, r.P50, r.P99)
			if err := appendRecord(*out, recRedis, r); err != nil {
				return err
			}
		}
	}
	return nil
}
