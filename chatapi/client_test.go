package chatapi_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/chatsync/chatsync/chatapi"
	"github.com/chatsync/chatsync/chatapi/emulator"
)

const (
	appID  = 1400000001
	secret = "test-secret-key-0123456789abcdef"
	admin  = "administrator"
)

// recorder is an http.RoundTripper that remembers the URLs it sent.
type recorder struct {
	mu   sync.Mutex
	urls []*url.URL
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.urls = append(r.urls, req.URL)
	r.mu.Unlock()
	return http.DefaultTransport.RoundTrip(req)
}

type fixture struct {
	emu    *emulator.Emulator
	srv    *httptest.Server
	client *chatapi.Client
	sent   *recorder
}

func setup(t *testing.T, users ...string) *fixture {
	t.Helper()
	emu, err := emulator.New(emulator.Config{SDKAppID: appID, SecretKey: secret, RateLimit: -1})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu.Handler())
	t.Cleanup(func() { srv.Close(); emu.Close() })
	emu.ImportAccounts(users...)
	rec := &recorder{}
	client, err := chatapi.New(chatapi.Config{
		SDKAppID: appID, SecretKey: secret, Admin: admin, BaseURL: srv.URL,
		HTTPClient: &http.Client{Transport: rec, Timeout: 2 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{emu: emu, srv: srv, client: client, sent: rec}
}

func (f *fixture) calls(api string) int64 { return f.emu.Stats().APIs[api].Calls }

func (f *fixture) send(t *testing.T, from, to string) chatapi.SentMsg {
	t.Helper()
	m, err := f.client.SendMsg(context.Background(), chatapi.SendMsgRequest{
		FromAccount: from, ToAccount: to, MsgBody: []chatapi.MsgElem{chatapi.TextElem("hi")},
	})
	if err != nil {
		t.Fatalf("SendMsg %s->%s: %v", from, to, err)
	}
	return m
}

func TestRequestShape(t *testing.T) {
	f := setup(t, "a", "b")
	ctx := context.Background()
	for range 3 {
		if err := f.client.SetMsgRead(ctx, chatapi.SetMsgReadRequest{ReportAccount: "a", PeerAccount: "b"}); err != nil {
			t.Fatal(err)
		}
	}
	randoms := map[string]bool{}
	for _, u := range f.sent.urls {
		q := u.Query()
		if u.Path != "/v4/openim/admin_set_msg_read" {
			t.Errorf("path %q", u.Path)
		}
		for k, want := range map[string]string{"sdkappid": strconv.Itoa(appID), "identifier": admin, "contenttype": "json"} {
			if got := q.Get(k); got != want {
				t.Errorf("query %s = %q, want %q", k, got, want)
			}
		}
		if q.Get("usersig") == "" {
			t.Error("no usersig")
		}
		if _, err := strconv.ParseUint(q.Get("random"), 10, 32); err != nil {
			t.Errorf("random %q is not a uint32", q.Get("random"))
		}
		randoms[q.Get("random")] = true
	}
	if len(randoms) != 3 {
		t.Errorf("random repeated across calls: %v", randoms)
	}
	reqs := f.emu.Requests(chatapi.APISetMsgRead)
	if want := `{"Report_Account":"a","Peer_Account":"b"}`; string(reqs[0].Body) != want {
		t.Errorf("body %s, want %s", reqs[0].Body, want)
	}
}

func TestReadStateFlow(t *testing.T) {
	f := setup(t, "reader", "writer", "other")
	ctx := context.Background()
	m1 := f.send(t, "writer", "reader")
	f.send(t, "writer", "reader")
	f.send(t, "other", "reader")

	u, err := f.client.GetUnread(ctx, "reader")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&chatapi.Unread{Total: 3, HasTotal: true}, u); diff != "" {
		t.Errorf("total (-want +got):\n%s", diff)
	}
	u, err = f.client.GetUnread(ctx, "reader", "writer", "other", "ghost", "writer")
	if err != nil {
		t.Fatal(err)
	}
	want := &chatapi.Unread{Peers: map[string]int{"writer": 2, "other": 1}, PeerErrors: map[string]int{"ghost": 70107}}
	if diff := cmp.Diff(want, u); diff != "" {
		t.Errorf("per peer (-want +got):\n%s", diff)
	}

	if err := f.client.SendReadReceipt(ctx, chatapi.ReadReceiptRequest{OperatorAccount: "reader", PeerAccount: "writer",
		Messages: []chatapi.MsgRef{{FromAccount: "writer", ToAccount: "reader", MsgKey: m1.MsgKey}}}); err != nil {
		t.Fatal(err)
	}
	page, err := f.client.GetRoamMsg(ctx, chatapi.RoamMsgRequest{OperatorAccount: "reader", PeerAccount: "writer",
		MaxCnt: 10, MinTime: m1.MsgTime - 10, MaxTime: m1.MsgTime + 10})
	if err != nil {
		t.Fatal(err)
	}
	read := map[string]int{}
	for _, m := range page.MsgList {
		read[m.MsgKey] = m.IsPeerRead
	}
	if len(read) != 2 || read[m1.MsgKey] != 1 {
		t.Errorf("IsPeerRead by MsgKey = %v, want 2 messages with %s read", read, m1.MsgKey)
	}

	if err := f.client.SetMsgRead(ctx, chatapi.SetMsgReadRequest{ReportAccount: "reader", PeerAccount: "writer"}); err != nil {
		t.Fatal(err)
	}
	if u, err = f.client.GetUnread(ctx, "reader", "writer"); err != nil {
		t.Fatal(err)
	}
	if got := u.Peers["writer"]; got != 0 {
		t.Errorf("unread with writer after set-read = %d, want 0", got)
	}
	if total, _ := f.emu.Unread("reader"); total != 1 {
		t.Errorf("emulator total after set-read = %d, want 1", total)
	}
}

func TestGetUnreadSplitsPeersByTen(t *testing.T) {
	var peers []string
	for i := range 25 {
		peers = append(peers, fmt.Sprintf("p%02d", i))
	}
	f := setup(t, append([]string{"me"}, peers[:24]...)...) // p24 is unknown
	for _, p := range peers[:5] {
		f.send(t, p, "me")
	}
	u, err := f.client.GetUnread(context.Background(), "me", peers...)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.calls(chatapi.APIUnread); got != 3 {
		t.Errorf("%d calls for 25 peers, want 3", got)
	}
	if len(u.Peers) != 24 || u.Peers["p00"] != 1 || u.Peers["p10"] != 0 {
		t.Errorf("peers = %v", u.Peers)
	}
	if diff := cmp.Diff(map[string]int{"p24": 70107}, u.PeerErrors); diff != "" {
		t.Errorf("PeerErrors (-want +got):\n%s", diff)
	}
	for _, r := range f.emu.Requests(chatapi.APIUnread) {
		if n := strings.Count(string(r.Body), `"p`); n > chatapi.MaxUnreadPeers {
			t.Errorf("a call carried %d peers: %s", n, r.Body)
		}
	}
}

// TestErrorClasses drives every class of failure through the emulator.
func TestErrorClasses(t *testing.T) {
	tests := []struct {
		name      string
		api       string // default APISetMsgRead
		fault     *emulator.Fault
		call      func(*chatapi.Client) error
		class     chatapi.Class
		code      int
		status    int
		wantCalls int64
	}{
		{name: "ok", call: setRead("a", "b"), wantCalls: 1},
		{name: "20004", fault: &emulator.Fault{Codes: []int{20004}, Count: 1}, call: setRead("a", "b"), class: chatapi.Transient, code: 20004, status: 200, wantCalls: 1},
		{name: "20005", fault: &emulator.Fault{Codes: []int{20005}, Count: 1}, call: setRead("a", "b"), class: chatapi.Transient, code: 20005, status: 200, wantCalls: 1},
		{name: "91000", fault: &emulator.Fault{Codes: []int{91000}, Count: 1}, call: setRead("a", "b"), class: chatapi.Transient, code: 91000, status: 200, wantCalls: 1},
		{name: "http 502", fault: &emulator.Fault{HTTPStatus: 502, Count: 1}, call: setRead("a", "b"), class: chatapi.Transient, status: 502, wantCalls: 1},
		{name: "60007", fault: &emulator.Fault{Codes: []int{60007}, Count: 1}, call: setRead("a", "b"), class: chatapi.RateLimited, code: 60007, status: 200, wantCalls: 1},
		{name: "sig expired once", fault: &emulator.Fault{Codes: []int{70001}, Count: 1}, call: setRead("a", "b"), wantCalls: 2},
		{name: "sig invalidated twice", fault: &emulator.Fault{Codes: []int{70052}, Count: 2}, call: setRead("a", "b"), class: chatapi.SigExpired, code: 70052, status: 200, wantCalls: 2},
		{name: "unknown account", call: setRead("a", "nobody"), class: chatapi.Permanent, code: 90008, status: 200, wantCalls: 1},
		{name: "unknown msg key", api: chatapi.APIReadReceipt, call: receipt("a", "b", "1_2_3"), class: chatapi.Permanent, code: 20001, status: 200, wantCalls: 1},
		{name: "empty account, no call", call: setRead("", "b"), class: chatapi.Permanent, wantCalls: 0},
		{name: "33-byte account, no call", call: setRead("a", strings.Repeat("x", 33)), class: chatapi.Permanent, wantCalls: 0},
		{name: "no messages, no call", api: chatapi.APIReadReceipt, call: func(c *chatapi.Client) error {
			return c.SendReadReceipt(context.Background(), chatapi.ReadReceiptRequest{OperatorAccount: "a", PeerAccount: "b"})
		}, class: chatapi.Permanent, wantCalls: 0},
		{name: "from/to mismatch, no call", api: chatapi.APIReadReceipt, call: func(c *chatapi.Client) error {
			return c.SendReadReceipt(context.Background(), chatapi.ReadReceiptRequest{OperatorAccount: "a", PeerAccount: "b",
				Messages: []chatapi.MsgRef{{FromAccount: "a", ToAccount: "b", MsgKey: "1_2_3"}}})
		}, class: chatapi.Permanent, wantCalls: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t, "a", "b")
			api := tt.api
			if api == "" {
				api = chatapi.APISetMsgRead
			}
			if tt.fault != nil {
				f.emu.SetFault(api, *tt.fault)
			}
			err := tt.call(f.client)
			if got := f.calls(api); got != tt.wantCalls {
				t.Errorf("%d calls, want %d", got, tt.wantCalls)
			}
			if tt.name == "ok" || tt.name == "sig expired once" {
				if err != nil {
					t.Fatalf("err = %v, want success", err)
				}
				return
			}
			var ce *chatapi.Error
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v (%T), want *chatapi.Error", err, err)
			}
			if ce.Class() != tt.class || ce.Code != tt.code || ce.HTTPStatus != tt.status {
				t.Errorf("got class %v code %d status %d, want %v %d %d (%v)", ce.Class(), ce.Code, ce.HTTPStatus, tt.class, tt.code, tt.status, err)
			}
			if tt.wantCalls == 0 && !errors.Is(err, chatapi.ErrInvalidRequest) {
				t.Errorf("err = %v, want ErrInvalidRequest", err)
			}
		})
	}
}

