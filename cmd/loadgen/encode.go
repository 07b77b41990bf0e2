package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/chatsync/chatsync/chatapi"
	"github.com/chatsync/chatsync/webhook"
)

// signer signs callbacks and app events for one chatsync; each worker has its own (it caches the Sign).
type signer struct {
	target   string // http://127.0.0.1:port, no trailing slash
	appID    string
	token    string
	events   *standardwebhooks.Webhook // nil: no app events
	signedAt int64
	sign     string
}

// newSigner returns a signer; secret is empty when no app events are sent.
func newSigner(target string, sdkAppID uint64, token, secret string) (*signer, error) {
	s := &signer{target: target, appID: strconv.FormatUint(sdkAppID, 10), token: token, signedAt: -1}
	if secret != "" {
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			return nil, fmt.Errorf("events secret: %w", err)
		}
		s.events = wh
	}
	return s, nil
}

// callbackURL returns the URL Chat would post a callback of command to at now.
func (s *signer) callbackURL(command string, now time.Time) string {
	u := s.target + "/callback?SdkAppid=" + s.appID + "&CallbackCommand=" + command +
		"&contenttype=json&ClientIP=127.0.0.1&OptPlatform=RESTAPI"
	if s.token == "" {
		return u
	}
	if rt := now.Unix(); rt != s.signedAt {
		s.signedAt, s.sign = rt, chatapi.CallbackSign(s.token, rt)
	}
	return u + "&Sign=" + s.sign + "&RequestTime=" + strconv.FormatInt(s.signedAt, 10)
}

// signEvent sets the Standard Webhooks headers of an app event body.
func (s *signer) signEvent(h http.Header, id string, body []byte, now time.Time) error {
	if s.events == nil {
		return fmt.Errorf("no events secret")
	}
	sig, err := s.events.Sign(id, now, body)
	if err != nil {
		return fmt.Errorf("sign event: %w", err)
	}
	h.Set(standardwebhooks.HeaderWebhookID, id)
	h.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(now.Unix(), 10))
	h.Set(standardwebhooks.HeaderWebhookSignature, sig)
	return nil
}

// text is the body of every generated message (short, like most chat); textBody is its MsgBody.
const (
	text     = "hello from loadgen"
	textBody = `[{"MsgType":"TIMTextElem","MsgContent":{"Text":"` + text + `"}}]`
)

// body returns the JSON body of r: a Chat callback or an app event.
func (r request) body() ([]byte, error) {
	var v any
	unread := int64(r.unread)
	switch r.kind {
	case kindSendMsg, kindSendAutoRead:
		v = chatapi.AfterSendMsg{CallbackCommand: r.command, FromAccount: r.from, ToAccount: r.to, MsgSeq: int64(r.msgSeq),
			MsgRandom: int64(r.msgRandom), MsgTime: r.msgTime, MsgKey: r.msgKey, ErrorInfo: "send msg succeed",
			UnreadMsgNum: &unread, MsgBody: json.RawMessage(textBody)}
	case kindMsgReport:
		v = chatapi.AfterMsgReport{CallbackCommand: r.command, ReportAccount: r.to, PeerAccount: r.from,
			LastReadTime: r.msgTime, EventTime: &r.eventTime, UnreadMsgNum: &unread}
	case kindOther: // chatsync reads only the CallbackCommand of these; all are sent as BeforeSendMsg
		v = chatapi.BeforeSendMsg{CallbackCommand: r.command, FromAccount: r.from, ToAccount: r.to, MsgSeq: int64(r.msgSeq),
			MsgRandom: int64(r.msgRandom), MsgTime: r.msgTime, MsgKey: r.msgKey, MsgBody: json.RawMessage(textBody)}
	case kindConversationRead:
		v = webhook.Event{Type: webhook.EventConversationRead, Account: r.to, Peer: r.from, ReadTime: r.msgTime}
	case kindMessagesRead:
		v = webhook.Event{Type: webhook.EventMessagesRead, Account: r.to, Peer: r.from, MsgKeys: r.msgKeys}
	case kindUnreadRefresh:
		v = webhook.Event{Type: webhook.EventUnreadRefresh, Account: r.to, Peers: r.peers}
	default:
		return nil, fmt.Errorf("unknown kind %d", r.kind)
	}
	return json.Marshal(v)
}
