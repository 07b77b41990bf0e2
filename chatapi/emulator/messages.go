package emulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"math"
	"slices"
	"time"

	"github.com/chatsync/chatsync/chatapi"
)

const (
	maxMsgBody     = 12 << 10 // one message, in bytes
	maxMsgLifeTime = 604800   // 7 days
	dedupWindow    = 120 * time.Second
	flagWithdrawn  = 8 // MsgFlagBits of a recalled message
)

// message is one stored C2C message.
type message struct {
	from, to  string
	seq       uint32
	random    uint32
	time      int64 // MsgTime, unix seconds
	key       string
	id        string // MsgId
	body      json.RawMessage
	cloudData string
	noUnread  bool
	withdrawn bool
	peerRead  bool
	order     uint64 // arrival, breaks ties
}

// counts reports whether m is unread under watermark.
func (m *message) counts(watermark int64) bool {
	return !m.noUnread && !m.withdrawn && m.time > watermark
}

// cmp orders messages as C2C history is ordered: by time, then MsgSeq, then arrival.
func (m *message) cmp(n *message) int {
	if m.time != n.time {
		return cmpInt(m.time, n.time)
	}
	if m.seq != n.seq {
		return cmpInt(int64(m.seq), int64(n.seq))
	}
	return cmpInt(int64(m.order), int64(n.order))
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// inbox holds the messages from one sender to one user and that user's read watermark for
// the sender.
type inbox struct {
	watermark int64
	msgs      []*message // sorted by cmp
	byKey     map[string][]*message
	unread    int
}

func (s *state) inboxOf(u *user, from string) *inbox {
	ib := u.inbox[from]
	if ib == nil {
		ib = &inbox{byKey: make(map[string][]*message)}
		u.inbox[from] = ib
	}
	return ib
}

// deliver stores m in its recipient's inbox and counts it as unread when it is.
func (s *state) deliver(m *message) {
	u := s.users[m.to]
	ib := s.inboxOf(u, m.from)
	i := len(ib.msgs)
	for i > 0 && ib.msgs[i-1].cmp(m) > 0 {
		i--
	}
	ib.msgs = slices.Insert(ib.msgs, i, m)
	ib.byKey[m.key] = append(ib.byKey[m.key], m)
	if m.counts(ib.watermark) {
		ib.unread++
		u.unread++
	}
}

// setRead moves u's watermark for peer to max(old, t) and returns the new watermark.
func (s *state) setRead(u *user, peer string, t int64) int64 {
	ib := s.inboxOf(u, peer)
	if t <= ib.watermark {
		return ib.watermark
	}
	ib.watermark = t
	n := 0
	for i := len(ib.msgs) - 1; i >= 0 && ib.msgs[i].time > t; i-- {
		if ib.msgs[i].counts(t) {
			n++
		}
	}
	u.unread += n - ib.unread
	ib.unread = n
	return t
}

// withdraw flags m as recalled and drops it from the unread counts.
func (s *state) withdraw(m *message) {
	u := s.users[m.to]
	ib := s.inboxOf(u, m.from)
	if m.counts(ib.watermark) {
		ib.unread--
		u.unread--
	}
	m.withdrawn = true
}

// dedup remembers sendmsg calls for dedupWindow. The key includes To_Account so that the same
// content sent to two users is two messages.
type dedupKey struct {
	from, to    string
	seq, random uint32
	crc         uint32
}

type dedupEntry struct {
	msgKey  string
	msgTime int64
	at      time.Time
}

type dedupRef struct {
	k  dedupKey
	at time.Time
}

func (s *state) dedupLookup(k dedupKey, now time.Time) (dedupEntry, bool) {
	for len(s.dedupQ) > 0 && now.Sub(s.dedupQ[0].at) >= dedupWindow {
		ref := s.dedupQ[0]
		if en, ok := s.dedup[ref.k]; ok && en.at.Equal(ref.at) {
			delete(s.dedup, ref.k)
		}
		s.dedupQ = s.dedupQ[1:]
	}
	en, ok := s.dedup[k]
	if !ok || now.Sub(en.at) >= dedupWindow || now.Before(en.at) {
		return dedupEntry{}, false
	}
	return en, true
}

func (s *state) dedupRemember(k dedupKey, en dedupEntry) {
	s.dedup[k] = en
	s.dedupQ = append(s.dedupQ, dedupRef{k, en.at})
}

// sendReq is a checked sendmsg body.
type sendReq struct {
	from, to     string
	seq          uint32
	random       uint32
	body         json.RawMessage
	cloudData    string
	noUnread     bool
	forbidAfter  bool
	forbidBefore bool
}

type sendResponse struct {
	envelope
	MsgTime int64  `json:"MsgTime"`
	MsgKey  string `json:"MsgKey"`
}

// sendMsg serves openim/sendmsg.
func (e *Emulator) sendMsg(c *call) (any, *apiError) {
	req, aerr := parseSendMsg(c.obj, c.identifier)
	if aerr != nil {
		return nil, aerr
	}
	m, dup, aerr := e.newMessage(c, req)
	switch {
	case aerr != nil:
		return nil, aerr
	case dup != nil:
		return *dup, nil
	}
	if e.beforeSend && !req.forbidBefore {
		deliver, aerr := e.cb.beforeSend(m)
		if aerr != nil {
			return nil, aerr
		}
		if !deliver { // dropped silently: the sender sees success
			return sendResponse{envelope: ok(), MsgTime: m.time, MsgKey: m.key}, nil
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if dup := e.dedupHit(req, c.now); dup != nil { // a concurrent twin got there first
		return *dup, nil
	}
	e.st.deliver(m)
	if req.seq != 0 {
		e.st.dedupRemember(req.dedupKey(), dedupEntry{msgKey: m.key, msgTime: m.time, at: c.now})
	}
	if !req.forbidAfter {
		e.cb.enqueue(afterSend(m, e.st.users[m.to].unread))
	}
	return sendResponse{envelope: ok(), MsgTime: m.time, MsgKey: m.key}, nil
}

// newMessage checks the accounts and the de-dup window and makes the message, not yet stored.
// dup is the original answer when the call repeats one within 120 s.
func (e *Emulator) newMessage(c *call, req sendReq) (m *message, dup *sendResponse, aerr *apiError) {
	seq := req.seq
	if seq == 0 {
		seq = e.randUint32()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.accountExists(req.from) {
		return nil, nil, fail(90008, "From_Account %q does not exist", req.from)
	}
	if !e.accountExists(req.to) {
		return nil, nil, fail(90012, "To_Account %q is not registered", req.to)
	}
	if dup := e.dedupHit(req, c.now); dup != nil {
		return nil, dup, nil
	}
	e.st.ids++
	t := c.now.Unix()
	return &message{
		from: req.from, to: req.to, seq: seq, random: req.random, time: t,
		key:   fmt.Sprintf("%d_%d_%d", seq, req.random, t),
		id:    fmt.Sprintf("%d-%d-%d", 144115200000000000+e.st.ids, t, req.random),
		order: e.st.ids,
		body:  req.body, cloudData: req.cloudData, noUnread: req.noUnread,
	}, nil, nil
}

// dedupHit returns the original answer if req repeats a sendmsg of the last 120 s. Only calls
// with a MsgSeq can repeat one. The caller holds e.mu.
func (e *Emulator) dedupHit(req sendReq, now time.Time) *sendResponse {
	if req.seq == 0 {
		return nil
	}
	en, dup := e.st.dedupLookup(req.dedupKey(), now)
	if !dup {
		return nil
	}
	return &sendResponse{envelope: ok(), MsgTime: en.msgTime, MsgKey: en.msgKey}
}

func (r sendReq) dedupKey() dedupKey {
	return dedupKey{r.from, r.to, r.seq, r.random, crc32.ChecksumIEEE(r.body)}
}

// afterSend is the C2C.CallbackAfterSendMsg of a delivered message.
func afterSend(m *message, unread int) callback {
	return callback{
		command: chatapi.CommandAfterSendMsg, order: conversationKey(m.from, m.to),
		body: chatapi.AfterSendMsg{
			CallbackCommand: chatapi.CommandAfterSendMsg, FromAccount: m.from, ToAccount: m.to,
			MsgSeq: int64(m.seq), MsgRandom: int64(m.random), MsgTime: m.time, MsgKey: m.key, MsgID: m.id,
			ErrorInfo: "send msg succeed", UnreadMsgNum: ref(int64(unread)),
			MsgBody: m.body, CloudCustomData: m.cloudData,
		},
	}
}

// parseSendMsg checks a sendmsg body. A missing From_Account means the calling admin.
func parseSendMsg(o object, admin string) (sendReq, *apiError) {
	req := sendReq{from: admin}
	if from, present, err := o.optStr("From_Account"); err != nil {
		return req, fail(90008, "From_Account %v", err)
	} else if present {
		req.from = from
	}
	to, err := o.str("To_Account")
	if err != nil {
		return req, fail(90003, "To_Account %v", err)
	}
	req.to = to
	random, err := o.integer("MsgRandom", 0, math.MaxUint32)
	if err != nil {
		return req, fail(90005, "MsgRandom %v", err)
	}
	req.random = uint32(random)
	seq, _, err := o.optInt("MsgSeq", 0, math.MaxUint32)
	if err != nil {
		return req, fail(90001, "MsgSeq %v", err)
	}
	req.seq = uint32(seq)
	if _, _, err := o.optInt("SyncOtherMachine", math.MinInt64, math.MaxInt64); err != nil {
		return req, fail(90031, "SyncOtherMachine %v", err)
	}
	if _, _, err := o.optInt("MsgLifeTime", math.MinInt64, math.MaxInt64); err != nil {
		return req, fail(90044, "MsgLifeTime %v", err)
	}
	if _, _, err := o.optInt("MsgLifeTime", 0, maxMsgLifeTime); err != nil {
		return req, fail(90026, "MsgLifeTime %v (at most 7 days)", err)
	}
	if aerr := parseMsgBody(o, &req); aerr != nil {
		return req, aerr
	}
	return req, parseSendOptions(o, &req)
}

// parseSendOptions reads CloudCustomData, SendMsgControl and ForbidCallbackControl.
func parseSendOptions(o object, req *sendReq) *apiError {
	var err error
	if req.cloudData, _, err = o.optStr("CloudCustomData"); err != nil {
		return fail(90001, "CloudCustomData %v", err)
	}
	controls, _, err := o.optStrList("SendMsgControl")
	if err != nil {
		return fail(90001, "SendMsgControl %v", err)
	}
	req.noUnread = slices.Contains(controls, "NoUnread")
	forbid, _, err := o.optStrList("ForbidCallbackControl")
	if err != nil {
		return fail(90001, "ForbidCallbackControl %v", err)
	}
	req.forbidAfter = slices.Contains(forbid, "ForbidAfterSendMsgCallback")
	req.forbidBefore = slices.Contains(forbid, "ForbidBeforeSendMsgCallback")
	return nil
}

// msgTypes are the message element types Chat accepts.
var msgTypes = map[string]bool{
	"TIMTextElem": true, "TIMLocationElem": true, "TIMFaceElem": true, "TIMCustomElem": true,
	"TIMSoundElem": true, "TIMImageElem": true, "TIMFileElem": true, "TIMVideoFileElem": true,
	"TIMRelayElem": true,
}

// parseMsgBody checks MsgBody: a non-empty Array of {MsgType, MsgContent} of at most 12 KB.
func parseMsgBody(o object, req *sendReq) *apiError {
	items, present, err := o.optList("MsgBody")
	switch {
	case !present:
		return fail(90007, "MsgBody is missing")
	case err != nil:
		return fail(90007, "MsgBody %v", err)
	case len(items) == 0:
		return fail(90002, "MsgBody must not be empty")
	}
	elems, err := objects(items)
	if err != nil {
		return fail(90002, "MsgBody %v", err)
	}
	for i, el := range elems {
		typ, err := el.str("MsgType")
		if err != nil || !msgTypes[typ] {
			return fail(90002, "MsgBody item %d: MsgType must be a TIM…Elem type", i)
		}
		if jsonKind(el["MsgContent"]) != "Object" {
			return fail(90002, "MsgBody item %d: MsgContent must be an Object", i)
		}
		if typ == "TIMTextElem" {
			var content object
			_ = json.Unmarshal(el["MsgContent"], &content)
			if _, err := content.str("Text"); err != nil {
				return fail(90002, "MsgBody item %d: MsgContent.Text %v", i, err)
			}
		}
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, o["MsgBody"]); err != nil {
		return fail(90002, "MsgBody %v", err)
	}
	if buf.Len() > maxMsgBody {
		return fail(93000, "JSON packet too long: MsgBody is %d bytes, at most %d", buf.Len(), maxMsgBody)
	}
	req.body = buf.Bytes()
	return nil
}
