package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/chatsync/chatsync/chatapi/emulator"
)

const (
	testAppID  = 1400000000
	testToken  = "token-for-tests"
	testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" // Standard Webhooks' example secret
)

func TestCallbackSign(t *testing.T) {
	// The official vector (tencent-chat.md §5.1), and the emulator, which plays Chat, agrees.
	if got, want := callbackSign("xxxxyyyy", 1669872112), "17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061"; got != want {
		t.Errorf("callbackSign = %s, want %s", got, want)
	}
	if got, want := callbackSign("tok", 1700000000), emulator.CallbackSign("tok", 1700000000); got != want {
		t.Errorf("callbackSign = %s, emulator says %s", got, want)
	}
}

func TestSigner(t *testing.T) {
	s, err := newSigner("http://127.0.0.1:8080", testAppID, "tok", testSecret)
	if err != nil {
		t.Fatal(err)
	}
	for _, sec := range []int64{1700000000, 1700000000, 1700000001} { // the second from the cache
		u, err := url.Parse(s.callbackURL(cmdAfterSendMsg, time.Unix(sec, 0)))
		if err != nil {
			t.Fatal(err)
		}
		want := url.Values{"SdkAppid": {"1400000000"}, "CallbackCommand": {cmdAfterSendMsg}, "contenttype": {"json"},
			"ClientIP": {"127.0.0.1"}, "OptPlatform": {"RESTAPI"}, "Sign": {callbackSign("tok", sec)},
			"RequestTime": {strconv.FormatInt(sec, 10)}}
		if diff := cmp.Diff(want, u.Query()); diff != "" || u.Path != "/callback" {
			t.Errorf("query at %d (-want +got):\n%s", sec, diff)
		}
	}
	body, h := []byte(`{"type":"unread.refresh","account":"a"}`), http.Header{}
	if err := s.signEvent(h, "msg_1", body, time.Now()); err != nil {
		t.Fatal(err)
	}
	wh, _ := standardwebhooks.NewWebhook(testSecret)
	if err := wh.Verify(body, h); err != nil || h.Get("webhook-id") != "msg_1" {
		t.Errorf("Verify: %v, webhook-id %q", err, h.Get("webhook-id"))
	}
	if _, err := newSigner("http://127.0.0.1:8080", 1, "", "whsec_!!!"); err == nil {
		t.Error("newSigner accepted a secret that is not base64")
	}
}

func TestBody(t *testing.T) {
	r := request{from: "u000001", to: "u000002", msgSeq: 7, msgRandom: 9, msgTime: 1700000000, msgKey: "7_9_1700000000",
		unread: 3, eventTime: 1700000000123, peers: []string{"u000001"}, msgKeys: []string{"1_2_3"}}
	msgBody := []any{map[string]any{"MsgType": "TIMTextElem", "MsgContent": map[string]any{"Text": text}}}
	tests := []struct {
		kind    kind
		command string
		want    map[string]any
	}{
		{kindSendMsg, cmdAfterSendMsg, map[string]any{"CallbackCommand": cmdAfterSendMsg, "From_Account": "u000001",
			"To_Account": "u000002", "MsgSeq": 7.0, "MsgRandom": 9.0, "MsgTime": 1700000000.0, "MsgKey": "7_9_1700000000",
			"OnlineOnlyFlag": 0.0, "SendMsgResult": 0.0, "ErrorInfo": "send msg succeed", "UnreadMsgNum": 3.0, "MsgBody": msgBody}},
		{kindMsgReport, cmdAfterMsgReport, map[string]any{"CallbackCommand": cmdAfterMsgReport, "Report_Account": "u000002",
			"Peer_Account": "u000001", "LastReadTime": 1700000000.0, "EventTime": 1700000000123.0, "UnreadMsgNum": 3.0}},
		{kindOther, "C2C.CallbackBeforeSendMsg", map[string]any{"CallbackCommand": "C2C.CallbackBeforeSendMsg",
			"From_Account": "u000001", "To_Account": "u000002", "MsgSeq": 7.0, "MsgRandom": 9.0, "MsgTime": 1700000000.0,
			"MsgKey": "7_9_1700000000", "OnlineOnlyFlag": 0.0, "MsgBody": msgBody}},
		{kindOther, "State.StateChange", map[string]any{"CallbackCommand": "State.StateChange", "EventTime": 1700000000123.0,
			"Info": map[string]any{"Action": "Login", "To_Account": "u000002", "Reason": "Register"}}},
		{kindOther, "C2C.CallbackAfterMsgReadReceipt", map[string]any{"CallbackCommand": "C2C.CallbackAfterMsgReadReceipt",
			"Operator_Account": "u000002", "Peer_Account": "u000001", "EventTime": 1700000000123.0,
			"C2CMsgInfo": []any{map[string]any{"From_Account": "u000001", "To_Account": "u000002", "MsgKey": "7_9_1700000000"}}}},
		{kindConversationRead, "", map[string]any{"type": "conversation.read", "account": "u000002", "peer": "u000001", "read_time": 1700000000.0}},
		{kindMessagesRead, "", map[string]any{"type": "messages.read", "account": "u000002", "peer": "u000001", "msg_keys": []any{"1_2_3"}}},
		{kindUnreadRefresh, "", map[string]any{"type": "unread.refresh", "account": "u000002", "peers": []any{"u000001"}}},
	}
	for _, tt := range tests {
		t.Run(tt.kind.String()+" "+tt.command, func(t *testing.T) {
			r.kind, r.command = tt.kind, tt.command
			b, err := r.body()
			var got map[string]any
			if err == nil {
				err = json.Unmarshal(b, &got)
			}
			if diff := cmp.Diff(tt.want, got); err != nil || diff != "" {
				t.Errorf("body: %v (-want +got):\n%s", err, diff)
			}
		})
	}
}
