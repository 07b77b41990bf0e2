package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// envOr returns the environment variable name, or def when it is unset. The
// same variables configure chatsync, so one environment serves both.
func envOr(name, def string) string {
	if v := strings.TrimSpace(os.Getenv(name)); v != "" {
		return v
	}
	return def
}

// targetFlags say where chatsync is and how to sign for it.
type targetFlags struct {
	url    string
	appID  uint64
	token  string
	secret string // Standard Webhooks secret of app events
	apiKey string
}

func addTargetFlags(fs *flag.FlagSet) *targetFlags {
	t := &targetFlags{}
	fs.StringVar(&t.url, "target", "http://127.0.0.1:8080", "chatsync serve's base URL (loopback only)")
	appID, _ := strconv.ParseUint(envOr("CHAT_SDKAPPID", "1400000000"), 10, 64)
	fs.Uint64Var(&t.appID, "sdkappid", appID, "SDKAppID (default $CHAT_SDKAPPID)")
	fs.StringVar(&t.token, "token", envOr("CHAT_CALLBACK_TOKEN", ""), "callback token (default $CHAT_CALLBACK_TOKEN)")
	secret, _, _ := strings.Cut(envOr("EVENTS_SECRET", ""), ",")
	fs.StringVar(&t.secret, "events-secret", secret, "Standard Webhooks secret of app events (default the first of $EVENTS_SECRET)")
	fs.StringVar(&t.apiKey, "api-key", envOr("API_KEY", ""), "bearer key of GET /v1/users/{id}/unread (default $API_KEY)")
	return t
}

func (t *targetFlags) check() error {
	u, err := loopbackURL("-target", t.url)
	if err != nil {
		return err
	}
	t.url = u
	if t.appID == 0 {
		return errors.New("-sdkappid is required")
	}
	return nil
}

// chatFlags reach the Chat emulator: its inspection surface and, for real
// messages, its REST API with an admin UserSig.
type chatFlags struct {
	emulator  string
	secretKey string
	admin     string
}

func addChatFlags(fs *flag.FlagSet) *chatFlags {
	c := &chatFlags{}
	fs.StringVar(&c.emulator, "emulator", "http://127.0.0.1:9000", "the Chat emulator's base URL (loopback only)")
	fs.StringVar(&c.secretKey, "secret-key", envOr("CHAT_SECRET_KEY", ""), "the app's secret key, to sign UserSigs (default $CHAT_SECRET_KEY)")
	fs.StringVar(&c.admin, "admin", envOr("CHAT_ADMIN", "administrator"), "App admin account (default $CHAT_ADMIN)")
	return c
}

func (c *chatFlags) check() error {
	u, err := loopbackURL("-emulator", c.emulator)
	if err != nil {
		return err
	}
	c.emulator = u
	if c.secretKey == "" {
		return errors.New("-secret-key (or $CHAT_SECRET_KEY) is required to send messages through the emulator")
	}
	return nil
}

// loadFlags pace and bound a request loop.
type loadFlags struct {
	LoopConfig
	seed uint64
}

func addLoadFlags(fs *flag.FlagSet, duration time.Duration) *loadFlags {
	l := &loadFlags{}
	fs.IntVar(&l.Concurrency, "concurrency", 8, "concurrent requests (workers)")
	fs.Float64Var(&l.Rate, "rate", 0, "target requests per second over all workers; 0 = closed loop at the maximum")
	fs.DurationVar(&l.Duration, "duration", duration, "stop starting requests after this long (at most 1h)")
	fs.Int64Var(&l.Requests, "requests", 1_000_000, fmt.Sprintf("stop after this many requests (at most %d)", MaxRequests))
	fs.Uint64Var(&l.seed, "seed", 0, "random seed (0 = from the clock)")
	return l
}

func (l *loadFlags) check() error {
	if l.seed == 0 {
		l.seed = uint64(time.Now().UnixNano())
	}
	return l.validate()
}

// mixFlags describe the traffic.
type mixFlags struct {
	shares   string
	events   float64
	users    int
	autoRead string
	arShare  float64
}

func addMixFlags(fs *flag.FlagSet) *mixFlags {
	m := &mixFlags{}
	fs.StringVar(&m.shares, "mix", "80,15,5", "shares of AfterSendMsg, AfterMsgReport and other callbacks")
	fs.Float64Var(&m.events, "events", 0.1, "share of requests that are signed app events (0 without -events-secret)")
	fs.IntVar(&m.users, "users", DefaultUsers, "ordinary users (u000000…)")
	fs.StringVar(&m.autoRead, "auto-read", envOr("AUTO_READ_ACCOUNTS", ""), "auto-read accounts, comma-separated (default $AUTO_READ_ACCOUNTS)")
	fs.Float64Var(&m.arShare, "auto-read-share", 0.05, "share of AfterSendMsg addressed to an auto-read account")
	return m
}

func (m *mixFlags) mix(eventsOK bool) (Mix, error) {
	parts := strings.Split(m.shares, ",")
	if len(parts) != 3 {
		return Mix{}, fmt.Errorf("-mix %q: want three shares like 80,15,5", m.shares)
	}
	var f [3]float64
	for i, p := range parts {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || v < 0 {
			return Mix{}, fmt.Errorf("-mix %q: %q is not a non-negative number", m.shares, p)
		}
		f[i] = v
	}
	if f[0]+f[1]+f[2] == 0 {
		return Mix{}, fmt.Errorf("-mix %q: the shares are all zero", m.shares)
	}
	mix := Mix{SendMsg: f[0], MsgReport: f[1], Other: f[2], Users: m.users, AutoReadAccounts: splitList(m.autoRead)}
	if eventsOK {
		mix.Events = m.events
	}
	if len(mix.AutoReadAccounts) > 0 {
		mix.AutoRead = m.arShare
	}
	return mix, mix.validate()
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

// intList parses a comma list of positive integers.
func intList(s string) ([]int, error) {
	var out []int
	for _, p := range splitList(s) {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive integer", p)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, errors.New("empty list")
	}
	return out, nil
}
