package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"
)

// Kind is what one generated request is.
type Kind int

// The kinds of request loadgen sends. The Chat callback kinds come first.
const (
	KindSendMsg          Kind = iota // C2C.CallbackAfterSendMsg to an ordinary user
	KindSendAutoRead                 // C2C.CallbackAfterSendMsg to an auto-read account
	KindMsgReport                    // C2C.CallbackAfterMsgReport
	KindOther                        // a command chatsync answers without a task
	KindConversationRead             // app event conversation.read
	KindMessagesRead                 // app event messages.read
	KindUnreadRefresh                // app event unread.refresh
	numKinds
)

var kindNames = [numKinds]string{
	"AfterSendMsg", "AfterSendMsg(auto-read)", "AfterMsgReport", "other callback",
	"conversation.read", "messages.read", "unread.refresh",
}

// String returns the kind's name as the report shows it.
func (k Kind) String() string {
	if k < 0 || k >= numKinds {
		return "Kind(" + strconv.Itoa(int(k)) + ")"
	}
	return kindNames[k]
}

// IsEvent reports whether k is an app event (POST /v1/events) rather than a
// Chat callback.
func (k Kind) IsEvent() bool { return k >= KindConversationRead }

// Callback commands loadgen sends.
const (
	cmdAfterSendMsg   = "C2C.CallbackAfterSendMsg"
	cmdAfterMsgReport = "C2C.CallbackAfterMsgReport"
)

// otherCommands are sent for KindOther, in turn: chatsync acknowledges them
// without making a task.
var otherCommands = []string{
	"C2C.CallbackBeforeSendMsg", "C2C.CallbackAfterMsgReadReceipt", "State.StateChange",
}

// Mix describes the traffic: the shares of each kind and the population of
// users. Its zero value is the realistic mix without app events.
type Mix struct {
	// Shares of the Chat callbacks; they are normalised, so only their
	// ratios matter. All zero means 0.80 / 0.15 / 0.05.
	SendMsg, MsgReport, Other float64
	// Events is the share of all requests that are app events (0 to 1),
	// split 50 % conversation.read, 25 % messages.read, 25 % unread.refresh,
	// or only between the types whose share below is not negative.
	Events float64
	// NoMessagesRead leaves messages.read out of the app events (used when
	// the Chat side checks MsgKeys, which generated events cannot match).
	NoMessagesRead bool
	// AutoRead is the share of AfterSendMsg callbacks addressed to one of
	// AutoReadAccounts (0 to 1).
	AutoRead         float64
	AutoReadAccounts []string
	// Users is the number of ordinary users, named User(0)…User(Users-1)
	// (default 10000, at least 2).
	Users int
}

// DefaultUsers is the population of a zero Mix.
const DefaultUsers = 10000

// User returns the UserID of ordinary user i.
func User(i int) string { return fmt.Sprintf("u%06d", i) }

func (m Mix) withDefaults() Mix {
	if m.SendMsg == 0 && m.MsgReport == 0 && m.Other == 0 {
		m.SendMsg, m.MsgReport, m.Other = 0.80, 0.15, 0.05
	}
	if m.Users == 0 {
		m.Users = DefaultUsers
	}
	return m
}

func (m Mix) validate() error {
	m = m.withDefaults()
	var errs []error
	if m.SendMsg < 0 || m.MsgReport < 0 || m.Other < 0 {
		errs = append(errs, errors.New("callback shares must not be negative"))
	}
	if m.Events < 0 || m.Events > 1 {
		errs = append(errs, errors.New("events share must be from 0 to 1"))
	}
	if m.AutoRead < 0 || m.AutoRead > 1 {
		errs = append(errs, errors.New("auto-read share must be from 0 to 1"))
	}
	if m.AutoRead > 0 && len(m.AutoReadAccounts) == 0 {
		errs = append(errs, errors.New("an auto-read share needs auto-read accounts"))
	}
	if m.Users < 2 {
		errs = append(errs, errors.New("users must be at least 2"))
	}
	return errors.Join(errs...)
}

// Request is one generated callback or app event, before encoding.
type Request struct {
	Kind    Kind
	Command string // callback command; "" for app events
	// From sends the message (AfterSendMsg) or is the peer of a read
	// report; To receives it or reads (Report_Account, event account).
	From, To     string
	MsgSeq       uint32
	MsgRandom    uint32
	MsgTime      int64 // unix seconds
	MsgKey       string
	UnreadMsgNum int
	EventTime    int64    // unix milliseconds
	ID           string   // webhook-id of an app event
	Peers        []string // unread.refresh
	MsgKeys      []string // messages.read
}

