package reliability

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chatsync/chatsync/chatapi"
)

// TestBadInputRejected: forged, stale, misdirected, oversized, malformed
// and unauthenticated requests get their documented status and enqueue
// nothing. serve runs without workers, so that every task it enqueues
// stays visible in Redis.
func TestBadInputRejected(t *testing.T) {
	t.Parallel()
	h := New(t, Config{Binary: binary(t), Workers: -1})
	ctx := context.Background()
	s := h.Sender
	now := time.Now()
	unix := now.Unix()
	appID := strconv.FormatUint(h.Secrets.SDKAppID, 10)
	marker := h.Secrets.BodyMarker

	msg := Message{From: "alice", To: "bob", Seq: 7, Random: 9, Time: unix, Key: fmt.Sprintf("7_9_%d", unix), Text: "secret text " + marker}
	valid := AfterSendMsgBody(msg, nil)
	query := func(sign string, rt int64) string {
		return CallbackQuery(appID, chatapi.CommandAfterSendMsg, sign, strconv.FormatInt(rt, 10))
	}
	callback := func(rawQuery string, body []byte) func() Reply {
		return func() Reply { return s.PostCallback(ctx, rawQuery, body) }
	}
	signed := func(body []byte) func() Reply {
		return func() Reply {
			return s.PostCallback(ctx, s.CallbackQuery(chatapi.CommandAfterSendMsg, time.Now().Unix()), body)
		}
	}
	// A callback body with a field nested 100 deep, one with a byte that
	// is not UTF-8 in a string, and one over the 256 KiB limit.
	deep := []byte(`{"CallbackCommand":"C2C.CallbackAfterSendMsg","x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`)
	badUTF8 := bytes.Replace(valid, []byte("secret text"), []byte("secret \xff\xfe text"), 1)
	big := bytes.Replace(valid, []byte(`"CloudCustomData":"`), []byte(`"CloudCustomData":"`+strings.Repeat(marker, 300<<10/len(marker))), 1)

	event := EventsBody(ConversationRead("alice", "bob", unix-60))
	events := func(hdr http.Header, body []byte) func() Reply {
		return func() Reply { return s.Do(ctx, http.MethodPost, "/v1/events", hdr, body) }
	}
	signedEvent := func(body []byte) func() Reply {
		return func() Reply { return s.Events(ctx, "evt_"+randHex(8), body) }
	}
	without := func(hdr http.Header, key string) http.Header { hdr.Del(key); return hdr }
	with := func(hdr http.Header, key, v string) http.Header { hdr.Set(key, v); return hdr }
	other, _ := NewSender(h.ServeURL, NewSecrets(), NewScanner()) // another app's events secret
	many := func(n int, f func(i int) Event) []byte {
		evs := make([]Event, n)
		for i := range evs {
			evs[i] = f(i)
		}
		return EventsBody(evs...)
	}
	keys := make([]string, 101)
	peers := make([]string, 101)
	for i := range keys {
		keys[i] = fmt.Sprintf("%d_1_%d", i, unix)
		peers[i] = User("peer", i)
	}
	get := func(path string, hdr http.Header) func() Reply {
		return func() Reply { return s.Do(ctx, http.MethodGet, path, hdr, nil) }
	}
	admin, err := NewSender(h.AdminURL, h.Secrets, h.Scanner) // /monitoring/ is on the admin listener
	if err != nil {
		t.Fatal(err)
	}
	adminGet := func(path string, hdr http.Header) func() Reply {
		return func() Reply { return admin.Do(ctx, http.MethodGet, path, hdr, nil) }
	}
	basic := func(user, password string) http.Header {
		return http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))}}
	}
	bearer := func(key string) http.Header { return http.Header{"Authorization": {"Bearer " + key}} }

	tests := []struct {
		name string
		do   func() Reply
		want int
	}{
		{"callback: forged Sign", callback(query(strings.Repeat("ab", 32), unix), valid), 401},
		{"callback: Sign made with another token", callback(query(chatapi.CallbackSign("not-the-token", unix), unix), valid), 401},
		{"callback: Sign in upper case", callback(query(strings.ToUpper(s.Sign(unix)), unix), valid), 401},
		{"callback: stale RequestTime", callback(query(s.Sign(unix-120), unix-120), valid), 401},
		{"callback: future RequestTime", callback(query(s.Sign(unix+120), unix+120), valid), 401},
		{"callback: RequestTime not a number", callback(CallbackQuery(appID, chatapi.CommandAfterSendMsg, s.Sign(unix), "1e9"), valid), 401},
		{"callback: missing Sign", callback(query("", unix), valid), 401},
		{"callback: missing RequestTime", callback(CallbackQuery(appID, chatapi.CommandAfterSendMsg, s.Sign(unix), ""), valid), 401},
		{"callback: wrong SdkAppid", callback(CallbackQuery(appID+"1", chatapi.CommandAfterSendMsg, s.Sign(unix), strconv.FormatInt(unix, 10)), valid), 403},
		{"callback: missing SdkAppid", callback(CallbackQuery("", chatapi.CommandAfterSendMsg, s.Sign(unix), strconv.FormatInt(unix, 10)), valid), 400},
		{"callback: Sign given twice", callback(query(s.Sign(unix), unix)+"&Sign="+strings.Repeat("0", 64), valid), 400},
		{"callback: oversize body", signed(big), 413},
		{"callback: oversize chunked body", func() Reply {
			return s.DoReader(ctx, http.MethodPost, "/callback?"+s.CallbackQuery(chatapi.CommandAfterSendMsg, time.Now().Unix()),
				http.Header{"Content-Type": {"application/json"}}, io.MultiReader(bytes.NewReader(big)))
		}, 413},
		{"callback: deeply nested JSON", signed(deep), 400},
		{"callback: invalid UTF-8", signed(badUTF8), 400},
		{"callback: malformed JSON", signed([]byte(`{"CallbackCommand":"C2C.CallbackAfterSendMsg",`)), 400},
		{"callback: body command differs from the query", callback(CallbackQuery(appID, "C2C.CallbackAfterMsgReport",
			s.Sign(unix), strconv.FormatInt(unix, 10)), valid), 400},
		{"callback: account over 32 bytes", signed(AfterSendMsgBody(Message{From: strings.Repeat("x", 33), To: "bob", Time: unix, Key: "1_1_1", Text: marker}, nil)), 400},

		{"events: no signature headers", events(http.Header{"Content-Type": {"application/json"}}, event), 401},
		{"events: missing webhook-signature", events(without(s.EventHeaders("evt_nosig", now, event), "webhook-signature"), event), 401},
		{"events: missing webhook-id", events(without(s.EventHeaders("evt_noid", now, event), "webhook-id"), event), 401},
		{"events: forged signature", events(with(s.EventHeaders("evt_forged", now, event), "webhook-signature", "v1,"+forgedSignature()), event), 401},
		{"events: signed with another secret", events(other.EventHeaders("evt_other", now, event), event), 401},
		{"events: signature of another body", events(s.EventHeaders("evt_swap", now, EventsBody(ConversationRead("mallory", "bob", 1))), event), 401},
		{"events: stale timestamp", events(s.EventHeaders("evt_stale", now.Add(-10*time.Minute), event), event), 401},
		{"events: future timestamp", events(s.EventHeaders("evt_future", now.Add(10*time.Minute), event), event), 401},
		{"events: oversize body", signedEvent(append(append([]byte(`{"type":"unread.refresh","account":"`), bytes.Repeat([]byte("a"), 300<<10)...), `"}`...)), 413},
		{"events: deeply nested JSON", signedEvent([]byte(`{"type":"unread.refresh","account":"a","peers":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`)), 400},
		{"events: invalid UTF-8", signedEvent([]byte(`{"type":"conversation.read","account":"a\xff","peer":"b"}`)), 400},
		{"events: more than 100 events", signedEvent(many(101, func(i int) Event { return ConversationRead("a", "b", int64(i+1)) })), 400},
		{"events: more than 100 peers", signedEvent(EventsBody(UnreadRefresh("alice", peers...))), 400},
		{"events: more than 100 msg_keys", signedEvent(EventsBody(MessagesRead("alice", "bob", keys...))), 400},
		{"events: unknown field", signedEvent([]byte(`{"type":"conversation.read","account":"a","peer":"b","` + marker + `":1}`)), 400},
		{"events: unknown type", signedEvent([]byte(`{"type":"conversation.delete","account":"a","peer":"b"}`)), 400},
		{"events: account over 32 bytes", signedEvent(EventsBody(ConversationRead(strings.Repeat("x", 33), "bob", 0))), 400},
		{"events: one bad event in a batch", signedEvent(EventsBody(ConversationRead("a", "b", 1), ConversationRead("", "b", 1))), 400},

		{"unread API: no credentials", get("/v1/users/alice/unread", nil), 401},
		{"unread API: wrong key", get("/v1/users/alice/unread", bearer(h.Secrets.APIKey+"x")), 401},
		{"unread API: key as basic auth", get("/v1/users/alice/unread", basic("", h.Secrets.APIKey)), 401},
		{"unread API: right key, unknown user", get("/v1/users/alice/unread", bearer(h.Secrets.APIKey)), 404},
		{"public listener: no monitoring", get("/monitoring/api/queues", basic(h.Secrets.MonitoringUser, h.Secrets.MonitoringPassword)), 404},
		{"public listener: no metrics", get("/metrics", nil), 404},
		{"monitoring: no credentials", adminGet("/monitoring/", nil), 401},
		{"monitoring: no credentials, no slash", adminGet("/monitoring", nil), 401},
		{"monitoring API: no credentials", adminGet("/monitoring/api/queues", nil), 401},
		{"monitoring: wrong password", adminGet("/monitoring/", basic(h.Secrets.MonitoringUser, h.Secrets.MonitoringPassword+"x")), 401},
		{"monitoring: API key instead", adminGet("/monitoring/api/queues", bearer(h.Secrets.APIKey)), 401},
		{"monitoring: right credentials", adminGet("/monitoring/api/queues", basic(h.Secrets.MonitoringUser, h.Secrets.MonitoringPassword)), 200},
		{"monitoring: read-only, no pausing a queue", func() Reply {
			return admin.Do(ctx, http.MethodPost, "/monitoring/api/queues/chat_read:pause", basic(h.Secrets.MonitoringUser, h.Secrets.MonitoringPassword), nil)
		}, 405},
		{"monitoring: read-only, no deleting a queue", func() Reply {
			return admin.Do(ctx, http.MethodDelete, "/monitoring/api/queues/chat_read", basic(h.Secrets.MonitoringUser, h.Secrets.MonitoringPassword), nil)
		}, 405},
	}
	for _, tt := range tests {
		before := mustQueues(t, h)
		r := tt.do()
		mustStatus(t, tt.name, r, tt.want)
		if after := mustQueues(t, h); after.All() != before.All() {
			t.Errorf("%s: tasks in Redis went from %d to %d", tt.name, before.All(), after.All())
		}
	}

	// The checks above would see an enqueue: a valid callback and a valid
	// event each add one task.
	for _, tt := range []struct {
		name string
		do   func() Reply
		want int
	}{
		{"valid callback", signed(valid), 200},
		{"valid event", signedEvent(event), 202},
	} {
		before := mustQueues(t, h)
		mustStatus(t, tt.name, tt.do(), tt.want)
		if after := mustQueues(t, h); after.All() != before.All()+1 {
			t.Errorf("%s: tasks in Redis went from %d to %d, want one more", tt.name, before.All(), after.All())
		}
	}
}

