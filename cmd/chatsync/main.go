// Command chatsync is the Tencent Cloud Chat callback target and read-state
// engine: `serve` receives Chat callbacks and app events and turns them into
// asynq tasks in Redis, `work` runs those tasks against the Chat REST API
// under Chat's rate limits, `dev` runs everything in one process on an
// embedded Redis with a Chat emulator, and `emulator` runs that emulator on
// its own for local integration.
//
// Configuration comes from the environment (see `chatsync <command> -h`).
// Every variable is validated at start; one message lists every problem and
// the process exits with status 2. Secrets are never printed or logged.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit statuses.
const (
	exitOK     = 0
	exitFailed = 1 // a runtime failure
	exitUsage  = 2 // bad arguments or configuration
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, p *process, args []string) error
}

func commands() []command {
	return []command{
		{"dev", "everything in one process: embedded Redis, Chat emulator, serve and work", runDev},
		{"serve", "the HTTP ingest: Chat callbacks, app events, unread API, monitoring", runServe},
		{"work", "the task workers: Chat REST calls under the rate limit", runWork},
		{"emulator", "a standalone Chat REST emulator for local integration", runEmulator},
		{"event", "sign an app event with EVENTS_SECRET and post it to /v1/events", runEvent},
		{"send", "send a message through Chat's sendmsg API (a smoke test)", runSend},
		{"version", "print the version", runVersion},
	}
}

// process is what a subcommand gets from main: the environment and the
// standard streams.
type process struct {
	lookup func(string) (string, bool)
	stdout io.Writer
	stderr io.Writer
	name   string // how the program was invoked, for printed commands
}

// usageError is a bad command line: run follows its message with a pointer
// to the command's -h.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// run runs the program with args (without the program name) and returns
// the exit status. ctx is cancelled on SIGINT or SIGTERM.
func run(ctx context.Context, args []string, lookup func(string) (string, bool), stdout, stderr io.Writer) int {
	p := &process{lookup: lookup, stdout: stdout, stderr: stderr, name: invokedAs()}
	if len(args) == 0 {
		printUsage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		printUsage(stdout)
		return exitOK
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, p, args[1:])
		var ce *configError
		var ue *usageError
		switch {
		case err == nil, errors.Is(err, flag.ErrHelp):
			return exitOK
		case errors.As(err, &ce):
			fmt.Fprintf(stderr, "chatsync %s: %v\n", c.name, err)
			return exitUsage
		case errors.As(err, &ue):
			fmt.Fprintf(stderr, "chatsync %s: %v\nRun 'chatsync %s -h' for usage.\n", c.name, err, c.name)
			return exitUsage
		default:
			fmt.Fprintf(stderr, "chatsync %s: %v\n", c.name, err)
			return exitFailed
		}
	}
	fmt.Fprintf(stderr, "chatsync: unknown command %q\n\n", args[0])
	printUsage(stderr)
	return exitUsage
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, "chatsync is the Tencent Cloud Chat callback target and read-state engine.\n\n"+
		"Usage: chatsync <command> [flags]\n\nCommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, "\nRun 'chatsync <command> -h' for a command's flags and environment.\n")
}

// newFlagSet returns a FlagSet for a command. Its errors are reported by
// run; parseFlags prints the help.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// parseFlags parses args into fs. On -h it prints "Usage: chatsync
// synopsis", usage and the flags to stdout and returns flag.ErrHelp.
func (p *process) parseFlags(fs *flag.FlagSet, args []string, synopsis, usage string) error {
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprintf(p.stdout, "Usage: chatsync %s\n\n%s", synopsis, usage)
		if hasFlags(fs) {
			fmt.Fprint(p.stdout, "\nFlags:\n")
			fs.SetOutput(p.stdout)
			fs.PrintDefaults()
			fs.SetOutput(io.Discard)
		}
		return err
	case err != nil:
		return &usageError{msg: err.Error()}
	}
	return nil
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// parseNoArgs is parseFlags for a command that takes no arguments.
func (p *process) parseNoArgs(fs *flag.FlagSet, args []string, synopsis, usage string) error {
	if err := p.parseFlags(fs, args, synopsis, usage); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &usageError{msg: fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}