func setRead(a, p string) func(*chatapi.Client) error {
	return func(c *chatapi.Client) error {
		return c.SetMsgRead(context.Background(), chatapi.SetMsgReadRequest{ReportAccount: a, PeerAccount: p})
	}
}

func receipt(a, p, key string) func(*chatapi.Client) error {
	return func(c *chatapi.Client) error {
		return c.SendReadReceipt(context.Background(), chatapi.ReadReceiptRequest{OperatorAccount: a, PeerAccount: p,
			Messages: []chatapi.MsgRef{{FromAccount: p, ToAccount: a, MsgKey: key}}})
	}
}

func TestTransportErrorsAreTransientAndRedacted(t *testing.T) {
	f := setup(t, "a", "b")
	f.emu.SetFault(chatapi.APISetMsgRead, emulator.Fault{Latency: time.Second, Count: 1, Codes: []int{20005}})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := f.client.SetMsgRead(ctx, chatapi.SetMsgReadRequest{ReportAccount: "a", PeerAccount: "b"})
	if chatapi.ClassOf(err) != chatapi.Transient || !chatapi.IsTimeout(err) {
		t.Errorf("timeout: err = %v, class %v, want a transient timeout", err, chatapi.ClassOf(err))
	}

	f.srv.Close() // nothing listens any more
	err = f.client.SetMsgRead(context.Background(), chatapi.SetMsgReadRequest{ReportAccount: "a", PeerAccount: "b"})
	if chatapi.ClassOf(err) != chatapi.Transient {
		t.Errorf("closed server: err = %v, class %v, want transient", err, chatapi.ClassOf(err))
	}
	sig := f.sent.urls[0].Query().Get("usersig")
	if strings.Contains(err.Error(), sig) || strings.Contains(err.Error(), "usersig") {
		t.Errorf("error text leaks the UserSig: %v", err)
	}
}

