package chatapi

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tencentyun/tls-sig-api-v2-golang/tencentyun"
)

// sigCache holds the admin UserSig. It generates one on first use, hands out
// the same string until half its lifetime has passed, and regenerates it on
// demand after Chat reports it expired or invalidated. Safe for concurrent
// use: the fast path is one atomic load; generation is serialised by mu.
type sigCache struct {
	sdkAppID int
	key      string
	admin    string
	ttl      time.Duration
	now      func() time.Time

	cur atomic.Pointer[cachedSig]
	mu  sync.Mutex // held while generating
}

type cachedSig struct {
	sig       string
	refreshAt time.Time
}

// get returns a UserSig that has at least half its lifetime left.
func (c *sigCache) get() (string, error) {
	if s := c.cur.Load(); s != nil && c.now().Before(s.refreshAt) {
		return s.sig, nil
	}
	return c.renew("")
}

// renew generates a new UserSig unless another goroutine already replaced
// stale (the sig the caller saw fail) in the meantime; stale == "" means
// "renew if not fresh".
func (c *sigCache) renew(stale string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.cur.Load(); s != nil && s.sig != stale && c.now().Before(s.refreshAt) {
		return s.sig, nil
	}
	sig, err := tencentyun.GenUserSig(c.sdkAppID, c.key, c.admin, int(c.ttl/time.Second))
	if err != nil {
		// The library's errors never contain the key.
		return "", fmt.Errorf("generate usersig: %w", err)
	}
	c.cur.Store(&cachedSig{sig: sig, refreshAt: c.now().Add(c.ttl / 2)})
	return sig, nil
}
