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
)

// CallbackSign returns Chat's callback signature: the lowercase hex SHA-256
// of the token followed by the decimal RequestTime (tencent-chat.md §5.1).
func CallbackSign(token string, requestTime int64) string {
	sum := sha256.Sum256([]byte(token + strconv.FormatInt(requestTime, 10)))
	return hex.EncodeToString(sum[:])
}

// Signer signs requests for one chatsync: Chat callbacks with the callback
// token and app events with a Standard Webhooks secret. It caches the
// callback signature of the current second, so it is not safe for
// concurrent use: give each worker its own.
type Signer struct {
	target   string // http://127.0.0.1:port, no trailing slash
	appID    string
	token    string
	events   *standardwebhooks.Webhook // nil: no app events
	cachedAt int64
	cached   string
}

// NewSigner returns a Signer for the chatsync at target. secret may be empty
// when no app events are sent; otherwise it must be a whsec_ secret.
func NewSigner(target string, sdkAppID uint64, token, secret string) (*Signer, error) {
	s := &Signer{target: target, appID: strconv.FormatUint(sdkAppID, 10), token: token, cachedAt: -1}
	if secret != "" {
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			return nil, fmt.Errorf("events secret: %w", err)
		}
		s.events = wh
	}
	return s, nil
}

// CallbackURL returns the URL Chat would post a callback of command to at
// now: with SdkAppid, contenttype, ClientIP, OptPlatform and, with a token,
// Sign and RequestTime.
func (s *Signer) CallbackURL(command string, now time.Time) string {
	u := s.target + "/callback?SdkAppid=" + s.appID + "&CallbackCommand=" + command +
		"&contenttype=json&ClientIP=127.0.0.1&OptPlatform=RESTAPI"
	if s.token == "" {
		return u
	}
	rt := now.Unix()
	if rt != s.cachedAt {
		s.cachedAt, s.cached = rt, CallbackSign(s.token, rt)
	}
	return u + "&Sign=" + s.cached + "&RequestTime=" + strconv.FormatInt(rt, 10)
}

// EventHeaders sets the Standard Webhooks headers of an app event body
// with webhook-id id, signed at now. It fails when the Signer has no secret.
func (s *Signer) EventHeaders(h http.Header, id string, body []byte, now time.Time) error {
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

// EventsURL returns the URL of POST /v1/events.
func (s *Signer) EventsURL() string { return s.target + "/v1/events" }

// Callback bodies, in Chat's field order and spelling (tencent-chat.md §5.3).
type (
	msgElem struct {
		MsgType    string `json:"MsgType"`
		MsgContent struct {
			Text string `json:"Text"`
		} `json:"MsgContent"`
	}
	sendMsgBody struct {
		CallbackCommand string    `json:"CallbackCommand"`
		From            string    `json:"From_Account"`
		To              string    `json:"To_Account"`
		MsgSeq          uint32    `json:"MsgSeq"`
		MsgRandom       uint32    `json:"MsgRandom"`
		MsgTime         int64     `json:"MsgTime"`
		MsgKey          string    `json:"MsgKey"`
		OnlineOnlyFlag  int       `json:"OnlineOnlyFlag"`
		SendMsgResult   *int      `json:"SendMsgResult,omitempty"`
		ErrorInfo       string    `json:"ErrorInfo,omitempty"`
		UnreadMsgNum    *int      `json:"UnreadMsgNum,omitempty"`
		MsgBody         []msgElem `json:"MsgBody"`
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
	// eventBody is one app event (webhook.Event's JSON).
	eventBody struct {
		Type     string   `json:"type"`
		Account  string   `json:"account"`
		Peer     string   `json:"peer,omitempty"`
		ReadTime int64    `json:"read_time,omitempty"`
		MsgKeys  []string `json:"msg_keys,omitempty"`
		Peers    []string `json:"peers,omitempty"`
	}
)

// text is the body of every generated message: short, like most chat.
const text = "hello from loadgen"

// Body returns the JSON body of r: a Chat callback or an app event.
func (r Request) Body() ([]byte, error) {
	var v any
	switch r.Kind {
	case KindSendMsg, KindSendAutoRead:
		v = r.sendMsg(true)
	case KindMsgReport:
		v = msgReportBody{CallbackCommand: r.Command, Report: r.To, Peer: r.From, LastReadTime: r.MsgTime,
			EventTime: r.EventTime, UnreadMsgNum: r.UnreadMsgNum}
	case KindOther:
		v = r.other()
	case KindConversationRead:
		v = eventBody{Type: "conversation.read", Account: r.To, Peer: r.From, ReadTime: r.MsgTime}
	case KindMessagesRead:
		v = eventBody{Type: "messages.read", Account: r.To, Peer: r.From, MsgKeys: r.MsgKeys}
	case KindUnreadRefresh:
		v = eventBody{Type: "unread.refresh", Account: r.To, Peers: r.Peers}
	default:
		return nil, fmt.Errorf("unknown kind %d", r.Kind)
	}
	return json.Marshal(v)
}

func (r Request) sendMsg(after bool) sendMsgBody {
	b := sendMsgBody{CallbackCommand: r.Command, From: r.From, To: r.To, MsgSeq: r.MsgSeq,
		MsgRandom: r.MsgRandom, MsgTime: r.MsgTime, MsgKey: r.MsgKey, MsgBody: []msgElem{{MsgType: "TIMTextElem"}}}
	b.MsgBody[0].MsgContent.Text = text
	if after {
		zero, unread := 0, r.UnreadMsgNum
		b.SendMsgResult, b.ErrorInfo, b.UnreadMsgNum = &zero, "send msg succeed", &unread
	}
	return b
}

func (r Request) other() any {
	switch r.Command {
	case "C2C.CallbackAfterMsgReadReceipt":
		return readReceiptBody{CallbackCommand: r.Command, Operator: r.To, Peer: r.From,
			C2CMsgInfo: []c2cMsgInfo{{From: r.From, To: r.To, MsgKey: r.MsgKey}}, EventTime: r.EventTime}
	case "State.StateChange":
		b := stateChangeBody{CallbackCommand: r.Command, EventTime: r.EventTime}
		b.Info.Action, b.Info.To, b.Info.Reason = "Login", r.To, "Register"
		return b
	}
	return r.sendMsg(false) // C2C.CallbackBeforeSendMsg
}