func TestConcurrentUse(t *testing.T) {
	f := setup(t, "a", "b", "c")
	m := f.send(t, "b", "a")
	var wg sync.WaitGroup
	errs := make(chan error, 300)
	for i := range 100 {
		wg.Add(3)
		go func() { defer wg.Done(); errs <- setRead("a", "b")(f.client) }()
		go func() { defer wg.Done(); errs <- receipt("a", "b", m.MsgKey)(f.client) }()
		go func() {
			defer wg.Done()
			_, err := f.client.GetUnread(context.Background(), "a", "b", "c", fmt.Sprint("c", i%2))
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := f.calls(chatapi.APIUnread); got != 100 {
		t.Errorf("%d unread calls, want 100", got)
	}
}

func TestAccounts(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	if err := f.client.ImportAccount(ctx, chatapi.Account{UserID: "new", Nick: "New"}); err != nil {
		t.Fatal(err)
	}
	if err := f.client.ImportAccount(ctx, chatapi.Account{UserID: "new"}); err != nil {
		t.Fatalf("re-import: %v", err)
	}
	got, err := f.client.CheckAccounts(ctx, "new", "absent")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !got[0].Imported() || got[1].Imported() {
		t.Errorf("CheckAccounts = %+v", got)
	}
	if _, err := f.client.CheckAccounts(ctx); !errors.Is(err, chatapi.ErrInvalidRequest) {
		t.Errorf("CheckAccounts() = %v, want ErrInvalidRequest", err)
	}
}

func TestBeforeCallGovernsEveryAttempt(t *testing.T) {
	f := setup(t, "a", "b")
	var mu sync.Mutex
	var seen []string
	errStop := errors.New("stop")
	stop := false
	c := f.client.WithBeforeCall(func(_ context.Context, api string) error {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, api)
		if stop {
			return errStop
		}
		return nil
	})
	f.emu.SetFault(chatapi.APISetMsgRead, emulator.Fault{Codes: []int{70001}, Count: 1})
	if err := setRead("a", "b")(c); err != nil {
		t.Fatalf("set read after one expired sig: %v", err)
	}
	if diff := cmp.Diff([]string{chatapi.APISetMsgRead, chatapi.APISetMsgRead}, seen); diff != "" {
		t.Errorf("hook calls (-want +got):\n%s", diff)
	}
	stop = true
	err := setRead("a", "b")(c)
	if !errors.Is(err, errStop) || chatapi.ClassOf(err) != chatapi.Transient {
		t.Errorf("hook failure: err = %v, class %v; want errStop, transient", err, chatapi.ClassOf(err))
	}
	if got := f.calls(chatapi.APISetMsgRead); got != 2 {
		t.Errorf("%d calls reached Chat, want 2 (none after the hook failed)", got)
	}
	if err := setRead("a", "b")(f.client); err != nil {
		t.Errorf("the original client runs no hook: %v", err)
	}
}
