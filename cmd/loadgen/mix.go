package main

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"
)

// kind is what one generated request is. The Chat callbacks come first.
type kind int

const (
	kindSendMsg          kind = iota // C2C.CallbackAfterSendMsg to an ordinary user
	kindSendAutoRead                 // C2C.CallbackAfterSendMsg to an auto-read account
	kindMsgReport                    // C2C.CallbackAfterMsgReport
	kindOther                        // a command chatsync answers without a task
	kindConversationRead             // app event conversation.read
	kindMessagesRead                 // app event messages.read
	kindUnreadRefresh                // app event unread.refresh
	numKinds
)

var kindNames = [numKinds]string{
	"AfterSendMsg", "AfterSendMsg(auto-read)", "AfterMsgReport", "other callback",
	"conversation.read", "messages.read", "unread.refresh",
}

func (k kind) String() string { return kindNames[k] }

// isEvent reports whether k is an app event (POST /v1/events).
func (k kind) isEvent() bool { return k >= kindConversationRead }

const (
	cmdAfterSendMsg   = "C2C.CallbackAfterSendMsg"
	cmdAfterMsgReport = "C2C.CallbackAfterMsgReport"
)

// otherCommands are sent in turn for kindOther: chatsync acknowledges them
// without a task.
var otherCommands = []string{"C2C.CallbackBeforeSendMsg", "C2C.CallbackAfterMsgReadReceipt", "State.StateChange"}

// mix is the benchmark's traffic: of the Chat callbacks 80 % AfterSendMsg
// (autoRead of them to an auto-read account), 15 % AfterMsgReport and 5 %
// other commands; events of all requests are app events, half
// conversation.read and a quarter each messages.read and unread.refresh
// (without messages.read: two thirds and one third).
type mix struct {
	events           float64
	noMessagesRead   bool // the emulator checks MsgKeys, which generated events cannot match
	autoRead         float64
	autoReadAccounts []string
	users            int // u000000 … ; at least 2
}

// benchMix returns the benchmark's mix: 10 % app events (when chatsync
// takes them) and 5 % of AfterSendMsg to the auto-read accounts (when
// there are some), over 10,000 users.
func (o *options) benchMix(events bool) mix {
	m := mix{users: 10000, autoReadAccounts: o.autoRead}
	if events {
		m.events = 0.1
	}
	if len(o.autoRead) > 0 {
		m.autoRead = 0.05
	}
	return m
}

// user returns the UserID of ordinary user i.
func user(i int) string { return fmt.Sprintf("u%06d", i) }

// probabilities returns the probability of each kind.
func (m mix) probabilities() [numKinds]float64 {
	cb := 1 - m.events
	p := [numKinds]float64{cb * 0.80 * (1 - m.autoRead), cb * 0.80 * m.autoRead, cb * 0.15, cb * 0.05}
	if m.noMessagesRead {
		p[kindConversationRead], p[kindUnreadRefresh] = m.events*2/3, m.events/3
	} else {
		p[kindConversationRead], p[kindMessagesRead], p[kindUnreadRefresh] = m.events/2, m.events/4, m.events/4
	}
	return p
}

// request is one generated callback or app event, before encoding.
type request struct {
	kind    kind
	command string // callback command; "" for app events
	// from sends the message or is the peer of a read; to receives it or
	// reads (Report_Account, the event's account).
	from, to  string
	msgSeq    uint32
	msgRandom uint32
	msgTime   int64 // unix seconds; LastReadTime, read_time
	msgKey    string
	unread    int
	eventTime int64    // unix milliseconds
	id        string   // webhook-id of an app event
	peers     []string // unread.refresh
	msgKeys   []string // messages.read
}

// generator makes the requests of a mix. Each worker owns one; generators
// sharing seq give every message a unique MsgKey.
type generator struct {
	mix   mix
	rng   *rand.Rand
	seq   *atomic.Uint32
	now   func() time.Time
	cum   [numKinds]float64 // cumulative probabilities
	other int
}

func newGenerator(m mix, seed uint64, seq *atomic.Uint32) *generator {
	g := &generator{mix: m, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), seq: seq, now: time.Now}
	g.cum = m.probabilities()
	for k := kind(1); k < numKinds; k++ {
		g.cum[k] += g.cum[k-1]
	}
	return g
}

// next returns the next request, of a kind drawn by the mix.
func (g *generator) next() request {
	x := g.rng.Float64() * g.cum[numKinds-1]
	k := kind(0)
	for k < numKinds-1 && x >= g.cum[k] {
		k++
	}
	return g.make(k)
}

// make returns a new request of kind k.
func (g *generator) make(k kind) request {
	now := g.now()
	i := g.rng.IntN(g.mix.users)
	j := (i + 1 + g.rng.IntN(g.mix.users-1)) % g.mix.users
	r := request{kind: k, from: user(j), to: user(i), eventTime: now.UnixMilli(), msgTime: now.Unix()}
	switch k {
	case kindSendMsg, kindSendAutoRead, kindOther:
		g.message(&r)
	case kindMsgReport:
		r.command, r.unread = cmdAfterMsgReport, g.rng.IntN(50)
	case kindMessagesRead:
		for range 1 + g.rng.IntN(3) {
			r.msgKeys = append(r.msgKeys, msgKey(g.seq.Add(1), g.rng.Uint32(), now.Unix()-int64(g.rng.IntN(600))))
		}
	case kindUnreadRefresh:
		if g.rng.IntN(2) == 0 {
			r.peers = []string{r.from}
		}
	}
	if k.isEvent() {
		r.id = fmt.Sprintf("msg_lg%d_%08x", g.seq.Add(1), g.rng.Uint32())
	}
	return r
}

// message fills a message callback: a fresh MsgSeq, hence a unique MsgKey.
func (g *generator) message(r *request) {
	r.command = cmdAfterSendMsg
	switch r.kind {
	case kindSendAutoRead:
		r.to = g.mix.autoReadAccounts[g.rng.IntN(len(g.mix.autoReadAccounts))]
	case kindOther:
		r.command = otherCommands[g.other%len(otherCommands)]
		g.other++
	}
	r.msgSeq, r.msgRandom, r.unread = g.seq.Add(1), g.rng.Uint32(), g.rng.IntN(50)
	r.msgKey = msgKey(r.msgSeq, r.msgRandom, r.msgTime)
}

// msgKey returns Chat's MsgKey of a message: {MsgSeq}_{MsgRandom}_{MsgTime}.
func msgKey(seq, random uint32, msgTime int64) string {
	return strconv.FormatUint(uint64(seq), 10) + "_" + strconv.FormatUint(uint64(random), 10) + "_" +
		strconv.FormatInt(msgTime, 10)
}