// TestReplayIsIdempotent: a replayed delivery — the same webhook-id again,
// as is or with another (validly signed) body, or the same callback twice —
// is acknowledged and enqueues nothing new.
func TestReplayIsIdempotent(t *testing.T) {
	t.Parallel()
	h := New(t, Config{Binary: binary(t), Workers: -1})
	ctx := context.Background()
	s := h.Sender

	body := EventsBody(ConversationRead("alice", "bob", 1700000000), MessagesRead("alice", "bob", "1_2_3"))
	hdr := s.EventHeaders("evt_replay", time.Now(), body)
	first := s.Do(ctx, http.MethodPost, "/v1/events", hdr, body)
	mustStatus(t, "first delivery", first, http.StatusAccepted)
	q1 := mustQueues(t, h)
	if q1.All() != 2 {
		t.Fatalf("first delivery: %d tasks, want 2", q1.All())
	}
	replay := s.Do(ctx, http.MethodPost, "/v1/events", hdr, body)
	mustStatus(t, "replay", replay, http.StatusAccepted)
	if string(replay.Body) != string(first.Body) {
		t.Errorf("replay answered %s, first delivery %s; want the same task IDs", replay.Body, first.Body)
	}
	other := EventsBody(ConversationRead("alice", "carol", 1700000001), MessagesRead("alice", "bob", "9_9_9"))
	mustStatus(t, "same webhook-id, another body", s.Events(ctx, "evt_replay", other), http.StatusAccepted)

	msg := Message{From: "alice", To: "bob", Seq: 1, Random: 2, Time: time.Now().Unix(), Key: "1_2_3", Text: h.Secrets.BodyMarker}
	cb := AfterSendMsgBody(msg, nil)
	for i := range 3 {
		if r := s.Callback(ctx, chatapi.CommandAfterSendMsg, cb); !r.ChatOK() {
			t.Errorf("callback delivery %d: %s", i+1, r)
		}
	}
	if q := mustQueues(t, h); q.All() != 3 {
		t.Errorf("after the replays: %d tasks, want 3 (2 events, 1 callback)", q.All())
	}
}

