package reliability

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/chatsync/chatsync/chatapi"
	"github.com/chatsync/chatsync/chatapi/emulator"
)

// Effect is one Chat REST call that an acknowledged input must cause: the
// API and a canonical key of the call's body, so that the call can be
// recognised among the requests the emulator recorded.
type Effect struct {
	API string // chatapi.APISetMsgRead or chatapi.APIReadReceipt
	Key string // see SetReadEffect and ReadReceiptEffect
}

// String returns the effect in a readable form for test failures. It
// names accounts and MsgKeys, never a message body or a secret.
func (e Effect) String() string { return e.API + " " + strings.ReplaceAll(e.Key, "\x00", " ") }

// SetReadEffect is the admin_set_msg_read call marking account's
// conversation with peer read up to readTime (unix seconds; 0 = now).
func SetReadEffect(account, peer string, readTime int64) Effect {
	return Effect{API: chatapi.APISetMsgRead, Key: account + "\x00" + peer + "\x00" + strconv.FormatInt(readTime, 10)}
}

// ReadReceiptEffect is the c2c_msg_read_receipt call by which account
// acknowledges the messages msgKeys that peer sent it. The order of the
// keys does not matter.
func ReadReceiptEffect(account, peer string, msgKeys []string) Effect {
	keys := slices.Clone(msgKeys)
	sort.Strings(keys)
	return Effect{API: chatapi.APIReadReceipt, Key: account + "\x00" + peer + "\x00" + strings.Join(keys, ",")}
}

// EffectOf returns the Effect a request body of api represents. ok is
// false for an API the ledger does not track or a body it cannot read.
func EffectOf(api string, body json.RawMessage) (e Effect, ok bool) {
	switch api {
	case chatapi.APISetMsgRead:
		var b struct {
			ReportAccount string          `json:"Report_Account"`
			PeerAccount   string          `json:"Peer_Account"`
			MsgReadTime   json.RawMessage `json:"MsgReadTime"`
		}
		if json.Unmarshal(body, &b) != nil {
			return Effect{}, false
		}
		t, ok := readTime(b.MsgReadTime)
		if !ok {
			return Effect{}, false
		}
		return SetReadEffect(b.ReportAccount, b.PeerAccount, t), true
	case chatapi.APIReadReceipt:
		var b struct {
			OperatorAccount string `json:"Operator_Account"`
			PeerAccount     string `json:"Peer_Account"`
			C2CMsgInfo      []struct {
				MsgKey string `json:"MsgKey"`
			} `json:"C2CMsgInfo"`
		}
		if json.Unmarshal(body, &b) != nil {
			return Effect{}, false
		}
		keys := make([]string, len(b.C2CMsgInfo))
		for i, m := range b.C2CMsgInfo {
			keys[i] = m.MsgKey
		}
		return ReadReceiptEffect(b.OperatorAccount, b.PeerAccount, keys), true
	}
	return Effect{}, false
}

// readTime reads MsgReadTime, which Chat documents as a String of unix
// seconds and the emulator also takes as a Number; absent or "" is 0.
func readTime(raw json.RawMessage) (int64, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, true
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if s == "" {
			return 0, true
		}
		n, err := strconv.ParseInt(s, 10, 64)
		return n, err == nil
	}
	var n int64
	return n, json.Unmarshal(raw, &n) == nil
}

// Ledger records the effects that acknowledged inputs must cause. An
// effect expected n times must be seen succeed at least n times. It is
// safe for concurrent use.
type Ledger struct {
	mu     sync.Mutex
	want   map[Effect]int
	inputs int
}

// NewLedger returns an empty ledger.
func NewLedger() *Ledger { return &Ledger{want: make(map[Effect]int)} }

// Expect records one acknowledged input and the effects it must cause
// (none for an input that only changes unread counts).
func (l *Ledger) Expect(effects ...Effect) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inputs++
	for _, e := range effects {
		l.want[e]++
	}
}

// Inputs returns the number of acknowledged inputs recorded.
func (l *Ledger) Inputs() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.inputs
}

// Len returns the number of effects expected, counting repeats.
func (l *Ledger) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, c := range l.want {
		n += c
	}
	return n
}

// Result is what Check found.
type Result struct {
	Inputs    int // acknowledged inputs
	Expected  int // effects expected, counting repeats
	Satisfied int // expected effects seen succeed
	// Lost lists the effects missing, with how many of each are missing.
	Lost map[Effect]int
	// Duplicates counts successful calls beyond what was expected.
	Duplicates int
	// Unexpected counts successful calls of a tracked API that match no
	// expected effect.
	Unexpected int
	// Attempts counts the calls of the tracked APIs, failed ones included.
	Attempts int
	// Failures counts the failed calls by ErrorCode, or by HTTP status
	// (as "http 502", "http 499") for calls answered without an envelope.
	Failures map[string]int
}

