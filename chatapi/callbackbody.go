package chatapi

import "encoding/json"

// Callback bodies, as Chat sends them (tencent-chat.md §5.3), in Chat's
// spelling. Integers are int64 so that a receiver takes any value Chat
// documents; pointers and omitempty mark the fields Chat's samples show
// only sometimes (a receiver sees nil when one is absent). MsgBody is kept
// as raw JSON: chatsync routes messages, it never reads them.

// BeforeSendMsg is the body of C2C.CallbackBeforeSendMsg.
type BeforeSendMsg struct {
	CallbackCommand string          `json:"CallbackCommand"`
	FromAccount     string          `json:"From_Account"`
	ToAccount       string          `json:"To_Account"`
	MsgSeq          int64           `json:"MsgSeq"`
	MsgRandom       int64           `json:"MsgRandom"`
	MsgTime         int64           `json:"MsgTime"` // unix seconds
	MsgKey          string          `json:"MsgKey"`
	MsgID           string          `json:"MsgId,omitempty"` // on 2024+ pages only
	OnlineOnlyFlag  int64           `json:"OnlineOnlyFlag"`
	MsgBody         json.RawMessage `json:"MsgBody,omitempty"`
	CloudCustomData string          `json:"CloudCustomData,omitempty"`
}

// AfterSendMsg is the body of C2C.CallbackAfterSendMsg. It also comes
// when delivery failed: SendMsgResult is then not 0 and UnreadMsgNum -1.
type AfterSendMsg struct {
	CallbackCommand string          `json:"CallbackCommand"`
	FromAccount     string          `json:"From_Account"`
	ToAccount       string          `json:"To_Account"`
	MsgSeq          int64           `json:"MsgSeq"`
	MsgRandom       int64           `json:"MsgRandom"`
	MsgTime         int64           `json:"MsgTime"` // unix seconds
	MsgKey          string          `json:"MsgKey"`
	MsgID           string          `json:"MsgId,omitempty"`
	OnlineOnlyFlag  int64           `json:"OnlineOnlyFlag"`
	SendMsgResult   int64           `json:"SendMsgResult"` // 0 = delivered
	ErrorInfo       string          `json:"ErrorInfo"`
	UnreadMsgNum    *int64          `json:"UnreadMsgNum,omitempty"` // To_Account's total C2C unread
	MsgBody         json.RawMessage `json:"MsgBody,omitempty"`
	CloudCustomData string          `json:"CloudCustomData,omitempty"`
}

// AfterMsgReport is the body of C2C.CallbackAfterMsgReport: Report_Account
// read its conversation with Peer_Account up to LastReadTime.
type AfterMsgReport struct {
	CallbackCommand string `json:"CallbackCommand"`
	ReportAccount   string `json:"Report_Account"`
	PeerAccount     string `json:"Peer_Account"`
	LastReadTime    int64  `json:"LastReadTime"`           // unix seconds
	EventTime       *int64 `json:"EventTime,omitempty"`    // unix milliseconds
	UnreadMsgNum    *int64 `json:"UnreadMsgNum,omitempty"` // Report_Account's total C2C unread
}

// AfterMsgWithDraw is the body of C2C.CallbackAfterMsgWithDraw: a message
// was recalled.
type AfterMsgWithDraw struct {
	CallbackCommand string `json:"CallbackCommand"`
	FromAccount     string `json:"From_Account"`
	ToAccount       string `json:"To_Account"`
	MsgKey          string `json:"MsgKey"`
	EventTime       *int64 `json:"EventTime,omitempty"`    // unix milliseconds
	UnreadMsgNum    *int64 `json:"UnreadMsgNum,omitempty"` // To_Account's total C2C unread (intl page)
}

// AfterMsgReadReceipt is the body of C2C.CallbackAfterMsgReadReceipt:
// Operator_Account sent read receipts for messages Peer_Account sent.
type AfterMsgReadReceipt struct {
	CallbackCommand string           `json:"CallbackCommand"`
	OperatorAccount string           `json:"Operator_Account"`
	PeerAccount     string           `json:"Peer_Account"`
	C2CMsgInfo      []ReceiptMsgInfo `json:"C2CMsgInfo"`
	EventTime       int64            `json:"EventTime"` // unix milliseconds
}

// ReceiptMsgInfo is one message of AfterMsgReadReceipt.
type ReceiptMsgInfo struct {
	FromAccount string `json:"From_Account"`
	ToAccount   string `json:"To_Account"`
	MsgKey      string `json:"MsgKey"`
	MsgID       string `json:"MsgId,omitempty"`
}

// StateChange is the body of State.StateChange.
type StateChange struct {
	CallbackCommand string          `json:"CallbackCommand"`
	EventTime       int64           `json:"EventTime"` // unix milliseconds
	Info            StateChangeInfo `json:"Info"`
}

// StateChangeInfo says who logged in or out, and why.
type StateChangeInfo struct {
	Action    string `json:"Action"` // Login, Logout, Disconnect
	ToAccount string `json:"To_Account"`
	Reason    string `json:"Reason"` // Register, Unregister, LinkClose, TimeOut
}

// RequestOverLimit is the body of Alert.RequestOverLimit: Chat saw an
// API's rate pass 80 % of its limit (tencent-chat.md §1.4).
type RequestOverLimit struct {
	CallbackCommand string `json:"CallbackCommand"`
	ServiceName     string `json:"ServiceName"`
	Command         string `json:"Command"`
	Request         int64  `json:"Request"`
	Limit           int64  `json:"Limit"`
}
