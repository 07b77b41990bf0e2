package emulator

import (
	"encoding/json"
	"math"
	"slices"

	"github.com/chatsync/chatsync/chatapi"
)

// maxRoamPage is roughly how many bytes of MsgBody one admin_getroammsg answer carries.
const maxRoamPage = 13 << 10

type roamMsg struct {
	FromAccount     string          `json:"From_Account"`
	ToAccount       string          `json:"To_Account"`
	MsgSeq          uint32          `json:"MsgSeq"`
	MsgRandom       uint32          `json:"MsgRandom"`
	MsgTimeStamp    int64           `json:"MsgTimeStamp"`
	MsgFlagBits     int             `json:"MsgFlagBits"`
	IsPeerRead      int             `json:"IsPeerRead"`
	MsgKey          string          `json:"MsgKey"`
	MsgBody         json.RawMessage `json:"MsgBody"`
	CloudCustomData string          `json:"CloudCustomData"`
}

type roamResponse struct {
	envelope
	Complete    int       `json:"Complete"`
	MsgCnt      int       `json:"MsgCnt"`
	LastMsgTime int64     `json:"LastMsgTime"`
	LastMsgKey  string    `json:"LastMsgKey"`
	MsgList     []roamMsg `json:"MsgList"`
}

// roamReq is a checked admin_getroammsg body.
type roamReq struct {
	op, peer         string
	maxCnt           int
	minTime, maxTime int64
	lastKey          string
}

func parseRoam(o object) (roamReq, *apiError) {
	var r roamReq
	var err error
	opField, peerField := "Operator_Account", "Peer_Account"
	if _, ok := o[opField]; !ok {
		if _, old := o["From_Account"]; old { // the older form
			opField, peerField = "From_Account", "To_Account"
		}
	}
	if r.op, err = o.str(opField); err != nil {
		return r, fail(90008, "%s %v", opField, err)
	}
	if r.peer, err = o.str(peerField); err != nil {
		return r, fail(90003, "%s %v", peerField, err)
	}
	n, err := o.integer("MaxCnt", 1, math.MaxInt32)
	if err != nil {
		return r, fail(90001, "MaxCnt %v", err)
	}
	r.maxCnt = int(n)
	if r.minTime, err = o.integer("MinTime", 0, math.MaxInt64); err != nil {
		return r, fail(90001, "MinTime %v", err)
	}
	if r.maxTime, err = o.integer("MaxTime", 0, math.MaxInt64); err != nil {
		return r, fail(90001, "MaxTime %v", err)
	}
	if r.minTime > r.maxTime {
		return r, fail(90001, "MinTime must not be after MaxTime")
	}
	if r.lastKey, _, err = o.optStr("LastMsgKey"); err != nil {
		return r, fail(90001, "LastMsgKey %v", err)
	}
	return r, nil
}

// getRoamMsg serves openim/admin_getroammsg: the messages between the two accounts with
// MinTime <= MsgTime <= MaxTime, newest first, MaxCnt (and about 13 KB) at a time. The next
// page is asked for with MaxTime = LastMsgTime and LastMsgKey.
func (e *Emulator) getRoamMsg(c *call) (any, *apiError) {
	r, aerr := parseRoam(c.obj)
	if aerr != nil {
		return nil, aerr
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	op, peer := e.st.users[r.op], e.st.users[r.peer]
	if op == nil {
		return nil, fail(90008, "Operator_Account %q does not exist", r.op)
	}
	if peer == nil {
		return nil, fail(90003, "Peer_Account %q does not exist", r.peer)
	}
	all := history(op, peer, r.minTime, r.maxTime)
	if r.lastKey != "" {
		if i := slices.IndexFunc(all, func(m *message) bool { return m.key == r.lastKey }); i >= 0 {
			all = all[i+1:]
		}
	}
	out := roamResponse{envelope: ok(), Complete: 1, MsgList: []roamMsg{}}
	size := 0
	for i, m := range all {
		if i == r.maxCnt || (i > 0 && size+len(m.body) > maxRoamPage) {
			out.Complete = 0
			break
		}
		size += len(m.body)
		out.MsgList = append(out.MsgList, roamItem(m))
		out.LastMsgTime, out.LastMsgKey = m.time, m.key
	}
	out.MsgCnt = len(out.MsgList)
	return out, nil
}

// history returns the messages between a and b with minTime <= MsgTime <= maxTime, newest
// first.
func history(a, b *user, minTime, maxTime int64) []*message {
	var all []*message
	for _, ib := range []*inbox{a.inbox[b.id], b.inbox[a.id]} {
		if ib == nil {
			continue
		}
		for _, m := range ib.msgs {
			if m.time >= minTime && m.time <= maxTime {
				all = append(all, m)
			}
		}
	}
	slices.SortFunc(all, func(x, y *message) int { return y.cmp(x) })
	return all
}

func roamItem(m *message) roamMsg {
	it := roamMsg{
		FromAccount: m.from, ToAccount: m.to, MsgSeq: m.seq, MsgRandom: m.random,
		MsgTimeStamp: m.time, MsgKey: m.key, MsgBody: m.body, CloudCustomData: m.cloudData,
	}
	if m.withdrawn {
		it.MsgFlagBits = flagWithdrawn
	}
	if m.peerRead {
		it.IsPeerRead = 1
	}
	return it
}

// msgWithdraw serves openim/admin_msgwithdraw. Recalled messages stay in the history with
// MsgFlagBits 8 and stop counting as unread.
func (e *Emulator) msgWithdraw(c *call) (any, *apiError) {
	from, err := c.obj.str("From_Account")
	if err != nil {
		return nil, fail(90008, "From_Account %v", err)
	}
	to, err := c.obj.str("To_Account")
	if err != nil {
		return nil, fail(90003, "To_Account %v", err)
	}
	key, err := c.obj.str("MsgKey")
	if err != nil || key == "" {
		return nil, fail(90054, "MsgKey is invalid")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.accountExists(from) {
		return nil, fail(90008, "From_Account %q does not exist", from)
	}
	u := e.st.users[to]
	if u == nil {
		return nil, fail(90003, "To_Account %q does not exist", to)
	}
	var msgs []*message
	if ib := u.inbox[from]; ib != nil {
		msgs = ib.byKey[key]
	}
	if len(msgs) == 0 {
		return nil, fail(20022, "message %s does not exist", key)
	}
	if !slices.ContainsFunc(msgs, func(m *message) bool { return !m.withdrawn }) {
		return nil, fail(20023, "message %s was already recalled", key)
	}
	for _, m := range msgs {
		if !m.withdrawn {
			e.st.withdraw(m)
		}
	}
	e.cb.enqueue(callback{
		command: chatapi.CommandAfterMsgWithDraw, order: conversationKey(from, to),
		body: chatapi.AfterMsgWithDraw{CallbackCommand: chatapi.CommandAfterMsgWithDraw, FromAccount: from, ToAccount: to,
			MsgKey: key, EventTime: ref(eventTime(c.now)), UnreadMsgNum: ref(int64(u.unread))},
	})
	return ok(), nil
}
