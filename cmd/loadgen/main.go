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
	"cmp"
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

	"github.com/redis/go-redis/v9"
)

const usage = "usage: loadgen fire|handler|otlp|burst|backlog|overload|report [flags]; loadgen <command> -h for its flags\n"

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
		"backlog": cmdBacklog, "overload": cmdOverload, "report": cmdReport,
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

func env(name, def string) string { return cmp.Or(strings.TrimSpace(os.Getenv(name)), def) }

// options are where chatsync, the emulator and Redis are, and chatsync's secrets.
type options struct {
	target, emulator, redisURL, out string
	appID                           uint64
	token, eventsSecret, apiKey     string
	secretKey, admin                string
	autoRead                        []string
}

func addOptions(fs *flag.FlagSet) *options {
	appID, _ := strconv.ParseUint(env("CHAT_SDKAPPID", "1400000000"), 10, 64)
	secret, _, _ := strings.Cut(env("EVENTS_SECRET", ""), ",")
	o := &options{redisURL: env("REDIS_URL", ""), appID: appID, token: env("CHAT_CALLBACK_TOKEN", ""),
		eventsSecret: secret, apiKey: env("API_KEY", ""), secretKey: env("CHAT_SECRET_KEY", ""),
		admin: env("CHAT_ADMIN", "administrator"), autoRead: strings.FieldsFunc(os.Getenv("AUTO_READ_ACCOUNTS"), func(r rune) bool { return r == ',' || r == ' ' })}
	fs.StringVar(&o.target, "target", "http://127.0.0.1:8080", "chatsync serve's base URL (loopback only)")
	fs.StringVar(&o.emulator, "emulator", "http://127.0.0.1:9000", "the Chat emulator's base URL (loopback only)")
	fs.StringVar(&o.out, "out", "", "append the results to this JSON-lines file")
	return o
}

// parse parses args and checks that -target and -emulator are loopback URLs (o.redis checks Redis).
func (o *options) parse(fs *flag.FlagSet, args []string) (err error) {
	if err = fs.Parse(args); err == nil {
		o.target, err = loopbackURL("-target", o.target)
	}
	if err == nil {
		o.emulator, err = loopbackURL("-emulator", o.emulator)
	}
	return err
}

// redis returns the options of $REDIS_URL, a loopback Redis.
func (o *options) redis() (*redis.Options, error) {
	opt, err := redis.ParseURL(o.redisURL)
	if err == nil {
		err = checkLoopbackAddr(opt.Addr)
	}
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	return opt, nil
}

// checkLoopbackAddr fails unless addr's host is a loopback address or localhost.
func checkLoopbackAddr(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("host %q is not a loopback address: loadgen only targets 127.0.0.1", host)
	}
	return nil
}

// loopbackURL checks that raw is an http URL of a loopback host.
func loopbackURL(name, raw string) (string, error) {
	u, err := url.Parse(raw)
	if err == nil && u.Scheme != "http" {
		err = errors.New("want http://127.0.0.1:port")
	}
	if err == nil {
		err = checkLoopbackAddr(u.Host)
	}
	if err != nil {
		return "", fmt.Errorf("%s %q: %w", name, raw, err)
	}
	return strings.TrimRight(u.Scheme+"://"+u.Host+u.Path, "/"), nil
}
