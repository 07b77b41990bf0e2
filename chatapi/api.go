package chatapi

import (
	"context"
	"strconv"
)

// The REST APIs the typed methods call, as "{service}/{command}".
const (
	APISetMsgRead    = "openim/admin_set_msg_read"
	APIReadReceipt   = "openim/c2c_msg_read_receipt"
	APIUnread        = "openim/get_c2c_unread_msg_num"
	APISendMsg       = "openim/sendmsg"
	APIGetRoamMsg    = "openim/admin_getroammsg"
	APIImportAccount = "im_open_login_svc/account_import"
	APICheckAccounts = "im_open_login_svc/account_check"
)

// plain is the answer of APIs that return only the envelope.
type plain struct{ Envelope }

// SetMsgReadRequest marks ReportAccount's conversation with PeerAccount read.
type SetMsgReadRequest struct {
	ReportAccount string // the reader
	PeerAccount   string // the other side
	// MsgReadTime, in unix seconds, marks messages up to it read; 0 means
	// "now" on Chat's clock.
	MsgReadTime int64
}

type setMsgReadBody struct {
	ReportAccount string `json:"Report_Account"`
	PeerAccount   string `json:"Peer_Account"`
	MsgReadTime   string `json:"MsgReadTime,omitempty"` // a String on the wire (sic)
}

// SetMsgRead calls admin_set_msg_read. Empty or over-long accounts are
// rejected without a call (ErrInvalidRequest). Errors are *Error.
func (c *Client) SetMsgRead(ctx context.Context, r SetMsgReadRequest) error {
	if p := firstProblem(checkUserID("Report_Account", r.ReportAccount), checkUserID("Peer_Account", r.PeerAccount)); p != "" {
		return invalid(APISetMsgRead, "%s", p)
	}
	if r.MsgReadTime < 0 {
		return invalid(APISetMsgRead, "MsgReadTime %d is negative", r.MsgReadTime)
	}
	body := setMsgReadBody{ReportAccount: r.ReportAccount, PeerAccount: r.PeerAccount}
	if r.MsgReadTime > 0 {
		body.MsgReadTime = strconv.FormatInt(r.MsgReadTime, 10)
	}
	return c.Do(ctx, APISetMsgRead, body, &plain{})
}

// MsgRef names one C2C message: its sender, its receiver and its MsgKey.
type MsgRef struct {
	FromAccount string `json:"From_Account"`
	ToAccount   string `json:"To_Account"`
	MsgKey      string `json:"MsgKey"`
}

// ReadReceiptRequest sends read receipts on OperatorAccount's behalf for
// messages PeerAccount sent to OperatorAccount.
type ReadReceiptRequest struct {
	OperatorAccount string   `json:"Operator_Account"` // the reader
	PeerAccount     string   `json:"Peer_Account"`     // the sender of the messages
	Messages        []MsgRef `json:"C2CMsgInfo"`       // From = PeerAccount, To = OperatorAccount
}

// SendReadReceipt calls c2c_msg_read_receipt. Input Chat would reject (no
// messages, a message not from Peer to Operator, an empty MsgKey, bad
// accounts) fails with ErrInvalidRequest without a call. Errors are *Error.
func (c *Client) SendReadReceipt(ctx context.Context, r ReadReceiptRequest) error {
	if p := firstProblem(checkUserID("Operator_Account", r.OperatorAccount), checkUserID("Peer_Account", r.PeerAccount)); p != "" {
		return invalid(APIReadReceipt, "%s", p)
	}
	if len(r.Messages) == 0 {
		return invalid(APIReadReceipt, "C2CMsgInfo is empty")
	}
	for i, m := range r.Messages {
		switch {
		case m.FromAccount != r.PeerAccount:
			return invalid(APIReadReceipt, "C2CMsgInfo[%d].From_Account does not match Peer_Account", i)
		case m.ToAccount != r.OperatorAccount:
			return invalid(APIReadReceipt, "C2CMsgInfo[%d].To_Account does not match Operator_Account", i)
		case m.MsgKey == "":
			return invalid(APIReadReceipt, "C2CMsgInfo[%d].MsgKey is empty", i)
		}
	}
	return c.Do(ctx, APIReadReceipt, r, &plain{})
}

// Unread is a user's unread C2C message counts.
type Unread struct {
	// Total is AllC2CUnreadMsgNum, set when the call asked for no peers
	// (or Chat volunteered it).
	Total    int
	HasTotal bool
	// Peers maps each peer asked about to its conversation's unread count.
	Peers map[string]int
	// PeerErrors maps peers Chat could not answer for to their ErrorCode
	// (70107: the account does not exist).
	PeerErrors map[string]int
}

type unreadBody struct {
	ToAccount   string   `json:"To_Account"`
	PeerAccount []string `json:"Peer_Account,omitempty"`
}

