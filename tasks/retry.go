package tasks

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/hibiken/asynq"

	"github.com/chatsync/chatsync/chatapi"
)

// Defaults for Backoff's zero values.
const (
	DefaultBackoffBase = time.Second
	DefaultBackoffCap  = 5 * time.Minute
)

// DefaultChatRetryAfter is how long a task waits before trying again after
// Chat itself answered with a rate-limit code (60007, 60011, 60018, 60019).
const DefaultChatRetryAfter = time.Second

// Backoff is the retry policy for transient failures: exponential backoff
// with full jitter, the n-th retry (n from 0) waiting a random duration in
// [0, min(Cap, Base·2ⁿ)).
type Backoff struct {
	Base time.Duration // default 1 s
	Cap  time.Duration // default 5 min
}

func (b Backoff) withDefaults() Backoff {
	if b.Base <= 0 {
		b.Base = DefaultBackoffBase
	}
	if b.Cap <= 0 {
		b.Cap = DefaultBackoffCap
	}
	if b.Cap < b.Base {
		b.Cap = b.Base
	}
	return b
}

// Delay returns the wait before retry n (0 for the first retry).
func (b Backoff) Delay(n int) time.Duration {
	b = b.withDefaults()
	ceiling := b.Base
	for i := 0; i < n && ceiling < b.Cap; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, b.Cap)
	return rand.N(ceiling)
}

// RateLimitError says a task could not make its Chat call yet because a
// rate limit (chatsync's own cluster-wide limit or Chat's) was reached. It
// is not a failure: Worker.IsFailure reports false for it, so asynq does
// not count it against the task's retries, and Worker.RetryDelay runs the
// task again after RetryAfter.
type RateLimitError struct {
	API        string        // the Chat API, e.g. "openim/admin_set_msg_read"
	RetryAfter time.Duration // when to try again
	Err        error         // Chat's answer, when Chat rate-limited the call
	// Conversation is set when the conversation's own call spacing
	// (Config.ConversationInterval) postponed the call.
	Conversation bool
}

// Error implements the error interface.
func (e *RateLimitError) Error() string {
	if e.Conversation {
		return fmt.Sprintf("conversation called %s less than its interval ago, next call in %v", e.API,
			e.RetryAfter.Round(time.Millisecond))
	}
	if e.Err != nil {
		return fmt.Sprintf("rate limited, retry in %v: %v", e.RetryAfter.Round(time.Millisecond), e.Err)
	}
	return fmt.Sprintf("rate limited: %s over the cluster-wide limit, retry in %v", e.API, e.RetryAfter.Round(time.Millisecond))
}

// Unwrap returns Chat's error, if any.
func (e *RateLimitError) Unwrap() error { return e.Err }

// permanentError marks a failure that will not go away by retrying: asynq
// archives the task at once (the error matches asynq.SkipRetry) with the
// cause's text, e.g. "chat openim/admin_set_msg_read: ErrorCode 90003: …",
// where an operator can read it and replay the task after fixing the cause.
type permanentError struct{ err error }

func (e *permanentError) Error() string   { return e.err.Error() + " (permanent: not retried)" }
func (e *permanentError) Unwrap() []error { return []error{e.err, asynq.SkipRetry} }

// permanent wraps err so that asynq archives the task without retrying.
func permanent(err error) error { return &permanentError{err} }

// chatError maps a chatapi error to what a handler returns to asynq: nil
// for nil, the error itself for transient failures (retried with backoff),
// a *RateLimitError for Chat's rate-limit codes, and a permanent error for
// everything else (an expired UserSig that the client's own retry did not
// cure included).
func (w *Worker) chatError(err error) error {
	if err == nil {
		return nil
	}
	var rl *RateLimitError
	if errors.As(err, &rl) {
		return rl // our limiter, called by the client before each attempt
	}
	switch chatapi.ClassOf(err) {
	case chatapi.Transient:
		return err
	case chatapi.RateLimited:
		var ce *chatapi.Error
		api := ""
		if errors.As(err, &ce) {
			api = ce.API
		}
		return &RateLimitError{API: api, RetryAfter: w.chatRetryAfter, Err: err}
	default:
		return permanent(err)
	}
}

// IsFailure reports whether err counts as a failed attempt. Rate limiting
// does not: it tells nothing about the task. It is asynq.Config.IsFailure.
func (w *Worker) IsFailure(err error) bool {
	var rl *RateLimitError
	return !errors.As(err, &rl)
}

// RetryDelay returns how long asynq waits before running a failed task
// again: RetryAfter plus a little jitter after a rate limit, the sink's
// Retry-After (at least the Backoff delay, at most its Cap), otherwise the
// Backoff delay for retry n. It is asynq.Config.RetryDelayFunc and is safe
// for concurrent use.
func (w *Worker) RetryDelay(n int, err error, _ *asynq.Task) time.Duration {
	var rl *RateLimitError
	if errors.As(err, &rl) {
		// Spread the waiters a little so that they do not all come back
		// in the same instant.
		return rl.RetryAfter + rand.N(rl.RetryAfter/10+10*time.Millisecond)
	}
	var ra *retryAfterError
	if errors.As(err, &ra) {
		return min(max(ra.after, w.backoff.Delay(n)), w.backoff.Cap)
	}
	return w.backoff.Delay(n)
}
