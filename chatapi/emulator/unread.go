package emulator

import (
	"errors"
	"math"
	"strconv"
	"time"

	"github.com/chatsync/chatsync/chatapi"
)

// maxUnreadPeers bounds get_c2c_unread_msg_num's Peer_Account.
const maxUnreadPeers = 10

// Unread returns user's C2C unread counts as the emulator holds them: the total and the
// non-zero count of each peer. An unknown user has none.
func (e *Emulator) Unread(user string) (total int, perPeer map[string]int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	perPeer = make(map[string]int)
	u := e.st.users[user]
	if u == nil {
		return 0, perPeer
	}
	for peer, ib := range u.inbox {
		if ib.unread > 0 {
			perPeer[peer] = ib.unread
		}
	}
	return u.unread, perPeer
}

// setMsgRead serves openim/admin_set_msg_read.
func (e *Emulator) setMsgRead(c *call) (any, *apiError) {
	report, err := c.obj.str("Report_Account")
	if err != nil {
		return nil, fail(90003, "Report_Account %v", err)
	}
	peer, err := c.obj.str("Peer_Account")
	if err != nil {
		return nil, fail(90008, "Peer_Account %v", err)
	}
	readTime, err := msgReadTime(c.obj, c.now)
	if err != nil {
		return nil, fail(90001, "MsgReadTime %v", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	u := e.st.users[report]
	if u == nil {
		return nil, fail(90003, "Report_Account %q does not exist", report)
	}
	if !e.accountExists(peer) {
		return nil, fail(90008, "Peer_Account %q does not exist", peer)
	}
	last := e.st.setRead(u, peer, readTime)
	e.cb.enqueue(callback{
		command: chatapi.CommandAfterMsgReport, order: conversationKey(report, peer),
		body: chatapi.AfterMsgReport{CallbackCommand: chatapi.CommandAfterMsgReport, ReportAccount: report,
			PeerAccount: peer, LastReadTime: last, EventTime: ref(eventTime(c.now)), UnreadMsgNum: ref(int64(u.unread))},
	})
	return ok(), nil
}

// msgReadTime reads MsgReadTime, documented as a String of unix seconds; a Number is accepted
// too. Absent or "" means now.
func msgReadTime(o object, now time.Time) (int64, error) {
	s, present, err := o.optStr("MsgReadTime")
	if present && err != nil {
		n, _, err := o.optInt("MsgReadTime", 0, math.MaxInt64)
		if err != nil {
			return 0, errors.New("must be a String or Integer of non-negative unix seconds")
		}
		return n, nil
	}
	if !present || s == "" {
		return now.Unix(), nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, errors.New("must hold non-negative unix seconds")
	}
	return n, nil
}

type peerUnread struct {
	PeerAccount     string `json:"Peer_Account"`
	C2CUnreadMsgNum int    `json:"C2CUnreadMsgNum"`
}

type peerError struct {
	PeerAccount string `json:"Peer_Account"`
	ErrorCode   int    `json:"ErrorCode"`
}

type totalUnreadResponse struct {
	envelope
	AllC2CUnreadMsgNum int `json:"AllC2CUnreadMsgNum"`
}

type peerUnreadResponse struct {
	envelope
	C2CUnreadMsgNumList []peerUnread `json:"C2CUnreadMsgNumList"`
	ErrorList           []peerError  `json:"ErrorList,omitempty"`
}

// getUnread serves openim/get_c2c_unread_msg_num.
func (e *Emulator) getUnread(c *call) (any, *apiError) {
	to, err := c.obj.str("To_Account")
	if err != nil {
		return nil, fail(90003, "To_Account %v", err)
	}
	peers, _, err := c.obj.optStrList("Peer_Account")
	if err != nil {
		return nil, fail(90001, "Peer_Account %v", err)
	}
	if len(peers) > maxUnreadPeers {
		return nil, fail(90001, "Peer_Account has %d accounts, at most %d", len(peers), maxUnreadPeers)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	u := e.st.users[to]
	if u == nil {
		return nil, fail(90003, "To_Account %q does not exist", to)
	}
	if len(peers) == 0 {
		return totalUnreadResponse{envelope: ok(), AllC2CUnreadMsgNum: u.unread}, nil
	}
	out := peerUnreadResponse{envelope: ok(), C2CUnreadMsgNumList: []peerUnread{}}
	for _, p := range peers {
		if !e.accountExists(p) {
			out.ErrorList = append(out.ErrorList, peerError{PeerAccount: p, ErrorCode: 70107})
			continue
		}
		n := 0
		if ib := u.inbox[p]; ib != nil {
			n = ib.unread
		}
		out.C2CUnreadMsgNumList = append(out.C2CUnreadMsgNumList, peerUnread{PeerAccount: p, C2CUnreadMsgNum: n})
	}
	return out, nil
}