// LostCount returns the number of expected effects not seen.
func (r Result) LostCount() int {
	n := 0
	for _, c := range r.Lost {
		n += c
	}
	return n
}

// Complete reports whether every expected effect was seen.
func (r Result) Complete() bool { return len(r.Lost) == 0 }

// String summarises r on one line, naming at most three lost effects.
func (r Result) String() string {
	s := fmt.Sprintf("inputs %d, effects %d, satisfied %d, lost %d, duplicates %d, unexpected %d, attempts %d, failures %v",
		r.Inputs, r.Expected, r.Satisfied, r.LostCount(), r.Duplicates, r.Unexpected, r.Attempts, r.Failures)
	lost := make([]string, 0, len(r.Lost))
	for e := range r.Lost {
		lost = append(lost, e.String())
	}
	sort.Strings(lost)
	if len(lost) > 3 {
		lost = append(lost[:3], "…")
	}
	if len(lost) > 0 {
		s += "; lost: " + strings.Join(lost, "; ")
	}
	return s
}

// Check matches the expected effects with reqs, the requests the emulator
// recorded (emulator.Emulator.Requests("")), in arrival order. A request
// counts as a success when it was answered HTTP 200 with ErrorCode 0.
//
// chatsync coalesces, so an effect is satisfied by what the calls achieved,
// not by a call of its own: a set-read effect by a successful call on its
// conversation with a read point at or above its own (0, "now", by any), a
// read-receipt effect when each of its MsgKeys was receipted in some call.
// Duplicates are calls that achieved nothing new: a set-read call not
// above an earlier one of its conversation, a MsgKey receipted again.
// Unexpected are successful calls on a conversation no effect names.
func (l *Ledger) Check(reqs []emulator.Request) Result {
	read := make(map[string]int64)    // account\x00peer → highest read point applied
	readCalls := make(map[string]int) // account\x00peer → successful calls
	receipted := make(map[string]int) // account\x00peer\x00key → times receipted
	r := Result{Lost: make(map[Effect]int), Failures: make(map[string]int)}
	l.mu.Lock()
	defer l.mu.Unlock()
	expected := make(map[string]bool) // API and conversation
	for e := range l.want {
		conv, _ := splitKey(e.Key)
		expected[e.API+" "+conv] = true
	}
	for _, req := range reqs {
		if req.API != chatapi.APISetMsgRead && req.API != chatapi.APIReadReceipt {
			continue
		}
		r.Attempts++
		switch {
		case req.HTTPStatus != 200:
			r.Failures["http "+strconv.Itoa(req.HTTPStatus)]++
			continue
		case req.ErrorCode != 0:
			r.Failures[strconv.Itoa(req.ErrorCode)]++
			continue
		}
		e, ok := EffectOf(req.API, req.Body)
		if !ok {
			r.Unexpected++
			continue
		}
		conv, rest := splitKey(e.Key)
		if !expected[e.API+" "+conv] {
			r.Unexpected++
			continue
		}
		if e.API == chatapi.APISetMsgRead {
			t, _ := strconv.ParseInt(rest, 10, 64)
			if prev, seen := read[conv]; seen && t <= prev {
				r.Duplicates++
			}
			read[conv] = max(read[conv], t)
			readCalls[conv]++
			continue
		}
		for _, k := range strings.Split(rest, ",") {
			if receipted[conv+"\x00"+k]++; receipted[conv+"\x00"+k] > 1 {
				r.Duplicates++
			}
		}
	}
	r.Inputs = l.inputs
	for e, n := range l.want {
		r.Expected += n
		if l.satisfied(e, read, readCalls, receipted) {
			r.Satisfied += n
		} else {
			r.Lost[e] = n
		}
	}
	return r
}

func (l *Ledger) satisfied(e Effect, read map[string]int64, readCalls, receipted map[string]int) bool {
	conv, rest := splitKey(e.Key)
	if e.API == chatapi.APISetMsgRead {
		t, _ := strconv.ParseInt(rest, 10, 64)
		return readCalls[conv] > 0 && read[conv] >= t
	}
	for _, k := range strings.Split(rest, ",") {
		if receipted[conv+"\x00"+k] == 0 {
			return false
		}
	}
	return true
}

// splitKey splits an effect's key into its conversation (account and
// peer) and the rest (a read point, or MsgKeys).
func splitKey(key string) (conv, rest string) {
	a, tail, _ := strings.Cut(key, "\x00")
	p, rest, _ := strings.Cut(tail, "\x00")
	return a + "\x00" + p, rest
}
