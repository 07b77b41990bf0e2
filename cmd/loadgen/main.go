// Command loadgen loads a running chatsync with signed Chat callbacks and
// app events, measures it against baselines taken in the same run, and
// writes the benchmark report. It only ever targets the local machine
// (127.0.0.1), and every request loop is bounded in count and time.
//
// Every phase appends a JSON line to the file named by -out; report reads
// them. scripts/bench.sh (make bench) runs the whole benchmark. Secrets come
// from chatsync's own environment variables (CHAT_CALLBACK_TOKEN,
// EVENTS_SECRET, API_KEY, CHAT_SECRET_KEY) and are never printed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

const usage = `usage: loadgen <command> [flags]

commands:
  fire           signed callbacks and app events at chatsync serve (-e2e, -rss-pid, -otlp),
                 or the raw asynq baseline: their tasks enqueued by an asynq.Client (-system asynq)
  handler        serve the hand-written net/http + asynq callback target (a second baseline)
  otlp           a local OTLP/HTTP trace receiver that counts what it gets
  burst          real messages through the emulator; unread calls and snapshot convergence
  backlog-fill   a backlog of auto-read messages while no worker runs
  backlog-drain  calls per second per Chat API while the workers drain it
  overload       the Chat-API budget: coalescing under bursts and 10x overload, Redis memory
  report         write BENCHMARKS.md from the results

Run 'loadgen <command> -h' for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	commands := map[string]func(context.Context, []string, io.Writer) error{
		"fire": cmdFire, "handler": cmdHandler, "otlp": cmdOTLP, "burst": cmdBurst,
		"backlog-fill": cmdBacklogFill, "backlog-drain": cmdBacklogDrain, "overload": cmdOverload,
		"report": cmdReport,
	}
	if len(args) > 0 && commands[args[0]] != nil {
		return commands[args[0]](ctx, args[1:], stdout)
	}
	fmt.Fprint(os.Stderr, usage)
	if len(args) > 0 && strings.TrimLeft(args[0], "-") == "h" {
		return nil
	}
	return errors.New("no such command")
}

func envOr(name, def string) string {
	if v := strings.TrimSpace(os.Getenv(name)); v != "" {
		return v
	}
	return def
}

// options are the flags every command has: where chatsync, the emulator
// and Redis are, how to sign for them, and where results go.
type options struct {
	target, emulator, redisURL, out string
	appID                           uint64
	token, eventsSecret, apiKey     string
	secretKey, admin                string
	autoRead                        []string
}

func addOptions(fs *flag.FlagSet) *options {
	o := &options{}
	fs.StringVar(&o.target, "target", "http://127.0.0.1:8080", "chatsync serve's base URL (loopback only)")
	fs.StringVar(&o.emulator, "emulator", "http://127.0.0.1:9000", "the Chat emulator's base URL (loopback only)")
	fs.StringVar(&o.redisURL, "redis", envOr("REDIS_URL", ""), "chatsync's Redis (loopback only; default $REDIS_URL)")
	fs.StringVar(&o.out, "out", "", "append the results to this JSON-lines file")
	appID, _ := strconv.ParseUint(envOr("CHAT_SDKAPPID", "1400000000"), 10, 64)
	fs.Uint64Var(&o.appID, "sdkappid", appID, "SDKAppID (default $CHAT_SDKAPPID)")
	fs.StringVar(&o.token, "token", envOr("CHAT_CALLBACK_TOKEN", ""), "callback token (default $CHAT_CALLBACK_TOKEN)")
	secret, _, _ := strings.Cut(envOr("EVENTS_SECRET", ""), ",")
	fs.StringVar(&o.eventsSecret, "events-secret", secret, "app events' Standard Webhooks secret (default the first of $EVENTS_SECRET)")
	fs.StringVar(&o.apiKey, "api-key", envOr("API_KEY", ""), "bearer key of GET /v1/users/{id}/unread (default $API_KEY)")
	fs.StringVar(&o.secretKey, "secret-key", envOr("CHAT_SECRET_KEY", ""), "the app's secret key, for UserSigs (default $CHAT_SECRET_KEY)")
	fs.StringVar(&o.admin, "admin", envOr("CHAT_ADMIN", "administrator"), "App admin account (default $CHAT_ADMIN)")
	fs.Func("auto-read", "auto-read accounts, comma-separated (default $AUTO_READ_ACCOUNTS)", func(s string) error {
		o.autoRead = splitList(s)
		return nil
	})
	o.autoRead = splitList(os.Getenv("AUTO_READ_ACCOUNTS"))
	return o
}

// parse parses args and checks that every address is a loopback one.
func (o *options) parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	var errs [3]error
	o.target, errs[0] = loopbackURL("-target", o.target)
	o.emulator, errs[1] = loopbackURL("-emulator", o.emulator)
	if o.redisURL != "" {
		_, errs[2] = o.redis()
	}
	return errors.Join(errs[:]...)
}

// redis returns the options of -redis, a loopback Redis.
func (o *options) redis() (*redis.Options, error) {
	opt, err := redis.ParseURL(o.redisURL)
	if err != nil {
		return nil, fmt.Errorf("-redis: %w", err)
	}
	host, _, err := net.SplitHostPort(opt.Addr)
	if err == nil {
		err = checkLoopback(host)
	}
	if err != nil {
		return nil, fmt.Errorf("-redis: %w", err)
	}
	return opt, nil
}

// checkLoopback fails unless host is a loopback address or localhost.
func checkLoopback(host string) error {
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("host %q is not a loopback address: loadgen only targets 127.0.0.1", host)
	}
	return nil
}

// loopbackURL checks that raw is an http URL of a loopback host and returns
// it without a trailing slash.
func loopbackURL(name, raw string) (string, error) {
	u, err := url.Parse(raw)
	if err == nil && (u.Scheme != "http" || u.Host == "") {
		err = errors.New("want http://127.0.0.1:port")
	}
	if err == nil {
		err = checkLoopback(u.Hostname())
	}
	if err != nil {
		return "", fmt.Errorf("%s %q: %w", name, raw, err)
	}
	return strings.TrimRight(u.Scheme+"://"+u.Host+u.Path, "/"), nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// addLoop adds the flags that pace and bound a request loop, with defaults
// from def, and returns the config they fill and the random seed.
func addLoop(fs *flag.FlagSet, def loopConfig) (*loopConfig, *uint64) {
	c, seed := &def, new(uint64)
	fs.IntVar(&c.concurrency, "concurrency", def.concurrency, "concurrent requests (workers)")
	fs.Float64Var(&c.rate, "rate", def.rate, "target requests per second over all workers; 0 = closed loop")
	fs.DurationVar(&c.duration, "duration", def.duration, "stop starting requests after this long (at most 1h)")
	fs.Int64Var(&c.requests, "requests", def.requests, "stop after this many requests")
	fs.Uint64Var(seed, "seed", uint64(time.Now().UnixNano()), "random seed")
	return c, seed
}
