package emulator

import (
	"slices"
	"sync"
	"time"
)

// limiter is a strict per-API sliding-window limiter: a call is accepted only if fewer than
// limit calls of the same API were accepted in (now−1s, now]. Rejected calls do not count.
type limiter struct {
	mu       sync.Mutex
	limit    int                    // < 0: unlimited
	accepted map[string][]time.Time // per API, oldest first
}

func (l *limiter) init(perSecond int) {
	l.accepted = make(map[string][]time.Time)
	l.set(perSecond)
}

func (l *limiter) set(perSecond int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if perSecond == 0 {
		perSecond = DefaultRateLimit
	}
	l.limit = perSecond
}

// allow reports whether a call of api that arrived at t is within the limit, and counts it if
// so. Concurrent calls may reach allow slightly out of arrival order, so the accepted times are
// kept sorted and every accepted call after t-1s counts, even one that arrived after t.
func (l *limiter) allow(api string, t time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.limit < 0 {
		return true
	}
	q := l.accepted[api]
	drop := 0 // times more than 2 s old cannot matter to any call arriving now
	for drop < len(q) && t.Sub(q[drop]) >= 2*time.Second {
		drop++
	}
	q = q[drop:]
	first, _ := slices.BinarySearchFunc(q, t.Add(-time.Second), func(a, b time.Time) int {
		if a.After(b) {
			return 1
		}
		return -1 // find the first time after t-1s
	})
	if len(q)-first >= l.limit {
		l.accepted[api] = q
		return false
	}
	i := len(q)
	for i > 0 && q[i-1].After(t) {
		i--
	}
	l.accepted[api] = slices.Insert(q, i, t)
	return true
}
