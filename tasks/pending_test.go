package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/chatsync/chatsync/chatapi"
	"github.com/chatsync/chatsync/chatapi/emulator"
)

func (e *env) intake(tb testing.TB) *Intake {
	tb.Helper()
	in, err := NewIntake(IntakeConfig{Redis: e.rdb, Enqueuer: e.client})
	if err != nil {
		tb.Fatal(err)
	}
	return in
}

func readInput(id, account, peer string, readTime int64) Input {
	return Input{ID: id, Account: account, Window: time.Minute,
		SetRead: &SetRead{Account: account, Peer: peer, ReadTime: readTime}}
}

// setReadBodies returns the admin_set_msg_read calls Chat answered OK, as
// read points by "account/peer", in call order.
func setReadBodies(tb testing.TB, emu *emulator.Emulator) map[string][]int64 {
	tb.Helper()
	got := map[string][]int64{}
	for _, r := range emu.Requests(chatapi.APISetMsgRead) {
		if r.ErrorCode != 0 || r.HTTPStatus != 200 {
			continue
		}
		var b struct {
			R string `json:"Report_Account"`
			P string `json:"Peer_Account"`
			T string `json:"MsgReadTime"`
		}
		if err := json.Unmarshal(r.Body, &b); err != nil {
			tb.Fatal(err)
		}
		n, _ := strconv.ParseInt(b.T, 10, 64)
		got[b.R+"/"+b.P] = append(got[b.R+"/"+b.P], n)
	}
	return got
}

