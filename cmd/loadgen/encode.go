package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/chatsync/chatsync/chatapi"
	"github.com/chatsync/chatsync/webhook"
)

// callbackSign returns Chat's callback signature: the lowercase hex SHA-256
// of the token followed by the decimal RequestTime (tencent-chat.md §5.1).
// It is loadgen's own copy until package chatapi has one.
func callbackSign(token string, requestTime int64) string {
	sum := sha256.Sum256([]byte(token + strconv.FormatInt(requestTime, 10)))
	return hex.EncodeToString(sum[:])
}

// signer signs requests for one chatsync: Chat callbacks with the callback
// token and app events with a Standard Webhooks secret. It caches the Sign
// of the current second, so each worker needs its own.
type signer struct {
	target   string // http://127.0.0.1:port, no trailing slash
	appID    string
	token    string
	events   *standardwebhooks.Webhook // nil: no app events
	signedAt int64
	sign     string
}

// newSigner returns a signer for the chatsync at target; secret is empty
// when no app events are sent.
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

// callbackURL returns the URL Chat would post a callback of command to at
// now, with a Sign and RequestTime when there is a token.
func (s *signer) callbackURL(command string, now time.Time) string {
	u := s.target + "/callback?SdkAppid=" + s.appID + "&CallbackCommand=" + command +
		"&contenttype=json&ClientIP=127.0.0.1&OptPlatform=RESTAPI"
	if s.token == "" {
		return u
	}
	if rt := now.Unix(); rt != s.signedAt {
		s.signedAt, s.sign = rt, callbackSign(s.token, rt)
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

// Callback bodies, in Chat's field order and spelling (tencent-chat.md §5.3).
type (
	sendMsgBody struct {
		CallbackCommand string            `json:"CallbackCommand"`
		From            string            `json:"From_Account"`
		To              string            `json:"To_Account"`
		MsgSeq          uint32            `json:"MsgSeq"`
		MsgRandom       uint32            `json:"MsgRandom"`
		MsgTime         int64             `json:"MsgTime"`
		MsgKey          string            `json:"MsgKey"`
		OnlineOnlyFlag  int               `json:"OnlineOnlyFlag"`
		SendMsgResult   *int              `json:"SendMsgResult,omitempty"`
		ErrorInfo       string            `json:"ErrorInfo,omitempty"`
		UnreadMsgNum    *int              `json:"UnreadMsgNum,omitempty"`
		MsgBody         []chatapi.MsgElem `json:"MsgBody"`
	}
	msgReportBody struct {
		CallbackCommand string `json:"CallbackCommand"`
		Report          string `json:"Report_Account"`
		Peer            string `json:"Peer_Account"`
		LastReadTime    int64  `json:"LastReadTime"`
		EventTime       int64  `json:"EventTime"`
		UnreadMsgNum    int    `json:"UnreadMsgNum"`
	}
	c2cMsgInfo struct {
		From   string `json:"From_Account"`
		To     string `json:"To_Account"`
		MsgKey string `json:"MsgKey"`
	}
	readReceiptBody struct {
		CallbackCommand string       `json:"CallbackCommand"`
		Operator        string       `json:"Operator_Account"`
		Peer            string       `json:"Peer_Account"`
		C2CMsgInfo      []c2cMsgInfo `json:"C2CMsgInfo"`
		EventTime       int64        `json:"EventTime"`
	}
	stateChangeBody struct {
		CallbackCommand string `json:"CallbackCommand"`
		EventTime       int64  `json:"EventTime"`
		Info            struct {
			Action string `json:"Action"`
			To     string `json:"To_Account"`
			Reason string `json:"Reason"`
		} `json:"Info"`
	}
)

// text is the body of every generated message: short, like most chat.
const text = "hello from loadgen"

// body returns the JSON body of r: a Chat callback or an app event.
func (r request) body() ([]byte, error) {
	var v any
	switch r.kind {
	case kindSendMsg, kindSendAutoRead:
		v = r.sendMsg(true)
	case kindMsgReport:
		v = msgReportBody{CallbackCommand: r.command, Report: r.to, Peer: r.from, LastReadTime: r.msgTime,
			EventTime: r.eventTime, UnreadMsgNum: r.unread}
	case kindOther:
		v = r.other()
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

func (r request) sendMsg(after bool) sendMsgBody {
	b := sendMsgBody{CallbackCommand: r.command, From: r.from, To: r.to, MsgSeq: r.msgSeq,
		MsgRandom: r.msgRandom, MsgTime: r.msgTime, MsgKey: r.msgKey, MsgBody: []chatapi.MsgElem{chatapi.TextElem(text)}}
	if after {
		zero, unread := 0, r.unread
		b.SendMsgResult, b.ErrorInfo, b.UnreadMsgNum = &zero, "send msg succeed", &unread
	}
	return b
}

func (r request) other() any {
	switch r.command {
	case "C2C.CallbackAfterMsgReadReceipt":
		return readReceiptBody{CallbackCommand: r.command, Operator: r.to, Peer: r.from,
			C2CMsgInfo: []c2cMsgInfo{{From: r.from, To: r.to, MsgKey: r.msgKey}}, EventTime: r.eventTime}
	case "State.StateChange":
		b := stateChangeBody{CallbackCommand: r.command, EventTime: r.eventTime}
		b.Info.Action, b.Info.To, b.Info.Reason = "Login", r.to, "Register"
		return b
	}
	return r.sendMsg(false) // C2C.CallbackBeforeSendMsg
}
