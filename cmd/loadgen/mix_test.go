package main

import (
	"math"
	"strings"
	"sync/atomic"
	"testing"
)

// Two workers' generators share a sequence: every MsgKey and webhook-id is
// unique, every pair is two distinct users of the population, auto-read
// callbacks go to the auto-read accounts, and the kinds follow the mix.
func TestGenerator(t *testing.T) {
	m := mix{users: 50, events: 0.1, autoRead: 0.05, autoReadAccounts: []string{"bot1", "bot2"}}
	seq := new(atomic.Uint32)
	gens := []*generator{newGenerator(m, 1, seq), newGenerator(m, 2, seq)}
	const n = 200000
	seen := map[string]bool{}
	var counts [numKinds]int
	for i := range n {
		r := gens[i%2].next()
		counts[r.kind]++
		for _, id := range []string{r.msgKey, r.id} {
			if id != "" && seen[id] {
				t.Fatalf("%v: MsgKey or webhook-id %q repeats", r.kind, id)
			}
			seen[id] = true
		}
		if r.from == r.to || !strings.HasPrefix(r.from, "u0000") || r.from >= user(50) {
			t.Fatalf("%v from %s to %s: not two distinct users of 50", r.kind, r.from, r.to)
		}
		if bot := strings.HasPrefix(r.to, "bot"); bot != (r.kind == kindSendAutoRead) {
			t.Fatalf("%v addressed to %s", r.kind, r.to)
		}
		if r.kind <= kindSendAutoRead && r.msgKey != msgKey(r.msgSeq, r.msgRandom, r.msgTime) {
			t.Fatalf("MsgKey %s of seq %d random %d time %d", r.msgKey, r.msgSeq, r.msgRandom, r.msgTime)
		}
	}
	want := m.probabilities()
	if want[kindSendMsg] != 0.9*0.8*0.95 || want[kindMessagesRead] != 0.025 {
		t.Errorf("probabilities %v", want)
	}
	for k := range numKinds {
		if got := float64(counts[k]) / n; math.Abs(got-want[k]) > 0.005 {
			t.Errorf("share of %v = %.4f, want %.4f", k, got, want[k])
		}
	}
}
