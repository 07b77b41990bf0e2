package emulator_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/chatsync/chatsync/chatapi"
	"github.com/chatsync/chatsync/chatapi/emulator"
)

// received is one callback as a receiver saw it.
type received struct {
	method string
	query  url.Values
	body   map[string]any
}

// receiver is a callback target that records what it gets.
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []received
	status int // answer status; 0 = 200 with ActionStatus OK
}

func newReceiver(tb testing.TB) *receiver {
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		var body map[string]any
		_ = json.Unmarshal(b, &body)
		r.mu.Lock()
		r.got = append(r.got, received{req.Method, req.URL.Query(), body})
		status := r.status
		r.mu.Unlock()
		if status != 0 {
			http.Error(w, "boom", status)
			return
		}
		fmt.Fprint(w, `{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}`)
	}))
	tb.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) take() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	got := r.got
	r.got = nil
	return got
}

func waitCallbacks(tb testing.TB, h *harness) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.emu.WaitCallbacks(ctx); err != nil {
		tb.Fatalf("WaitCallbacks: %v", err)
	}
}

func TestCallbacks(t *testing.T) {
	rcv := newReceiver(t)
	h := setup(t, func(c *emulator.Config) {
		c.CallbackURL = rcv.srv.URL + "/callback?app=x"
		c.CallbackToken = "xxxxyyyy"
	})
	h.emu.ImportAccounts("jared", "Jonh")
	now := t0.Unix()
	nowMS := t0.UnixMilli()
	key := fmt.Sprintf("48374_2837546_%d", now)

	steps := []struct {
		api, body, command, want string
	}{
		{
			"openim/sendmsg",
			`{"From_Account":"jared","To_Account":"Jonh","MsgSeq":48374,"MsgRandom":2837546,
			  "MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"red packet"}}],"CloudCustomData":"your cloud custom data"}`,
			chatapi.CommandAfterSendMsg,
			fmt.Sprintf(`{"CallbackCommand":"C2C.CallbackAfterSendMsg","From_Account":"jared","To_Account":"Jonh",
			  "MsgSeq":48374,"MsgRandom":2837546,"MsgTime":%d,"MsgKey":%q,"MsgId":"144115200000000001-%[1]d-2837546",
			  "OnlineOnlyFlag":0,"SendMsgResult":0,"ErrorInfo":"send msg succeed","UnreadMsgNum":1,
			  "MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"red packet"}}],"CloudCustomData":"your cloud custom data"}`, now, key),
		},
		{
			"openim/c2c_msg_read_receipt",
			fmt.Sprintf(`{"Operator_Account":"Jonh","Peer_Account":"jared","C2CMsgInfo":[{"From_Account":"jared","To_Account":"Jonh","MsgKey":%q}]}`, key),
			chatapi.CommandAfterMsgReadReceipt,
			fmt.Sprintf(`{"CallbackCommand":"C2C.CallbackAfterMsgReadReceipt","Operator_Account":"Jonh","Peer_Account":"jared",
			  "C2CMsgInfo":[{"From_Account":"jared","To_Account":"Jonh","MsgKey":%q,"MsgId":"144115200000000001-%d-2837546"}],
			  "EventTime":%d}`, key, now, nowMS),
		},
		{
			"openim/admin_set_msg_read",
			`{"Report_Account":"Jonh","Peer_Account":"jared"}`,
			chatapi.CommandAfterMsgReport,
			fmt.Sprintf(`{"CallbackCommand":"C2C.CallbackAfterMsgReport","Report_Account":"Jonh","Peer_Account":"jared",
			  "LastReadTime":%d,"EventTime":%d,"UnreadMsgNum":0}`, now, nowMS),
		},
		{
			"openim/admin_msgwithdraw",
			fmt.Sprintf(`{"From_Account":"jared","To_Account":"Jonh","MsgKey":%q}`, key),
			chatapi.CommandAfterMsgWithDraw,
			fmt.Sprintf(`{"CallbackCommand":"C2C.CallbackAfterMsgWithDraw","From_Account":"jared","To_Account":"Jonh",
			  "MsgKey":%q,"EventTime":%d,"UnreadMsgNum":0}`, key, nowMS),
		},
	}
	for _, st := range steps {
		h.ok(st.api, st.body)
		waitCallbacks(t, h)
		got := rcv.take()
		if len(got) != 1 {
			t.Fatalf("%s: %d callbacks, want 1", st.api, len(got))
		}
		cb := got[0]
		if cb.method != http.MethodPost {
			t.Errorf("%s: method %s", st.command, cb.method)
		}
		wantQuery := url.Values{
			"app": {"x"}, "SdkAppid": {fmt.Sprint(testAppID)}, "CallbackCommand": {st.command},
			"contenttype": {"json"}, "ClientIP": {"127.0.0.1"}, "OptPlatform": {"RESTAPI"},
			"RequestTime": {fmt.Sprint(now)}, "Sign": {chatapi.CallbackSign("xxxxyyyy", now)},
		}
		if diff := cmp.Diff(wantQuery, cb.query); diff != "" {
			t.Errorf("%s query (-want +got):\n%s", st.command, diff)
		}
		if diff := cmp.Diff(decode(t, st.want), cb.body); diff != "" {
			t.Errorf("%s body (-want +got):\n%s", st.command, diff)
		}
	}

	// ForbidAfterSendMsgCallback sends nothing.
	h.ok("openim/sendmsg", `{"From_Account":"jared","To_Account":"Jonh","MsgRandom":5,"ForbidCallbackControl":["ForbidAfterSendMsgCallback"],
		"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"quiet"}}]}`)
	waitCallbacks(t, h)
	if got := rcv.take(); len(got) != 0 {
		t.Errorf("forbidden callback sent: %+v", got)
	}
	want := map[string]emulator.CallbackStats{
		chatapi.CommandAfterSendMsg: {Sent: 1}, chatapi.CommandAfterMsgReadReceipt: {Sent: 1},
		chatapi.CommandAfterMsgReport: {Sent: 1}, chatapi.CommandAfterMsgWithDraw: {Sent: 1},
	}
	if diff := cmp.Diff(want, h.emu.Stats().Callbacks); diff != "" {
		t.Errorf("callback stats (-want +got):\n%s", diff)
	}
}

