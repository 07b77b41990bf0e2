package reliability

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatsync/chatsync/chatapi"
)

// TestSentinelFailover runs serve and two workers on a redis-sentinel://
// URL (an ACL user on the data nodes, a password on the sentinels) while
// events arrive at 100 a second. One sentinel is killed: nothing changes.
// Then the primary is killed with SIGKILL; the two sentinels left promote
// a replica, and the old primary, restarted as its supervisor would,
// becomes the new primary's replica. Without any restart of chatsync:
// serve's /readyz answers 503 while no primary answers and 200 after, the
// first acknowledgement comes within 10 s of the kill, and every
// acknowledged event takes effect. With CHATSYNC_RELIABILITY_LONG the
// primary is killed five times in a row, each time the one the last
// failover promoted.
//
// It runs with REDIS_WAIT_REPLICAS=0, where an acknowledgement can
// precede replication and a failover can lose the events acknowledged in
// the last moments (the test reports how many), and with
// REDIS_WAIT_REPLICAS=1, where none may be lost. The first has one
// replica, the second two, so that one is left to confirm WAIT 1 while the
// old primary comes back. Before the load, the second checks that serve
// refuses to acknowledge while no replica can confirm.
//
// Every event reads a conversation of its own: events of one conversation
// coalesce, so a lost read point would hide behind a later one.
func TestSentinelFailover(t *testing.T) {
	t.Parallel()
	bin := binary(t)
	for _, wait := range []int{0, 1} {
		t.Run("wait="+strconv.Itoa(wait), func(t *testing.T) { testFailover(t, bin, wait) })
	}
}

// failoverPeers is how many conversations the failover load cycles
// through: more than it posts events in the default variant, so that each
// event there reads a conversation of its own.
const failoverPeers = 20000

func testFailover(t *testing.T, bin string, wait int) {
	// WAIT N needs N replicas besides the one promoted: the old primary
	// comes back, but the sentinels make it a replica only some 8 to 10 s
	// later.
	accounts := []string{"a", "b"}
	for i := range failoverPeers {
		accounts = append(accounts, User("p", i))
	}
	h := New(t, Config{Binary: bin, Sentinel: true, Replicas: wait + 1, Accounts: accounts,
		Env: map[string]string{"REDIS_WAIT_REPLICAS": strconv.Itoa(wait)}})
	ctx := context.Background()
	if wait > 0 && !waitInEffect(t, h) {
		t.Fatal("serve acknowledged an event with the replicas stopped: REDIS_WAIT_REPLICAS is not in effect")
	}
	l := NewLedger()
	gen := func(i int) item {
		return eventsItem(idSeq("failover", i), ConversationRead("a", User("p", i%failoverPeers), 1700000000+int64(i)))
	}
	st := startStream(h.Sender, l, gen, 4, 100)
	waitAcked(t, st, time.Now(), 100)

	// A sentinel down changes nothing.
	if err := h.HA.Sentinels[0].Kill(); err != nil {
		t.Fatal(err)
	}
	sentinelDown := time.Now()
	waitAcked(t, st, sentinelDown, 100)
	if c := st.since(sentinelDown); c.refused+c.noAnswer != 0 {
		t.Errorf("with one sentinel down: %s", c)
	}

	pids := map[*Process]int{}
	for _, p := range append([]*Process{h.Serve}, h.Workers...) {
		pids[p] = p.PID()
	}
	for i := range scale(1, 5) {
		if i > 0 {
			// The old primary becomes a replica some 8 s after it
			// came back, and a sentinel waits 2 × failover-timeout
			// (4 s) before it tries another failover of the same
			// primary: let both pass, or the next kill meets a
			// failover still in progress.
			time.Sleep(11 * time.Second)
		}
		failover(t, h, st, i+1)
	}
	outs := st.stop()
	t.Logf("in all %s", count(outs))
	for p, pid := range pids {
		if p.PID() != pid || !p.Running() {
			t.Errorf("%s restarted or exited (%v)", p.Name(), p.ExitErr())
		}
	}

	res, held := waitSettled(t, h, l)
	t.Logf("REDIS_WAIT_REPLICAS=%d: %d of %d acknowledged events lost in the failovers, %d held in tasks "+
		"awaiting asynq's lease recovery; %s", wait, res.LostCount()-held, res.Inputs, held, res)
	if wait > 0 && res.LostCount() > held {
		t.Errorf("%d acknowledged events lost with REDIS_WAIT_REPLICAS=%d", res.LostCount()-held, wait)
	}
	if res.LostCount() > 0 {
		logArchived(t, h)
		logLostState(t, h, res)
	}
	if long() && held > 0 {
		// asynq retries a task whose lease expired 60 to 120 s later.
		res, err := h.WaitLedger(ctx, l, 150*time.Second)
		t.Logf("after asynq's lease recovery: %s", res)
		if err != nil && wait > 0 {
			t.Error(err)
		}
	}
}

