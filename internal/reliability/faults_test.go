package reliability

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chatsync/chatsync/chatapi"
	"github.com/chatsync/chatsync/chatapi/emulator"
	"github.com/chatsync/chatsync/tasks"
)

// readAPIs are the Chat APIs chatsync's tasks call.
var readAPIs = []string{chatapi.APISetMsgRead, chatapi.APIReadReceipt, chatapi.APIUnread}

// TestTransientFaults: with the emulator failing 30 % of the calls of
// every API chatsync uses with 20004, 20005 or 91000, every acknowledged
// input still takes effect, nothing is archived, the unread snapshots
// converge, and every callback the emulator itself sent was acknowledged.
func TestTransientFaults(t *testing.T) {
	t.Parallel()
	m := mix{readers: 10, peers: 5,
		conversationReads: scale(150, 600), receipts: scale(60, 200), botMessages: scale(40, 150), readerMessages: scale(60, 200)}
	h := New(t, Config{Binary: binary(t), AutoRead: []string{bot}, Accounts: m.accounts(), EmulatorCallbacks: true})
	ctx := context.Background()
	items, unread := m.build(t, h, "transient")
	for _, api := range readAPIs {
		h.Emulator.SetFault(api, emulator.Fault{Codes: []int{20004, 20005, 91000}, Probability: 0.3})
	}

	l := NewLedger()
	start := time.Now()
	if c := count(post(ctx, h.Sender, l, items, 4, 0)); c.acked != len(items) {
		t.Fatalf("posted %d requests: %s", len(items), c)
	}
	res, err := h.WaitLedger(ctx, l, 120*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("30%% transient faults: every effect seen after %v: %s", time.Since(start).Round(time.Millisecond), res)
	for _, code := range []string{"20004", "20005", "91000"} {
		if res.Failures[code] == 0 {
			t.Errorf("no call failed with %s: the fault did not apply", code)
		}
	}
	if err := h.WaitUnread(ctx, unread, 60*time.Second); err != nil {
		t.Error(err)
	}
	q, err := h.WaitIdle(ctx, 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if q.Archived != 0 {
		t.Errorf("%d tasks archived; transient failures must be retried until they succeed", q.Archived)
		logArchived(t, h)
	}
	if err := h.Emulator.WaitCallbacks(ctx); err != nil {
		t.Fatal(err)
	}
	for cmd, s := range h.Emulator.Stats().Callbacks {
		t.Logf("emulator callbacks %s: %d sent, %d failed", cmd, s.Sent, s.Failed)
		if s.Failed != 0 {
			t.Errorf("%d of %d %s callbacks from the emulator were not acknowledged", s.Failed, s.Sent, cmd)
		}
	}
	unreadStats := h.Emulator.Stats().APIs[chatapi.APIUnread]
	t.Logf("unread calls: %d (by code %v)", unreadStats.Calls, unreadStats.ErrorCodes)
}

// TestPermanentCodes: a task whose Chat call fails with a permanent code
// (70107 account not imported, 90001 bad JSON) is archived after exactly
// one attempt, with the code in its error.
func TestPermanentCodes(t *testing.T) {
	t.Parallel()
	h := New(t, Config{Binary: binary(t), Accounts: []string{"a", "b"}})
	ctx := context.Background()
	h.Emulator.SetFault(chatapi.APISetMsgRead, emulator.Fault{Codes: []int{70107}})
	h.Emulator.SetFault(chatapi.APIReadReceipt, emulator.Fault{Codes: []int{90001}})

	const n = 20
	var items []item
	for i := range n {
		items = append(items,
			eventsItem(idSeq("perm-read", i), ConversationRead("a", "b", 1700000000+int64(i))),
			eventsItem(idSeq("perm-receipt", i), MessagesRead("a", "b", fmt.Sprintf("%d_1_1700000000", i))))
	}
	l := NewLedger()
	if c := count(post(ctx, h.Sender, l, items, 4, 0)); c.acked != len(items) {
		t.Fatalf("posted %d requests: %s", len(items), c)
	}
	// Events of one conversation coalesce, so fewer tasks than events are
	// archived: as many as calls were made, each after its one attempt.
	err := Poll(ctx, 30*time.Second, 100*time.Millisecond, func() (bool, error) {
		q, err := h.Queues()
		return q.Unfinished() == 0 && q.Archived >= 2, err
	})
	if err != nil {
		q, _ := h.Queues()
		t.Fatalf("want every task archived: %+v: %v", q, err)
	}
	archived, err := h.Tasks("archived")
	if err != nil {
		t.Fatal(err)
	}
	codes := map[string]string{tasks.TypeSetRead: "ErrorCode 70107", tasks.TypeReadReceipt: "ErrorCode 90001"}
	byType := map[string]int{}
	for _, ti := range archived {
		byType[ti.Type]++
		if ti.Retried != 0 || !strings.Contains(ti.LastErr, codes[ti.Type]) {
			t.Errorf("archived %s: retried %d, error %q; want 0 retries and %q", ti.Type, ti.Retried, ti.LastErr, codes[ti.Type])
		}
	}
	// Exactly one attempt per archived task.
	calls := map[string]int{}
	for _, r := range h.Emulator.Requests("") {
		calls[r.API]++
	}
	for typ, api := range map[string]string{tasks.TypeSetRead: chatapi.APISetMsgRead, tasks.TypeReadReceipt: chatapi.APIReadReceipt} {
		if calls[api] != byType[typ] || byType[typ] == 0 {
			t.Errorf("%s: %d calls for %d archived tasks, want one each", api, calls[api], byType[typ])
		}
	}
	res := l.Check(h.Emulator.Requests(""))
	t.Logf("%d tasks archived after one attempt each: %s; e.g. %q", len(archived), res, archived[0].LastErr)
}

// TestChatRateLimitBurnsNoRetries: while Chat answers 60007 (rate limit)
// tasks wait and try again without spending their retries: with
// TASK_MAX_RETRY=2, tasks rate-limited 4 times and more still succeed, with
// a retry count of 0, once the limit lifts.
func TestChatRateLimitBurnsNoRetries(t *testing.T) {
	t.Parallel()
	const maxRetry = 2
	const n = 30
	// Each event its own conversation: events of one would share a call.
	accounts := []string{"a"}
	for i := range n {
		accounts = append(accounts, User("p", i))
	}
	h := New(t, Config{Binary: binary(t), MaxRetry: maxRetry, Accounts: accounts})
	ctx := context.Background()
	h.Emulator.SetFault(chatapi.APISetMsgRead, emulator.Fault{Codes: []int{60007}})

	items := make([]item, n)
	for i := range items {
		items[i] = eventsItem(idSeq("ratelimited", i), ConversationRead("a", User("p", i), 1700000000+int64(i)))
	}
	l := NewLedger()
	if c := count(post(ctx, h.Sender, l, items, 4, 0)); c.acked != n {
		t.Fatalf("posted %d requests: %s", n, c)
	}
	// Hold the limit until every task was turned away more often than
	// its retry budget would allow.
	limited := func() map[Effect]int {
		m := map[Effect]int{}
		for _, r := range h.Emulator.Requests(chatapi.APISetMsgRead) {
			if e, ok := EffectOf(r.API, r.Body); ok && r.ErrorCode == 60007 {
				m[e]++
			}
		}
		return m
	}
	err := Poll(ctx, 60*time.Second, 100*time.Millisecond, func() (bool, error) {
		m := limited()
		for _, it := range items {
			if m[it.effects[0]] < maxRetry+2 {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("tasks were not all rate-limited %d times: %v", maxRetry+2, err)
	}
	h.Emulator.ClearFaults()
	res, err := h.WaitLedger(ctx, l, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.WaitIdle(ctx, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	checkNoRetriesBurned(t, h, tasks.TypeSetRead, n)
	t.Logf("after 60007 ×%d+ per task: %s", maxRetry+2, res)
}

// TestOwnRateLimitBurnsNoRetries: chatsync's own cluster-wide limit
// (CHAT_RATE_LIMIT=10, two worker processes) keeps every sliding second at
// Chat under 10 calls (the emulator, limited to 10 too, never answers
// 60007), and the tasks that wait for it spend no retries (TASK_MAX_RETRY=1).
func TestOwnRateLimitBurnsNoRetries(t *testing.T) {
	t.Parallel()
	const limit = 10
	n := scale(80, 300)
	// Each event its own conversation: events of one would share a call.
	accounts := []string{"a"}
	for i := range n {
		accounts = append(accounts, User("p", i))
	}
	h := New(t, Config{Binary: binary(t), RateLimit: limit, EmulatorRateLimit: limit, MaxRetry: 1, Accounts: accounts})
	ctx := context.Background()
	items := make([]item, n/10)
	for i := range items {
		var evs []Event
		for j := range 10 {
			k := i*10 + j
			evs = append(evs, ConversationRead("a", User("p", k), 1700000000+int64(k)))
		}
		items[i] = eventsItem(idSeq("ownlimit", i), evs...)
	}
	l := NewLedger()
	start := time.Now()
	if c := count(post(ctx, h.Sender, l, items, 2, 0)); c.acked != len(items) {
		t.Fatalf("posted %d requests: %s", len(items), c)
	}
	res, err := h.WaitLedger(ctx, l, time.Duration(n/limit+30)*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if _, err := h.WaitIdle(ctx, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	reqs := h.Emulator.Requests(chatapi.APISetMsgRead)
	peak := peakWindow(reqs, time.Second)
	t.Logf("%d calls at %d/s in %v, busiest sliding second %d: %s", len(reqs), limit, took.Round(time.Millisecond), peak, res)
	if len(res.Failures) != 0 || peak > limit {
		t.Errorf("the limit did not hold: busiest second %d calls (limit %d), failures %v", peak, limit, res.Failures)
	}
	checkNoRetriesBurned(t, h, tasks.TypeSetRead, n)
}

// peakWindow returns the most requests that arrived within any window.
func peakWindow(reqs []emulator.Request, window time.Duration) int {
	times := make([]time.Time, len(reqs))
	for i, r := range reqs {
		times[i] = r.Time
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	peak, lo := 0, 0
	for hi := range times {
		for times[hi].Sub(times[lo]) >= window {
			lo++
		}
		peak = max(peak, hi-lo+1)
	}
	return peak
}

// checkNoRetriesBurned fails t unless n completed tasks of typ exist and
// none of them spent a retry.
func checkNoRetriesBurned(t *testing.T, h *Harness, typ string, n int) {
	t.Helper()
	done, err := h.Tasks("completed")
	if err != nil {
		t.Fatal(err)
	}
	got, retried := 0, 0
	for _, ti := range done {
		if ti.Type != typ {
			continue
		}
		got++
		if ti.Retried != 0 {
			retried++
		}
	}
	if got != n || retried != 0 {
		t.Errorf("%d completed %s tasks, %d of them with retries; want %d, none", got, typ, retried, n)
	}
	if q, _ := h.Queues(); q.Archived != 0 {
		t.Errorf("%d tasks archived", q.Archived)
		logArchived(t, h)
	}
}

// logArchived logs the type and error of up to 5 archived tasks.
func logArchived(t *testing.T, h *Harness) {
	t.Helper()
	ts, err := h.Tasks("archived")
	if err != nil {
		t.Log(err)
		return
	}
	for i, ti := range ts {
		if i == 5 {
			break
		}
		t.Logf("archived %s after %d retries: %s", ti.Type, ti.Retried, ti.LastErr)
	}
}
