package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/chatsync/chatsync/chatapi/emulator"
)

const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" // Standard Webhooks' example secret

func TestCallbackSign(t *testing.T) {
	// The official vector (tencent-chat.md §5.1).
	const want = "17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061"
	if got := CallbackSign("xxxxyyyy", 1669872112); got != want {
		t.Errorf("CallbackSign = %s, want %s", got, want)
	}
	// And the emulator, which plays Chat, agrees.
	if got, want := CallbackSign("tok", 1700000000), emulator.CallbackSign("tok", 1700000000); got != want {
		t.Errorf("CallbackSign = %s, emulator says %s", got, want)
	}
}

func TestCallbackURL(t *testing.T) {
	s, err := NewSigner("http://127.0.0.1:8080", 1400000000, "tok", "")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1700000000, 0)
	for range 2 { // the second call uses the cached Sign
		u, err := url.Parse(s.CallbackURL(cmdAfterSendMsg, now))
		if err != nil {
			t.Fatal(err)
		}
		want := url.Values{
			"SdkAppid": {"1400000000"}, "CallbackCommand": {cmdAfterSendMsg}, "contenttype": {"json"},
			"ClientIP": {"127.0.0.1"}, "OptPlatform": {"RESTAPI"},
			"Sign": {CallbackSign("tok", 1700000000)}, "RequestTime": {"1700000000"},
		}
		if diff := cmp.Diff(want, u.Query()); diff != "" {
			t.Errorf("query (-want +got):\n%s", diff)
		}
		if u.Path != "/callback" || u.Host != "127.0.0.1:8080" {
			t.Errorf("URL %s, want http://127.0.0.1:8080/callback?…", u)
		}
	}
	if u := s.CallbackURL(cmdAfterSendMsg, now.Add(time.Second)); !strings.Contains(u, "Sign="+CallbackSign("tok", 1700000001)) {
		t.Errorf("a second later the URL %s keeps the old Sign", u)
	}
	insecure, _ := NewSigner("http://127.0.0.1:8080", 1, "", "")
	if u := insecure.CallbackURL(cmdAfterSendMsg, now); strings.Contains(u, "Sign=") {
		t.Errorf("without a token the URL %s has a Sign", u)
	}
}

func TestEventHeaders(t *testing.T) {
	s, err := NewSigner("http://127.0.0.1:8080", 1, "", testSecret)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"type":"unread.refresh","account":"a"}`)
	h := http.Header{}
	if err := s.EventHeaders(h, "msg_1", body, time.Now()); err != nil {
		t.Fatal(err)
	}
	wh, err := standardwebhooks.NewWebhook(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(body, h); err != nil {
		t.Errorf("Verify: %v", err)
	}
	if h.Get("webhook-id") != "msg_1" {
		t.Errorf("webhook-id = %q, want msg_1", h.Get("webhook-id"))
	}
	if err := wh.Verify([]byte(`{"type":"unread.refresh","account":"b"}`), h); err == nil {
		t.Error("Verify accepted another body")
	}
	none, _ := NewSigner("http://127.0.0.1:8080", 1, "", "")
	if err := none.EventHeaders(http.Header{}, "msg_1", body, time.Now()); err == nil {
		t.Error("EventHeaders without a secret: no error")
	}
	if _, err := NewSigner("http://127.0.0.1:8080", 1, "", "whsec_!!!"); err == nil {
		t.Error("NewSigner accepted a secret that is not base64")
	}
}

func TestBody(t *testing.T) {
	r := Request{From: "u000001", To: "u000002", MsgSeq: 7, MsgRandom: 9, MsgTime: 1700000000,
		MsgKey: "7_9_1700000000", UnreadMsgNum: 3, EventTime: 1700000000123, ID: "msg_x",
		Peers: []string{"u000001"}, MsgKeys: []string{"1_2_3"}}
	tests := []struct {
		kind    Kind
		command string
		want    map[string]any
	}{
		{KindSendMsg, cmdAfterSendMsg, map[string]any{
			"CallbackCommand": cmdAfterSendMsg, "From_Account": "u000001", "To_Account": "u000002",
			"MsgSeq": 7.0, "MsgRandom": 9.0, "MsgTime": 1700000000.0, "MsgKey": "7_9_1700000000",
			"OnlineOnlyFlag": 0.0, "SendMsgResult": 0.0, "ErrorInfo": "send msg succeed", "UnreadMsgNum": 3.0,
			"MsgBody": []any{map[string]any{"MsgType": "TIMTextElem", "MsgContent": map[string]any{"Text": text}}},
		}},
		{KindMsgReport, cmdAfterMsgReport, map[string]any{
			"CallbackCommand": cmdAfterMsgReport, "Report_Account": "u000002", "Peer_Account": "u000001",
			"LastReadTime": 1700000000.0, "EventTime": 1700000000123.0, "UnreadMsgNum": 3.0,
		}},
		{KindOther, "C2C.CallbackBeforeSendMsg", map[string]any{
			"CallbackCommand": "C2C.CallbackBeforeSendMsg", "From_Account": "u000001", "To_Account": "u000002",
			"MsgSeq": 7.0, "MsgRandom": 9.0, "MsgTime": 1700000000.0, "MsgKey": "7_9_1700000000", "OnlineOnlyFlag": 0.0,
			"MsgBody": []any{map[string]any{"MsgType": "TIMTextElem", "MsgContent": map[string]any{"Text": text}}},
		}},
		{KindOther, "State.StateChange", map[string]any{
			"CallbackCommand": "State.StateChange", "EventTime": 1700000000123.0,
			"Info": map[string]any{"Action": "Login", "To_Account": "u000002", "Reason": "Register"},
		}},
		{KindOther, "C2C.CallbackAfterMsgReadReceipt", map[string]any{
			"CallbackCommand": "C2C.CallbackAfterMsgReadReceipt", "Operator_Account": "u000002", "Peer_Account": "u000001",
			"C2CMsgInfo": []any{map[string]any{"From_Account": "u000001", "To_Account": "u000002", "MsgKey": "7_9_1700000000"}},
			"EventTime":  1700000000123.0,
		}},
		{KindConversationRead, "", map[string]any{"type": "conversation.read", "account": "u000002", "peer": "u000001", "read_time": 1700000000.0}},
		{KindMessagesRead, "", map[string]any{"type": "messages.read", "account": "u000002", "peer": "u000001", "msg_keys": []any{"1_2_3"}}},
		{KindUnreadRefresh, "", map[string]any{"type": "unread.refresh", "account": "u000002", "peers": []any{"u000001"}}},
	}
	for _, tt := range tests {
		t.Run(tt.kind.String()+" "+tt.command, func(t *testing.T) {
			r := r
			r.Kind, r.Command = tt.kind, tt.command
			b, err := r.Body()
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]any
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
		})
	}
}

// Every generated body is valid JSON whose CallbackCommand repeats the
// query's, as Chat's always does.
func TestBodyCommandMatches(t *testing.T) {
	g, err := NewGenerator(Mix{Events: 0.2, AutoRead: 0.1, AutoReadAccounts: []string{"bot"}}, 3, new(atomic.Uint32), nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 2000 {
		r := g.Next()
		b, err := r.Body()
		if err != nil {
			t.Fatal(err)
		}
		var v struct{ CallbackCommand, Type string }
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("%v body %s: %v", r.Kind, b, err)
		}
		if r.Kind.IsEvent() && v.Type == "" || !r.Kind.IsEvent() && v.CallbackCommand != r.Command {
			t.Fatalf("%v body %s does not match command %q", r.Kind, b, r.Command)
		}
	}
}