// waitSettled waits up to 30 s until every effect l expects was seen, or
// no task is left to run but active (leased) ones and nothing has changed
// for 3 s, so that the active ones are not merely running. It returns the
// last check and how many missing effects are held by active tasks: a
// worker that took a task just before the primary died may have failed to
// record its end, and asynq then recovers the task only once its lease
// expired. The rest of the missing effects are lost: Redis no longer has
// them.
func waitSettled(t *testing.T, h *Harness, l *Ledger) (Result, int) {
	t.Helper()
	var (
		res     Result
		q, last QueueCounts
		since   time.Time
	)
	err := Poll(context.Background(), 30*time.Second, 200*time.Millisecond, func() (bool, error) {
		// The queues first: a task done by then has had its Chat call
		// recorded when the ledger is read.
		var err error
		if q, err = h.Queues(); err != nil {
			return false, err
		}
		res = l.Check(h.Emulator.Requests(""))
		if q != last {
			last, since = q, time.Now()
		}
		return res.Complete() || q.Unfinished() == q.Active && time.Since(since) >= 3*time.Second, nil
	})
	if err != nil {
		t.Errorf("tasks still to run 30 s after the failovers: %+v: %v", q, err)
	}
	active, err := h.ActiveConversations()
	if err != nil {
		t.Fatal(err)
	}
	held := 0
	for e, n := range res.Lost {
		conv, _ := splitKey(e.Key)
		if e.API == chatapi.APISetMsgRead && active[conv] > 0 {
			held += n
		}
	}
	t.Logf("queues %+v", q)
	return res, held
}

// failover kills the primary with SIGKILL under st's load, waits until the
// sentinels have promoted the replica and starts the old primary again, as
// a supervisor would: the sentinels make it the new primary's replica,
// which REDIS_WAIT_REPLICAS=1 needs. It checks serve's and the workers'
// /readyz and the first acknowledgement after the kill.
func failover(t *testing.T, h *Harness, st *stream, n int) {
	t.Helper()
	ctx := context.Background()
	primary, _, err := h.HA.Roles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := primary.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	notReady := pollReady(ctx, h.ServeURL, http.StatusServiceUnavailable, 10*time.Second)
	err = Poll(ctx, 30*time.Second, 50*time.Millisecond, func() (bool, error) {
		addr, err := h.HA.PrimaryAddr(ctx)
		return err == nil && addr != primary.Addr(), err
	})
	if err != nil {
		t.Fatalf("failover %d: the sentinels did not all promote the replica: %v", n, err)
	}
	// Every running sentinel names the new primary: the old one can come
	// back without a sentinel taking it for the primary.
	promoted := time.Now()
	if err := primary.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitAcked(t, st, killed, 1)
	ready := pollReady(ctx, h.ServeURL, http.StatusOK, 30*time.Second)
	for i, u := range h.WorkerURLs {
		if pollReady(ctx, u, http.StatusOK, 30*time.Second).IsZero() {
			t.Errorf("failover %d: work%d /readyz is not 200 again", n, i)
		}
	}
	waitAcked(t, st, time.Now(), 100)
	if err := Poll(ctx, 20*time.Second, 100*time.Millisecond, func() (bool, error) {
		_, replicas, err := h.HA.Roles(ctx)
		for _, r := range replicas {
			err = errors.Join(err, r.linkUp(ctx))
		}
		return err == nil, err
	}); err != nil {
		t.Fatalf("failover %d: not every other node is a replica in sync: %v", n, err)
	}

	firstOK, refused := failoverOutcomes(st.outcomes(), killed)
	t.Logf("failover %d: /readyz 503 after %v, replica promoted after %v, first acknowledgement after %v, "+
		"/readyz 200 after %v; %d requests refused or unanswered meanwhile",
		n, since(killed, notReady), promoted.Sub(killed).Round(time.Millisecond), since(killed, firstOK),
		since(killed, ready), refused)
	switch {
	case firstOK.IsZero():
		t.Errorf("failover %d: no acknowledgement after the kill", n)
	case firstOK.Sub(killed) > 10*time.Second:
		t.Errorf("failover %d: first acknowledgement %v after the kill, want at most 10 s; the sentinels' election:\n%s",
			n, firstOK.Sub(killed).Round(time.Millisecond), h.HA.electionLog())
	}
	if notReady.IsZero() {
		t.Errorf("failover %d: serve /readyz never answered 503 while no primary answered", n)
	}
	if ready.IsZero() {
		t.Errorf("failover %d: serve /readyz is not 200 again", n)
	}
}

