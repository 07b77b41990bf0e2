package tasks

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis layout of the unread store. Every key of a user carries the user's
// ID as a hash tag, so that a user's keys share a slot on a sharded
// deployment and one script can touch them all:
//
//	chatsync:{<account>}:snap          HASH  the snapshot:
//	                                         seen       unix ms when first seen
//	                                         total      total unread count
//	                                         total_at   unix ms it was measured at
//	                                         total_src  "api" or "callback"
//	                                         p:<peer>   "<count> <unix ms> <source>"
//	chatsync:{<account>}:refresh       HASH  the next refresh, being gathered:
//	                                         p:<peer>   1 for each peer to measure
//	                                         total      1 when the total must be measured
//	                                         first/last unix ms of the first/last request
//	                                         token      the scheduled refresh task's token
//	                                         token_at   unix ms it was scheduled at
//	chatsync:{<account>}:inflight:<tk> HASH  a running refresh: the refresh hash,
//	                                         renamed when the task starts its calls
//	chatsync:{<account>}:sink          HASH  a pending sink notification:
//	                                         dirty, token, token_at
func userKey(account, suffix string) string { return "chatsync:{" + account + "}:" + suffix }

// Store keeps users' unread snapshots in Redis. It is safe for concurrent
// use.
type Store struct {
	rdb redis.UniversalClient
	ttl time.Duration
}

// DefaultSnapshotTTL is how long a user's snapshot is kept after its last
// change by default.
const DefaultSnapshotTTL = 30 * 24 * time.Hour

// NewStore returns a Store on rdb. A snapshot expires ttl after its last
// change (a sliding TTL; DefaultSnapshotTTL when ttl is 0).
func NewStore(rdb redis.UniversalClient, ttl time.Duration) *Store {
	if ttl <= 0 {
		ttl = DefaultSnapshotTTL
	}
	return &Store{rdb: rdb, ttl: ttl}
}

// forget deletes everything kept about account's unread counts: Chat
// answered that the account does not exist.
func (s *Store) forget(ctx context.Context, account string) error {
	if err := s.rdb.Del(ctx, userKey(account, "snap"), userKey(account, "refresh"), userKey(account, "sink")).Err(); err != nil {
		return fmt.Errorf("forget unread of %s: %w", account, err)
	}
	return nil
}

// Snapshot returns account's last known unread counts, or ErrNoSnapshot for
// a user chatsync has never had an unread event for. Other errors come from
// Redis or from a stored value it cannot read.
func (s *Store) Snapshot(ctx context.Context, account string) (*Snapshot, error) {
	h, err := s.rdb.HGetAll(ctx, userKey(account, "snap")).Result()
	if err != nil {
		return nil, fmt.Errorf("read unread snapshot: %w", err)
	}
	if len(h) == 0 {
		return nil, ErrNoSnapshot
	}
	snap := &Snapshot{Account: account, Peers: make(map[string]PeerCount)}
	for f, v := range h {
		if peer, ok := strings.CutPrefix(f, "p:"); ok {
			pc, err := parsePeerCount(v)
			if err != nil {
				return nil, fmt.Errorf("read unread snapshot: peer %q: %w", peer, err)
			}
			snap.Peers[peer] = pc
		}
	}
	if v, ok := h["total"]; ok {
		n, err1 := strconv.Atoi(v)
		at, err2 := strconv.ParseInt(h["total_at"], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("read unread snapshot: bad total %q at %q", v, h["total_at"])
		}
		snap.Total, snap.TotalKnown = n, true
		snap.TotalAt = time.UnixMilli(at).UTC()
		snap.TotalSource = h["total_src"]
	}
	return snap, nil
}

func parsePeerCount(v string) (PeerCount, error) {
	parts := strings.Fields(v)
	if len(parts) != 3 {
		return PeerCount{}, fmt.Errorf("bad value %q", v)
	}
	n, err1 := strconv.Atoi(parts[0])
	at, err2 := strconv.ParseInt(parts[1], 10, 64)
	if err1 != nil || err2 != nil {
		return PeerCount{}, fmt.Errorf("bad value %q", v)
	}
	return PeerCount{Count: n, At: time.UnixMilli(at).UTC(), Source: parts[2]}, nil
}

// claimTimes are the parameters every script that may schedule a task
// needs: the time, the caller's token, and after how long a scheduled task
// that never ran is presumed lost (so a new one may be scheduled).
type claimTimes struct {
	now   int64 // unix ms
	token string
	stale time.Duration
}

// unreadChange is what a chat:unread task asks of the store.
type unreadChange struct {
	claimTimes
	sink         bool // a sink is configured
	p            Unread
	refreshTotal bool // measure the total even if p carries one
}

// changeResult says what the store did with an unreadChange.
type changeResult struct {
	changed  bool // a value of the snapshot changed
	applied  bool // p.Total was stored
	schedule bool // the caller must enqueue a refresh task with its token
	notify   bool // the caller must enqueue a sink task with its token
}