type unreadAnswer struct {
	Envelope
	AllC2CUnreadMsgNum  *int `json:"AllC2CUnreadMsgNum"`
	C2CUnreadMsgNumList []struct {
		PeerAccount     string `json:"Peer_Account"`
		C2CUnreadMsgNum int    `json:"C2CUnreadMsgNum"`
	} `json:"C2CUnreadMsgNumList"`
	ErrorList []struct {
		PeerAccount string `json:"Peer_Account"`
		ErrorCode   int    `json:"ErrorCode"`
	} `json:"ErrorList"`
}

// GetUnread calls get_c2c_unread_msg_num for user. With no peers it returns
// the total; with peers it returns per-peer counts, making one call per 10
// peers and merging the answers (duplicates are asked once). Per-peer
// failures are in PeerErrors, not in the error. Errors are *Error; when a
// later call of a split request fails, nothing is returned.
func (c *Client) GetUnread(ctx context.Context, user string, peers ...string) (*Unread, error) {
	if p := checkUserID("To_Account", user); p != "" {
		return nil, invalid(APIUnread, "%s", p)
	}
	peers = dedup(peers)
	for i, p := range peers {
		if prob := checkUserID("Peer_Account["+strconv.Itoa(i)+"]", p); prob != "" {
			return nil, invalid(APIUnread, "%s", prob)
		}
	}
	u := &Unread{}
	if len(peers) == 0 {
		var a unreadAnswer
		if err := c.Do(ctx, APIUnread, unreadBody{ToAccount: user}, &a); err != nil {
			return nil, err
		}
		u.merge(&a)
		return u, nil
	}
	for len(peers) > 0 {
		n := min(len(peers), MaxUnreadPeers)
		var a unreadAnswer
		if err := c.Do(ctx, APIUnread, unreadBody{ToAccount: user, PeerAccount: peers[:n]}, &a); err != nil {
			return nil, err
		}
		u.merge(&a)
		peers = peers[n:]
	}
	return u, nil
}

func (u *Unread) merge(a *unreadAnswer) {
	if a.AllC2CUnreadMsgNum != nil {
		u.Total, u.HasTotal = *a.AllC2CUnreadMsgNum, true
	}
	for _, p := range a.C2CUnreadMsgNumList {
		if u.Peers == nil {
			u.Peers = make(map[string]int)
		}
		u.Peers[p.PeerAccount] = p.C2CUnreadMsgNum
	}
	for _, e := range a.ErrorList {
		if u.PeerErrors == nil {
			u.PeerErrors = make(map[string]int)
		}
		u.PeerErrors[e.PeerAccount] = e.ErrorCode
	}
}

// Account is a Chat account to import.
type Account struct {
	UserID  string `json:"UserID"`
	Nick    string `json:"Nick,omitempty"`
	FaceURL string `json:"FaceUrl,omitempty"`
}

// ImportAccount calls account_import. Importing an existing account again
// succeeds. Errors are *Error.
func (c *Client) ImportAccount(ctx context.Context, a Account) error {
	if p := checkUserID("UserID", a.UserID); p != "" {
		return invalid(APIImportAccount, "%s", p)
	}
	return c.Do(ctx, APIImportAccount, a, &plain{})
}

// AccountStatus is one result of CheckAccounts.
type AccountStatus struct {
	UserID        string `json:"UserID"`
	ResultCode    int    `json:"ResultCode"`
	ResultInfo    string `json:"ResultInfo"`
	AccountStatus string `json:"AccountStatus"` // "Imported" or "NotImported"
}

// Imported reports whether the account exists.
func (s AccountStatus) Imported() bool { return s.ResultCode == 0 && s.AccountStatus == "Imported" }

// MaxCheckAccounts is the most UserIDs account_check takes per call.
const MaxCheckAccounts = 100

// CheckAccounts calls account_check for at most 100 UserIDs. Errors are *Error.
func (c *Client) CheckAccounts(ctx context.Context, ids ...string) ([]AccountStatus, error) {
	if len(ids) == 0 || len(ids) > MaxCheckAccounts {
		return nil, invalid(APICheckAccounts, "%d UserIDs, want 1 to %d", len(ids), MaxCheckAccounts)
	}
	type item struct {
		UserID string `json:"UserID"`
	}
	body := struct {
		CheckItem []item `json:"CheckItem"`
	}{}
	for i, id := range ids {
		if p := checkUserID("CheckItem["+strconv.Itoa(i)+"].UserID", id); p != "" {
			return nil, invalid(APICheckAccounts, "%s", p)
		}
		body.CheckItem = append(body.CheckItem, item{id})
	}
	var a struct {
		Envelope
		ResultItem []AccountStatus `json:"ResultItem"`
	}
	if err := c.Do(ctx, APICheckAccounts, body, &a); err != nil {
		return nil, err
	}
	return a.ResultItem, nil
}

// firstProblem returns the first non-empty problem.
func firstProblem(problems ...string) string {
	for _, p := range problems {
		if p != "" {
			return p
		}
	}
	return ""
}

func dedup(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
