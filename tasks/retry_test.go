package tasks

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/chatsync/chatsync/chatapi"
)

func TestChatError(t *testing.T) {
	w := &Worker{chatRetryAfter: time.Second}
	tests := []struct {
		err       error
		failure   bool // IsFailure
		skipRetry bool
		rateLimit bool
	}{
		{err: &chatapi.Error{API: "a", Code: 20004}, failure: true},
		{err: &chatapi.Error{API: "a", Code: 91000}, failure: true},
		{err: &chatapi.Error{API: "a", HTTPStatus: 502}, failure: true},
		{err: &chatapi.Error{API: "a", Info: "send request", Err: errors.New("connection refused")}, failure: true},
		{err: &chatapi.Error{API: "a", Code: 60007}, rateLimit: true},
		{err: &chatapi.Error{API: "a", Code: 60019}, rateLimit: true},
		{err: &chatapi.Error{API: "a", Code: 70107}, failure: true, skipRetry: true},
		{err: &chatapi.Error{API: "a", Code: 70001}, failure: true, skipRetry: true},
		{err: &chatapi.Error{API: "a", Info: "bad", Err: chatapi.ErrInvalidRequest}, failure: true, skipRetry: true},
	}
	for _, tt := range tests {
		got := w.chatError(fmt.Errorf("wrapped: %w", tt.err))
		var rl *RateLimitError
		if w.IsFailure(got) != tt.failure || errors.Is(got, asynq.SkipRetry) != tt.skipRetry || errors.As(got, &rl) != tt.rateLimit {
			t.Errorf("%v → %v: failure %v, skip retry %v, rate limit %v; want %v, %v, %v", tt.err, got,
				w.IsFailure(got), errors.Is(got, asynq.SkipRetry), errors.As(got, &rl), tt.failure, tt.skipRetry, tt.rateLimit)
		}
		if !strings.Contains(got.Error(), tt.err.Error()) {
			t.Errorf("%q does not carry the Chat error %q", got, tt.err)
		}
	}
	if w.chatError(nil) != nil {
		t.Error("chatError(nil) != nil")
	}
}

func TestRetryDelay(t *testing.T) {
	w := &Worker{backoff: Backoff{Base: 100 * time.Millisecond, Cap: time.Second}}
	tests := []struct {
		n      int
		err    error
		lo, hi time.Duration // [lo, hi)
	}{
		{0, errors.New("x"), 0, 100 * time.Millisecond},
		{1, errors.New("x"), 0, 200 * time.Millisecond},
		{3, errors.New("x"), 0, 800 * time.Millisecond},
		{4, errors.New("x"), 0, time.Second},
		{60, errors.New("x"), 0, time.Second},
		{5, &RateLimitError{RetryAfter: 300 * time.Millisecond}, 300 * time.Millisecond, 340 * time.Millisecond},
		{5, fmt.Errorf("w: %w", &RateLimitError{RetryAfter: time.Second}), time.Second, 1110 * time.Millisecond},
	}
	for _, tt := range tests {
		var top time.Duration
		for range 200 {
			d := w.RetryDelay(tt.n, tt.err, nil)
			if d < tt.lo || d >= tt.hi {
				t.Fatalf("RetryDelay(%d, %v) = %v, want within [%v, %v)", tt.n, tt.err, d, tt.lo, tt.hi)
			}
			top = max(top, d)
		}
		if _, ok := tt.err.(*RateLimitError); !ok && top < tt.hi/2 {
			t.Errorf("RetryDelay(%d) never above %v in 200 draws: no full jitter up to %v?", tt.n, top, tt.hi)
		}
	}
}

func TestBackoffDefaults(t *testing.T) {
	b := Backoff{}.withDefaults()
	if b.Base != time.Second || b.Cap != 5*time.Minute {
		t.Errorf("defaults %+v, want 1s and 5m", b)
	}
}