// waitInEffect reports whether serve waits for replicas: it posts an
// event while every replica is stopped (SIGSTOP) and sees whether serve
// acknowledges it.
func waitInEffect(t *testing.T, h *Harness) bool {
	t.Helper()
	replicas := h.HA.Nodes[1:]
	for _, r := range replicas {
		if err := r.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
	}
	id := fmt.Sprintf("probe_%d", time.Now().UnixNano())
	r := h.Sender.Events(context.Background(), id, EventsBody(ConversationRead("b", "a", 1600000000)))
	for _, r := range replicas {
		if err := r.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("with the replicas stopped serve answered %s", r)
	return !r.Accepted()
}

// pollReady polls base/readyz until it answers want and returns when it
// did; zero when it did not within timeout.
func pollReady(ctx context.Context, base string, want int, timeout time.Duration) time.Time {
	c := &http.Client{Timeout: 3 * time.Second} // /readyz waits up to 2 s for Redis
	var at time.Time
	_ = Poll(ctx, timeout, 20*time.Millisecond, func() (bool, error) {
		resp, err := c.Get(base + "/readyz")
		if err != nil {
			return false, err
		}
		resp.Body.Close()
		if resp.StatusCode == want {
			at = time.Now()
		}
		return !at.IsZero(), nil
	})
	return at
}

// failoverOutcomes returns when the first request started after killed
// was acknowledged, and how many requests were refused or unanswered
// until then.
func failoverOutcomes(outs []outcome, killed time.Time) (firstOK time.Time, refused int) {
	for _, o := range outs {
		if o.start.After(killed) && o.acked && (firstOK.IsZero() || o.end.Before(firstOK)) {
			firstOK = o.end
		}
	}
	for _, o := range outs {
		if o.start.After(killed) && !o.acked && (firstOK.IsZero() || o.start.Before(firstOK)) {
			refused++
		}
	}
	return firstOK, refused
}

// since returns t - from rounded, or -1 when t is zero (never).
func since(from, t time.Time) time.Duration {
	if t.IsZero() {
		return -1
	}
	return t.Sub(from).Round(time.Millisecond)
}

// logLostState logs, for up to 5 lost set-read effects, the conversation's
// read state on the current primary (want, done, gen; none: the input's
// writes are gone, whereas a pending want means its task was lost).
func logLostState(t *testing.T, h *Harness, res Result) {
	t.Helper()
	ctx := context.Background()
	primary, _, err := h.HA.Roles(ctx)
	if err != nil {
		t.Log(err)
		return
	}
	rdb := redis.NewClient(primary.Options())
	defer rdb.Close()
	n := 0
	for e := range res.Lost {
		if n++; n > 5 || e.API != chatapi.APISetMsgRead {
			continue
		}
		conv, _ := splitKey(e.Key)
		account, peer, _ := strings.Cut(conv, "\x00")
		state, err := rdb.HGetAll(ctx, "chatsync:{"+account+"}:read:"+peer).Result()
		t.Logf("lost %s: read state on the primary %v (%v)", e, state, err)
	}
}