func (s *Store) change(ctx context.Context, c unreadChange) (changeResult, error) {
	a := c.p.Account
	args := []any{c.now, c.token, c.stale.Milliseconds(), flag(c.sink), flag(c.p.Total != nil), 0, c.p.TotalAt,
		SourceCallback, flag(c.p.RefreshTotal || c.refreshTotal), s.ttl.Milliseconds()}
	if c.p.Total != nil {
		args[5] = *c.p.Total
	}
	for _, p := range c.p.Peers {
		args = append(args, p)
	}
	v, err := changeScript.Run(ctx, s.rdb, []string{userKey(a, "snap"), userKey(a, "refresh"), userKey(a, "sink")}, args...).Int64Slice()
	if err != nil {
		return changeResult{}, fmt.Errorf("update unread of %s: %w", a, err)
	}
	return changeResult{changed: v[0] == 1, applied: v[1] == 1, schedule: v[2] == 1, notify: v[3] == 1}, nil
}

// unclaim gives up a scheduling claim after the task could not be enqueued,
// so that the next request (or the retry of this one) claims it again.
func (s *Store) unclaim(ctx context.Context, key, token string) error {
	if err := unclaimScript.Run(ctx, s.rdb, []string{key}, token).Err(); err != nil {
		return fmt.Errorf("release %s: %w", key, err)
	}
	return nil
}

// refreshStep is what a refresh task should do now.
type refreshStep struct {
	stale bool          // another task owns the refresh: do nothing
	wait  time.Duration // > 0: requests are still coming; run again later
	// Otherwise run: measure these.
	peers []string
	total bool
	first int64 // unix ms of the first request this run answers
}

// beginRefresh decides whether the refresh task with token runs now and, if
// so, takes the gathered requests over (they stay in the inflight hash until
// finishRefresh, so a crashed or failed run resumes them).
func (s *Store) beginRefresh(ctx context.Context, account, token string, now int64, debounce, maxDelay, keep time.Duration) (refreshStep, error) {
	keys := []string{userKey(account, "refresh"), userKey(account, "inflight:"+token)}
	v, err := beginScript.Run(ctx, s.rdb, keys, token, now, debounce.Milliseconds(), maxDelay.Milliseconds(),
		int64(keep/time.Second)).Slice()
	if err != nil {
		return refreshStep{}, fmt.Errorf("begin unread refresh of %s: %w", account, err)
	}
	switch v[0] {
	case "stale":
		return refreshStep{stale: true}, nil
	case "wait":
		ms, _ := v[1].(int64)
		return refreshStep{wait: time.Duration(max(ms, 1)) * time.Millisecond}, nil
	}
	fields, _ := v[1].([]any)
	var st refreshStep
	for i := 0; i+1 < len(fields); i += 2 {
		f, _ := fields[i].(string)
		val, _ := fields[i+1].(string)
		switch {
		case strings.HasPrefix(f, "p:"):
			st.peers = append(st.peers, f[2:])
		case f == "total":
			st.total = true
		case f == "first":
			st.first, _ = strconv.ParseInt(val, 10, 64)
		}
	}
	return st, nil
}

// measurement is what one get_c2c_unread_msg_num call found.
type measurement struct {
	claimTimes
	sink     bool
	account  string
	at       int64 // unix ms when the call was made
	total    *int
	peers    map[string]int
	gone     []string // peers Chat says do not exist
	inflight string   // the inflight key these results come from
}

// measureResult says what the store did with a measurement.
type measureResult struct {
	changed   bool
	ambiguous bool // the total disagrees with a callback of the same second
	notify    bool
}

func (s *Store) record(ctx context.Context, m measurement) (measureResult, error) {
	args := []any{m.now, m.token, m.stale.Milliseconds(), flag(m.sink), m.at, flag(m.total != nil), 0, len(m.peers)}
	if m.total != nil {
		args[6] = *m.total
	}
	for p, n := range m.peers {
		args = append(args, p, n)
	}
	for _, p := range m.gone {
		args = append(args, p)
	}
	keys := []string{userKey(m.account, "snap"), m.inflight, userKey(m.account, "sink")}
	v, err := recordScript.Run(ctx, s.rdb, keys, args...).Int64Slice()
	if err == nil {
		err = s.rdb.PExpire(ctx, keys[0], s.ttl).Err()
	}
	if err != nil {
		return measureResult{}, fmt.Errorf("store unread of %s: %w", m.account, err)
	}
	return measureResult{changed: v[0] == 1, ambiguous: v[1] == 1, notify: v[2] == 1}, nil
}

// finishRefresh forgets a refresh whose results are all stored.
func (s *Store) finishRefresh(ctx context.Context, account, token string) error {
	if err := s.rdb.Del(ctx, userKey(account, "inflight:"+token)).Err(); err != nil {
		return fmt.Errorf("finish unread refresh of %s: %w", account, err)
	}
	return nil
}

// takeNotification clears account's pending sink notification if token
// owns it, and reports whether it did.
func (s *Store) takeNotification(ctx context.Context, account, token string) (bool, error) {
	n, err := takeScript.Run(ctx, s.rdb, []string{userKey(account, "sink")}, token).Int()
	if err != nil {
		return false, fmt.Errorf("take sink notification of %s: %w", account, err)
	}
	return n == 1, nil
}

func flag(b bool) int {
	if b {
		return 1
	}
	return 0
}
