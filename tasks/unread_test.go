package tasks

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/chatsync/chatsync/chatapi"
	"github.com/chatsync/chatsync/chatapi/emulator"
)

// afterSendMsg is the part of C2C.CallbackAfterSendMsg the ingest reads.
type afterSendMsg struct {
	CallbackCommand string `json:"CallbackCommand"`
	From            string `json:"From_Account"`
	To              string `json:"To_Account"`
	MsgTime         int64  `json:"MsgTime"`
	MsgKey          string `json:"MsgKey"`
	SendMsgResult   int    `json:"SendMsgResult"`
	UnreadMsgNum    int    `json:"UnreadMsgNum"`
}

// ingest stands in for the webhook package: it receives the emulator's
// callbacks and enqueues exactly the unread task the ingest would.
func (e *env) ingest(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var cb afterSendMsg
		if err := json.NewDecoder(r.Body).Decode(&cb); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if cb.CallbackCommand == chatapi.CommandAfterSendMsg && cb.SendMsgResult == 0 {
			total := cb.UnreadMsgNum
			task, err := Builder{}.Unread(Unread{Account: cb.To, Peers: []string{cb.From}, Total: &total,
				TotalAt: cb.MsgTime * 1000, Source: cb.CallbackCommand}, cb.From, cb.To, cb.MsgKey)
			if err == nil {
				_, err = e.client.EnqueueContext(r.Context(), task)
			}
			if err != nil && !IsDuplicate(err) {
				t.Errorf("ingest: %v", err)
				w.Write([]byte(`{"ActionStatus":"FAIL","ErrorInfo":"enqueue failed","ErrorCode":1}`))
				return
			}
		}
		w.Write([]byte(`{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}`))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// send sends one message with the Chat client and returns it.
func send(t *testing.T, chat *chatapi.Client, from, to string) chatapi.SentMsg {
	t.Helper()
	m, err := chat.SendMsg(t.Context(), chatapi.SendMsgRequest{FromAccount: from, ToAccount: to,
		MsgBody: []chatapi.MsgElem{chatapi.TextElem("hi")}})
	if err != nil {
		t.Fatalf("send %s→%s: %v", from, to, err)
	}
	return m
}

// unreadOf returns the snapshot as {total, non-zero per-peer counts}, the
// shape of emulator.Unread.
type unreadCounts struct {
	Total int
	Peers map[string]int
}

func snapshotCounts(t *testing.T, s *Store, user string) unreadCounts {
	t.Helper()
	snap, err := s.Snapshot(t.Context(), user)
	if err != nil {
		return unreadCounts{Total: -1}
	}
	got := unreadCounts{Total: snap.Total, Peers: map[string]int{}}
	if !snap.TotalKnown {
		got.Total = -1
	}
	for p, c := range snap.Peers {
		if c.Count != 0 {
			got.Peers[p] = c.Count
		}
	}
	return got
}

func emulatorCounts(e *emulator.Emulator, user string) unreadCounts {
	total, peers := e.Unread(user)
	return unreadCounts{Total: total, Peers: peers}
}

// settled waits until no unread work is queued and every user's snapshot
// equals the emulator's counts.
func (e *env) settled(t *testing.T, w *Worker, users []string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		q, err := e.insp.GetQueueInfo(QueueUnread)
		if err != nil {
			t.Fatal(err)
		}
		idle := q.Pending+q.Active+q.Scheduled+q.Retry == 0
		var diffs []string
		for _, u := range users {
			if d := cmp.Diff(emulatorCounts(e.emu, u), snapshotCounts(t, w.store, u)); d != "" {
				diffs = append(diffs, u+" (-emulator +snapshot):\n"+d)
			}
		}
		if idle && len(diffs) == 0 {
			return
		}
		if time.Now().After(deadline) {
			keys, _ := e.rdb.Keys(t.Context(), "chatsync:{*").Result()
			for _, k := range keys {
				t.Logf("redis %s: %v", k, e.rdb.HGetAll(t.Context(), k).Val())
			}
			t.Fatalf("not settled after %v: queue %+v\n%v", timeout, q, diffs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestUnreadBurst sends 1,000 messages to 20 users through the emulator,
// whose AfterSendMsg callbacks reach an ingest stand-in, and checks that the
// refreshes coalesce into at most 40 get_c2c_unread_msg_num calls and end
// with every snapshot equal to the emulator's counts.
func TestUnreadBurst(t *testing.T) {
	const (
		messages = 1000
		senders  = 8
	)
	e := setup(t, emulator.Config{KeepRequests: 2 * messages})
	users := make([]string, 20)
	for i := range users {
		users[i] = fmt.Sprintf("user%02d", i)
	}
	from := make([]string, senders)
	for i := range from {
		from[i] = fmt.Sprintf("sender%d", i)
	}
	e.emu.ImportAccounts(append(users, from...)...)
	e.emu.SetCallbackURL(e.ingest(t).URL)
	// The burst takes about 1.5 s without -race; then the defaults (500 ms,
	// 5 s) give one refresh per user. Under -race on a loaded machine it
	// stretches to 10 s and more, with each user's messages ~170 ms apart
	// and stalls between them: a refresh then runs whenever a gap exceeds
	// the debounce, and every MaxDelay while requests continue, as it
	// should. Longer settings keep this test about coalescing, not about
	// the machine's speed.
	w := e.worker(t, Config{Debounce: time.Second, MaxDelay: 30 * time.Second})
	e.serve(t, w, 10)

	// The burst: sendmsg itself is limited to 200/s per API; lift that.
	e.emu.SetRateLimit(-1)
	chat := e.chat(t, nil)
	start := time.Now()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := g; i < messages; i += 8 {
				_, err := chat.SendMsg(t.Context(), chatapi.SendMsgRequest{FromAccount: from[rand.N(senders)],
					ToAccount: users[i%len(users)], MsgBody: []chatapi.MsgElem{chatapi.TextElem("hi")}})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	sent := time.Since(start)
	e.emu.SetRateLimit(0)
	if err := e.emu.WaitCallbacks(t.Context()); err != nil {
		t.Fatal(err)
	}
	callbacks := time.Since(start)
	e.settled(t, w, users, 15*time.Second)

	got := calls(e.emu, chatapi.APIUnread)
	var n int64
	for _, c := range got {
		n += c
	}
	t.Logf("%d messages sent in %v, callbacks done after %v, settled after %v with %d unread calls %v",
		messages, sent.Round(time.Millisecond), callbacks.Round(time.Millisecond),
		time.Since(start).Round(time.Millisecond), n, got)
	if n > 40 || got[0] != n {
		t.Errorf("get_c2c_unread_msg_num answers by ErrorCode: %v, want at most 40, all successful", got)
	}
	if st := e.emu.Stats().Callbacks[chatapi.CommandAfterSendMsg]; st.Sent != messages || st.Failed != 0 {
		t.Errorf("callbacks: %+v, want %d sent, none failed", st, messages)
	}
}

// TestRefreshWhileRunning asks for a refresh while one is in flight and
// checks that it is neither lost nor multiplied: exactly one more run.
func TestRefreshWhileRunning(t *testing.T) {
	e := setup(t, emulator.Config{})
	e.emu.ImportAccounts("reader", "ann", "ben")
	w := e.worker(t, Config{Debounce: 50 * time.Millisecond})
	e.serve(t, w, 4)
	chat := e.chat(t, nil)
	e.emu.SetFault(chatapi.APIUnread, emulator.Fault{Latency: 300 * time.Millisecond})

	notify := func(from string) {
		m := send(t, chat, from, "reader")
		total, _ := e.emu.Unread("reader")
		task, err := Builder{}.Unread(Unread{Account: "reader", Peers: []string{from}, Total: &total,
			TotalAt: m.MsgTime * 1000}, from, "reader", m.MsgKey)
		e.enqueue(t, task, err)
	}
	notify("ann")
	waitFor(t, 5*time.Second, "the first refresh to take its work over", func() bool {
		keys, err := e.rdb.Keys(t.Context(), userKey("reader", "inflight:*")).Result()
		if err != nil {
			t.Fatal(err)
		}
		return len(keys) == 1
	})
	notify("ben")
	e.settled(t, w, []string{"reader"}, 10*time.Second)

	var asked [][]string
	for _, r := range e.emu.Requests(chatapi.APIUnread) {
		var body struct{ Peer_Account []string }
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatal(err)
		}
		asked = append(asked, body.Peer_Account)
	}
	if diff := cmp.Diff([][]string{{"ann"}, {"ben"}}, asked); diff != "" {
		t.Errorf("get_c2c_unread_msg_num calls' Peer_Account (-want +got)\n%s", diff)
	}
}

// TestRefreshCalls checks which get_c2c_unread_msg_num calls one refresh
// makes: peers ten to a call, the total when none came with the request,
// and a failed call resumed where it stopped.
func TestRefreshCalls(t *testing.T) {
	tests := []struct {
		name      string
		peers     int
		withTotal bool
		fault     emulator.Fault
		want      []int // Peer_Account lengths of the calls; 0 asks for the total
	}{
		{name: "peers in calls of ten", peers: 25, withTotal: true, want: []int{10, 10, 5}},
		{name: "total when the request has none", peers: 3, want: []int{0, 3}},
		{name: "failed call resumed", peers: 12, fault: emulator.Fault{Codes: []int{20005}, Count: 1},
			want: []int{0, 0, 10, 2}},
		{name: "rate limited call resumed", peers: 12, fault: emulator.Fault{Codes: []int{60007}, Count: 2},
			want: []int{0, 0, 0, 10, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t, emulator.Config{})
			var peers []string
			for i := range tt.peers {
				peers = append(peers, fmt.Sprintf("peer%02d", i))
			}
			e.emu.ImportAccounts(append(peers, "reader")...)
			chat := e.chat(t, nil)
			for _, p := range peers {
				send(t, chat, p, "reader")
			}
			e.emu.SetFault(chatapi.APIUnread, tt.fault)
			w := e.worker(t, Config{Debounce: 20 * time.Millisecond})
			e.serve(t, w, 2)
			p := Unread{Account: "reader", Peers: peers}
			if tt.withTotal {
				total, _ := e.emu.Unread("reader")
				p.Total, p.TotalAt = &total, time.Now().UnixMilli()
			}
			task, err := Builder{}.Unread(p, tt.name)
			e.enqueue(t, task, err)
			e.settled(t, w, []string{"reader"}, 10*time.Second)

			var got []int
			for _, r := range e.emu.Requests(chatapi.APIUnread) {
				var body struct{ Peer_Account []string }
				if err := json.Unmarshal(r.Body, &body); err != nil {
					t.Fatal(err)
				}
				got = append(got, len(body.Peer_Account))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Peer_Account lengths of the calls (-want +got)\n%s", diff)
			}
		})
	}
}

// TestStaleRefreshClaim: a worker that dies (or loses Redis) after it
// claimed a user's refresh and before it enqueued the refresh task leaves
// the claim behind. asynq runs the chat:unread task again; it must find its
// own claim and schedule the refresh, not wait for the claim to go stale
// (10 minutes), during which the user's counts would freeze. The window
// between the claim and the enqueue is too narrow to hit with a kill, so
// the state such a crash leaves is planted directly: a claim made with the
// token of the unread task that then runs.
func TestStaleRefreshClaim(t *testing.T) {
	e := setup(t, emulator.Config{})
	e.emu.ImportAccounts("reader", "writer")
	w := e.worker(t, Config{Debounce: 50 * time.Millisecond})
	chat := e.chat(t, nil)
	m := send(t, chat, "writer", "reader")
	total, _ := e.emu.Unread("reader")
	task, err := Builder{}.Unread(Unread{Account: "reader", Peers: []string{"writer"}, Total: &total,
		TotalAt: m.MsgTime * 1000}, "writer", "reader", m.MsgKey)
	if err != nil {
		t.Fatal(err)
	}
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	if err := e.rdb.HSet(t.Context(), userKey("reader", "refresh"), "token", claimToken(ID(TypeUnread, "writer", "reader", m.MsgKey)),
		"token_at", now, "first", now, "last", now, "p:writer", 1).Err(); err != nil {
		t.Fatal(err)
	}
	e.serve(t, w, 2)
	e.enqueue(t, task, nil)
	e.settled(t, w, []string{"reader"}, 5*time.Second)
}
