package tasks

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// Defaults for the rate limit fields of Config.
const (
	DefaultRateLimit = 200 // calls per second per Chat API, as Chat allows
	// DefaultHeadroom leaves 4 % of the limit unused (200/s grants at most
	// 192 in any sliding second): about 40 ms of jitter between a grant and
	// the call's arrival at Chat fits in it (the measurements behind the
	// figure are in BENCHMARKS.md, "Limiter tuning").
	DefaultHeadroom = 0.04
	DefaultMaxWait  = time.Second
)

// limiter keeps every worker process together under one per-API call rate.
//
// It is GCRA (go-redis/redis_rate) on one Redis key per API, by Redis's
// clock. The promise to Chat is a cap on the calls in every sliding second,
// not an average: a token bucket with a burst on top of the rate can grant
// twice the rate within one second. GCRA grants a call only when the
// previous grants are spaced at least 1/rate apart, allowing at most
// burst−1 calls early; any k grants in a row therefore span at least
// (k−burst)/rate, and a sliding second holds at most rate+burst−1 of them.
// The limiter sets rate+burst−1 to the cap: the configured limit less a
// headroom, because grants do not reach Chat at the instant they are made
// (network and scheduling jitter can bunch them, and a limit granted
// exactly would then put a call too many into some window on Chat's side).
//
// The burst is one extra call per 100 calls/s (so 2 for Chat's 200/s): a
// waiter that wakes a few milliseconds late can still use its slot instead
// of pushing every later slot back; with a burst of 1 the lateness of each
// wake-up adds up and the fleet falls well short of the cap (measured in
// BENCHMARKS.md, "Limiter tuning").
//
// Within a process, one goroutine per API at a time polls Redis; the others
// queue behind it in order. That keeps Redis traffic to about one request
// per grant per process however many goroutines wait.
type limiter struct {
	rl      *redis_rate.Limiter
	limit   redis_rate.Limit
	maxWait time.Duration
	observe func(api string, waited time.Duration)

	mu    sync.Mutex
	gates map[string]chan struct{}
}

// rateKey is the Redis key of api's limiter. The hash tag keeps the limiter
// keys together on a sharded deployment.
func rateKey(api string) string { return "chatsync:{rate}:" + api }

// ratePrefix is the prefix redis_rate puts before every key it is given.
const ratePrefix = "rate:"

// ownKeys is the Redis client redis_rate gets: it takes redis_rate's
// "rate:" prefix off again, so that the limiter's keys live under
// chatsync:, like every other key of chatsync's (an ACL of
// ~chatsync:* ~asynq:* then covers them). redis_rate has no option for
// its prefix; it only needs these methods of a client.
type ownKeys struct{ redis.UniversalClient }

func unprefix(keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = strings.TrimPrefix(k, ratePrefix)
	}
	return out
}

func (c ownKeys) Eval(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	return c.UniversalClient.Eval(ctx, script, unprefix(keys), args...)
}

func (c ownKeys) EvalSha(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd {
	return c.UniversalClient.EvalSha(ctx, sha1, unprefix(keys), args...)
}

func (c ownKeys) EvalRO(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	return c.UniversalClient.EvalRO(ctx, script, unprefix(keys), args...)
}

func (c ownKeys) EvalShaRO(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd {
	return c.UniversalClient.EvalShaRO(ctx, sha1, unprefix(keys), args...)
}

func (c ownKeys) Del(ctx context.Context, keys ...string) *redis.IntCmd {
	return c.UniversalClient.Del(ctx, unprefix(keys)...)
}

// gcraLimit returns the redis_rate limit that grants at most
// floor(perSecond·(1−headroom)) calls in any sliding second (at least 1).
func gcraLimit(perSecond int, headroom float64) redis_rate.Limit {
	capacity := max(int(math.Floor(float64(perSecond)*(1-headroom)+1e-9)), 1)
	burst := 1 + capacity/100
	return redis_rate.Limit{Rate: capacity + 1 - burst, Burst: burst, Period: time.Second}
}

func newLimiter(rdb redis.UniversalClient, limit redis_rate.Limit, maxWait time.Duration, observe func(string, time.Duration)) *limiter {
	return &limiter{
		rl:      redis_rate.NewLimiter(ownKeys{rdb}),
		limit:   limit,
		maxWait: maxWait,
		observe: observe,
		gates:   make(map[string]chan struct{}),
	}
}

func (l *limiter) gate(api string) chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	g := l.gates[api]
	if g == nil {
		g = make(chan struct{}, 1)
		l.gates[api] = g
	}
	return g
}

// wait returns nil once a call of api may be made. It waits for that at
// most maxWait; when the wait would be longer it returns a *RateLimitError
// saying when to try again. Other errors come from ctx or Redis.
func (l *limiter) wait(ctx context.Context, api string) error {
	start := time.Now()
	deadline := start.Add(l.maxWait)
	gate := l.gate(api)
	if err := acquire(ctx, gate, deadline); err != nil {
		if errors.Is(err, errGateTimeout) {
			return &RateLimitError{API: api, RetryAfter: max(l.maxWait, l.limit.Period/time.Duration(l.limit.Rate))}
		}
		return fmt.Errorf("rate limiter %s: %w", api, err)
	}
	defer func() { <-gate }()
	for {
		res, err := l.rl.Allow(ctx, rateKey(api), l.limit)
		if err != nil {
			return fmt.Errorf("rate limiter %s: %w", api, err)
		}
		if res.Allowed > 0 {
			if l.observe != nil {
				l.observe(api, time.Since(start))
			}
			return nil
		}
		if time.Until(deadline) < res.RetryAfter {
			return &RateLimitError{API: api, RetryAfter: res.RetryAfter}
		}
		if err := sleep(ctx, res.RetryAfter); err != nil {
			return fmt.Errorf("rate limiter %s: %w", api, err)
		}
	}
}

// grant is a call the limiter already allowed for api, before the handler
// took the work the call carries; the first attempt of that call uses it
// instead of waiting again. Work gathers for a conversation while its task
// waits for the limiter only if the task waits before it takes the work.
type grant struct {
	api  string
	used atomic.Bool
}

type grantKey struct{}

// reserve waits (like wait) for a call of api and returns a context that
// carries the grant: the next call of api made with it passes the limiter
// at once.
func (l *limiter) reserve(ctx context.Context, api string) (context.Context, error) {
	if err := l.wait(ctx, api); err != nil {
		return ctx, err
	}
	return context.WithValue(ctx, grantKey{}, &grant{api: api}), nil
}

// beforeCall is the Chat client's hook: it uses a grant the context carries
// for api, once, and otherwise waits for the limiter.
func (l *limiter) beforeCall(ctx context.Context, api string) error {
	if g, ok := ctx.Value(grantKey{}).(*grant); ok && g.api == api && g.used.CompareAndSwap(false, true) {
		return nil
	}
	return l.wait(ctx, api)
}

// errGateTimeout means the local queue for an API did not move within the
// wait budget.
var errGateTimeout = errors.New("local limiter queue too long")

// acquire takes gate, giving up at deadline or when ctx is done.
func acquire(ctx context.Context, gate chan struct{}, deadline time.Time) error {
	select {
	case gate <- struct{}{}:
		return nil
	default:
	}
	d := time.Until(deadline)
	if d <= 0 {
		return errGateTimeout
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case gate <- struct{}{}:
		return nil
	case <-t.C:
		return errGateTimeout
	case <-ctx.Done():
		return ctx.Err()
	}
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