func TestCallbackFailures(t *testing.T) {
	rcv := newReceiver(t)
	rcv.status = http.StatusInternalServerError
	h := setup(t, func(c *emulator.Config) {
		c.CallbackURL = rcv.srv.URL
		c.CallbackTimeout = time.Second
	})
	h.emu.ImportAccounts("a", "b")
	h.ok("openim/sendmsg", sendBody)
	waitCallbacks(t, h)

	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	h.emu.SetCallbackURL(down.URL)
	h.ok("openim/admin_set_msg_read", `{"Report_Account":"b","Peer_Account":"a"}`)
	waitCallbacks(t, h)

	// Not JSON, and a FAIL answer.
	notJSON := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "ok") }))
	defer notJSON.Close()
	h.emu.SetCallbackURL(notJSON.URL)
	h.ok("openim/sendmsg", sendBody)
	waitCallbacks(t, h)
	failJSON := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `{"ActionStatus":"FAIL","ErrorInfo":"no","ErrorCode":1}`)
	}))
	defer failJSON.Close()
	h.emu.SetCallbackURL(failJSON.URL)
	h.ok("openim/sendmsg", sendBody)
	waitCallbacks(t, h)

	// No URL: nothing is sent or counted.
	h.emu.SetCallbackURL("")
	h.ok("openim/sendmsg", sendBody)
	waitCallbacks(t, h)

	want := map[string]emulator.CallbackStats{
		chatapi.CommandAfterSendMsg:   {Sent: 3, Failed: 3},
		chatapi.CommandAfterMsgReport: {Sent: 1, Failed: 1},
	}
	if diff := cmp.Diff(want, h.emu.Stats().Callbacks); diff != "" {
		t.Errorf("callback stats (-want +got):\n%s", diff)
	}
	if len(rcv.take()) != 1 {
		t.Error("the 500 receiver should have been called once (no retries)")
	}
}

// TestCallbackOrderAndClose checks that one conversation's callbacks arrive in order and that
// Close waits for them.
func TestCallbackOrderAndClose(t *testing.T) {
	rcv := newReceiver(t)
	h := setup(t, func(c *emulator.Config) { c.CallbackURL = rcv.srv.URL })
	h.emu.ImportAccounts("a", "b")
	const n = 40
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { h.send("a", "b", i, "") })
	}
	wg.Wait()
	h.emu.Close()
	got := rcv.take()
	if len(got) != n {
		t.Fatalf("%d callbacks after Close, want %d", len(got), n)
	}
	for i, cb := range got {
		if cb.body["UnreadMsgNum"] != float64(i+1) {
			t.Fatalf("callback %d: UnreadMsgNum %v, want %d", i, cb.body["UnreadMsgNum"], i+1)
		}
	}
	h.send("a", "b", 99, "")
	waitCallbacks(t, h)
	if len(rcv.take()) != 0 {
		t.Error("a callback was sent after Close")
	}
}

func TestWaitCallbacksContext(t *testing.T) {
	block := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { <-block }))
	defer slow.Close()
	defer close(block)
	h := setup(t, func(c *emulator.Config) { c.CallbackURL = slow.URL })
	h.emu.ImportAccounts("a", "b")
	h.ok("openim/sendmsg", sendBody)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := h.emu.WaitCallbacks(ctx); err != context.DeadlineExceeded {
		t.Errorf("WaitCallbacks = %v, want DeadlineExceeded", err)
	}
}