// TestSetReadCoalesces: 2,000 read events over 40 conversations, accepted
// while the workers run, cost far fewer calls than events, and every
// conversation ends at its latest read point, never going back.
func TestSetReadCoalesces(t *testing.T) {
	const convs, perConv = 40, 50
	e := setup(t, emulator.Config{KeepRequests: 10000})
	var users []string
	for i := range convs {
		users = append(users, fmt.Sprintf("reader%d", i), fmt.Sprintf("writer%d", i))
	}
	e.emu.ImportAccounts(users...)
	in := e.intake(t)
	e.serve(t, e.worker(t, Config{ConversationInterval: DefaultConversationInterval}), 10)

	base := time.Now().Unix() - 1000
	var wg sync.WaitGroup
	for c := range convs {
		wg.Go(func() {
			for i := range perConv {
				// Mostly rising, with some reordering.
				rt := base + int64(i)
				if i%7 == 3 {
					rt -= 2
				}
				x := readInput(fmt.Sprintf("ev-%d-%d", c, i), fmt.Sprintf("reader%d", c), fmt.Sprintf("writer%d", c), rt)
				if _, err := in.Accept(context.Background(), x); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	waitFor(t, 20*time.Second, "every latest read point applied", func() bool {
		got := setReadBodies(t, e.emu)
		for c := range convs {
			pts := got[fmt.Sprintf("reader%d/writer%d", c, c)]
			if len(pts) == 0 || pts[len(pts)-1] != base+perConv-1 {
				return false
			}
		}
		return true
	})
	got := setReadBodies(t, e.emu)
	n := 0
	for conv, pts := range got {
		n += len(pts)
		for i := 1; i < len(pts); i++ {
			if pts[i] <= pts[i-1] {
				t.Errorf("%s: read points %v do not rise", conv, pts)
				break
			}
		}
	}
	t.Logf("%d events over %d conversations: %d set-read calls", convs*perConv, convs, n)
	if n > 3*convs {
		t.Errorf("%d calls for %d events over %d conversations, want at most %d", n, convs*perConv, convs, 3*convs)
	}
}

// TestIntakeDuplicatesAndAppliedPoints: a redelivery within the window is
// a duplicate with the same task IDs; a read point at or below the applied
// one queues nothing.
func TestIntakeDuplicatesAndAppliedPoints(t *testing.T) {
	e := setup(t, emulator.Config{})
	e.emu.ImportAccounts("a", "b")
	in := e.intake(t)
	ctx := context.Background()
	now := time.Now().Unix()

	first, err := in.Accept(ctx, readInput("one", "a", "b", now-10))
	if err != nil || first.Duplicate || len(first.TaskIDs) != 1 {
		t.Fatalf("first: %+v, %v", first, err)
	}
	again, err := in.Accept(ctx, readInput("one", "a", "b", now-10))
	if err != nil || !again.Duplicate || !cmp.Equal(first.TaskIDs, again.TaskIDs) {
		t.Fatalf("redelivery: %+v, %v; want a duplicate of %v", again, err, first.TaskIDs)
	}
	joined, err := in.Accept(ctx, readInput("two", "a", "b", now-5))
	if err != nil || !cmp.Equal(first.TaskIDs, joined.TaskIDs) {
		t.Fatalf("second event: %+v, %v; want it to join %v", joined, err, first.TaskIDs)
	}

	e.serve(t, e.worker(t, Config{}), 2)
	e.finished(t, QueueRead, first.TaskIDs[0], 5*time.Second)
	if got := setReadBodies(t, e.emu)["a/b"]; !cmp.Equal(got, []int64{now - 5}) {
		t.Fatalf("calls %v, want one at the later read point %d", got, now-5)
	}
	older, err := in.Accept(ctx, readInput("three", "a", "b", now-7))
	if err != nil || len(older.TaskIDs) != 0 {
		t.Errorf("an applied read point: %+v, %v; want no task", older, err)
	}

	bad := []Input{
		{ID: "", Account: "a", Window: time.Minute, Unread: &Unread{Account: "a"}},
		{ID: "x", Account: "a", Window: time.Millisecond, Unread: &Unread{Account: "a"}},
		{ID: "x", Account: "a", Window: time.Minute},
		readInput("x", "a", "b", 0),
		{ID: "x", Account: "a", Window: time.Minute, SetRead: &SetRead{Account: "c", Peer: "b", ReadTime: 1}},
	}
	for i, x := range bad {
		if _, err := in.Accept(ctx, x); err == nil {
			t.Errorf("bad input %d accepted", i)
		}
	}
}

// sendMsgs sends n real messages from each sender to to and returns their
// MsgKeys by sender.
func sendMsgs(t testing.TB, chat *chatapi.Client, to string, senders []string, n int) map[string][]string {
	t.Helper()
	keys := map[string][]string{}
	for _, from := range senders {
		for i := range n {
			m, err := chat.SendMsg(context.Background(), chatapi.SendMsgRequest{FromAccount: from, ToAccount: to,
				MsgBody: []chatapi.MsgElem{chatapi.TextElem(fmt.Sprint("m", i))}})
			if err != nil {
				t.Fatal(err)
			}
			keys[from] = append(keys[from], m.MsgKey)
		}
	}
	return keys
}

// TestReceiptsBatch: 1,000 messages to one account from 10 senders, each
// receipted by its own input, go out in batches of ReceiptBatchMax per
// conversation, and every MsgKey is receipted once at least.
func TestReceiptsBatch(t *testing.T) {
	const senders, perSender, batch = 10, 100, 20
	e := setup(t, emulator.Config{RateLimit: -1, KeepRequests: 10000})
	var from []string
	for i := range senders {
		from = append(from, fmt.Sprint("sender", i))
	}
	e.emu.ImportAccounts(append(from, "bot")...)
	keys := sendMsgs(t, e.chat(t, nil), "bot", from, perSender)

	in := e.intake(t)
	e.serve(t, e.worker(t, Config{ReceiptBatchMax: batch, ConversationInterval: DefaultConversationInterval}), 10)
	var wg sync.WaitGroup
	for _, f := range from {
		wg.Go(func() {
			for _, k := range keys[f] {
				x := Input{ID: f + k, Account: "bot", Window: time.Minute,
					Receipt: &ReadReceipt{Account: "bot", Peer: f, MsgKeys: []string{k}}}
				if _, err := in.Accept(context.Background(), x); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	want := senders * perSender
	var reqs []emulator.Request
	waitFor(t, 20*time.Second, "every MsgKey receipted", func() bool {
		reqs = e.emu.Requests(chatapi.APIReadReceipt)
		return len(receipted(t, reqs)) == want
	})
	for _, r := range reqs {
		if r.ErrorCode != 0 {
			t.Errorf("a receipt call failed with %d: %s", r.ErrorCode, r.Body)
		}
	}
	// Batches are natural, not timed: how full they get depends on how
	// fast the MsgKeys arrive against how fast calls go out, which -race
	// and a loaded machine change. make bench measures the target
	// (10·⌈100/batch⌉ + 20); this bounds the count at twice the ideal, a
	// fifth of one call per MsgKey.
	limit := 2 * senders * ((perSender + batch - 1) / batch)
	t.Logf("%d MsgKeys from %d senders: %d receipt calls (bound %d)", want, senders, len(reqs), limit)
	if len(reqs) > limit {
		t.Errorf("%d receipt calls, want at most %d", len(reqs), limit)
	}
}

// receipted returns the distinct MsgKeys receipted by successful calls.
func receipted(tb testing.TB, reqs []emulator.Request) map[string]bool {
	tb.Helper()
	got := map[string]bool{}
	for _, r := range reqs {
		if r.ErrorCode != 0 {
			continue
		}
		var b struct {
			Info []struct {
				MsgKey string `json:"MsgKey"`
			} `json:"C2CMsgInfo"`
		}
		if err := json.Unmarshal(r.Body, &b); err != nil {
			tb.Fatal(err)
		}
		for _, m := range b.Info {
			got[m.MsgKey] = true
		}
	}
	return got
}

// TestReceiptPoisonKey: one MsgKey Chat rejects does not hold back the
// others of its batch: they are sent, it is dropped, and the task is
// archived naming it.
func TestReceiptPoisonKey(t *testing.T) {
	e := setup(t, emulator.Config{KeepRequests: 1000})
	e.emu.ImportAccounts("alice", "bob")
	keys := sendMsgs(t, e.chat(t, nil), "bob", []string{"alice"}, 7)["alice"]
	in := e.intake(t)
	all := append(keys[:3:3], append([]string{"1_2_3"}, keys[3:]...)...)
	res, err := in.Accept(context.Background(), Input{ID: "poison", Account: "bob", Window: time.Minute,
		Receipt: &ReadReceipt{Account: "bob", Peer: "alice", MsgKeys: all}})
	if err != nil {
		t.Fatal(err)
	}
	e.serve(t, e.worker(t, Config{}), 2)
	got := e.finished(t, QueueRead, res.TaskIDs[0], 10*time.Second)
	if got.LastErr == "" || !strings.Contains(got.LastErr, "1 MsgKey(s) rejected") {
		t.Errorf("task %v with %q, want it archived naming one rejected MsgKey", got.State, got.LastErr)
	}
	if r := receipted(t, e.emu.Requests(chatapi.APIReadReceipt)); len(r) != len(keys) {
		t.Errorf("%d of %d good MsgKeys receipted", len(r), len(keys))
	}
	if n, _ := e.rdb.Exists(context.Background(), rcptKey("bob", "alice")).Result(); n != 0 {
		t.Errorf("MsgKeys still pending after the batch")
	}
}

// TestACLUser runs the intake and a worker as a Redis ACL user confined to
// ~chatsync:* and ~asynq:* (and asynq's cancel channel): every key
// chatsync writes, the limiter's included, lies under those prefixes.
func TestACLUser(t *testing.T) {
	e := setup(t, emulator.Config{})
	e.emu.ImportAccounts("a", "b", "c")
	ctx := context.Background()
	const user, pass = "chatsync_acl_test", "acl-test-password"
	if err := e.rdb.Do(ctx, "ACL", "SETUSER", user, "reset", "on", ">"+pass, "~chatsync:*", "~asynq:*",
		"&asynq:*", "+@all", "-@dangerous", "+info").Err(); err != nil {
		t.Fatalf("ACL SETUSER: %v", err)
	}
	t.Cleanup(func() { e.rdb.Do(context.Background(), "ACL", "DELUSER", user) })

	opt := *e.rdb.Options()
	opt.Username, opt.Password = user, pass
	rdb := redis.NewClient(&opt)
	t.Cleanup(func() { rdb.Close() })
	if err := rdb.Set(ctx, "outside:key", 1, time.Second).Err(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
		t.Fatalf("the ACL user may write outside its prefixes (%v): the test proves nothing", err)
	}
	client := asynq.NewClientFromRedisClient(rdb)
	in, err := NewIntake(IntakeConfig{Redis: rdb, Enqueuer: client})
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewWorker(Config{Chat: e.chat(t, nil), Redis: rdb, Enqueuer: client})
	if err != nil {
		t.Fatal(err)
	}
	srv := asynq.NewServerFromRedisClient(rdb, w.ServerConfig(asynq.Config{Concurrency: 2,
		LogLevel: asynq.FatalLevel, ShutdownTimeout: time.Second}))
	mux := asynq.NewServeMux()
	w.Register(mux)
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)

	now := time.Now().Unix()
	for i, x := range []Input{
		readInput("acl-1", "a", "b", now),
		{ID: "acl-2", Account: "c", Window: time.Minute, Unread: &Unread{Account: "c", RefreshTotal: true}},
	} {
		if _, err := in.Accept(ctx, x); err != nil {
			t.Fatalf("input %d as the ACL user: %v", i, err)
		}
	}
	waitFor(t, 10*time.Second, "the set-read call and the unread measurement", func() bool {
		st := e.emu.Stats().APIs
		return st[chatapi.APISetMsgRead].ErrorCodes[0] == 1 && st[chatapi.APIUnread].ErrorCodes[0] >= 1
	})
	keys, err := e.rdb.Keys(ctx, "rate:*").Result()
	if err != nil || len(keys) > 0 {
		t.Errorf("limiter keys outside chatsync: %v %v", keys, err)
	}
}

// TestConversationInterval: a conversation's second call waits for the
// interval after its first, gathering what arrives meanwhile; another
// conversation is not held back; a full receipt batch is not held back.
func TestConversationInterval(t *testing.T) {
	const interval = 700 * time.Millisecond
	e := setup(t, emulator.Config{KeepRequests: 1000})
	e.emu.ImportAccounts("a", "b", "c", "s")
	keys := sendMsgs(t, e.chat(t, nil), "a", []string{"s"}, 6)["s"]
	in := e.intake(t)
	e.serve(t, e.worker(t, Config{ConversationInterval: interval, ReceiptBatchMax: 3}), 4)
	ctx := context.Background()
	now := time.Now().Unix()
	accept := func(x Input) {
		t.Helper()
		if _, err := in.Accept(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	accept(readInput("i1", "a", "b", now-30))
	waitFor(t, 5*time.Second, "the first call", func() bool { return len(setReadBodies(t, e.emu)["a/b"]) == 1 })
	for i := range 5 {
		accept(readInput(fmt.Sprint("i2-", i), "a", "b", now-20+int64(i)))
	}
	accept(readInput("i3", "a", "c", now-10)) // another conversation
	waitFor(t, 5*time.Second, "the second call", func() bool { return len(setReadBodies(t, e.emu)["a/b"]) == 2 })
	var times []time.Time
	for _, r := range e.emu.Requests(chatapi.APISetMsgRead) {
		times = append(times, r.Time)
	}
	got := setReadBodies(t, e.emu)
	if !cmp.Equal(got["a/b"], []int64{now - 30, now - 16}) || !cmp.Equal(got["a/c"], []int64{now - 10}) {
		t.Errorf("calls %v, want a/b at %d then %d (the five gathered), a/c at %d", got, now-30, now-16, now-10)
	}
	if len(times) == 3 && times[2].Sub(times[0]) < interval-50*time.Millisecond {
		t.Errorf("second call of a/b %v after the first, want at least %v", times[2].Sub(times[0]), interval)
	}
	if len(times) == 3 && times[1].Sub(times[0]) >= interval {
		t.Errorf("a/c waited for a/b's interval")
	}

	// Receipts: 6 MsgKeys in batches of 3 go out without waiting for
	// the interval between the full batches.
	start := time.Now()
	for i, k := range keys {
		accept(Input{ID: fmt.Sprint("r", i), Account: "a", Window: time.Minute,
			Receipt: &ReadReceipt{Account: "a", Peer: "s", MsgKeys: []string{k}}})
	}
	waitFor(t, 5*time.Second, "every receipt", func() bool {
		return len(receipted(t, e.emu.Requests(chatapi.APIReadReceipt))) == len(keys)
	})
	t.Logf("6 MsgKeys in %d calls within %v", len(e.emu.Requests(chatapi.APIReadReceipt)), time.Since(start))
}

// TestIdleTaskReleasesItsGen: a conversation task that finds its work
// already applied by another (a retried task, say) must release its
// generation as it ends. Otherwise the next event joins the ended task —
// its ID is still taken by the completed task — and waits for ever.
func TestIdleTaskReleasesItsGen(t *testing.T) {
	e := setup(t, emulator.Config{})
	e.emu.ImportAccounts("a", "b")
	in := e.intake(t)
	w := e.worker(t, Config{})
	ctx := context.Background()
	now := time.Now().Unix()
	run := func(gen string) {
		t.Helper()
		task, _, err := Builder{}.conversationTask(TypeSetRead, "a", "b", gen)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.handleSetRead(ctx, task); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := in.Accept(ctx, readInput("e2", "a", "b", now-20)); err != nil {
		t.Fatal(err)
	}
	queued := e.rdb.HGet(ctx, readKey("a", "b"), "gen").Val()
	run("another") // a task of an earlier generation applies the read point first
	run(queued)    // the queued task then finds nothing to do
	res, err := in.Accept(ctx, readInput("e3", "a", "b", now-10))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.TaskIDs) != 1 || res.TaskIDs[0] == ID(TypeSetRead, "a", "b", queued) {
		t.Fatalf("the next event joined %v, the generation of a task that has ended", res.TaskIDs)
	}
	if got := setReadBodies(t, e.emu)["a/b"]; !cmp.Equal(got, []int64{now - 20}) {
		t.Errorf("calls %v, want one at %d", got, now-20)
	}
}

// TestReplayWithAnotherBody: an input replayed under the same identity
// with another body is a duplicate of the first: its conversation is not
// touched, and the first's tasks are named again.
func TestReplayWithAnotherBody(t *testing.T) {
	e := setup(t, emulator.Config{})
	in := e.intake(t)
	ctx := context.Background()
	first, err := in.Accept(ctx, readInput("same-id", "a", "b", 100))
	if err != nil {
		t.Fatal(err)
	}
	other, err := in.Accept(ctx, readInput("same-id", "x", "c", 200))
	if err != nil {
		t.Fatal(err)
	}
	if !other.Duplicate || !cmp.Equal(first.TaskIDs, other.TaskIDs) {
		t.Errorf("replay with another body: %+v, want a duplicate naming %v", other, first.TaskIDs)
	}
	if n := e.rdb.Exists(ctx, readKey("x", "c")).Val(); n != 0 {
		t.Errorf("the replay's conversation has pending state")
	}
	if want := e.rdb.HGet(ctx, readKey("a", "b"), "want").Val(); want != "100" {
		t.Errorf("the first conversation's read point is %q, want 100", want)
	}
}

// TestLimiterFailureIsRetried: when Redis fails the rate limiter (a
// failover, say), the task is retried, not archived as a permanent
// failure: the reliability suite's failover test lost two read points so.
func TestLimiterFailureIsRetried(t *testing.T) {
	e := setup(t, emulator.Config{})
	e.emu.ImportAccounts("a", "b")
	in := e.intake(t)
	res, err := in.Accept(context.Background(), readInput("lim", "a", "b", 100))
	if err != nil {
		t.Fatal(err)
	}
	w := e.worker(t, Config{})
	// The limiter alone loses Redis: the state reads still work.
	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	t.Cleanup(func() { down.Close() })
	w.lim = newLimiter(down, gcraLimit(200, 0), time.Second, nil)
	task, _, err := Builder{}.conversationTask(TypeSetRead, "a", "b", e.rdb.HGet(context.Background(), readKey("a", "b"), "gen").Val())
	if err != nil {
		t.Fatal(err)
	}
	err = w.handleSetRead(context.Background(), task)
	if err == nil || errors.Is(err, asynq.SkipRetry) {
		t.Errorf("limiter on a dead Redis: %v, want an error that asynq retries", err)
	}
	if len(res.TaskIDs) != 1 {
		t.Errorf("tasks %v", res.TaskIDs)
	}
}