// TestUnreadRefreshManyPeers: an unread.refresh for more than 10 peers is
// accepted and measured 10 peers to a get_c2c_unread_msg_num call (Chat's
// limit, which would otherwise answer 90001 and archive the task).
func TestUnreadRefreshManyPeers(t *testing.T) {
	t.Parallel()
	const n = 25
	peers := make([]string, n)
	accounts := []string{"reader"}
	for i := range peers {
		peers[i] = User("peer", i)
		accounts = append(accounts, peers[i])
	}
	h := New(t, Config{Binary: binary(t), Workers: 1, Accounts: accounts})
	ctx := context.Background()
	for i, p := range peers {
		if _, err := h.SendMessages(ctx, p, "reader", i%3+1); err != nil {
			t.Fatal(err)
		}
	}
	mustStatus(t, "unread.refresh", h.Sender.Events(ctx, "evt_peers", EventsBody(UnreadRefresh("reader", peers...))), http.StatusAccepted)
	if err := h.WaitUnread(ctx, map[string][]string{"reader": peers}, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	calls := h.Emulator.Requests(chatapi.APIUnread)
	for _, r := range calls {
		var b struct{ Peer_Account []string }
		if err := json.Unmarshal(r.Body, &b); err != nil || len(b.Peer_Account) > 10 || r.ErrorCode != 0 {
			t.Errorf("get_c2c_unread_msg_num with %d peers answered %d", len(b.Peer_Account), r.ErrorCode)
		}
	}
	t.Logf("%d peers measured in %d calls", n, len(calls))
}

// mustQueues returns the task counts or fails t.
func mustQueues(t *testing.T, h *Harness) QueueCounts {
	t.Helper()
	q, err := h.Queues()
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// forgedSignature returns a well-formed but random Standard Webhooks
// signature.
func forgedSignature() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}
