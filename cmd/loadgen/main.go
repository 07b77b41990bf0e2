// Command loadgen loads a running chatsync with signed Chat callbacks and
// app events, measures it against baselines taken in the same run, and
// writes the benchmark report. It only ever targets the local machine
// (127.0.0.1), and every request loop is bounded in count and time.
//
// Usage:
//
//	loadgen fire [flags]           signed callbacks and app events at serve; -e2e, -rss-pid
//	loadgen raw [flags]            the raw asynq baseline: the same tasks by an asynq.Client
//	loadgen handler [flags]        serve the hand-written net/http + asynq baseline
//	loadgen redis [flags]          redis-benchmark LPUSH and EVALSHA, when installed
//	loadgen burst [flags]          real messages through the emulator; snapshot convergence
//	loadgen backlog-fill [flags]   a backlog of auto-read messages while no worker runs
//	loadgen backlog-drain [flags]  calls per second per Chat API while workers drain it
//	loadgen overload [flags]       the Chat-API budget: coalescing under bursts and 10× overload, memory
//	loadgen flush [flags]          empty chatsync's Redis database between phases
//	loadgen halfopen [flags]       serve's VmRSS with idle half-open connections; the cap
//	loadgen machine [flags]        record the machine description
//	loadgen report [flags]         write BENCHMARKS.md and its SVG chart from the results
//
// Every phase appends a JSON line to the file named by -out; report reads
// it. scripts/bench.sh (make bench) runs the whole benchmark. Secrets come
// from the same environment variables as chatsync's (CHAT_CALLBACK_TOKEN,
// EVENTS_SECRET, API_KEY, CHAT_SECRET_KEY) and are never printed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/redis/go-redis/v9"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

const usage = `usage: loadgen <command> [flags]

commands:
  fire           signed callbacks and app events at chatsync serve (-e2e, -rss-pid)
  raw            the raw asynq baseline: the same tasks enqueued by an asynq.Client
  handler        serve the hand-written net/http + asynq callback target (a second baseline)
  redis          redis-benchmark LPUSH and EVALSHA, when installed
  burst          real messages through the emulator; unread calls and snapshot convergence
  backlog-fill   a backlog of auto-read messages while no worker runs
  backlog-drain  calls per second per Chat API while the workers drain it
  overload       the Chat-API budget: coalescing under bursts and 10x overload, Redis memory
  flush          empty chatsync's Redis database between phases
  halfopen       serve's VmRSS with idle half-open connections, and probes past the cap
  machine        record the machine description
  report         write BENCHMARKS.md and its SVG chart

Run 'loadgen <command> -h' for a command's flags.
`

func run(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return errors.New("no command")
	}
	cmds := map[string]func(context.Context, []string, io.Writer) error{
		"fire": cmdFire, "raw": cmdRaw, "handler": cmdHandler, "redis": cmdRedis, "burst": cmdBurst,
		"backlog-fill": cmdBacklogFill, "backlog-drain": cmdBacklogDrain, "overload": cmdOverload,
		"flush": cmdFlush, "halfopen": cmdHalfOpen, "machine": cmdMachine, "report": cmdReport,
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		if h := strings.TrimLeft(args[0], "-"); h == "h" || h == "help" {
			fmt.Fprint(stdout, usage)
			return nil
		}
		fmt.Fprint(os.Stderr, usage)
		return fmt.Errorf("unknown command %q", args[0])
	}
	return cmd(ctx, args[1:], stdout)
}

func cmdFlush(ctx context.Context, args []string, _ io.Writer) error {
	fs := flag.NewFlagSet("flush", flag.ContinueOnError)
	redisURL := fs.String("redis", envOr("REDIS_URL", ""), "chatsync's Redis (loopback only; default $REDIS_URL)")
	db := fs.Int("db", -1, "the database to empty (default the URL's)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	opt, err := loopbackRedis(*redisURL)
	if err != nil {
		return err
	}
	if *db >= 0 {
		opt.DB = *db
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	return flushChatsync(ctx, rdb)
}

func cmdMachine(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("machine", flag.ContinueOnError)
	redisURL := fs.String("redis", envOr("REDIS_URL", ""), "the benchmark's Redis, for its version (default $REDIS_URL)")
	out := fs.String("out", "", "append the description to this JSON-lines file")
	note := fs.String("note", "", "instead of the machine, append this note to the results")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *note != "" {
		return appendRecord(*out, recNote, *note)
	}
	var rdb *redis.Client
	if *redisURL != "" {
		opt, err := loopbackRedis(*redisURL)
		if err != nil {
			return err
		}
		rdb = redis.NewClient(opt)
		defer rdb.Close()
	}
	m := describeMachine(ctx, rdb)
	fmt.Fprintf(stdout, "machine: %s, %d cores, %d MiB, %s, redis %s\n", m.CPU, m.NProc, m.MemoryMB, m.GoVersion, m.Redis)
	return appendRecord(*out, recMachine, m)
}

func cmdReport(_ context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	in := fs.String("in", "", "the results file (JSON lines) of the run")
	md := fs.String("md", "BENCHMARKS.md", "the report to write")
	svg := fs.String("svg", "bench.svg", "the chart to write (linked from the report by its file name)")
	command := fs.String("command", "make bench", "the command that produced the results, quoted in the report")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *in == "" {
		return errors.New("-in is required")
	}
	res, err := readResults(*in)
	if err != nil {
		return err
	}
	if err := writeReport(res, *md, *svg, *command); err != nil {
		return err
	}
	for _, t := range buildView(res, *command, *svg).Targets {
		fmt.Fprintf(stdout, "%-52s %-14s %s\n", t.Target, t.Status, t.Measured)
	}
	fmt.Fprintf(stdout, "wrote %s and %s\n", *md, *svg)
	return nil
}