// Generator makes the requests of a Mix. Each worker owns one: it is not
// safe for concurrent use, but generators sharing a sequence give every
// message a unique MsgKey.
type Generator struct {
	mix   Mix
	rng   *rand.Rand
	seq   *atomic.Uint32
	now   func() time.Time
	cum   [numKinds]float64 // cumulative probabilities by kind
	other int
}

// NewGenerator returns a generator of mix drawing from a PCG seeded with
// seed and numbering messages from seq (shared by a run's generators). It
// fails when the mix is invalid.
func NewGenerator(mix Mix, seed uint64, seq *atomic.Uint32, now func() time.Time) (*Generator, error) {
	if err := mix.validate(); err != nil {
		return nil, fmt.Errorf("mix: %w", err)
	}
	mix = mix.withDefaults()
	if now == nil {
		now = time.Now
	}
	g := &Generator{mix: mix, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), seq: seq, now: now}
	g.cum = mix.probabilities()
	for k := Kind(1); k < numKinds; k++ {
		g.cum[k] += g.cum[k-1]
	}
	return g, nil
}

// probabilities returns the probability of each kind.
func (m Mix) probabilities() [numKinds]float64 {
	var p [numKinds]float64
	sum := m.SendMsg + m.MsgReport + m.Other
	cb := 1 - m.Events
	p[KindSendMsg] = cb * m.SendMsg / sum * (1 - m.AutoRead)
	p[KindSendAutoRead] = cb * m.SendMsg / sum * m.AutoRead
	p[KindMsgReport] = cb * m.MsgReport / sum
	p[KindOther] = cb * m.Other / sum
	if m.NoMessagesRead {
		p[KindConversationRead] = m.Events * 2 / 3
		p[KindUnreadRefresh] = m.Events / 3
	} else {
		p[KindConversationRead] = m.Events / 2
		p[KindMessagesRead] = m.Events / 4
		p[KindUnreadRefresh] = m.Events / 4
	}
	return p
}

// Next returns the next request.
func (g *Generator) Next() Request {
	x := g.rng.Float64() * g.cum[numKinds-1]
	k := Kind(0)
	for k < numKinds-1 && x >= g.cum[k] {
		k++
	}
	return g.Make(k)
}

// Make returns a new request of kind k.
func (g *Generator) Make(k Kind) Request {
	now := g.now()
	to, from := g.pair()
	r := Request{Kind: k, From: from, To: to, EventTime: now.UnixMilli()}
	switch k {
	case KindSendMsg, KindSendAutoRead, KindOther:
		if k == KindSendAutoRead {
			r.To = g.mix.AutoReadAccounts[g.rng.IntN(len(g.mix.AutoReadAccounts))]
		}
		r.Command = cmdAfterSendMsg
		if k == KindOther {
			r.Command = otherCommands[g.other%len(otherCommands)]
			g.other++
		}
		r.MsgSeq = g.seq.Add(1)
		r.MsgRandom = g.rng.Uint32()
		r.MsgTime = now.Unix()
		r.MsgKey = MsgKey(r.MsgSeq, r.MsgRandom, r.MsgTime)
		r.UnreadMsgNum = g.rng.IntN(50)
	case KindMsgReport:
		r.Command = cmdAfterMsgReport
		r.MsgTime = now.Unix() // LastReadTime
		r.UnreadMsgNum = g.rng.IntN(50)
	case KindConversationRead:
		r.MsgTime = now.Unix() // read_time
	case KindMessagesRead:
		n := 1 + g.rng.IntN(3)
		for range n {
			seq := g.seq.Add(1)
			r.MsgKeys = append(r.MsgKeys, MsgKey(seq, g.rng.Uint32(), now.Unix()-int64(g.rng.IntN(600))))
		}
	case KindUnreadRefresh:
		if g.rng.IntN(2) == 0 {
			r.Peers = []string{r.From}
		}
	}
	if k.IsEvent() {
		r.ID = fmt.Sprintf("msg_lg%d_%08x", g.seq.Add(1), g.rng.Uint32())
	}
	return r
}

// pair returns two distinct ordinary users.
func (g *Generator) pair() (a, b string) {
	i := g.rng.IntN(g.mix.Users)
	j := g.rng.IntN(g.mix.Users - 1)
	if j >= i {
		j++
	}
	return User(i), User(j)
}

// MsgKey returns Chat's MsgKey of a message: {MsgSeq}_{MsgRandom}_{MsgTime}.
func MsgKey(seq, random uint32, msgTime int64) string {
	return strconv.FormatUint(uint64(seq), 10) + "_" + strconv.FormatUint(uint64(random), 10) + "_" +
		strconv.FormatInt(msgTime, 10)
}
