package emulator

import (
	"encoding/json"
	"fmt"

	"github.com/chatsync/chatsync/chatapi"
)

// beforeReply is the part of a C2C.CallbackBeforeSendMsg reply that matters.
type beforeReply struct {
	ErrorCode       int             `json:"ErrorCode"`
	ErrorInfo       string          `json:"ErrorInfo"`
	MsgBody         json.RawMessage `json:"MsgBody"`
	CloudCustomData *string         `json:"CloudCustomData"`
}

// beforeSend posts C2C.CallbackBeforeSendMsg for m and applies the reply: ErrorCode 0 delivers
// m (with the reply's MsgBody and CloudCustomData, if any), 1 forbids it (20006), 2 drops it
// silently (deliver is false), 120001–130000 forbid it with that code and ErrorInfo. A failed
// callback, or any other code, delivers m unchanged, as Chat does by default.
func (d *dispatcher) beforeSend(m *message) (deliver bool, aerr *apiError) {
	u := d.currentURL()
	if u == "" {
		return true, nil
	}
	cb := callback{command: chatapi.CommandBeforeSendMsg, url: u, body: chatapi.BeforeSendMsg{
		CallbackCommand: chatapi.CommandBeforeSendMsg, FromAccount: m.from, ToAccount: m.to,
		MsgSeq: int64(m.seq), MsgRandom: int64(m.random), MsgTime: m.time, MsgKey: m.key, MsgID: m.id,
		MsgBody: m.body, CloudCustomData: m.cloudData,
	}}
	raw, err := d.post(cb)
	var r beforeReply
	if err == nil {
		err = json.Unmarshal(raw, &r)
	}
	if err == nil && r.ErrorCode == 0 && len(r.MsgBody) > 0 {
		err = applyBodyChange(m, r.MsgBody)
	}
	d.rec.callback(cb.command, err != nil)
	if err != nil {
		d.log.Warn("chat callback failed", "command", cb.command, "err", err)
		return true, nil
	}
	switch c := r.ErrorCode; {
	case c == 0:
		if r.CloudCustomData != nil {
			m.cloudData = *r.CloudCustomData
		}
		return true, nil
	case c == 1:
		return false, fail(20006, "the app's before-send callback forbade the message")
	case c == 2:
		return false, nil
	case c >= 120001 && c <= 130000:
		return false, fail(c, "%s", r.ErrorInfo)
	}
	return true, nil
}

// applyBodyChange replaces m's MsgBody with a callback's, which must be a valid one.
func applyBodyChange(m *message, body json.RawMessage) error {
	var req sendReq
	if aerr := parseMsgBody(object{"MsgBody": body}, &req); aerr != nil {
		return fmt.Errorf("reply MsgBody: %s", aerr.info)
	}
	m.body = req.body
	return nil
}
