package chatapi

import (
	"context"
	"encoding/json"
	"math/rand/v2"
)

// MsgElem is one element of a message body, e.g. a TIMTextElem.
type MsgElem struct {
	MsgType    string          `json:"MsgType"`
	MsgContent json.RawMessage `json:"MsgContent"`
}

// TextElem returns a TIMTextElem holding text.
func TextElem(text string) MsgElem {
	c, _ := json.Marshal(struct{ Text string }{text}) // cannot fail
	return MsgElem{MsgType: "TIMTextElem", MsgContent: c}
}

// SendMsgRequest is a one-to-one message sent by the admin API.
type SendMsgRequest struct {
	SyncOtherMachine      int       `json:"SyncOtherMachine,omitempty"`
	FromAccount           string    `json:"From_Account,omitempty"` // empty: the admin sends
	ToAccount             string    `json:"To_Account"`
	MsgLifeTime           *int      `json:"MsgLifeTime,omitempty"`
	MsgSeq                uint32    `json:"MsgSeq,omitempty"`
	MsgRandom             uint32    `json:"MsgRandom"` // 0: a random one is chosen
	ForbidCallbackControl []string  `json:"ForbidCallbackControl,omitempty"`
	SendMsgControl        []string  `json:"SendMsgControl,omitempty"` // e.g. "NoUnread"
	MsgBody               []MsgElem `json:"MsgBody"`
	CloudCustomData       string    `json:"CloudCustomData,omitempty"`
	IsNeedReadReceipt     int       `json:"IsNeedReadReceipt,omitempty"`
}

// SentMsg identifies a message sendmsg stored.
type SentMsg struct {
	MsgTime int64  `json:"MsgTime"`
	MsgKey  string `json:"MsgKey"`
}

// SendMsg calls sendmsg. A zero MsgRandom is replaced by a random one; reuse
// the same MsgSeq and MsgRandom to make a retry within 120 s safe. Errors
// are *Error.
func (c *Client) SendMsg(ctx context.Context, r SendMsgRequest) (SentMsg, error) {
	if p := checkUserID("To_Account", r.ToAccount); p != "" {
		return SentMsg{}, invalid(APISendMsg, "%s", p)
	}
	if r.FromAccount != "" {
		if p := checkUserID("From_Account", r.FromAccount); p != "" {
			return SentMsg{}, invalid(APISendMsg, "%s", p)
		}
	}
	if len(r.MsgBody) == 0 {
		return SentMsg{}, invalid(APISendMsg, "MsgBody is empty")
	}
	if r.MsgRandom == 0 {
		r.MsgRandom = rand.Uint32() | 1
	}
	var a struct {
		Envelope
		SentMsg
	}
	if err := c.Do(ctx, APISendMsg, r, &a); err != nil {
		return SentMsg{}, err
	}
	return a.SentMsg, nil
}

// RoamMsgRequest asks for the messages between OperatorAccount and
// PeerAccount with MsgTime in [MinTime, MaxTime], as OperatorAccount sees them.
type RoamMsgRequest struct {
	OperatorAccount string `json:"Operator_Account"`
	PeerAccount     string `json:"Peer_Account"`
	MaxCnt          int    `json:"MaxCnt"`
	MinTime         int64  `json:"MinTime"`
	MaxTime         int64  `json:"MaxTime"`
	LastMsgKey      string `json:"LastMsgKey,omitempty"` // from the previous page
}

// RoamMsg is one message of admin_getroammsg.
type RoamMsg struct {
	FromAccount     string    `json:"From_Account"`
	ToAccount       string    `json:"To_Account"`
	MsgSeq          uint32    `json:"MsgSeq"`
	MsgRandom       uint32    `json:"MsgRandom"`
	MsgTimeStamp    int64     `json:"MsgTimeStamp"`
	MsgFlagBits     int       `json:"MsgFlagBits"` // 8: recalled
	IsPeerRead      int       `json:"IsPeerRead"`  // 1: the receiver sent a read receipt
	MsgKey          string    `json:"MsgKey"`
	MsgBody         []MsgElem `json:"MsgBody"`
	CloudCustomData string    `json:"CloudCustomData"`
}

// RoamMsgPage is one page of admin_getroammsg.
type RoamMsgPage struct {
	Complete    int       `json:"Complete"` // 1: no more pages
	MsgCnt      int       `json:"MsgCnt"`
	LastMsgTime int64     `json:"LastMsgTime"`
	LastMsgKey  string    `json:"LastMsgKey"`
	MsgList     []RoamMsg `json:"MsgList"`
}

// GetRoamMsg calls admin_getroammsg for one page. For the next page, call
// again with MaxTime = LastMsgTime and LastMsgKey set. Errors are *Error.
func (c *Client) GetRoamMsg(ctx context.Context, r RoamMsgRequest) (*RoamMsgPage, error) {
	if p := firstProblem(checkUserID("Operator_Account", r.OperatorAccount), checkUserID("Peer_Account", r.PeerAccount)); p != "" {
		return nil, invalid(APIGetRoamMsg, "%s", p)
	}
	if r.MaxCnt <= 0 {
		return nil, invalid(APIGetRoamMsg, "MaxCnt must be positive")
	}
	var a struct {
		Envelope
		RoamMsgPage
	}
	if err := c.Do(ctx, APIGetRoamMsg, r, &a); err != nil {
		return nil, err
	}
	return &a.RoamMsgPage, nil
}
